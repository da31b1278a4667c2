// Users file and authenticator: secrets are stored only as salted scrypt hashes (a different salt per user), the
// right secret passes, a wrong one or an unknown user fails with the same AuthenticationError, and tokens match exactly;
// users can be listed and removed, and a running authenticator follows the file.
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, test } from 'vitest'
import { AuthenticationError, InvalidArgumentError, InvalidConfigError } from '../errors.js'
import {
  addUser,
  createAuthenticator,
  listUsers,
  readUsersFile,
  removeUser,
  SCRYPT_CHECKS_MAX,
  SCRYPT_WAITING_MAX,
  ScryptGate,
} from './auth.js'

const dirs: string[] = []
afterEach(async () => {
  for (const d of dirs.splice(0)) await fs.rm(d, { recursive: true, force: true })
})
async function tmp(): Promise<string> {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-auth-'))
  dirs.push(d)
  return d
}

describe('auth', () => {
  test('addUser stores a salted hash per user, never the secret, in a 0600 file', async () => {
    const file = path.join(await tmp(), 'users.json')
    await addUser(file, 'alice', 'wonderland-secret')
    await addUser(file, 'bob', 'wonderland-secret')
    const text = await fs.readFile(file, 'utf8')
    expect(text).not.toContain('wonderland-secret')
    const users = await readUsersFile(file)
    expect(Object.keys(users.users).sort()).toEqual(['alice', 'bob'])
    expect(users.users.alice?.salt).not.toBe(users.users.bob?.salt)
    expect(users.users.alice?.hash).not.toBe(users.users.bob?.hash)
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600)
  })

  test('the right password authenticates; a wrong password and an unknown user fail alike', async () => {
    const file = path.join(await tmp(), 'users.json')
    await addUser(file, 'alice', 's3cret-pass')
    const auth = await createAuthenticator({ usersFile: file })
    expect(await auth.verify({ username: 'alice', password: 's3cret-pass' })).toBe('alice')
    const wrong = await auth.verify({ username: 'alice', password: 'nope' }).catch((e: unknown) => e)
    const unknown = await auth.verify({ username: 'mallory', password: 's3cret-pass' }).catch((e: unknown) => e)
    expect(wrong).toBeInstanceOf(AuthenticationError)
    expect(unknown).toBeInstanceOf(AuthenticationError)
    expect((wrong as Error).message).toBe((unknown as Error).message)
    await expect(auth.verify(null)).rejects.toBeInstanceOf(AuthenticationError)
    await expect(auth.verify({ token: 'x' })).rejects.toBeInstanceOf(AuthenticationError)
  })

  test('password checks run two at a time with a bounded waiting room; past it a handshake is refused as busy (retriable)', async () => {
    const gate = new ScryptGate(2, 3)
    let running = 0
    let most = 0
    const releases: Array<() => void> = []
    const task = () =>
      gate.run(async () => {
        running++
        most = Math.max(most, running)
        await new Promise<void>((r) => releases.push(r))
        running--
        return 'checked'
      })
    const started = Array.from({ length: 5 }, task) // two running, three waiting
    const refused = await task().catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(AuthenticationError)
    expect(refused).toMatchObject({ busy: true, retriable: true })
    // Released one by one, the waiting ones take the slots in turn.
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 5))
      releases.shift()!()
    }
    expect(await Promise.all(started)).toEqual(Array(5).fill('checked'))
    expect(most).toBe(2)

    // The authenticator goes through the gate: a burst beyond checks + waiting room is refused as busy, the rest
    // are checked (and refused as wrong passwords).
    const file = path.join(await tmp(), 'users.json')
    await addUser(file, 'alice', 's3cret-pass')
    const auth = await createAuthenticator({ usersFile: file })
    const burst = SCRYPT_CHECKS_MAX + SCRYPT_WAITING_MAX + 5
    const results = await Promise.all(
      Array.from({ length: burst }, () =>
        auth.verify({ username: 'alice', password: 'guess' }).catch((e: AuthenticationError) => e.busy),
      ),
    )
    expect(results.filter((busy) => busy === true)).toHaveLength(5)
    expect(results.filter((busy) => busy === false)).toHaveLength(burst - 5)
  }, 30_000)

  test('re-adding a user replaces the secret', async () => {
    const file = path.join(await tmp(), 'users.json')
    await addUser(file, 'alice', 'first-pass')
    await addUser(file, 'alice', 'second-pass')
    const auth = await createAuthenticator({ usersFile: file })
    await expect(auth.verify({ username: 'alice', password: 'first-pass' })).rejects.toBeInstanceOf(AuthenticationError)
    expect(await auth.verify({ username: 'alice', password: 'second-pass' })).toBe('alice')
  })

  test('removeUser and listUsers: a removed user is gone, an unknown one is an error that changes nothing', async () => {
    const file = path.join(await tmp(), 'users.json')
    // A file that is not there is an error, not "no users" (a misspelt path listed nothing, exit 0).
    await expect(listUsers(file)).rejects.toThrow(/users file .* does not exist/)
    await addUser(file, 'bob', 'bob-secret')
    await addUser(file, 'alice', 'alice-secret')
    expect(await listUsers(file)).toEqual(['alice', 'bob'])
    await removeUser(file, 'bob')
    expect(await listUsers(file)).toEqual(['alice'])
    const before = await fs.readFile(file, 'utf8')
    await expect(removeUser(file, 'bob')).rejects.toThrow(/has no user "bob"/)
    expect(await fs.readFile(file, 'utf8')).toBe(before)
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600)
  })

  test('a running authenticator follows the users file: added users pass, removed ones fail, a broken file keeps the last good one', async () => {
    const file = path.join(await tmp(), 'users.json')
    await addUser(file, 'alice', 'alice-secret')
    const events: string[] = []
    const auth = await createAuthenticator({ usersFile: file }, (_level, message) => void events.push(message))
    expect(await auth.verify({ username: 'alice', password: 'alice-secret' })).toBe('alice')
    await addUser(file, 'bob', 'bob-secret')
    expect(await auth.verify({ username: 'bob', password: 'bob-secret' })).toBe('bob')
    await removeUser(file, 'alice')
    await expect(auth.verify({ username: 'alice', password: 'alice-secret' })).rejects.toBeInstanceOf(
      AuthenticationError,
    )
    expect(events).toEqual(['users file reloaded', 'users file reloaded'])
    await fs.writeFile(file, '{ not json')
    expect(await auth.verify({ username: 'bob', password: 'bob-secret' })).toBe('bob')
    expect(events.at(-1)).toBe('users file not reloaded: the last good one stays in force')
    await fs.rm(file)
    expect(await auth.verify({ username: 'bob', password: 'bob-secret' })).toBe('bob')
  }, 30_000)

  test('a token must match exactly (length differences included); short tokens are refused as config', async () => {
    const auth = await createAuthenticator({ token: 'token-1234567' })
    expect(await auth.verify({ token: 'token-1234567' })).toBe('token')
    await expect(auth.verify({ token: 'token-123456' })).rejects.toBeInstanceOf(AuthenticationError)
    await expect(auth.verify({ token: 'token-12345678' })).rejects.toBeInstanceOf(AuthenticationError)
    await expect(auth.verify({ username: 'a', password: 'token-1234567' })).rejects.toBeInstanceOf(AuthenticationError)
    await expect(createAuthenticator({ token: 'short' })).rejects.toBeInstanceOf(InvalidConfigError)
  })

  test('bad user names and malformed users files are refused with what is wrong', async () => {
    const dir = await tmp()
    await expect(addUser(path.join(dir, 'u.json'), 'bad name', 'x')).rejects.toBeInstanceOf(InvalidArgumentError)
    const file = path.join(dir, 'broken.json')
    await fs.writeFile(file, JSON.stringify({ version: 1, users: { eve: { salt: 1 } } }))
    await expect(readUsersFile(file)).rejects.toThrow(/user "eve" has a malformed record/)
  })
})

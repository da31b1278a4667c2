// Authentication for the TCP server (DESIGN.md §11): a users file of scrypt-hashed secrets (a random salt per user)
// or one static token. Secrets are compared with crypto.timingSafeEqual over equal-length digests, and an unknown
// user costs the same scrypt as a known one, so neither timing nor errors tell which usernames exist. The users file
// is JSON, written tmp → fsync → rename with mode 0600; it never holds a secret in clear. A running broker reads it
// again when it changes (checked before each password check), so adding or removing a user needs no restart.
import { randomBytes, scrypt as scryptCallback, timingSafeEqual, createHash, type ScryptOptions } from 'node:crypto'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { AuthenticationError, InvalidArgumentError, InvalidConfigError, StorageError } from '../errors.js'
import type { Credentials } from '../protocol/api-keys.js'

const USERS_FILE_VERSION = 1
const SALT_BYTES = 16
const KEY_BYTES = 32
/** scrypt cost: N 2^15, r 8, p 1 ≈ 32 MiB and ~50-100 ms per check; the maxmem below allows it. */
const SCRYPT_PARAMS = Object.freeze({ N: 2 ** 15, r: 8, p: 1 })
const SCRYPT_MAXMEM_BYTES = 128 * SCRYPT_PARAMS.N * SCRYPT_PARAMS.r * 2
/** Users one file may hold. */
export const USERS_MAX = 10_000
const USERNAME_PATTERN = /^[A-Za-z0-9._@-]{1,128}$/

export interface UserRecord {
  salt: string
  hash: string
  N: number
  r: number
  p: number
}

export interface UsersFile {
  version: number
  users: Record<string, UserRecord>
}

function scrypt(secret: string, salt: Buffer, params: { N: number; r: number; p: number }): Promise<Buffer> {
  const options: ScryptOptions = { ...params, maxmem: Math.max(SCRYPT_MAXMEM_BYTES, 128 * params.N * params.r * 2) }
  return new Promise((resolve, reject) => {
    scryptCallback(secret, salt, KEY_BYTES, options, (err, key) => (err ? reject(err) : resolve(key)))
  })
}

export async function hashSecret(secret: string): Promise<UserRecord> {
  const salt = randomBytes(SALT_BYTES)
  const hash = await scrypt(secret, salt, SCRYPT_PARAMS)
  return { salt: salt.toString('base64'), hash: hash.toString('base64'), ...SCRYPT_PARAMS }
}

export function validateUsername(name: string): void {
  if (!USERNAME_PATTERN.test(name)) {
    throw new InvalidArgumentError(`user name "${name}" must be 1-128 characters of [A-Za-z0-9._@-]`)
  }
}

function parseUsersFile(text: string, file: string): UsersFile {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new InvalidConfigError([`${file} is not JSON: ${(err as Error).message}`], 'users file')
  }
  const problems: string[] = []
  const o = parsed as Partial<UsersFile> | null
  if (typeof o !== 'object' || o === null || o.version !== USERS_FILE_VERSION) {
    throw new InvalidConfigError([`${file}: expected {"version": ${USERS_FILE_VERSION}, "users": {...}}`], 'users file')
  }
  const users = o.users
  if (typeof users !== 'object' || users === null) {
    throw new InvalidConfigError([`${file}: "users" must be an object`], 'users file')
  }
  const entries = Object.entries(users)
  if (entries.length > USERS_MAX) problems.push(`more than ${USERS_MAX} users`)
  for (const [name, rec] of entries) {
    const r = rec as Partial<UserRecord> | null
    const ok =
      typeof r === 'object' &&
      r !== null &&
      typeof r.salt === 'string' &&
      typeof r.hash === 'string' &&
      Number.isInteger(r.N) &&
      Number.isInteger(r.r) &&
      Number.isInteger(r.p) &&
      (r.N ?? 0) >= 2 &&
      (r.N ?? 0) <= 2 ** 20 &&
      (r.r ?? 0) >= 1 &&
      (r.r ?? 0) <= 32 &&
      (r.p ?? 0) >= 1 &&
      (r.p ?? 0) <= 16
    if (!ok) problems.push(`user "${name}" has a malformed record`)
  }
  if (problems.length > 0)
    throw new InvalidConfigError(
      problems.map((p) => `${file}: ${p}`),
      'users file',
    )
  return { version: USERS_FILE_VERSION, users: users as Record<string, UserRecord> }
}

export async function readUsersFile(file: string): Promise<UsersFile> {
  return parseUsersFile(await fs.readFile(file, 'utf8'), file)
}

/** The users file's content, or an empty one when the file does not exist yet. */
async function readUsersFileOrEmpty(file: string): Promise<UsersFile> {
  try {
    return await readUsersFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    return { version: USERS_FILE_VERSION, users: {} }
  }
}

/** Replaces the users file whole: tmp → fsync → rename → fsync of the directory, mode 0600. */
async function writeUsersFile(file: string, users: UsersFile): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`
  const handle = await fs.open(tmp, 'w', 0o600).catch((err: NodeJS.ErrnoException) => {
    // Named by the file the user gave, not by the temporary one next to it.
    throw new StorageError(
      err.code === 'ENOENT'
        ? `cannot write users file ${file}: directory ${path.dirname(path.resolve(file))} does not exist`
        : `cannot write users file ${file}: ${err.code ?? err.message}`,
      { cause: err },
    )
  })
  try {
    await handle.writeFile(JSON.stringify(users, null, 2) + '\n')
    await handle.sync()
  } finally {
    await handle.close()
  }
  await fs.rename(tmp, file)
  const dir = await fs.open(path.dirname(path.resolve(file)), 'r')
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
}

/** Adds or replaces one user; creates the file when absent. */
export async function addUser(file: string, name: string, secret: string): Promise<void> {
  validateUsername(name)
  if (secret.length === 0) throw new InvalidArgumentError('the secret must not be empty')
  const current = await readUsersFileOrEmpty(file)
  if (!Object.hasOwn(current.users, name) && Object.keys(current.users).length >= USERS_MAX) {
    throw new InvalidArgumentError(`${file} already holds ${USERS_MAX} users`)
  }
  await writeUsersFile(file, {
    version: USERS_FILE_VERSION,
    users: { ...current.users, [name]: await hashSecret(secret) },
  })
}

/** Removes one user; an unknown name (or a missing file) is an error naming it, and changes nothing. */
export async function removeUser(file: string, name: string): Promise<void> {
  const current = await readUsersFileOrEmpty(file)
  if (!Object.hasOwn(current.users, name)) throw new InvalidArgumentError(`${file} has no user "${name}"`)
  const users = { ...current.users }
  delete users[name]
  await writeUsersFile(file, { version: USERS_FILE_VERSION, users })
}

/** The user names of a users file, sorted. A file that does not exist is an error (a misspelt path is not "no
 *  users"). */
export async function listUsers(file: string): Promise<string[]> {
  try {
    return Object.keys((await readUsersFile(file)).users).sort()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new InvalidArgumentError(`users file ${file} does not exist (sluice user add creates it)`, { cause: err })
    throw err
  }
}

export interface Authenticator {
  /** Resolves when the credentials are valid, rejects with AuthenticationError otherwise. */
  verify(credentials: Credentials | null): Promise<string>
}

export type AuthOptions = { usersFile: string } | { token: string }

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}

/**
 * Password checks in progress at once, per broker, and handshakes waiting for one. Each check is an scrypt of
 * ~32 MiB and ~50-100 ms on libuv's thread pool, the pool every fdatasync runs on: a wire trial's 200 connections
 * looping wrong passwords took the broker from 80 to 453 MB and held an authenticated acks 'all' send for 14 s.
 * Two checks keep the pool's other threads for fsyncs and bound the memory to ~64 MiB; a handshake past the waiting
 * room is refused at once (AuthenticationError, retriable), which also throttles a password guesser.
 */
export const SCRYPT_CHECKS_MAX = 2
export const SCRYPT_WAITING_MAX = 64

/** At most `max` tasks running and `waitingMax` queued; past that, `run` refuses. */
export class ScryptGate {
  #running = 0
  readonly #waiting: Array<() => void> = []

  constructor(
    private readonly max: number,
    private readonly waitingMax: number,
  ) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#running >= this.max) {
      if (this.#waiting.length >= this.waitingMax)
        throw new AuthenticationError('too many authentication attempts in progress; try again later', { busy: true })
      await new Promise<void>((resolve) => this.#waiting.push(resolve))
    } else this.#running++
    try {
      return await task()
    } finally {
      const next = this.#waiting.shift()
      if (next !== undefined)
        next() // the slot passes to it
      else this.#running--
    }
  }
}

/** Loads the users file (once, at start) or wraps the token. */
/** What the authenticator reports (a reloaded users file, or one that could not be read). */
export type AuthEventSink = (level: 'info' | 'warn', message: string, fields: Record<string, unknown>) => void

/** Throws InvalidConfigError for auth options no authenticator can be made from (before a broker is opened). */
export function checkAuthOptions(options: AuthOptions): void {
  if ('token' in options && options.token.length < 8)
    throw new InvalidConfigError(['the auth token must be at least 8 characters'])
}

export async function createAuthenticator(
  options: AuthOptions,
  onEvent: AuthEventSink = () => {},
): Promise<Authenticator> {
  checkAuthOptions(options)
  if ('token' in options) {
    const expected = digest(options.token)
    return {
      async verify(credentials) {
        if (credentials === null || !('token' in credentials))
          throw new AuthenticationError(
            'this broker requires a token (SDK: auth: { token }; CLI: --token, or SLUICE_TOKEN)',
          )
        if (!timingSafeEqual(digest(credentials.token), expected)) throw new AuthenticationError('invalid token')
        return 'token'
      },
    }
  }
  const file = options.usersFile
  let users = await readUsersFile(file)
  let seen = await fileVersion(file)
  let reloading: Promise<void> | null = null
  // The file is looked at again before each check, so `sluice user add/remove` takes effect on the next handshake
  // without a restart (connections already authenticated stay so). A file that is gone or does not parse leaves the
  // last good users in force, and says so once per change.
  const reload = async (): Promise<void> => {
    const version = await fileVersion(file).catch(() => null)
    if (version === null || version === seen) return
    seen = version
    try {
      users = await readUsersFile(file)
      onEvent('info', 'users file reloaded', { usersFile: file, users: Object.keys(users.users).length })
    } catch (err) {
      onEvent('warn', 'users file not reloaded: the last good one stays in force', {
        usersFile: file,
        error: (err as Error).message,
      })
    }
  }
  // An unknown user is checked against this record so that it costs the same as a known one.
  const decoy = await hashSecret(randomBytes(16).toString('hex'))
  const checks = new ScryptGate(SCRYPT_CHECKS_MAX, SCRYPT_WAITING_MAX)
  return {
    async verify(credentials) {
      if (credentials === null || !('username' in credentials)) {
        throw new AuthenticationError(
          'this broker requires a username and password (SDK: auth: { username, password }; CLI: --user, with the ' +
            'password in SLUICE_PASSWORD)',
        )
      }
      reloading ??= reload().finally(() => (reloading = null))
      await reloading
      const known = Object.hasOwn(users.users, credentials.username)
      const rec = known ? (users.users[credentials.username] as UserRecord) : decoy
      const expected = Buffer.from(rec.hash, 'base64')
      const actual = await checks.run(() => scrypt(credentials.password, Buffer.from(rec.salt, 'base64'), rec))
      const match = actual.length === expected.length && timingSafeEqual(actual, expected)
      if (!known || !match) throw new AuthenticationError('invalid username or password')
      return credentials.username
    },
  }
}

/** What changes when the file is replaced or rewritten (user add/remove rename a new file over it). */
async function fileVersion(file: string): Promise<string> {
  const st = await fs.stat(file, { bigint: true })
  return `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`
}

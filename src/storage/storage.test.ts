// Unit tests of Storage: the data-dir lock (same process, child process, stale takeover), log names that must stay
// inside the data dir, the clean-shutdown marker and checkpoint, group commit sharing fdatasyncs, a failed fsync
// taking a log offline without acknowledging (also when a roll's or truncation's fdatasync of the same file races
// it), the interval policy, and deleteLog.
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, vi } from 'vitest'
import { ClosedError, DataDirLockedError, InvalidArgumentError, PartitionOfflineError } from '../errors.js'
import { captureLogger, logConfig, makeBatch, readAll, tmpTest as test } from '../testing/storage-fixtures.js'
import type { PartitionLogApi } from './api.js'
import { liveLockHolder, lockSelf, parseLockHolder } from './data-dir-lock.js'
import { nodeDurabilityFs, type DurabilityFs } from './segment.js'
import { openStorage } from './storage.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

describe('data-dir lock', () => {
  test('a second openStorage in the same process gets DataDirLockedError naming this pid; close releases it', async ({
    tmpDir,
  }) => {
    const first = await openStorage(tmpDir)
    const err = await openStorage(tmpDir).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DataDirLockedError)
    expect((err as DataDirLockedError).holderPid).toBe(process.pid)
    // no CLI advice for what is a second open in one application
    expect((err as Error).message).toBe(
      `data directory ${tmpDir} is already open in this process (one Sluice.open per data dir: share it)`,
    )
    await first.close()
    await first.close() // idempotent
    const second = await openStorage(tmpDir)
    await second.close()
  })

  test('a lock held by a live child process is refused with its pid', async ({ tmpDir }) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(root, 'test/fixtures/storage-hold-lock.ts'), tmpDir],
      {
        cwd: root,
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    )
    const line = await new Promise<string>((resolve, reject) => {
      let out = ''
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString()
        if (out.includes('\n')) resolve(out.trim())
      })
      child.on('exit', (code) => reject(new Error(`child exited ${code}`)))
    })
    expect(line).toBe(`locked ${child.pid}`)
    const err = await openStorage(tmpDir).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DataDirLockedError)
    expect((err as DataDirLockedError).holderPid).toBe(child.pid)
    // A copy of the held dir carries the holder's lock: refused too, with the way out in the message.
    const copy = `${tmpDir}-copy`
    fs.cpSync(tmpDir, copy, { recursive: true })
    try {
      const copied = await openStorage(copy).catch((e: unknown) => e)
      expect(copied).toBeInstanceOf(DataDirLockedError)
      expect((copied as Error).message).toMatch(/copy of one that process uses, the copy's \.lock came with it/)
      fs.rmSync(path.join(copy, '.lock'))
      await (await openStorage(copy)).close()
    } finally {
      fs.rmSync(copy, { recursive: true, force: true })
    }
    child.stdin.end()
    await new Promise((resolve) => child.on('exit', resolve))
    const after = await openStorage(tmpDir)
    await after.close()
  })

  test('a holder killed but not yet reaped (a zombie) no longer holds the lock', async ({ tmpDir }) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(root, 'test/fixtures/storage-hold-lock.ts'), tmpDir],
      { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] },
    )
    await new Promise<void>((resolve) => child.stdout.on('data', () => resolve()))
    expect(liveLockHolder(tmpDir)?.pid).toBe(child.pid)
    child.kill('SIGKILL')
    // Node reaps its children from the event loop: until this test yields, the killed child stays a zombie, as a
    // broker does under a busy supervisor. Before, the lock counted as held all that time.
    const state = () => {
      const stat = fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8')
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    }
    for (let i = 0; i < 2000 && state() !== 'Z'; i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5)
    expect(state()).toBe('Z')
    expect(liveLockHolder(tmpDir)).toBeNull()
    await new Promise((resolve) => child.on('exit', resolve))
  })

  test('a stale lock left by a dead process is taken over', async ({ tmpDir }) => {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'])
    const deadPid = Number(dead.stdout.toString())
    fs.writeFileSync(path.join(tmpDir, '.lock'), `${deadPid}\n`)
    const storage = await openStorage(tmpDir)
    expect(parseLockHolder(fs.readFileSync(path.join(tmpDir, '.lock'), 'utf8'))?.pid).toBe(process.pid)
    await storage.close()
    expect(fs.existsSync(path.join(tmpDir, '.lock'))).toBe(false)
  })

  test('the same directory through a symlink is the same lock', async ({ tmpDir }) => {
    const dir = path.join(tmpDir, 'real')
    fs.mkdirSync(dir)
    fs.symlinkSync(dir, path.join(tmpDir, 'link'))
    const first = await openStorage(dir)
    await expect(openStorage(path.join(tmpDir, 'link'))).rejects.toThrow(DataDirLockedError)
    await first.close()
  })

  test('a live pid that started after the lock was written (a reused pid) does not hold it', async ({ tmpDir }) => {
    const me = lockSelf()
    const lock = (start: string) =>
      fs.writeFileSync(path.join(tmpDir, '.lock'), JSON.stringify({ ...me, pid: process.ppid, start, token: 't' }))
    lock('1') // the parent process runs, but did not start at tick 1
    const storage = await openStorage(tmpDir)
    await storage.close()
    const parentStart = fs.readFileSync(`/proc/${process.ppid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19]!
    lock(parentStart) // now it is the process that wrote the lock
    await expect(openStorage(tmpDir)).rejects.toThrow(new RegExp(`in use by process ${process.ppid};`))
  })

  test('a lock of another pid namespace holds while its lease moves and is taken over once it stands still', async ({
    tmpDir,
  }) => {
    // Its pid means nothing here (1: every container's first process); only the lease tells whether it runs.
    const file = path.join(tmpDir, '.lock')
    fs.writeFileSync(file, JSON.stringify({ ...lockSelf(), pidNs: 'pid:[1]', pid: 1, start: '5', token: 'other' }))
    const mover = spawn(process.execPath, [
      '-e',
      `setInterval(() => { const t = new Date(); require('fs').utimesSync(${JSON.stringify(file)}, t, t) }, 300)`,
    ])
    try {
      await expect(openStorage(tmpDir)).rejects.toThrow(/in use by process 1 of another host or pid namespace/)
    } finally {
      mover.kill('SIGKILL')
      await new Promise((resolve) => mover.once('exit', resolve))
    }
    const storage = await openStorage(tmpDir) // the lease stood still for LEASE_STALE_MS
    expect(parseLockHolder(fs.readFileSync(file, 'utf8'))?.pid).toBe(process.pid)
    await storage.close()
  })

  test("release leaves a lock that another holder's token now names", async ({ tmpDir }) => {
    const storage = await openStorage(tmpDir)
    const file = path.join(tmpDir, '.lock')
    fs.writeFileSync(file, JSON.stringify({ ...lockSelf(), token: 'someone-else' })) // taken over meanwhile
    await storage.close()
    expect(parseLockHolder(fs.readFileSync(file, 'utf8'))?.token).toBe('someone-else')
  })
})

describe('layout', () => {
  test('log names that escape the data dir or hit reserved names are refused', async ({ tmpDir }) => {
    const storage = await openStorage(tmpDir)
    for (const name of ['../x', '/abs', 'a//b', 'a/../../b', '', 'checkpoints/x', 'meta.json', 'a/./b', 'a b', 'x/'])
      await expect(storage.openLog(name, logConfig()), name).rejects.toThrow(InvalidArgumentError)
    expect(fs.readdirSync(path.dirname(tmpDir)).filter((n) => n === 'x' || n === 'b')).toEqual([])
    // a component longer than NAME_MAX (255) is refused up front, by openLog and deleteLog alike (A5 found deleteLog
    // failing with a raw ENAMETOOLONG)
    await expect(storage.openLog('a'.repeat(256), logConfig())).rejects.toThrow(InvalidArgumentError)
    await expect(storage.deleteLog(`x/${'a'.repeat(256)}`)).rejects.toThrow(InvalidArgumentError)
    await storage.close()
  })

  test('a directory that is not empty and has no meta.json is refused, and left as it was', async ({ tmpDir }) => {
    fs.writeFileSync(path.join(tmpDir, 'notes.txt'), 'mine')
    fs.mkdirSync(path.join(tmpDir, 'src'))
    // Before, Sluice took it over: meta.json, checkpoints/ and topics/ among the user's files.
    await expect(openStorage(tmpDir)).rejects.toThrow(/is not empty and has no meta\.json.*notes\.txt, src/)
    expect(fs.readdirSync(tmpDir).sort()).toEqual(['notes.txt', 'src'])
    // A data dir whose meta.json was lost is refused too (opened as new it would skip crash recovery).
    const dataDir = path.join(tmpDir, 'data')
    const storage = await openStorage(dataDir)
    await storage.openLog('topics/a/0', logConfig())
    await storage.close()
    fs.rmSync(path.join(dataDir, 'meta.json'))
    await expect(openStorage(dataDir)).rejects.toThrow(/has no meta\.json.*formatVersion/)
    // Hidden files and lost+found (a mount point's root) are no objection.
    const mount = path.join(tmpDir, 'mount')
    fs.mkdirSync(path.join(mount, 'lost+found'), { recursive: true })
    fs.writeFileSync(path.join(mount, '.keep'), '')
    await (await openStorage(mount)).close()
  })

  test('meta.json, the clean-shutdown marker and the recovery-point checkpoint are written; an unclean stop is reported', async ({
    tmpDir,
  }) => {
    const storage = await openStorage(tmpDir)
    expect(storage.wasCleanShutdown).toBe(true) // a fresh dir
    const log = await storage.openLog('topics/a/0', logConfig())
    log.append(makeBatch('a', 4))
    await storage.close()
    expect(JSON.parse(fs.readFileSync(path.join(tmpDir, 'meta.json'), 'utf8'))).toMatchObject({ formatVersion: 1 })
    expect(JSON.parse(fs.readFileSync(path.join(tmpDir, 'checkpoints/recovery-point'), 'utf8')).logs).toEqual({
      'topics/a/0': 4,
    })
    expect(fs.existsSync(path.join(tmpDir, '.clean-shutdown'))).toBe(true)
    const again = await openStorage(tmpDir)
    expect(again.wasCleanShutdown).toBe(true)
    expect(fs.existsSync(path.join(tmpDir, '.clean-shutdown'))).toBe(false)
    // a crash: copy the files while the storage is open (what a killed process leaves behind)
    const crashed = `${tmpDir}-crashed`
    fs.cpSync(tmpDir, crashed, { recursive: true, filter: (src) => path.basename(src) !== '.lock' })
    await again.close()
    try {
      const reopened = await openStorage(crashed)
      expect(reopened.wasCleanShutdown).toBe(false)
      expect((await reopened.openLog('topics/a/0', logConfig())).logEndOffset).toBe(4)
      await reopened.close()
    } finally {
      fs.rmSync(crashed, { recursive: true, force: true })
    }
  })

  test('while open, the recovery point follows what is durable, so a crash re-validates only the bytes after it', async ({
    tmpDir,
  }) => {
    const storage = await openStorage(tmpDir, { checkpointIntervalMs: 20 })
    const file = path.join(tmpDir, 'checkpoints/recovery-point')
    const checkpointed = (): Record<string, number> =>
      fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as { logs: Record<string, number> }).logs : {}
    try {
      const durable = await storage.openLog('topics/d/0', logConfig({ flush: 'sync' }))
      const lazy = await storage.openLog('topics/o/0', logConfig({ flush: 'os' }))
      const appended = durable.append(makeBatch('d', 5))
      lazy.append(makeBatch('o', 3))
      await durable.waitDurable(appended.lastOffset)
      const deadline = Date.now() + 5_000
      while (checkpointed()['topics/d/0'] !== 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
      // The synced log's point moved to its end without a close; the 'os' log's did not (nothing of it is fsynced).
      expect(checkpointed()['topics/d/0']).toBe(5)
      expect(checkpointed()['topics/o/0'] ?? 0).toBe(0)
      expect(fs.existsSync(path.join(tmpDir, '.clean-shutdown'))).toBe(false)
    } finally {
      await storage.close()
    }
  })

  test('the periodic checkpoint (fsyncs off the event loop) never claims a point past a log truncated meanwhile', async ({
    tmpDir,
  }) => {
    const storage = await openStorage(tmpDir, { checkpointIntervalMs: 3_600_000 })
    const file = path.join(tmpDir, 'checkpoints/recovery-point')
    const checkpointed = (): number | undefined =>
      fs.existsSync(file)
        ? (JSON.parse(fs.readFileSync(file, 'utf8')) as { logs: Record<string, number> }).logs['topics/t/0']
        : undefined
    // Hold the checkpoint's index fsyncs until the log has been truncated under it.
    const held: Array<() => void> = []
    const realFsync = fs.fsync
    const hold = (fd: number, cb: (err: Error | null) => void): void => {
      held.push(() => realFsync(fd, cb))
    }
    const spy = vi.spyOn(fs, 'fsync').mockImplementation(hold as unknown as typeof fs.fsync)
    try {
      const log = await storage.openLog('topics/t/0', logConfig({ flush: 'sync' }))
      log.append(makeBatch('a', 4))
      const appended = log.append(makeBatch('b', 4))
      await log.waitDurable(appended.lastOffset)
      const checkpoint = storage.checkpointDurable() // takes durable offset 8, then syncs the indexes
      const deadline = Date.now() + 5_000
      while (held.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1))
      expect(held).toHaveLength(2)
      log.truncateTo(4)
      spy.mockRestore()
      for (const release of held.splice(0)) release()
      await checkpoint
      expect(log.logEndOffset).toBe(4)
      expect(checkpointed() ?? 0).toBeLessThanOrEqual(4)
      await storage.checkpointDurable() // and the next one records the truncated log's durable end
      expect(checkpointed()).toBe(4)
    } finally {
      spy.mockRestore()
      for (const release of held.splice(0)) release()
      await storage.close()
    }
  })

  test('deleteLog closes the log and removes its directory; the name can be reused from offset 0', async ({
    tmpDir,
  }) => {
    const storage = await openStorage(tmpDir)
    const log = await storage.openLog('topics/d/0', logConfig())
    log.append(makeBatch('x', 3))
    await storage.deleteLog('topics/d/0')
    expect(fs.existsSync(path.join(tmpDir, 'topics/d/0'))).toBe(false)
    expect(() => log.append(makeBatch('y'))).toThrow(ClosedError)
    const fresh = await storage.openLog('topics/d/0', logConfig())
    expect(fresh.logEndOffset).toBe(0)
    await storage.close()
    await expect(storage.openLog('other', logConfig())).rejects.toThrow(ClosedError)
  })
})

describe('flush policies', () => {
  test('group commit: concurrent durable appends across logs all resolve and share fdatasync calls', async ({
    tmpDir,
  }) => {
    const storage = await openStorage(tmpDir)
    const logs = await Promise.all(
      [0, 1, 2, 3].map((p) => storage.openLog(`topics/g/${p}`, logConfig({ segmentBytes: 1 << 20 }))),
    )
    const appends = 200
    const before = storage.getStats().fdatasyncCount
    const acks: Promise<number>[] = []
    for (let i = 0; i < appends; i++) {
      const log = logs[i % logs.length]!
      const r = log.append(makeBatch(`g${i}`))
      acks.push(log.waitDurable(r.lastOffset).then(() => r.lastOffset))
    }
    const offsets = await Promise.all(acks)
    expect(offsets).toHaveLength(appends)
    const stats = storage.getStats()
    expect(stats.fdatasyncCount - before).toBeLessThan(appends / 4)
    expect(stats.fdatasyncCount - before).toBeGreaterThanOrEqual(logs.length)
    for (const log of logs) {
      expect(log.durableOffset).toBe(log.logEndOffset)
      expect(readAll(log)).toHaveLength(appends / logs.length)
    }
    await storage.close()
  })

  test('a failed fdatasync takes the log offline: no ack, waiters reject, other logs keep serving', async ({
    tmpDir,
  }) => {
    let failing = false
    let failedCalls = 0
    const dfs: DurabilityFs = {
      fdatasync: (fd) => {
        if (!failing) return nodeDurabilityFs.fdatasync(fd)
        failedCalls++
        return Promise.reject(Object.assign(new Error(`EIO: i/o error on fd ${fd}`), { code: 'EIO' }))
      },
      fdatasyncSync: (fd) => nodeDurabilityFs.fdatasyncSync(fd),
    }
    const logger = captureLogger()
    const storage = await openStorage(tmpDir, { durabilityFs: dfs, logger })
    const bad = await storage.openLog('bad', logConfig())
    const good = await storage.openLog('good', logConfig())
    bad.append(makeBatch('before'))
    await bad.waitDurable(0)
    failing = true
    const r = bad.append(makeBatch('lost'))
    const ack = bad.waitDurable(r.lastOffset)
    await expect(ack).rejects.toThrow(PartitionOfflineError)
    expect(failedCalls).toBe(1) // never retried
    expect(bad.offlineError).toBeInstanceOf(PartitionOfflineError)
    expect(() => bad.append(makeBatch('x'))).toThrow(PartitionOfflineError)
    expect(() => bad.read(0, 100)).toThrow(PartitionOfflineError)
    await expect(bad.waitDurable(0)).rejects.toThrow(PartitionOfflineError)
    expect(logger.entries.some((e) => e.level === 'error')).toBe(true)
    failing = false
    const g = good.append(makeBatch('fine'))
    await good.waitDurable(g.lastOffset)
    expect(readAll(good).map((x) => x.value)).toEqual(['fine-0'])
    await storage.close()
    const checkpoint = JSON.parse(fs.readFileSync(path.join(tmpDir, 'checkpoints/recovery-point'), 'utf8')) as {
      logs: Record<string, number>
    }
    expect(checkpoint.logs.bad ?? 0).toBeLessThanOrEqual(1) // the unsynced batch is not claimed durable
  })

  test('an fdatasync that returns success after its log went offline claims nothing durable', async ({ tmpDir }) => {
    // Linux reports a writeback error once per open file: when the roll's fdatasync of the same fd takes the error,
    // a group-commit fdatasync still in flight on that fd can return success for pages that were lost.
    const h = await logWithHeldSync(tmpDir)
    h.failSyncs()
    expect(appendUntilRoll(h.log)).toBeInstanceOf(PartitionOfflineError) // the roll's fdatasync failed
    await h.settled
    expect(h.acked).toBe(false)
    h.release(true)
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(h.log.durableOffset).toBe(1) // the late success is not believed
    await h.storage.close()
    const checkpoint = JSON.parse(fs.readFileSync(path.join(tmpDir, 'checkpoints/recovery-point'), 'utf8')) as {
      logs: Record<string, number>
    }
    expect(checkpoint.logs.l ?? 0).toBeLessThanOrEqual(1)
  })

  test.for([
    ['fails', false],
    ['succeeds', true],
  ] as const)(
    'a roll during a group-commit fdatasync acks the sealed records only once that fdatasync %s',
    async ([, succeeds], { tmpDir }) => {
      // The roll's fdatasync of the same fd returns success when the one in flight took the writeback error.
      const h = await logWithHeldSync(tmpDir)
      expect(appendUntilRoll(h.log)).toBeNull() // rolled: the first segment was sealed and fdatasynced
      await new Promise((resolve) => setTimeout(resolve, 20))
      expect(h.acked).toBeNull()
      expect(h.log.durableOffset).toBe(1)
      h.release(succeeds)
      await h.settled
      expect(h.acked).toBe(succeeds)
      if (succeeds) expect(h.log.durableOffset).toBeGreaterThan(h.second)
      else {
        expect(h.log.offlineError).toBeInstanceOf(PartitionOfflineError)
        expect(h.log.durableOffset).toBe(1)
      }
      await h.storage.close()
    },
  )

  test('a truncation whose fdatasync fails takes the log offline instead of serving a half-cut log', async ({
    tmpDir,
  }) => {
    let failSync = false
    const dfs: DurabilityFs = {
      fdatasync: (fd) => nodeDurabilityFs.fdatasync(fd),
      fdatasyncSync: (fd) => {
        if (failSync) throw Object.assign(new Error(`EIO: i/o error on fd ${fd}`), { code: 'EIO' })
        nodeDurabilityFs.fdatasyncSync(fd)
      },
    }
    const storage = await openStorage(tmpDir, { durabilityFs: dfs, logger: captureLogger() })
    const log = await storage.openLog('l', logConfig())
    for (const v of ['a', 'b', 'c']) log.append(makeBatch(v))
    await log.waitDurable(2)
    failSync = true
    expect(() => log.truncateTo(1)).toThrow(/offline: truncating to offset 1 failed: EIO/)
    expect(log.offlineError).toBeInstanceOf(PartitionOfflineError)
    expect(() => log.append(makeBatch('d'))).toThrow(PartitionOfflineError)
    expect(() => log.read(0, 100)).toThrow(PartitionOfflineError)
    await storage.close()
  })

  test("'interval' and 'os' acknowledge at once; 'interval' flushes on its timer", async ({ tmpDir }) => {
    const storage = await openStorage(tmpDir)
    const interval = await storage.openLog('i', logConfig({ flush: 'interval', flushIntervalMs: 5 }))
    const os = await storage.openLog('o', logConfig({ flush: 'os' }))
    const r = interval.append(makeBatch('i'))
    await interval.waitDurable(r.lastOffset)
    os.append(makeBatch('o'))
    await os.waitDurable(0)
    expect(os.durableOffset).toBe(0) // nothing synced for 'os'
    for (let i = 0; i < 500 && interval.durableOffset < 1; i++) await new Promise((resolve) => setTimeout(resolve, 5))
    expect(interval.durableOffset).toBe(1)
    await storage.close()
    expect(JSON.parse(fs.readFileSync(path.join(tmpDir, 'checkpoints/recovery-point'), 'utf8')).logs).toEqual({
      i: 1,
      o: 1,
    })
  })
})

/**
 * A log of 300-byte segments with 'first' durable and 'second' appended, the group-commit fdatasync covering
 * 'second' held in flight until `release(ok)` (ok false: it fails with EIO); `failSyncs()` makes every synchronous
 * fdatasync (a roll's) fail with EIO from then on. `acked` tells how the wait for 'second' settled (null: not yet).
 */
async function logWithHeldSync(tmpDir: string) {
  let held: ((ok: boolean) => void) | null = null
  let holding = false
  let failing = false
  const eio = (fd: number) => Object.assign(new Error(`EIO: i/o error on fd ${fd}`), { code: 'EIO' })
  const dfs: DurabilityFs = {
    fdatasync: async (fd) => {
      await nodeDurabilityFs.fdatasync(fd)
      if (!holding) return
      const ok = await new Promise<boolean>((resolve) => (held = resolve))
      if (!ok) throw eio(fd)
    },
    fdatasyncSync: (fd) => {
      if (failing) throw eio(fd)
      nodeDurabilityFs.fdatasyncSync(fd)
    },
  }
  const storage = await openStorage(tmpDir, { durabilityFs: dfs, logger: captureLogger() })
  const log = await storage.openLog('l', logConfig({ segmentBytes: 300 }))
  log.append(makeBatch('first'))
  await log.waitDurable(0)
  holding = true
  const second = log.append(makeBatch('second')).lastOffset
  const h = {
    storage,
    log,
    second,
    acked: null as boolean | null,
    settled: null as unknown as Promise<unknown>,
    release(ok: boolean) {
      holding = false
      held!(ok)
    },
    failSyncs() {
      failing = true
    },
  }
  h.settled = log.waitDurable(second).then(
    () => (h.acked = true),
    () => (h.acked = false),
  )
  for (let i = 0; i < 500 && held === null; i++) await new Promise((resolve) => setTimeout(resolve, 2))
  expect(held).not.toBeNull() // the group-commit fdatasync covering 'second' is in flight
  return h
}

/** Appends until the log rolls (at most 20 batches); the error the rolling append threw, or null. */
function appendUntilRoll(log: PartitionLogApi): unknown {
  const segments = log.segmentCount
  for (let i = 0; i < 20; i++) {
    try {
      log.append(makeBatch(`more${i}`))
    } catch (err) {
      return err
    }
    if (log.segmentCount > segments) return null
  }
  throw new Error('the log did not roll')
}

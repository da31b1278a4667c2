// The exclusive lock on a data directory: `<dataDir>/.lock`, created with O_EXCL, holding one JSON line: the holder's
// pid, its host (hostname and boot id), its pid namespace and a token of its own. A second opener (another process, or
// a second Storage in this process, whatever path it names the directory by) gets DataDirLockedError naming the holder.
//
// Whether a lock's holder is alive: a pid means something only in the pid namespace of the host it was written in. Two
// containers sharing a volume, or a broker started under `unshare --pid`, each see the other's pid as dead (or as some
// unrelated process), and a check by pid alone let the second take the lock over and write the same logs (a trial lost
// five acknowledged records that way). So the holder also keeps the lock's mtime moving from a worker thread (a lease,
// moved every LEASE_REFRESH_MS even while the main thread is busy recovering), and:
//   - a lock of this host and pid namespace is live while its pid runs and was started when the lock says (so a pid
//     reused after a crash does not hold it); a restart after a crash takes it over at once;
//   - a lock of another host or namespace is live while its lease moves: the opener watches it for up to
//     LEASE_STALE_MS (no clocks compared) and takes it over only if it stood still.
// Release removes the file only while it still holds this holder's token.
import { randomUUID } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Worker } from 'node:worker_threads'
import { DataDirLockedError, StorageError } from '../errors.js'

/** Lock keys (real paths) held by Storages of this process. */
const heldByThisProcess = new Set<string>()
/** Attempts to take over a stale lock before giving up (another opener may race us each time). */
const LOCK_ATTEMPTS_MAX = 3
/** A lock file younger than this with no content yet may be mid-creation by another opener. */
const EMPTY_LOCK_GRACE_MS = 2_000
/** How often the holder moves its lock's mtime. */
export const LEASE_REFRESH_MS = 1_000
/** A lease that has not moved for this long has no live holder. */
export const LEASE_STALE_MS = 5_000
/** How often an opener looks at a lease of another namespace while it waits. */
const LEASE_POLL_MS = 250

export interface LockHolder {
  pid: number
  /** When the process started (clock ticks since boot, /proc/<pid>/stat), '' where /proc does not tell. */
  start: string
  /** hostname and boot id: a pid namespace id is unique only within one boot of one host */
  host: string
  /** the holder's pid namespace ('' where /proc does not tell) */
  pidNs: string
  token: string
}

function readOr(f: () => string): string {
  try {
    return f().trim()
  } catch {
    return ''
  }
}

/** The start time of process `pid` as /proc/<pid>/stat gives it (field 22), '' when unknown. */
function startOf(pid: number | 'self'): string {
  const stat = readOr(() => fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ') // the command name may hold spaces
  return fields[19] ?? ''
}

let self: Omit<LockHolder, 'token'> | null = null

/** This process as a lock records it. */
export function lockSelf(): Omit<LockHolder, 'token'> {
  if (self === null) {
    const bootId = readOr(() => fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8'))
    self = {
      pid: process.pid,
      start: startOf('self'),
      host: `${os.hostname()}/${bootId}`,
      pidNs: readOr(() => fs.readlinkSync('/proc/self/ns/pid')),
    }
  }
  return self
}

/** The holder a lock file names; a bare pid (locks written before the lease) counts as this host and namespace. */
export function parseLockHolder(text: string): LockHolder | null {
  const trimmed = text.trim()
  const me = lockSelf()
  if (/^\d+$/.test(trimmed)) return { pid: Number(trimmed), start: '', host: me.host, pidNs: me.pidNs, token: '' }
  try {
    const h = JSON.parse(trimmed) as Partial<LockHolder>
    if (Number.isSafeInteger(h.pid) && typeof h.host === 'string' && typeof h.pidNs === 'string')
      return {
        pid: h.pid!,
        start: typeof h.start === 'string' ? h.start : '',
        host: h.host,
        pidNs: h.pidNs,
        token: typeof h.token === 'string' ? h.token : '',
      }
  } catch {
    // not a lock line
  }
  return null
}

/** A holder of this host and namespace runs while its pid does (a zombie does not: it has exited, its parent has just
 *  not reaped it yet) and started when the lock says. */
function runs(holder: LockHolder): boolean {
  if (!isAlive(holder.pid) || exited(holder.pid)) return false
  return holder.start === '' || startOf(holder.pid) === holder.start
}

/** Whether /proc says `pid` has exited and waits to be reaped (state Z or X); false where /proc does not tell. A broker
 *  killed with SIGKILL stays a zombie until its parent (a shell, a supervisor) waits for it: seconds on a busy
 *  machine, during which a restart was refused as if the data dir were still in use. */
function exited(pid: number): boolean {
  const stat = readOr(() => fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
  return state === 'Z' || state === 'X'
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

/** The lock file's mtime, or null when it is gone. */
function mtimeOf(file: string): number | null {
  try {
    return fs.statSync(file).mtimeMs
  } catch {
    return null
  }
}

/** True when a lock of another host or namespace moves within LEASE_STALE_MS (its holder is alive); false when it
 *  stands still that long or goes away. Blocks the caller: this happens only at open, and only for such a lock. */
function leaseMoves(file: string): boolean {
  const first = mtimeOf(file)
  for (let waited = 0; waited < LEASE_STALE_MS && first !== null; waited += LEASE_POLL_MS) {
    sleepSync(LEASE_POLL_MS)
    const now = mtimeOf(file)
    if (now === null) return false
    if (now !== first) return true
  }
  return false
}

/** Moves the leases of this process's locks from a thread of its own (a busy or blocked main thread must not let
 *  them stand still): one thread for all of them, started with the first lock. */
const LEASE_WORKER = `
const { workerData, parentPort } = require('node:worker_threads')
const fs = require('node:fs')
const files = new Set()
parentPort.on('message', (m) => (m.add ? files.add(m.add) : files.delete(m.remove)))
setInterval(() => {
  const now = new Date()
  for (const file of files) try { fs.utimesSync(file, now, now) } catch {}
}, workerData.everyMs)
`
let leaseWorker: Worker | null = null

function leases(): Worker {
  if (leaseWorker === null) {
    leaseWorker = new Worker(LEASE_WORKER, { eval: true, workerData: { everyMs: LEASE_REFRESH_MS } })
    leaseWorker.unref() // it never keeps the process alive
    leaseWorker.on('error', () => (leaseWorker = null)) // started again with the next lock
  }
  return leaseWorker
}

/** A lock file's text, the holder it names (null: unreadable) and the ms since its lease last moved; null if gone. */
function readLock(file: string): { text: string; holder: LockHolder | null; ageMs: number } | null {
  try {
    const text = fs.readFileSync(file, 'utf8')
    return { text, holder: parseLockHolder(text), ageMs: Date.now() - fs.statSync(file).mtimeMs }
  } catch {
    return null
  }
}

/** The holder of `dataDir`'s lock if it looks alive (no waiting: a lease of another namespace counts as alive while its
 *  mtime is recent by this clock), else null. For tools that read a data dir without taking its lock. */
export function liveLockHolder(dataDir: string): LockHolder | null {
  const lock = readLock(path.join(dataDir, '.lock'))
  if (lock === null || lock.holder === null) return null
  const { holder, ageMs } = lock
  const me = lockSelf()
  if (holder.host === me.host && holder.pidNs === me.pidNs) return runs(holder) ? holder : null
  return ageMs < LEASE_STALE_MS ? holder : null
}

export class DataDirLock {
  #released = false

  private constructor(
    readonly dataDir: string,
    readonly file: string,
    readonly token: string,
  ) {
    leases().postMessage({ add: file })
  }

  static acquire(dataDir: string): DataDirLock {
    const resolved = path.resolve(dataDir)
    let key = resolved
    try {
      key = fs.realpathSync(resolved) // the same directory through a symlink is the same lock
    } catch {
      // not there yet: the open that follows reports it
    }
    const file = path.join(key, '.lock')
    if (heldByThisProcess.has(key)) throw new DataDirLockedError(dataDir, process.pid)
    const me = lockSelf()
    const token = randomUUID()
    for (let attempt = 0; attempt < LOCK_ATTEMPTS_MAX; attempt++) {
      try {
        const fd = fs.openSync(file, 'wx')
        try {
          fs.writeSync(fd, JSON.stringify({ ...me, token }) + '\n')
          fs.fsyncSync(fd)
        } finally {
          fs.closeSync(fd)
        }
        heldByThisProcess.add(key)
        return new DataDirLock(key, file, token)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
          throw new StorageError(`cannot create lock file ${file}: ${(err as Error).message}`, { cause: err })
      }
      const lock = readLock(file)
      if (lock === null) continue // removed meanwhile: try again
      const { text, holder, ageMs } = lock
      if (holder === null) {
        if (ageMs < EMPTY_LOCK_GRACE_MS) throw new DataDirLockedError(dataDir, -1)
      } else if (holder.host === me.host && holder.pidNs === me.pidNs) {
        // Our own pid in the file is a lock left by an earlier process that had it (this process holds none here).
        if (holder.pid !== process.pid && runs(holder)) throw new DataDirLockedError(dataDir, holder.pid)
      } else if (leaseMoves(file))
        throw new DataDirLockedError(
          dataDir,
          holder.pid,
          `of another host or pid namespace (${holder.host.split('/')[0]})`,
        )
      // Stale: its holder is gone. Unless another opener replaced it meanwhile (then look again).
      try {
        if (fs.readFileSync(file, 'utf8') !== text) continue
      } catch {
        continue
      }
      fs.rmSync(file, { force: true })
    }
    throw new StorageError(`could not take the lock ${file} after ${LOCK_ATTEMPTS_MAX} attempts`, { retriable: true })
  }

  release(): void {
    if (this.#released) return
    this.#released = true
    leaseWorker?.postMessage({ remove: this.file })
    heldByThisProcess.delete(this.dataDir)
    try {
      if (parseLockHolder(fs.readFileSync(this.file, 'utf8'))?.token === this.token)
        fs.rmSync(this.file, { force: true })
    } catch {
      // already gone
    }
  }
}

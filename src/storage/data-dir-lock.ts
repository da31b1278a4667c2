// The exclusive lock on a data directory: `<dataDir>/.lock`, created with O_EXCL, holding the holder's pid. A second
// opener (another process, or a second Storage in this process) gets DataDirLockedError naming the holder; a lock left
// by a dead process (kill(pid, 0) fails with ESRCH) is taken over. Locks held by this process are also tracked in
// memory, since the pid in the file cannot tell two Storages of one process apart.
import fs from 'node:fs'
import path from 'node:path'
import { DataDirLockedError, StorageError } from '../errors.js'

const heldByThisProcess = new Set<string>()
/** Attempts to take over a stale lock before giving up (another opener may race us each time). */
const LOCK_ATTEMPTS_MAX = 3
/** A lock file younger than this with no pid yet may be mid-creation by another opener. */
const EMPTY_LOCK_GRACE_MS = 2_000

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export class DataDirLock {
  #released = false
  private constructor(
    readonly dataDir: string,
    readonly file: string,
  ) {}

  static acquire(dataDir: string): DataDirLock {
    const key = path.resolve(dataDir)
    const file = path.join(key, '.lock')
    if (heldByThisProcess.has(key)) throw new DataDirLockedError(dataDir, process.pid)
    for (let attempt = 0; attempt < LOCK_ATTEMPTS_MAX; attempt++) {
      try {
        const fd = fs.openSync(file, 'wx')
        try {
          fs.writeSync(fd, `${process.pid}\n`)
          fs.fsyncSync(fd)
        } finally {
          fs.closeSync(fd)
        }
        heldByThisProcess.add(key)
        return new DataDirLock(key, file)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
          throw new StorageError(`cannot create lock file ${file}: ${(err as Error).message}`, { cause: err })
      }
      let text = ''
      let ageMs = 0
      try {
        text = fs.readFileSync(file, 'utf8')
        ageMs = Date.now() - fs.statSync(file).mtimeMs
      } catch {
        continue // removed meanwhile: try again
      }
      const pid = Number.parseInt(text.trim(), 10)
      if (Number.isSafeInteger(pid) && pid > 0) {
        if (pid !== process.pid && isAlive(pid)) throw new DataDirLockedError(dataDir, pid)
      } else if (ageMs < EMPTY_LOCK_GRACE_MS) throw new DataDirLockedError(dataDir, -1)
      fs.rmSync(file, { force: true }) // stale: its holder is gone
    }
    throw new StorageError(`could not take the lock ${file} after ${LOCK_ATTEMPTS_MAX} attempts`, { retriable: true })
  }

  release(): void {
    if (this.#released) return
    this.#released = true
    heldByThisProcess.delete(this.dataDir)
    try {
      const text = fs.readFileSync(this.file, 'utf8')
      if (Number.parseInt(text.trim(), 10) === process.pid) fs.rmSync(this.file, { force: true })
    } catch {
      // already gone
    }
  }
}

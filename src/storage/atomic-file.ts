// Small files that must never be seen half-written (checkpoints, meta.json, log-start-offset): written to a temporary
// sibling, fsynced, renamed over the target, and the directory fsynced so the rename itself is durable. A reader sees
// the old content or the new, never a mix. The synchronous forms serve the storage engine's own files; the async
// forms (`writeFileAtomicAsync`, `fsyncDirAsync`) serve the broker's (topic.json, producer-id blocks), off the event loop.
import fs from 'node:fs'
import { open, rename, rm } from 'node:fs/promises'
import path from 'node:path'
import { DiskFullError, StorageError } from '../errors.js'
import { failpoint } from './failpoints.js'

export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r')
  try {
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

export function writeFileAtomic(file: string, content: string | Buffer): void {
  const tmp = `${file}.tmp`
  try {
    const fd = fs.openSync(tmp, 'w')
    try {
      fs.writeFileSync(fd, content)
      fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
  } catch (err) {
    fs.rmSync(tmp, { force: true })
    throw diskFullOr(err, file)
  }
  failpoint('checkpoint-rename')
  fs.renameSync(tmp, file)
  fsyncDir(path.dirname(file))
}

/** A full disk (ENOSPC, EDQUOT) as the typed, retriable DiskFullError naming `file`; any other error as it is. */
function diskFullOr(err: unknown, file: string): unknown {
  const code = (err as NodeJS.ErrnoException | null)?.code
  if (code === 'ENOSPC' || code === 'EDQUOT')
    return new DiskFullError(`could not write ${file}: the disk is full (${code})`, { cause: err })
  return err
}

/** Parsed JSON of `file`, undefined when absent; throws on unreadable or unparsable content. */
export function readJsonFile(file: string): unknown {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  return JSON.parse(text) as unknown
}

/** Writes a whole file in place and fsyncs it (index files: caches, so no rename is needed). */
export function writeFileSynced(file: string, bytes: Buffer): void {
  const fd = fs.openSync(file, 'w')
  try {
    fs.writeSync(fd, bytes)
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

export async function fsyncDirAsync(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** As writeFileAtomic, without blocking; the temp name carries the pid so two writers never share one. */
export async function writeFileAtomicAsync(file: string, data: string | Buffer): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`)
  try {
    const handle = await open(tmp, 'w')
    try {
      await handle.writeFile(data)
      await handle.sync()
    } finally {
      await handle.close()
    }
    failpoint('checkpoint-rename')
    await rename(tmp, file)
    await fsyncDirAsync(path.dirname(file))
  } catch (cause) {
    await rm(tmp, { force: true }).catch(() => {})
    const full = diskFullOr(cause, file)
    if (full !== cause) throw full
    throw new StorageError(`could not write ${file}: ${(cause as Error).message}`, { cause })
  }
}

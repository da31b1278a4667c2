// Crash-safe small-file writes: write a temp file beside the target, fsync it, rename it over the target, fsync the
// directory. After a crash the target holds either the old or the new content, never a mix. Used for topic.json and
// the producer-id block file; the temp name carries the pid so two writers never share one.
import { open, rename, rm } from 'node:fs/promises'
import path from 'node:path'
import { StorageError } from '../errors.js'

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

export async function writeFileAtomic(file: string, data: string | Buffer): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`)
  try {
    const handle = await open(tmp, 'w')
    try {
      await handle.writeFile(data)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(tmp, file)
    await fsyncDir(path.dirname(file))
  } catch (cause) {
    await rm(tmp, { force: true }).catch(() => {})
    throw new StorageError(`could not write ${file}: ${(cause as Error).message}`, { cause })
  }
}

// A seal during a checkpoint's index fsyncs on the thread pool keeps the index fds open until those fsyncs return (a
// number closed and reused by another file would be fsynced in its place, taking that file's writeback error), and
// an index fsync that fails marks the index files stale and has them written again whole.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, expect, test, vi } from 'vitest'
import { encodeRecordBatch } from './record-batch.js'
import { nodeDurabilityFs } from './segment.js'
import { createSegment } from './segment-files.js'

const dirs: string[] = []

afterEach(() => {
  vi.restoreAllMocks()
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})

type FsyncCallback = (err: NodeJS.ErrnoException | null) => void

test("a seal while the checkpoint's index fsyncs are in flight closes their fds only once they return; a failed one has the index files written again", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-index-sync-'))
  dirs.push(dir)
  // An index entry for every batch (interval 1 byte).
  const segment = createSegment(dir, 0, 1, Date.now())
  for (let offset = 0; offset < 5; offset++) {
    const batch = encodeRecordBatch([{ key: null, value: Buffer.from(`v${offset}`), timestamp: 1_000 + offset }])
    batch.writeBigInt64BE(BigInt(offset), 0) // base offset
    segment.append(batch, offset, 1_000 + offset)
  }
  // The thread pool's fsyncs are held until the test answers them.
  const held: Array<{ fd: number; done: FsyncCallback }> = []
  vi.spyOn(fs, 'fsync').mockImplementation(((fd: number, done: FsyncCallback) => {
    held.push({ fd, done })
  }) as typeof fs.fsync)
  const checkpoint = segment.syncIndexesAsync()
  expect(held).toHaveLength(2)
  const inode = (file: string) => fs.statSync(file).ino
  expect(held.map((h) => fs.fstatSync(h.fd).ino)).toEqual([inode(segment.indexPath), inode(segment.timeIndexPath)])

  segment.seal(nodeDurabilityFs)
  expect(segment.isActive).toBe(false)
  // Still the index files: not closed, so not reusable by the next file opened.
  expect(held.map((h) => fs.fstatSync(h.fd).ino)).toEqual([inode(segment.indexPath), inode(segment.timeIndexPath)])
  const other = fs.openSync(path.join(dir, 'other'), 'w')
  expect(held.map((h) => h.fd)).not.toContain(other)
  fs.closeSync(other)

  // What a lost writeback leaves on disk: the index file's bytes gone (zeros here).
  const expected = fs.readFileSync(segment.indexPath)
  expect(expected.length).toBeGreaterThan(0)
  fs.writeFileSync(segment.indexPath, Buffer.alloc(expected.length))
  const eio = Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' })
  held[0]!.done(eio)
  held[1]!.done(null)
  await expect(checkpoint).rejects.toThrow(/EIO/)
  // Both fds closed now, and the failed index written again whole from memory.
  for (const h of held) expect(() => fs.fstatSync(h.fd)).toThrow(/EBADF/)
  expect(fs.readFileSync(segment.indexPath)).toEqual(expected)
  segment.close()
})

// Unit tests of the offline tools: verifyLogDir / verifyDataDir on healthy and damaged logs (through the worker pool,
// from TypeScript source) and dumpSegment's batch headers, `from` and `limit`, and its error on a cut length.
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect } from 'vitest'
import { CorruptRecordError } from '../errors.js'
import { logConfig, makeBatch, tmpTest as test } from '../testing/storage-fixtures.js'
import { WorkerPool } from '../workers/pool.js'
import { openStorage } from './storage.js'
import { dumpSegment, findLogDirs, verifyDataDir, verifyLogDir } from './verify.js'

async function writeLogs(dataDir: string): Promise<void> {
  const storage = await openStorage(dataDir)
  for (const name of ['topics/a/0', 'topics/a/1', 'topics/b/0']) {
    const log = await storage.openLog(name, logConfig({ segmentBytes: 500 }))
    for (let i = 0; i < 12; i++) log.append(makeBatch(`${name}-${i}`, 3))
  }
  await storage.close()
}

describe('verify', () => {
  test('a healthy data dir verifies clean: every log, every segment, records counted, offsets continuous', async ({
    tmpDir,
  }) => {
    await writeLogs(tmpDir)
    expect(findLogDirs(tmpDir).map((d) => path.relative(tmpDir, d))).toEqual(['topics/a/0', 'topics/a/1', 'topics/b/0'])
    const pool = new WorkerPool()
    try {
      const reports = await verifyDataDir(tmpDir, { pool })
      expect(reports).toHaveLength(3)
      for (const r of reports) {
        expect(r.ok).toBe(true)
        expect(r.segments.length).toBeGreaterThan(1)
        expect(r.segments.reduce((n, s) => n + s.records, 0)).toBe(36)
        expect(r.segments[0]!.firstOffset).toBe(0)
        expect(r.segments.at(-1)!.lastOffset).toBe(35)
        expect(r.segments.flatMap((s) => s.indexProblems)).toEqual([])
      }
    } finally {
      await pool.close()
    }
  })

  test('a missing middle segment and a torn tail are reported with file and position; nothing is modified', async ({
    tmpDir,
  }) => {
    await writeLogs(tmpDir)
    const dir = path.join(tmpDir, 'topics/a/0')
    const logs = fs.readdirSync(dir).filter((f) => f.endsWith('.log'))
    fs.rmSync(path.join(dir, logs[1]!))
    const last = path.join(dir, logs.at(-1)!)
    const size = fs.statSync(last).size
    fs.truncateSync(last, size - 5)
    const report = await verifyLogDir(dir)
    expect(report.ok).toBe(false)
    expect(report.problems).toEqual([
      expect.objectContaining({ file: path.join(dir, logs[2]!), position: 0 }),
      expect.objectContaining({ file: last, message: expect.stringContaining('run to the end') }),
    ])
    expect(fs.statSync(last).size).toBe(size - 5)
  })
})

describe('dumpSegment', () => {
  test('yields every batch header with its position and validity, honouring from and limit', async ({ tmpDir }) => {
    await writeLogs(tmpDir)
    const file = path.join(tmpDir, 'topics/b/0/00000000000000000000.log')
    const all = []
    for await (const b of dumpSegment(file)) all.push(b)
    expect(all.length).toBeGreaterThan(1)
    expect(all.map((b) => b.baseOffset)).toEqual(all.map((_, i) => i * 3))
    expect(all.every((b) => b.problem === null && b.recordCount === 3)).toBe(true)
    expect(all[1]!.position).toBe(all[0]!.batchBytes)
    const some = []
    for await (const b of dumpSegment(file, { from: 4, limit: 2 })) some.push(b.baseOffset)
    expect(some).toEqual([3, 6])
    // A damaged lastOffsetDelta (top byte) below `from`'s batch: shown with its problem, not skipped as if before it.
    const damaged = fs.readFileSync(file)
    damaged[all[1]!.position + 23]! ^= 0xff
    fs.writeFileSync(file, damaged)
    const fromSix = []
    for await (const b of dumpSegment(file, { from: 6, limit: 2 })) fromSix.push([b.position, b.problem])
    expect(fromSix[0]).toEqual([all[1]!.position, expect.stringMatching(/CRC|lastOffsetDelta/)])
    damaged[all[1]!.position + 23]! ^= 0xff
    fs.writeFileSync(file, damaged)
    const bytes = fs.readFileSync(file)
    bytes[all[1]!.position + 40]! ^= 1
    bytes.writeInt32BE(1_000_000, all[2]!.position + 8)
    fs.writeFileSync(file, bytes)
    const seen: (string | null)[] = []
    const err = await (async () => {
      for await (const b of dumpSegment(file)) seen.push(b.problem)
    })().catch((e: unknown) => e)
    expect(seen[0]).toBeNull()
    expect(seen[1]).toMatch(/CRC/)
    expect(err).toBeInstanceOf(CorruptRecordError)
    expect((err as CorruptRecordError).position).toBe(all[2]!.position)
  })

  test('a path that is not a segment log (an index, a directory) is refused by name, not read as batches', async ({
    tmpDir,
  }) => {
    await writeLogs(tmpDir)
    const dump = async (file: string) => {
      for await (const b of dumpSegment(file)) void b
    }
    // Before: "batch length 5335 does not fit the file" for an index, and EISDIR for a directory.
    await expect(dump(path.join(tmpDir, 'topics/b/0/00000000000000000000.index'))).rejects.toThrow(
      /00000000000000000000\.index is not a segment log file/,
    )
    fs.mkdirSync(path.join(tmpDir, 'odd.log'))
    await expect(dump(path.join(tmpDir, 'odd.log'))).rejects.toThrow(
      /odd\.log is not a segment log file \(it is not a regular file\)/,
    )
  })
})

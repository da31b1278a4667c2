// Question: MB/s and records/s of sequential PartitionLog.read (1 MiB per call, page cache warm) over a 64 MiB log of
// 64 KiB batches of 100 B records, against a raw fs.readSync loop of 1 MiB chunks over the same segment files.
// Envelope: the raw loop is one pread + memcpy per MiB (~3-8 GB/s from page cache ⇒ ~0.15-0.3 ms per MiB). A read
// adds an index binary search, one 64 KiB header-window pread to find the batch, and a walk over ~16 headers to cut at
// a batch boundary (~µs), and allocates a fresh 1 MiB Buffer like the raw loop: expect ≥ 70% of raw.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { Bench } from 'tinybench'
import type { LogConfig } from '../../src/storage/api.js'
import { encodeRecordBatch } from '../../src/storage/record-batch.js'
import { openStorage } from '../../src/storage/storage.js'

export interface BenchRow {
  name: string
  recordsPerSec: number
  megabytesPerSec: number
  ratioToRaw: number
}

const LOG_BYTES = 64 * 1024 * 1024
const READ_BYTES = 1024 * 1024
const VALUE_BYTES = 100

const config: LogConfig = {
  segmentBytes: 16 * 1024 * 1024,
  segmentMs: 7 * 24 * 3600 * 1000,
  indexIntervalBytes: 4096,
  indexBytesMax: 10 * 1024 * 1024,
  retentionMs: -1,
  retentionBytes: -1,
  flush: 'os',
  flushIntervalMs: 1000,
}

export async function run(): Promise<BenchRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-read-'))
  const rows: BenchRow[] = []
  try {
    const storage = await openStorage(dir)
    const log = await storage.openLog('topics/bench/0', config)
    const value = Buffer.alloc(VALUE_BYTES, 0x62)
    const count = Math.floor((64 * 1024 - 61) / (VALUE_BYTES + 12))
    const batch = encodeRecordBatch(Array.from({ length: count }, () => ({ key: null, value, timestamp: Date.now() })))
    while (log.sizeBytes + batch.length <= LOG_BYTES) log.append(batch)
    const totalRecords = log.logEndOffset
    const totalBytes = log.sizeBytes
    const segmentFiles = fs
      .readdirSync(path.join(dir, 'topics/bench/0'))
      .filter((f) => f.endsWith('.log'))
      .map((f) => path.join(dir, 'topics/bench/0', f))
    let sink = 0
    const raw = (): void => {
      for (const file of segmentFiles) {
        const fd = fs.openSync(file, 'r')
        try {
          for (let position = 0; ; position += READ_BYTES) {
            const chunk = Buffer.allocUnsafe(READ_BYTES)
            const n = fs.readSync(fd, chunk, 0, READ_BYTES, position)
            if (n === 0) break
            sink += chunk[0]!
          }
        } finally {
          fs.closeSync(fd)
        }
      }
    }
    const sequential = (): void => {
      for (let offset = 0; offset < totalRecords;) {
        const { records } = log.read(offset, READ_BYTES)
        // the next offset: the last batch's base offset + its lastOffsetDelta + 1
        let position = 0
        let last = offset
        while (position < records.length) {
          last = records.readInt32BE(position + 4) + records.readInt32BE(position + 23)
          position += 12 + records.readInt32BE(position + 8)
        }
        offset = last + 1
        sink += records.length
      }
    }
    // This machine's page-cache reads vary a lot with what else runs; two passes in opposite order, averaged, keep
    // warm-up and ordering effects out of the ratio.
    const periods = new Map<string, number[]>()
    for (const order of [
      ['raw', 'read'],
      ['read', 'raw'],
    ]) {
      const bench = new Bench({ iterations: 30, time: 0, warmupIterations: 10, warmupTime: 0 })
      for (const name of order) bench.add(name, name === 'raw' ? raw : sequential)
      await bench.run()
      for (const task of bench.tasks) {
        const period = (task.result as { period?: number } | undefined)?.period ?? NaN
        periods.set(task.name, [...(periods.get(task.name) ?? []), period])
      }
    }
    const mean = (name: string): number => {
      const xs = periods.get(name)!
      return xs.reduce((a, b) => a + b, 0) / xs.length
    }
    const rawPeriod = mean('raw')
    for (const [name, label] of [
      ['raw', 'raw readSync 1 MiB chunks'],
      ['read', 'PartitionLog.read 1 MiB, sequential'],
    ] as const) {
      const period = mean(name)
      rows.push({
        name: label,
        recordsPerSec: Math.round((totalRecords * 1000) / period),
        megabytesPerSec: Math.round((totalBytes / 2 ** 20) * (1000 / period)),
        ratioToRaw: Math.round((rawPeriod / period) * 100) / 100,
      })
    }
    if (sink < 0) console.log(sink)
    await storage.close()
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
  return rows
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await run()
  console.log(`node ${process.version}, ${os.cpus().length}x ${os.cpus()[0]?.model ?? '?'}`)
  console.table(rows)
}

// Question: records/s and MB/s of PartitionLog.append for 100 B and 1 KiB records in 64 KiB batches under each flush
// policy, against a raw fs.writeSync loop of the same 64 KiB chunks in the same run (with one fdatasync per chunk for
// 'sync', none for 'interval'/'os').
// Envelope: 'sync' with one batch in flight is one write + one fdatasync per 64 KiB: fdatasync ≈ 0.4-2 ms here ⇒
// ~500-2,500 batches/s ≈ 0.3-1.5M records/s of 100 B. The engine adds per batch one CRC-32C check (64 KiB at
// ~1.5 GB/s ≈ 45 µs) plus a header parse and maybe an index entry write (~5 µs), so it should stay ≥ 50% of raw. With
// 'os'/'interval' the raw loop is memcpy into the page cache (~2-4 GB/s, ~16 µs per chunk), so the CRC dominates:
// expect ~25-50% of raw there. Group commit (many appends per fdatasync) is measured with 8 logs in parallel.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { Bench } from 'tinybench'
import type { FlushPolicy, LogConfig } from '../../src/storage/api.js'
import { encodeRecordBatch } from '../../src/storage/record-batch.js'
import { openStorage } from '../../src/storage/storage.js'

export interface BenchRow {
  name: string
  recordsPerSec: number
  megabytesPerSec: number
  /** records/s relative to the raw loop of the same case. */
  ratioToRaw: number
}

const BATCH_BYTES = 64 * 1024
const TOTAL_BYTES = 32 * 1024 * 1024
const CASES = [100, 1024] as const
const POLICIES: FlushPolicy[] = ['sync', 'interval', 'os']

function logConfig(flush: FlushPolicy): LogConfig {
  return {
    segmentBytes: 128 * 1024 * 1024,
    segmentMs: 7 * 24 * 3600 * 1000,
    indexIntervalBytes: 4096,
    indexBytesMax: 10 * 1024 * 1024,
    retentionMs: -1,
    retentionBytes: -1,
    flush,
    flushIntervalMs: 1000,
  }
}

/** One batch of as many `valueBytes` records as fit in 64 KiB. */
function batchOf(valueBytes: number): { batch: Buffer; records: number } {
  const value = Buffer.alloc(valueBytes, 0x61)
  const perRecord = valueBytes + 12
  const count = Math.floor((BATCH_BYTES - 61) / perRecord)
  const now = Date.now()
  const batch = encodeRecordBatch(Array.from({ length: count }, () => ({ key: null, value, timestamp: now })))
  return { batch, records: count }
}

function periodMs(task: { result?: unknown }): number {
  return (task.result as { period?: number } | undefined)?.period ?? NaN
}

export async function run(): Promise<BenchRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-append-'))
  const rows: BenchRow[] = []
  try {
    for (const valueBytes of CASES) {
      const { batch, records } = batchOf(valueBytes)
      const batches = Math.floor(TOTAL_BYTES / batch.length)
      const totalRecords = batches * records
      const totalBytes = batches * batch.length
      const bench = new Bench({ iterations: 3, time: 0, warmupIterations: 1, warmupTime: 0 })
      const rawFile = path.join(dir, `raw-${valueBytes}.log`)
      bench.add(`raw writeSync+fdatasync, ${valueBytes} B`, () => {
        const fd = fs.openSync(rawFile, 'w')
        try {
          for (let i = 0; i < batches; i++) {
            fs.writeSync(fd, batch)
            fs.fdatasyncSync(fd)
          }
        } finally {
          fs.closeSync(fd)
        }
      })
      bench.add(`raw writeSync, ${valueBytes} B`, () => {
        const fd = fs.openSync(rawFile, 'w')
        try {
          for (let i = 0; i < batches; i++) fs.writeSync(fd, batch)
        } finally {
          fs.closeSync(fd)
        }
      })
      let round = 0
      for (const flush of POLICIES) {
        bench.add(`append flush ${flush}, ${valueBytes} B, 1 in flight`, async () => {
          const storage = await openStorage(path.join(dir, `data-${valueBytes}-${flush}-${round++}`))
          const log = await storage.openLog('topics/bench/0', logConfig(flush))
          for (let i = 0; i < batches; i++) {
            const r = log.append(batch)
            await log.waitDurable(r.lastOffset)
          }
          await storage.close()
        })
      }
      bench.add(`append flush sync, ${valueBytes} B, 8 logs in parallel`, async () => {
        const storage = await openStorage(path.join(dir, `data-${valueBytes}-group-${round++}`))
        const logs = await Promise.all(
          Array.from({ length: 8 }, (_, p) => storage.openLog(`topics/bench/${p}`, logConfig('sync'))),
        )
        await Promise.all(
          logs.map(async (log, p) => {
            for (let i = p; i < batches; i += logs.length) {
              const r = log.append(Buffer.from(batch))
              await log.waitDurable(r.lastOffset)
            }
          }),
        )
        await storage.close()
      })
      await bench.run()
      const rawSync = periodMs(bench.tasks[0]!)
      const rawOs = periodMs(bench.tasks[1]!)
      for (const task of bench.tasks) {
        const period = periodMs(task)
        const raw = task.name.includes('sync') ? rawSync : rawOs
        rows.push({
          name: task.name,
          recordsPerSec: Math.round((totalRecords * 1000) / period),
          megabytesPerSec: Math.round((totalBytes / 2 ** 20) * (1000 / period)),
          ratioToRaw: Math.round((raw / period) * 100) / 100,
        })
      }
      for (const entry of fs.readdirSync(dir)) fs.rmSync(path.join(dir, entry), { recursive: true, force: true })
    }
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

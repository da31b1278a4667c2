// Question: records/s of durable embedded produce (acks 'all', topic flush 'sync' = fdatasync before the ack) through
// the SDK, per-record send() and sendBatch(), for 100 B and 1 KiB values, against a raw ceiling in the same run:
// fs.writeSync of the same bytes in 1 MiB chunks with one fdatasync per chunk (what group commit does per batch).
// Envelope: a 1 MiB batch holds ~8,000 records of 100 B (~130 B on disk each); fdatasync of 1 MiB ≈ 2-5 ms here and
// writing it ≈ 0.5 ms ⇒ raw ceiling ≈ 1.5-3M records/s of 100 B. The SDK adds per record: codec + partition choice +
// accumulator (~150 ns) and encoding (~100 ns), and per batch one CRC-32C in the client and one in the broker (1 MiB at
// ~1.5 GB/s ≈ 0.7 ms each) ⇒ target ≥ 1M rec/s for sendBatch, ≥ 400k rec/s for send() (one promise per call).
// A 6-partition topic (keys spread by murmur2) adds one sendBatch row: six batches of a sixth of the size, which
// group commit should cover with about as many fdatasyncs as one partition needs.
// Each row is the median of ITERATIONS calls (after WARMUP_ITERATIONS): one slow call (a page-cache stall, a GC) moved
// the mean of the three calls used before by up to 40% on these machines.
import { closeSync, fdatasyncSync, openSync, promises as fs, writeSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { Bench } from 'tinybench'
import { silentLogger } from '../../src/broker/logger.js'
import { Sluice } from '../../src/sluice.js'
import type { ProducerMessage } from '../../src/client/producer.js'

export interface BenchRow {
  name: string
  recordsPerSec: number
  megabytesPerSec: number
}

const CASES = [
  { valueBytes: 100, records: 200_000 },
  { valueBytes: 1024, records: 50_000 },
] as const
const ITERATIONS = 9
const WARMUP_ITERATIONS = 2
/** Bytes one record takes on disk beyond its value (batch share, framing, 8-byte key). */
const RECORD_OVERHEAD_BYTES = 20

/** The log's default segment size: where the raw append loop starts a new file. */
const SEGMENT_BYTES = 128 * 1024 * 1024

/** Files appended to with one fdatasync per write, a new file every SEGMENT_BYTES (the raw append ceiling). */
class GrowingFile {
  #fd = -1
  #size = 0
  #files = 0
  constructor(private readonly prefix: string) {}

  appendDurably(chunk: Buffer): void {
    if (this.#fd < 0 || this.#size + chunk.length > SEGMENT_BYTES) {
      if (this.#fd >= 0) closeSync(this.#fd)
      this.#fd = openSync(`${this.prefix}-${this.#files++}.log`, 'a')
      this.#size = 0
    }
    writeSync(this.#fd, chunk)
    fdatasyncSync(this.#fd)
    this.#size += chunk.length
  }
}

function messages(count: number, valueBytes: number): ProducerMessage<string, Buffer>[] {
  const value = Buffer.alloc(valueBytes, 0x61)
  return Array.from({ length: count }, (_, i) => ({ key: `key-${i % 1000}`, value }))
}

export async function run(): Promise<BenchRow[]> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-bench-produce-'))
  const sl = await Sluice.open({ dataDir: path.join(dir, 'data'), flush: 'sync' }, { logger: silentLogger })
  const rows: BenchRow[] = []
  try {
    for (const { valueBytes, records } of CASES) {
      // Topics of their own per case, as the raw append loop starts its own files: both write into fresh files.
      const topic = `bench-${valueBytes}`
      const topic6 = `bench-6p-${valueBytes}`
      await sl.admin().createTopic(topic, { partitions: 1, flush: 'sync' })
      await sl.admin().createTopic(topic6, { partitions: 6, flush: 'sync' })
      const batch = messages(records, valueBytes)
      const bytes = records * (valueBytes + RECORD_OVERHEAD_BYTES)
      const bench = new Bench({
        iterations: ITERATIONS,
        time: 0,
        warmupIterations: WARMUP_ITERATIONS,
        warmupTime: 0,
      })
      const rawPath = path.join(dir, `raw-${valueBytes}.log`)
      const chunk = Buffer.alloc(1024 * 1024, 0x61)
      bench.add(`raw writeSync+fdatasync per MiB, ${valueBytes} B`, () => {
        const fd = openSync(rawPath, 'w')
        try {
          for (let written = 0; written < bytes; written += chunk.length) {
            writeSync(fd, chunk)
            fdatasyncSync(fd)
          }
        } finally {
          closeSync(fd)
        }
      })
      // The same loop appending to files that keep growing across iterations, a new one every SEGMENT_BYTES, as the
      // log's segments do (the loop above rewrites one file truncated each time: pages the kernel has just freed).
      const rawAppend = new GrowingFile(path.join(dir, `raw-append-${valueBytes}`))
      bench.add(`raw append writeSync+fdatasync per MiB, ${valueBytes} B`, () => {
        for (let written = 0; written < bytes; written += chunk.length) rawAppend.appendDurably(chunk)
      })
      const producer = sl.producer({ acks: 'all' })
      bench.add(`sendBatch acks all, ${valueBytes} B`, async () => {
        await producer.sendBatch(topic, batch)
      })
      bench.add(`sendBatch acks all, 6 partitions, ${valueBytes} B`, async () => {
        await producer.sendBatch(topic6, batch)
      })
      bench.add(`send() per record acks all, ${valueBytes} B`, async () => {
        const pending = new Array<Promise<unknown>>(records)
        for (let i = 0; i < records; i++) pending[i] = producer.send(topic, batch[i]!)
        await Promise.all(pending)
      })
      await bench.run()
      await producer.close()
      for (const task of bench.tasks) {
        const period = (task.result as { latency?: { p50?: number } }).latency?.p50 ?? NaN
        rows.push({
          name: task.name,
          recordsPerSec: Math.round((records * 1000) / period),
          megabytesPerSec: Math.round((bytes / 2 ** 20) * (1000 / period)),
        })
      }
    }
  } finally {
    await sl.close()
    await fs.rm(dir, { recursive: true, force: true })
  }
  return rows
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await run()
  console.log(`node ${process.version}, ${os.cpus().length}x ${os.cpus()[0]?.model ?? '?'}`)
  console.table(rows)
}

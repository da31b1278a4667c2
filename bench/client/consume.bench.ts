// Question: records/s a reader gets through the SDK — replay(), a consumer's `for await`, and run({ eachBatch }) — for
// 100 B and 1 KiB values, embedded and over TCP to a `sluice serve` child, against a raw ceiling in the same run:
// fs.readSync of the same log bytes into one reused buffer, with no decoding (and, for context, into a fresh buffer
// per read, as a reader that hands its bytes out must).
// Envelope (100 B records, ~125 B each on disk): the raw loop is memcpy-bound (~60 M rec/s). The SDK reads each
// fetch into a fresh buffer (~3-8 GB/s with its page faults ⇒ ~15-40 ns/record), checks each batch's CRC-32C (native,
// ~5 GB/s ⇒ ~25 ns), walks the records once to validate their lengths (~10 ns), decodes each record into a message
// (~40-60 ns; key and value become Buffer views only when read, ~30 ns each) and, per message, resumes `for await`
// (~80 ns: a promise and a result object) ⇒ ~4-5 M rec/s for `for await`, ~6-7 M for eachBatch, which skips the
// per-message promise. Over TCP the broker reads and sends in its own process while the client decodes; the client pays one extra
// copy (socket chunks into one frame) but not the file read.
import { closeSync, openSync, promises as fs, readSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { Bench } from 'tinybench'
import { startServeChild, stopServeChild } from '../../scripts/serve-child.js'
import { silentLogger } from '../../src/broker/logger.js'
import type { ConsumerOptions } from '../../src/client/client-config.js'
import { Sluice } from '../../src/sluice.js'

export interface BenchRow {
  name: string
  recordsPerSec: number
  megabytesPerSec: number
}

const CASES = [
  { valueBytes: 100, records: 500_000 },
  { valueBytes: 1024, records: 100_000 },
] as const
/** Timed iterations per task (after one warm-up); the row reports their median. */
const ITERATIONS = 5

async function segmentFiles(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await fs.readdir(dir, { withFileTypes: true, recursive: true }))
    if (entry.isFile() && entry.name.endsWith('.log')) out.push(path.join(entry.parentPath, entry.name))
  return out
}

async function produce(sl: Sluice, topic: string, valueBytes: number, records: number): Promise<void> {
  await sl.admin().createTopic(topic, { partitions: 1, flush: 'os' })
  const value = Buffer.alloc(valueBytes, 0x61)
  const producer = sl.producer({ acks: 1 })
  for (let i = 0; i < records; i += 50_000)
    await producer.sendBatch(
      topic,
      Array.from({ length: Math.min(50_000, records - i) }, (_, j) => ({ key: `key-${(i + j) % 1000}`, value })),
    )
  await producer.close()
}

/** The SDK's three ways of reading `records` records of `topic` from the start, as tasks named with `suffix`; one
 *  more reads every key and value too (they become Buffer views only when read). */
function addReaders(bench: Bench, sl: Sluice, topic: string, records: number, suffix: string): void {
  bench.add(`replay for await, ${suffix}`, async () => {
    let n = 0
    for await (const _m of sl.replay({ topic })) n++
    if (n !== records) throw new Error(`replay read ${n} of ${records}`)
  })
  bench.add(`replay for await reading key and value, ${suffix}`, async () => {
    let n = 0
    let bytes = 0
    for await (const m of sl.replay({ topic })) {
      n++
      bytes += (m.key as Buffer).length + (m.value as Buffer).length
    }
    if (n !== records || bytes < records) throw new Error(`replay read ${n} of ${records}`)
  })
  bench.add(`consumer for await, ${suffix}`, async () => {
    const consumer = sl.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 0 })
    await consumer.assign([{ topic, partition: 0, offset: 0 }])
    let n = 0
    for await (const _m of consumer) if (++n === records) break
    await consumer.close()
  })
  bench.add(`consumer run eachBatch, ${suffix}`, async () => {
    await consumeWithEachBatch(sl, topic, 1, records)
  })
  // Fetches of 4 MiB, as a consumer tuned for throughput asks: eachBatch still gets at most maxBatchMessages (8,192)
  // messages per call, so what one call holds does not grow with the fetch.
  bench.add(`consumer run eachBatch, maxBytes 4 MiB, ${suffix}`, async () => {
    await consumeWithEachBatch(sl, topic, 1, records, { maxBytes: 4 * 1024 * 1024 })
  })
}

/** Reads every record of `topic` (all `partitions`) from offset 0 with a fresh consumer (`options` added to its
 *  config) and `run({ eachBatch })`; throws unless exactly `records` arrive. Also the TCP benchmark's consume case. */
export async function consumeWithEachBatch(
  sl: Sluice,
  topic: string,
  partitions: number,
  records: number,
  options: ConsumerOptions = {},
): Promise<void> {
  const consumer = sl.consumer({ maxWaitMs: 0, ...options })
  try {
    await consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic, partition, offset: 0 })))
    let n = 0
    await new Promise<void>((resolve, reject) => {
      consumer.on('error', reject)
      consumer
        .run({
          eachBatch: ({ batch }) => {
            n += batch.messages.length
            if (n >= records) resolve()
          },
        })
        .catch(reject)
    })
    if (n !== records) throw new Error(`${topic}: consumed ${n} of ${records}`)
  } finally {
    await consumer.close()
  }
}

function rowsOf(bench: Bench, records: number, logBytes: number): BenchRow[] {
  return bench.tasks.map((task) => {
    // The median iteration, not the mean: these machines are shared and noisy.
    const result = task.result as { latency?: { p50?: number }; period?: number }
    const periodMs = result.latency?.p50 ?? result.period ?? NaN
    return {
      name: task.name,
      recordsPerSec: Math.round((records * 1000) / periodMs),
      megabytesPerSec: Math.round((logBytes / 2 ** 20) * (1000 / periodMs)),
    }
  })
}

export async function run(): Promise<BenchRow[]> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-bench-consume-'))
  const remoteDir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-bench-consume-tcp-'))
  const sl = await Sluice.open({ dataDir: dir }, { logger: silentLogger })
  const serve = await startServeChild(remoteDir)
  const remote = await Sluice.connect({ brokers: [serve.address] })
  const rows: BenchRow[] = []
  try {
    for (const { valueBytes, records } of CASES) {
      const topic = `consume-${valueBytes}`
      await produce(sl, topic, valueBytes, records)
      await produce(remote, topic, valueBytes, records)
      const files = await segmentFiles(path.join(dir, 'topics', topic))
      const logBytes = (await Promise.all(files.map((f) => fs.stat(f)))).reduce((a, s) => a + s.size, 0)
      const bench = new Bench({ iterations: ITERATIONS, time: 0, warmupIterations: 1, warmupTime: 0 })
      const buf = Buffer.allocUnsafe(1024 * 1024)
      bench.add(`raw readSync of the log, ${valueBytes} B`, () => {
        for (const file of files) {
          const fd = openSync(file, 'r')
          try {
            while (readSync(fd, buf, 0, buf.length, null) > 0);
          } finally {
            closeSync(fd)
          }
        }
      })
      // The same loop into a fresh buffer per read, as a reader that hands the bytes out (records are views of them,
      // kept as long as the user keeps them) must read: not cache-resident, first-touch page faults.
      bench.add(`raw readSync into a fresh buffer per MiB, ${valueBytes} B`, () => {
        for (const file of files) {
          const fd = openSync(file, 'r')
          try {
            while (readSync(fd, Buffer.allocUnsafe(1024 * 1024), 0, 1024 * 1024, null) > 0);
          } finally {
            closeSync(fd)
          }
        }
      })
      addReaders(bench, sl, topic, records, `${valueBytes} B`)
      addReaders(bench, remote, topic, records, `${valueBytes} B, TCP`)
      await bench.run()
      rows.push(...rowsOf(bench, records, logBytes))
    }
  } finally {
    await remote.close()
    await stopServeChild(serve, 'SIGTERM')
    await sl.close()
    await fs.rm(dir, { recursive: true, force: true })
    await fs.rm(remoteDir, { recursive: true, force: true })
  }
  return rows
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await run()
  console.log(
    `node ${process.version}, ${os.cpus().length}x ${os.cpus()[0]?.model ?? '?'}, load ${os.loadavg()[0]!.toFixed(2)}`,
  )
  console.table(rows)
}

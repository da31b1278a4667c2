// Question: records/s an embedded reader gets through the SDK, with replay() and with a consumer's `for await`, for
// 100 B and 1 KiB values, against a raw ceiling in the same run: fs.readSync of the same log bytes with no decoding.
// Envelope: the log is in the page cache after producing, so reading is memcpy-bound (GB/s, ~10M+ records/s of
// 100 B); the SDK verifies each batch's CRC (1.5 GB/s ⇒ ~11M rec/s of 100 B), decodes each record into a message
// object (~100-150 ns) and resumes the async iterator once per message (~50-100 ns) ⇒ target ≥ 3M rec/s of 100 B.
import { closeSync, openSync, promises as fs, readSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { Bench } from 'tinybench'
import { silentLogger } from '../../src/broker/logger.js'
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

async function segmentFiles(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await fs.readdir(dir, { withFileTypes: true, recursive: true }))
    if (entry.isFile() && entry.name.endsWith('.log')) out.push(path.join(entry.parentPath, entry.name))
  return out
}

export async function run(): Promise<BenchRow[]> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-bench-consume-'))
  const sl = await Sluice.open({ dataDir: dir }, { logger: silentLogger })
  const rows: BenchRow[] = []
  try {
    for (const { valueBytes, records } of CASES) {
      const topic = `consume-${valueBytes}`
      await sl.admin().createTopic(topic, { partitions: 1, flush: 'os' })
      const value = Buffer.alloc(valueBytes, 0x61)
      const producer = sl.producer({ acks: 1 })
      for (let i = 0; i < records; i += 50_000)
        await producer.sendBatch(
          topic,
          Array.from({ length: Math.min(50_000, records - i) }, (_, j) => ({ key: `key-${(i + j) % 1000}`, value })),
        )
      await producer.close()
      const files = (await segmentFiles(path.join(dir, 'topics', topic))).filter((f) => f.length > 0)
      const logBytes = (await Promise.all(files.map((f) => fs.stat(f)))).reduce((a, s) => a + s.size, 0)
      const bench = new Bench({ iterations: 3, time: 0, warmupIterations: 1, warmupTime: 0 })
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
      bench.add(`replay for await, ${valueBytes} B`, async () => {
        let n = 0
        for await (const _m of sl.replay({ topic })) n++
        if (n !== records) throw new Error(`replay read ${n} of ${records}`)
      })
      bench.add(`consumer for await, ${valueBytes} B`, async () => {
        const consumer = sl.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 0 })
        await consumer.assign([{ topic, partition: 0, offset: 0 }])
        let n = 0
        for await (const _m of consumer) if (++n === records) break
        await consumer.close()
      })
      await bench.run()
      for (const task of bench.tasks) {
        const period = (task.result as { period?: number }).period ?? NaN
        rows.push({
          name: task.name,
          recordsPerSec: Math.round((records * 1000) / period),
          megabytesPerSec: Math.round((logBytes / 2 ** 20) * (1000 / period)),
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

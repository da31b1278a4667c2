// Question: how fast are the single-record patterns a Node developer writes first, over TCP against `sluice serve`
// (acks 'all', flush 'sync'): `await producer.send()` one record at a time, with the default lingerMs (0) and with 5
// (the default before 23 Nov); and 100 concurrent awaited sends with distinct keys on 1, 6 and 200 partitions. The
// baseline is the same pattern on Redis Streams through ioredis with AOF always: XADD awaited one at a time, and 100
// concurrent XADDs on 1 and on 200 stream keys. Envelope: an awaited send is one loopback round trip (~50 µs) plus
// one fdatasync (~0.2-0.4 ms), so ~2,500-4,000/s, as Redis's XADD with its fsync per event-loop turn; 100 concurrent
// sends share fsyncs (group commit) and batches on one partition, while on 200 partitions each record is a batch, a
// write and a request of its own, so per-batch costs (~10-20 µs on each side) set the rate there.
import { Redis } from 'ioredis'
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { Bench } from 'tinybench'
import { startRedis } from '../../scripts/redis-peer.js'
import { startServeChild, stopServeChild } from '../../scripts/serve-child.js'
import { Sluice } from '../../src/sluice.js'
import type { Producer } from '../../src/client/producer.js'
import {
  DEFAULT_TASK_MS,
  ITERATIONS_MIN,
  WARMUP_MS,
  type SkippedRow,
  type ThroughputOptions,
} from '../peers/throughput-row.js'

/** Records per iteration of an awaited-one-at-a-time task, and of a concurrent task (CONCURRENCY workers). */
const SERIAL_RECORDS = 100
const CONCURRENCY = 100
const PER_WORKER = 10
const PARTITION_COUNTS = [1, 6, 200] as const
const VALUE = Buffer.alloc(100, 0x61)

export interface SendPatternRow {
  name: string
  recordsPerSec: number
  msPerRecord: number
}

let keySeq = 0

async function serialSends(producer: Producer, topic: string): Promise<void> {
  for (let i = 0; i < SERIAL_RECORDS; i++) await producer.send(topic, { key: `k${keySeq++}`, value: VALUE })
}

async function concurrentSends(send: (key: string) => Promise<unknown>): Promise<void> {
  const worker = async (): Promise<void> => {
    for (let i = 0; i < PER_WORKER; i++) await send(`k${keySeq++}`)
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
}

function rowsOf(bench: Bench, records: Map<string, number>): SendPatternRow[] {
  return bench.tasks.map((task) => {
    const p50 = (task.result as { latency?: { p50?: number } } | undefined)?.latency?.p50 ?? NaN
    const n = records.get(task.name)!
    return { name: task.name, recordsPerSec: Math.round((n * 1000) / p50), msPerRecord: Number((p50 / n).toFixed(3)) }
  })
}

function newBench(taskMs: number): Bench {
  return new Bench({
    time: taskMs,
    warmupTime: WARMUP_MS,
    iterations: ITERATIONS_MIN,
    warmupIterations: ITERATIONS_MIN,
  })
}

async function sluiceRows(taskMs: number): Promise<SendPatternRow[]> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-bench-send-'))
  const serve = await startServeChild(dataDir)
  const sl = await Sluice.connect({ brokers: [serve.address] })
  const producers: Producer[] = []
  try {
    const bench = newBench(taskMs)
    const records = new Map<string, number>()
    const admin = sl.admin()
    await admin.createTopic('serial', { partitions: 1 })
    for (const lingerMs of [0, 5]) {
      const producer = sl.producer({ acks: 'all', lingerMs })
      producers.push(producer)
      const name = `sluice await send() one at a time, lingerMs ${lingerMs}`
      records.set(name, SERIAL_RECORDS)
      bench.add(name, () => serialSends(producer, 'serial'))
    }
    const producer = sl.producer({ acks: 'all' })
    producers.push(producer)
    for (const partitions of PARTITION_COUNTS) {
      const topic = `concurrent-${partitions}`
      await admin.createTopic(topic, { partitions })
      const name = `sluice ${CONCURRENCY} concurrent await send(), ${partitions} partition${partitions > 1 ? 's' : ''}`
      records.set(name, CONCURRENCY * PER_WORKER)
      bench.add(name, () => concurrentSends((key) => producer.send(topic, { key, value: VALUE })))
    }
    await bench.run()
    return rowsOf(bench, records)
  } finally {
    for (const p of producers) await p.close()
    await sl.close()
    await stopServeChild(serve, 'SIGTERM')
    await fs.rm(dataDir, { recursive: true, force: true })
  }
}

async function redisRows(taskMs: number): Promise<Array<SendPatternRow | SkippedRow>> {
  const peer = await startRedis('always')
  if (peer === null)
    return [{ name: 'redis streams', note: 'redis-server not installed: apt-get install redis-server' }]
  const redis = new Redis({ port: peer.port, host: '127.0.0.1', lazyConnect: true })
  await redis.connect()
  try {
    const bench = newBench(taskMs)
    const records = new Map<string, number>()
    const serial = 'redis XADD awaited one at a time (AOF always)'
    records.set(serial, SERIAL_RECORDS)
    bench.add(serial, async () => {
      for (let i = 0; i < SERIAL_RECORDS; i++) await redis.xadd('serial', '*', 'k', `k${keySeq++}`, 'v', VALUE)
    })
    for (const streams of [1, 200]) {
      const name = `redis ${CONCURRENCY} concurrent awaited XADD, ${streams} stream key${streams > 1 ? 's' : ''} (AOF always)`
      records.set(name, CONCURRENCY * PER_WORKER)
      let next = 0
      bench.add(name, () =>
        concurrentSends((key) => redis.xadd(`c${streams}-${next++ % streams}`, '*', 'k', key, 'v', VALUE)),
      )
    }
    await bench.run()
    return rowsOf(bench, records)
  } finally {
    redis.disconnect()
    await peer.stop()
  }
}

export async function run(options: ThroughputOptions = {}): Promise<Array<SendPatternRow | SkippedRow>> {
  const taskMs = options.taskMs ?? DEFAULT_TASK_MS
  return [...(await sluiceRows(taskMs)), ...(await redisRows(taskMs))]
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await run()
  console.log(`node ${process.version}, ${os.cpus().length}x ${os.cpus()[0]?.model ?? '?'}`)
  console.table(rows)
}

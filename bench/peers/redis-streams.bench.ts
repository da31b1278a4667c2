// Question: how many 100 B and 1 KiB records/s does Redis Streams (XADD through ioredis, pipelined 1,000 at a time)
// take with AOF `always` and `everysec`, and give back with XRANGE walking forward 1,000 at a time — on 1 stream and
// on 6 streams (a stream key per partition, records spread by Kafka's murmur2 of the key) — the peer a Node
// developer would reach for instead of Sluice. Envelope: one loopback round trip ≈ 50 µs and Redis parses ~1-2 M
// commands/s on one core, so pipelined XADD should land near 200-500k records/s, and AOF always adds one fsync per
// event-loop turn (≈ 1 ms per pipeline). Six keys change nothing for one single-threaded server: expect the same.
import { Redis } from 'ioredis'
import { pathToFileURL } from 'node:url'
import { Bench } from 'tinybench'
import { startRedis } from '../../scripts/redis-peer.js'
import { partitionForKey } from '../../src/util/murmur2.js'
import {
  DEFAULT_TASK_MS,
  ITERATIONS_MIN,
  rates,
  WARMUP_MS,
  type SkippedRow,
  type ThroughputOptions,
  type ThroughputRow,
} from './throughput-row.js'

const PIPELINE = 1_000
const VALUE_SIZES = [100, 1024] as const
const PARTITION_COUNTS = [1, 6] as const
/** Wrap-arounds to the first entry when a walk reaches the end of a stream, at most. */
const WRAPS_MAX = 10_000

interface StreamCursor {
  key: string
  /** Id of the last entry read, '-' before the first. */
  lastId: string
  wraps: number
}

async function measure(
  taskMs: number,
  redis: Redis,
  appendfsync: 'always' | 'everysec',
  valueBytes: number,
  partitions: number,
): Promise<ThroughputRow[]> {
  const keys = Array.from({ length: partitions }, (_, p) => `bench-${valueBytes}-${partitions}-${p}`)
  await redis.del(...keys)
  const records = Array.from({ length: PIPELINE }, (_, i) => {
    const key = `key-${i}`
    return { stream: keys[partitionForKey(Buffer.from(key), partitions)]!, key }
  })
  const cursors: StreamCursor[] = keys.map((key) => ({ key, lastId: '-', wraps: 0 }))
  const perStream = Math.ceil(PIPELINE / partitions)
  const value = Buffer.alloc(valueBytes, 0x61)
  const bench = new Bench({
    time: taskMs,
    warmupTime: WARMUP_MS,
    iterations: ITERATIONS_MIN,
    warmupIterations: ITERATIONS_MIN,
  })
  bench.add('produce', async () => {
    const pipeline = redis.pipeline()
    for (const r of records) pipeline.xadd(r.stream, '*', 'k', r.key, 'v', value)
    const results = await pipeline.exec()
    const failed = results?.find(([err]) => err !== null)
    if (results === null || failed !== undefined) throw new Error(`XADD failed: ${String(failed?.[0])}`)
  })
  bench.add('consume', async () => {
    const pipeline = redis.pipeline()
    for (const c of cursors)
      pipeline.xrangeBuffer(c.key, c.lastId === '-' ? '-' : `(${c.lastId}`, '+', 'COUNT', perStream)
    const results = (await pipeline.exec()) ?? []
    for (const [i, [err, entries]] of results.entries()) {
      if (err !== null) throw err
      const cursor = cursors[i]!
      let list = entries as Array<[Buffer, Buffer[]]>
      if (list.length < perStream) {
        // The walk reached the end of the stream: start over from the first entry, so every call reads perStream.
        if (cursor.wraps++ > WRAPS_MAX) throw new Error(`${cursor.key}: walked to the end too often`)
        list = await redis.xrangeBuffer(cursor.key, '-', '+', 'COUNT', perStream)
        if (list.length < perStream) throw new Error(`${cursor.key} holds fewer than ${perStream} entries`)
      }
      cursor.lastId = list.at(-1)![0].toString()
    }
  })
  await bench.run()
  const label = `redis streams ${valueBytes} B, ${partitions} stream${partitions > 1 ? 's' : ''}, aof ${appendfsync}`
  return [
    {
      name: `${label}: XADD (pipelined ${PIPELINE})`,
      system: 'redis',
      op: 'produce',
      valueBytes,
      partitions,
      durability: appendfsync === 'always' ? 'fsync' : 'os+1s',
      setup: `aof ${appendfsync}`,
      primary: true,
      ...rates(bench, 'produce', PIPELINE, valueBytes),
    },
    {
      name: `${label}: XRANGE walk (${perStream * partitions} per call)`,
      system: 'redis',
      op: 'consume',
      valueBytes,
      partitions,
      durability: '-',
      setup: `aof ${appendfsync}`,
      primary: true,
      ...rates(bench, 'consume', perStream * partitions, valueBytes),
    },
  ]
}

export async function run(options: ThroughputOptions = {}): Promise<Array<ThroughputRow | SkippedRow>> {
  const taskMs = options.taskMs ?? DEFAULT_TASK_MS
  const rows: Array<ThroughputRow | SkippedRow> = []
  for (const appendfsync of ['always', 'everysec'] as const) {
    const peer = await startRedis(appendfsync)
    if (peer === null)
      return [{ name: 'redis streams', note: 'redis-server not installed: apt-get install redis-server' }]
    const redis = new Redis({ port: peer.port, host: '127.0.0.1', lazyConnect: true })
    await redis.connect()
    try {
      for (const valueBytes of VALUE_SIZES)
        for (const partitions of PARTITION_COUNTS)
          rows.push(...(await measure(taskMs, redis, appendfsync, valueBytes, partitions)))
    } finally {
      redis.disconnect()
      await peer.stop()
    }
  }
  return rows
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.table(await run())

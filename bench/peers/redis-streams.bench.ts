// Question: how many 100 B and 1 KiB records/s does Redis Streams (XADD through ioredis, pipelined 1,000 at a time)
// take with AOF `always` and `everysec`, and give back with XRANGE — the peer a Node developer would reach for instead
// of Sluice. Envelope: one loopback round trip ≈ 50 µs and Redis parses ~1–2 M commands/s on one core, so pipelined
// XADD should land near 200–500k records/s, and AOF always adds one fsync per event-loop turn (≈ 1 ms per pipeline).
import { Redis } from 'ioredis'
import { Bench } from 'tinybench'
import { startRedis } from '../../scripts/redis-peer.js'

const PIPELINE = 1_000

/** Median records/s of one task whose every iteration handles `recordsPerIteration` records. */
function medianRecordsPerSec(bench: Bench, name: string, recordsPerIteration: number): number {
  const task = bench.getTask(name)
  const result = task?.result
  if (result === undefined || !('latency' in result)) throw new Error(`benchmark ${name} did not complete`)
  return Math.round((recordsPerIteration * 1000) / result.latency.p50)
}
export async function run(): Promise<Array<Record<string, string | number>>> {
  const rows: Array<Record<string, string | number>> = []
  for (const appendfsync of ['always', 'everysec'] as const) {
    const peer = await startRedis(appendfsync)
    if (peer === null)
      return [{ case: 'redis streams', note: 'redis-server not installed: apt-get install redis-server' }]
    const redis = new Redis({ port: peer.port, host: '127.0.0.1', lazyConnect: true })
    await redis.connect()
    try {
      for (const valueBytes of [100, 1024]) {
        await redis.del('bench')
        const value = Buffer.alloc(valueBytes, 0x61)
        const bench = new Bench({ time: 2_000, warmupTime: 200 })
        bench.add('produce', async () => {
          const pipeline = redis.pipeline()
          for (let i = 0; i < PIPELINE; i++) pipeline.xadd('bench', '*', 'k', `key-${i}`, 'v', value)
          await pipeline.exec()
        })
        bench.add('consume', async () => {
          await redis.xrangeBuffer('bench', '-', '+', 'COUNT', PIPELINE)
        })
        await bench.run()
        rows.push({
          case: `redis streams ${valueBytes} B, aof ${appendfsync}`,
          'produce records/s (median)': medianRecordsPerSec(bench, 'produce', PIPELINE),
          'consume records/s (median)': medianRecordsPerSec(bench, 'consume', PIPELINE),
        })
      }
    } finally {
      redis.disconnect()
      await peer.stop()
    }
  }
  return rows
}

if (import.meta.url === `file://${process.argv[1]}`) console.table(await run())

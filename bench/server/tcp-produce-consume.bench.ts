// Question: records/s and MB/s that one TCP client gets producing to and fetching from a Sluice broker over loopback,
// for 100 B and 1 KiB records (batches of 100, 16 requests in flight), against the ceiling of a raw loopback socket
// moving the same bytes with the same framing and pipelining but no broker; on 1 partition and on 6 (the same 1,600
// keyed records per iteration spread by Kafka's murmur2 of the key, ~18 batches of ~89 in flight), with acks 'all' on
// flush 'sync' and on flush 'os' topics. Six partitions let group commit cover several logs per fdatasync.
// Envelope: loopback TCP moves ~2-4 GB/s on these cores; a 100-record batch of 1 KiB is ~105 KB, so the raw ceiling is
// ~20-40k batches/s. msgpack copies each batch once per side and the broker appends with one write(2) to the page
// cache (flush 'os'), so Sluice should reach a good fraction of the raw ceiling for 1 KiB records; for 100 B records
// per-request overhead (~20-50 µs of JS) dominates: ~20-50k batches/s ⇒ 2-5M rec/s max. Flush 'sync' adds one
// fdatasync (~0.5-2 ms here) per group commit, shared by every batch that arrived meanwhile.
import { promises as fs } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { Bench } from 'tinybench'
import { openBroker } from '../../src/broker/broker.js'
import { connectTcpTransport } from '../../src/client/tcp-transport.js'
import type { Transport } from '../../src/client/transport.js'
import { MessageCursor } from '../../src/client/message-decoder.js'
import { encodeRecordBatch, iterateBatches } from '../../src/storage/record-batch.js'
import { encodeFrame, FrameDecoder } from '../../src/protocol/frame.js'
import { startServer } from '../../src/server/server.js'
import { partitionForKey } from '../../src/util/murmur2.js'
import {
  DEFAULT_TASK_MS,
  ITERATIONS_MIN,
  rates,
  WARMUP_MS,
  type ThroughputOptions,
  type ThroughputRow,
} from '../peers/throughput-row.js'

const RECORDS_PER_BATCH = 100
const IN_FLIGHT = 16
const RECORD_SIZES = [100, 1024] as const
const RECORDS_PER_ITERATION = RECORDS_PER_BATCH * IN_FLIGHT
const MULTI_PARTITIONS = 6

export type BenchRow = ThroughputRow
type RowInfo = Omit<BenchRow, 'name' | 'recordsPerSec' | 'megabytesPerSec'>

function makeBatch(valueBytes: number): Buffer {
  const now = Date.now()
  return encodeRecordBatch(
    Array.from({ length: RECORDS_PER_BATCH }, (_, i) => ({
      key: Buffer.from(`key-${i}`),
      value: Buffer.alloc(valueBytes, i & 0xff),
      timestamp: now,
    })),
  )
}

interface PartitionBatches {
  partition: number
  batches: Buffer[]
  records: number
  bytes: number
}

/**
 * One iteration's records (keys key-0 … key-1599) grouped by murmur2 partition, each group cut into batches of at
 * most RECORDS_PER_BATCH. Every iteration appends the same groups, so a partition's log is a repetition of its batches.
 */
function makePartitionedBatches(valueBytes: number, partitions: number): PartitionBatches[] {
  const now = Date.now()
  const groups = Array.from(
    { length: partitions },
    () => [] as Array<{ key: Buffer; value: Buffer; timestamp: number }>,
  )
  for (let i = 0; i < RECORDS_PER_ITERATION; i++) {
    const key = Buffer.from(`key-${i}`)
    groups[partitionForKey(key, partitions)]!.push({ key, value: Buffer.alloc(valueBytes, i & 0xff), timestamp: now })
  }
  return groups.map((records, partition) => {
    const batches: Buffer[] = []
    for (let i = 0; i < records.length; i += RECORDS_PER_BATCH)
      batches.push(encodeRecordBatch(records.slice(i, i + RECORDS_PER_BATCH)))
    return { partition, batches, records: records.length, bytes: batches.reduce((a, b) => a + b.length, 0) }
  })
}

/** Produces one iteration's batches to every partition at once and waits for every ack. */
async function produceAll(t: Transport, topic: string, groups: PartitionBatches[], acks: 1 | 'all'): Promise<void> {
  const pending: Array<Promise<unknown>> = []
  for (const g of groups)
    for (const batch of g.batches)
      pending.push(t.produce({ topic, partition: g.partition, acks, batch: Buffer.from(batch) }))
  await Promise.all(pending)
}

/**
 * Fetches and decodes exactly one iteration's records from every partition: a partition's budget is its batches'
 * bytes, so one fetch returns its share; a partition at its end starts over from offset 0.
 */
async function fetchAll(t: Transport, topic: string, groups: PartitionBatches[], offsets: number[]): Promise<number> {
  const left = groups.map((g) => g.records)
  let total = 0
  for (let round = 0; left.some((n) => n > 0); round++) {
    if (round > 4 * groups.length + 4) throw new Error(`${topic}: fetch made no progress`)
    const wanted = groups.filter((g) => left[g.partition]! > 0)
    const res = await t.fetch({
      partitions: wanted.map((g) => ({
        topic,
        partition: g.partition,
        offset: offsets[g.partition]!,
        maxBytes: g.bytes,
      })),
      maxBytes: wanted.reduce((a, g) => a + g.bytes, 0),
      maxWaitMs: 0,
    })
    for (const p of res.partitions) {
      if (p.records.length === 0) {
        offsets[p.partition] = 0
        continue
      }
      // The SDK's decoder (what replay and consumers run): each batch CRC-checked, each record a Message.
      const cursor = new MessageCursor(p.records, topic, p.partition, offsets[p.partition]!, Infinity)
      let n = 0
      for (let m = cursor.next(); m !== null; m = cursor.next()) n++
      left[p.partition]! -= n
      total += n
      offsets[p.partition] = cursor.nextOffset
    }
  }
  return total
}

/** An echo-sized raw server: reads frames, answers each with a 16-byte frame (the ack). */
async function startRawServer(): Promise<{ port: number; close(): Promise<void> }> {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true)
    const decoder = new FrameDecoder()
    socket.on('data', (chunk: Buffer) => {
      decoder.push(chunk)
      for (let f = decoder.next(); f !== null; f = decoder.next()) {
        socket.write(encodeFrame({ ...f, flags: 1 }, Buffer.alloc(16)))
      }
    })
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

async function rawClient(port: number) {
  const socket = net.connect({ host: '127.0.0.1', port })
  await new Promise((resolve) => socket.once('connect', resolve))
  socket.setNoDelay(true)
  const decoder = new FrameDecoder()
  const waiting = new Map<number, () => void>()
  socket.on('data', (chunk: Buffer) => {
    decoder.push(chunk)
    for (let f = decoder.next(); f !== null; f = decoder.next()) waiting.get(f.correlationId)?.()
  })
  let id = 0
  return {
    send(body: Buffer): Promise<void> {
      const correlationId = ++id
      return new Promise((resolve) => {
        waiting.set(correlationId, () => {
          waiting.delete(correlationId)
          resolve()
        })
        socket.write(encodeFrame({ apiKey: 6, apiVersion: 0, correlationId, flags: 0 }, body))
      })
    },
    close: () => socket.destroy(),
  }
}

/** Adds the cases of one record size to `bench`, recording what each task moves in `info`. */
async function addCases(
  bench: Bench,
  info: Map<string, RowInfo>,
  t: Transport,
  rawC: Awaited<ReturnType<typeof rawClient>>,
  size: number,
): Promise<void> {
  const topic = `bench-${size}`
  await t.createTopic({ name: topic, partitions: 1, config: { flush: 'os' } })
  const batch = makeBatch(size)
  // One fetch returns about one iteration's records (16 batches), so no fetched byte is thrown away.
  const fetchBytes = batch.length * IN_FLIGHT
  const row = (op: 'produce' | 'consume', partitions: number, durability: string, primary = true): RowInfo => ({
    system: 'sluice',
    op,
    valueBytes: size,
    partitions,
    durability,
    setup: op === 'consume' ? '-' : durability === 'fsync' ? 'flush sync' : 'flush os',
    primary,
  })
  const raws = `raw loopback socket, ${size} B records`
  info.set(raws, { ...row('produce', 1, 'none'), system: 'raw', setup: '-' })
  bench.add(raws, async () => {
    await Promise.all(Array.from({ length: IN_FLIGHT }, () => rawC.send(batch)))
  })
  const produce = `sluice TCP produce acks=1 flush=os, ${size} B records`
  info.set(produce, row('produce', 1, 'os', false))
  bench.add(produce, async () => {
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, () => t.produce({ topic, partition: 0, acks: 1, batch: Buffer.from(batch) })),
    )
  })
  // acks 'all': on a flush 'sync' topic every ack waits for an fdatasync (group commit); on a flush 'os' topic for the
  // write only. 1 partition and 6, the 6-partition topics filled with the same 1,600 keyed records per iteration.
  const groupsByPartitions = new Map<number, PartitionBatches[]>()
  for (const partitions of [1, MULTI_PARTITIONS]) {
    const groups = makePartitionedBatches(size, partitions)
    groupsByPartitions.set(partitions, groups)
    for (const flush of ['sync', 'os'] as const) {
      const flushTopic = `bench-${flush}-${partitions}p-${size}`
      await t.createTopic({ name: flushTopic, partitions, config: { flush } })
      const name = `sluice TCP produce acks=all flush=${flush}, ${partitions} partition${partitions > 1 ? 's' : ''}, ${size} B records`
      info.set(name, row('produce', partitions, flush === 'sync' ? 'fsync' : 'os'))
      bench.add(name, async () => {
        await produceAll(t, flushTopic, groups, 'all')
      })
    }
  }
  // Fetch without record decoding: the same walk, batches CRC-checked (iterateBatches) but records not decoded.
  let fetchOffset = 0
  const fetchOnly = `sluice TCP fetch + CRC, no decode, ${size} B records`
  info.set(fetchOnly, row('consume', 1, '-', false))
  bench.add(fetchOnly, async () => {
    let records = 0
    while (records < RECORDS_PER_ITERATION) {
      const res = await t.fetch({
        partitions: [{ topic, partition: 0, offset: fetchOffset }],
        maxBytes: fetchBytes,
        maxWaitMs: 0,
      })
      const p = res.partitions[0]
      if (p === undefined || p.records.length === 0) {
        fetchOffset = 0
        continue
      }
      for (const loc of iterateBatches(p.records)) {
        const header = loc.header
        records += header.lastOffset + 1 - Math.max(header.baseOffset, fetchOffset)
        fetchOffset = header.lastOffset + 1
      }
    }
  })
  // Consume: walk the logs from the start one iteration's records at a time, decoding every record (wraps around at
  // the end). The 1-partition walk reads the acks=1 topic; the 6-partition walk the flush 'os' topic filled above.
  for (const partitions of [1, MULTI_PARTITIONS]) {
    const groups = groupsByPartitions.get(partitions)!
    const walkTopic = partitions === 1 ? topic : `bench-os-${partitions}p-${size}`
    const offsets = new Array<number>(partitions).fill(0)
    const name = `sluice TCP fetch + decode, ${partitions} partition${partitions > 1 ? 's' : ''}, ${size} B records`
    info.set(name, row('consume', partitions, '-'))
    bench.add(name, async () => {
      const n = await fetchAll(t, walkTopic, groups, offsets)
      if (n !== RECORDS_PER_ITERATION) throw new Error(`${walkTopic}: fetched ${n} of ${RECORDS_PER_ITERATION}`)
    })
  }
}

export async function run(options: ThroughputOptions = {}): Promise<BenchRow[]> {
  const taskMs = options.taskMs ?? DEFAULT_TASK_MS
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-bench-'))
  const broker = await openBroker({ dataDir }, { logger: { info() {}, warn() {}, error() {} } })
  const server = await startServer(broker, { host: '127.0.0.1', port: 0 })
  const t = await connectTcpTransport({ brokers: [`127.0.0.1:${server.port}`] })
  const raw = await startRawServer()
  const rawC = await rawClient(raw.port)
  const bench = new Bench({
    time: taskMs,
    warmupTime: WARMUP_MS,
    iterations: ITERATIONS_MIN,
    warmupIterations: ITERATIONS_MIN,
  })
  const info = new Map<string, RowInfo>()
  try {
    for (const size of RECORD_SIZES) await addCases(bench, info, t, rawC, size)
    await bench.run()
    return bench.tasks.map((task) => {
      const about = info.get(task.name)!
      return { name: task.name, ...about, ...rates(bench, task.name, RECORDS_PER_ITERATION, about.valueBytes) }
    })
  } finally {
    rawC.close()
    await raw.close()
    await t.close()
    await server.close()
    await broker.close()
    await fs.rm(dataDir, { recursive: true, force: true })
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await run()
  console.log(`node ${process.version}, ${os.cpus().length}x ${os.cpus()[0]?.model ?? '?'}`)
  console.table(rows)
}

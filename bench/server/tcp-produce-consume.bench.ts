// Question: records/s and MB/s that one client gets producing to and consuming from a Sluice broker over loopback TCP,
// the broker in its own process (`sluice serve`, as redis-server and nats-server run in theirs), for 100 B and 1 KiB
// records, on 1 partition and on 6, against the ceiling of a raw loopback socket (a child process answering each
// frame) moving the same bytes with the same framing and pipelining. The primary rows are the SDK's: produce is one
// `producer.sendBatch` of 1,600 keyed records per iteration (acks 'all', lingerMs 0; keys spread over partitions by
// Kafka's murmur2), on flush 'sync' and flush 'os' topics; consume is a consumer assigned every partition of a topic
// filled beforehand, reading it from offset 0 to the end with `run({ eachBatch })` (every record decoded into a
// message, every batch CRC-checked). Context rows drive the transport directly: pre-encoded batches of 100, 16 in
// flight, and a fetch walk of one iteration's records at a time.
// Envelope: loopback TCP moves ~2-4 GB/s on these cores; the client encodes (~200 ns per 100 B record) or decodes
// (~130 ns) on one core while the broker appends or reads on the other, so the slower side sets the rate: ~4-7 M/s
// for 100 B records; for 1 KiB records the copies (socket, msgpack, file) dominate: ~0.5-1 GB/s. Flush 'sync' adds
// one fdatasync (~0.3-2 ms here) per group commit, shared by every batch that arrived meanwhile; a sendBatch waits
// for its own, so on one partition that round trip bounds the produce rate.
import { promises as fs } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Bench } from 'tinybench'
import { connectTcpTransport } from '../../src/client/tcp-transport.js'
import type { Transport } from '../../src/client/transport.js'
import { MessageCursor } from '../../src/client/message-decoder.js'
import { Sluice } from '../../src/sluice.js'
import { encodeRecordBatch, iterateBatches } from '../../src/storage/record-batch.js'
import { encodeFrame, FrameDecoder } from '../../src/protocol/frame.js'
import { partitionForKey } from '../../src/util/murmur2.js'
import {
  DEFAULT_TASK_MS,
  ITERATIONS_MIN,
  rates,
  WARMUP_MS,
  type ThroughputOptions,
  type ThroughputRow,
} from '../peers/throughput-row.js'
import { startListeningChild, startServeChild, stopServeChild } from '../../scripts/serve-child.js'
import { consumeWithEachBatch } from '../client/consume.bench.js'

const RECORDS_PER_BATCH = 100
const IN_FLIGHT = 16
const RECORD_SIZES = [100, 1024] as const
const RECORDS_PER_ITERATION = RECORDS_PER_BATCH * IN_FLIGHT
const MULTI_PARTITIONS = 6
/** Records a consume iteration reads (the whole topic, filled before the tasks run), by value size. */
const CONSUME_RECORDS: Record<number, number> = { 100: 200_000, 1024: 50_000 }
const RAW_SERVER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'raw-echo-server.ts')

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

async function rawClient(address: string) {
  const [host, port] = address.split(':') as [string, string]
  const socket = net.connect({ host, port: Number(port) })
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

/** One iteration's messages for the SDK producer: keys key-0 … key-1599 (murmur2 spreads them), one shared value. */
function makeMessages(valueBytes: number): Array<{ key: Buffer; value: Buffer }> {
  const value = Buffer.alloc(valueBytes, 0x61)
  return Array.from({ length: RECORDS_PER_ITERATION }, (_, i) => ({ key: Buffer.from(`key-${i}`), value }))
}

/** Fills `topic` with `records` records of the iteration's messages (acks 1). */
async function fill(sl: Sluice, topic: string, valueBytes: number, records: number): Promise<void> {
  const producer = sl.producer({ acks: 1, lingerMs: 0 })
  const messages = makeMessages(valueBytes)
  try {
    const calls: Array<Promise<unknown>> = []
    for (let n = 0; n < records; n += messages.length) {
      calls.push(producer.sendBatch(topic, messages.slice(0, Math.min(messages.length, records - n))))
      if (calls.length >= 16) await Promise.all(calls.splice(0))
    }
    await Promise.all(calls)
  } finally {
    await producer.close()
  }
}

interface CaseInfo extends RowInfo {
  recordsPerIteration: number
}

/** Adds the cases of one record size to `bench`, recording what each task moves in `info`. */
async function addCases(
  bench: Bench,
  info: Map<string, CaseInfo>,
  sl: Sluice,
  t: Transport,
  rawC: Awaited<ReturnType<typeof rawClient>>,
  size: number,
): Promise<void> {
  const topic = `bench-${size}`
  await t.createTopic({ name: topic, partitions: 1, config: { flush: 'os' } })
  const batch = makeBatch(size)
  // One fetch returns about one iteration's records (16 batches), so no fetched byte is thrown away.
  const fetchBytes = batch.length * IN_FLIGHT
  const row = (
    op: 'produce' | 'consume',
    partitions: number,
    durability: string,
    primary: boolean,
    recordsPerIteration = RECORDS_PER_ITERATION,
  ): CaseInfo => ({
    system: 'sluice',
    op,
    valueBytes: size,
    partitions,
    durability,
    setup: op === 'consume' ? '-' : durability === 'fsync' ? 'flush sync' : 'flush os',
    primary,
    recordsPerIteration,
  })
  const s = (partitions: number): string => `${partitions} partition${partitions > 1 ? 's' : ''}`
  const raws = `raw loopback socket, ${size} B records`
  info.set(raws, { ...row('produce', 1, 'none', true), system: 'raw', setup: '-' })
  bench.add(raws, async () => {
    await Promise.all(Array.from({ length: IN_FLIGHT }, () => rawC.send(batch)))
  })
  // The SDK: one sendBatch of 1,600 records per iteration, acks 'all'. On a flush 'sync' topic the ack waits for an
  // fdatasync (group commit); on a flush 'os' topic for the write only.
  const messages = makeMessages(size)
  const producer = sl.producer({ acks: 'all', lingerMs: 0 })
  for (const partitions of [1, MULTI_PARTITIONS])
    for (const flush of ['sync', 'os'] as const) {
      const sdkTopic = `sdk-${flush}-${partitions}p-${size}`
      await t.createTopic({ name: sdkTopic, partitions, config: { flush } })
      const name = `sluice SDK sendBatch acks=all flush=${flush}, ${s(partitions)}, ${size} B records`
      info.set(name, row('produce', partitions, flush === 'sync' ? 'fsync' : 'os', true))
      bench.add(name, async () => {
        await producer.sendBatch(sdkTopic, messages)
      })
    }
  // The SDK: a consumer reading a whole topic filled beforehand (its own, so the produce tasks do not change it).
  for (const partitions of [1, MULTI_PARTITIONS]) {
    const records = CONSUME_RECORDS[size]!
    const readTopic = `read-${partitions}p-${size}`
    await t.createTopic({ name: readTopic, partitions, config: { flush: 'os' } })
    await fill(sl, readTopic, size, records)
    const name = `sluice SDK consumer run eachBatch, ${s(partitions)}, ${size} B records`
    info.set(name, row('consume', partitions, '-', true, records))
    bench.add(name, async () => {
      await consumeWithEachBatch(sl, readTopic, partitions, records)
    })
  }
  // Context: the transport alone, batches encoded once before the run, 16 in flight.
  const produce = `transport produce acks=1 flush=os, pre-encoded batches, ${size} B records`
  info.set(produce, row('produce', 1, 'os', false))
  bench.add(produce, async () => {
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, () => t.produce({ topic, partition: 0, acks: 1, batch: Buffer.from(batch) })),
    )
  })
  const groupsByPartitions = new Map<number, PartitionBatches[]>()
  for (const partitions of [1, MULTI_PARTITIONS]) {
    const groups = makePartitionedBatches(size, partitions)
    groupsByPartitions.set(partitions, groups)
    const flushTopic = `bench-sync-${partitions}p-${size}`
    await t.createTopic({ name: flushTopic, partitions, config: { flush: 'sync' } })
    const name = `transport produce acks=all flush=sync, pre-encoded batches, ${s(partitions)}, ${size} B records`
    info.set(name, row('produce', partitions, 'fsync', false))
    bench.add(name, async () => {
      await produceAll(t, flushTopic, groups, 'all')
    })
  }
  // Fetch without record decoding: batches CRC-checked (iterateBatches) but records not decoded.
  let fetchOffset = 0
  const fetchOnly = `transport fetch + CRC, no decode, ${size} B records`
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
  // A fetch walk one iteration's records at a time, one fetch in flight, every record decoded (wraps around at the
  // end): the 1-partition walk reads the acks=1 topic, the 6-partition walk the flush 'sync' topic filled above.
  for (const partitions of [1, MULTI_PARTITIONS]) {
    const groups = groupsByPartitions.get(partitions)!
    const walkTopic = partitions === 1 ? topic : `bench-sync-${partitions}p-${size}`
    const offsets = new Array<number>(partitions).fill(0)
    const name = `transport fetch walk + decode, ${s(partitions)}, ${size} B records`
    info.set(name, row('consume', partitions, '-', false))
    bench.add(name, async () => {
      const n = await fetchAll(t, walkTopic, groups, offsets)
      if (n !== RECORDS_PER_ITERATION) throw new Error(`${walkTopic}: fetched ${n} of ${RECORDS_PER_ITERATION}`)
    })
  }
}

export async function run(options: ThroughputOptions = {}): Promise<BenchRow[]> {
  const taskMs = options.taskMs ?? DEFAULT_TASK_MS
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-bench-'))
  // The broker and the raw server each run in a process of their own, as redis-server and nats-server do.
  const serve = await startServeChild(dataDir)
  const raw = await startListeningChild([RAW_SERVER])
  const t = await connectTcpTransport({ brokers: [serve.address] })
  const sl = await Sluice.connect({ brokers: [serve.address] })
  const rawC = await rawClient(raw.address)
  const bench = new Bench({
    time: taskMs,
    warmupTime: WARMUP_MS,
    iterations: ITERATIONS_MIN,
    warmupIterations: ITERATIONS_MIN,
  })
  const info = new Map<string, CaseInfo>()
  try {
    for (const size of RECORD_SIZES) await addCases(bench, info, sl, t, rawC, size)
    await bench.run()
    return bench.tasks.map((task) => {
      const { recordsPerIteration, ...about } = info.get(task.name)!
      return { name: task.name, ...about, ...rates(bench, task.name, recordsPerIteration, about.valueBytes) }
    })
  } finally {
    rawC.close()
    await sl.close()
    await t.close()
    await stopServeChild(raw, 'SIGTERM')
    await stopServeChild(serve, 'SIGTERM')
    await fs.rm(dataDir, { recursive: true, force: true })
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await run()
  console.log(`node ${process.version}, ${os.cpus().length}x ${os.cpus()[0]?.model ?? '?'}`)
  console.table(rows)
}

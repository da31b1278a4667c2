// Question: records/s and MB/s that one TCP client gets producing to and fetching from a Sluice broker over loopback,
// for 100 B and 1 KiB records (batches of 100, 16 requests in flight), against the ceiling of a raw loopback socket
// moving the same bytes with the same framing and pipelining but no broker.
// Envelope: loopback TCP moves ~2-4 GB/s on these cores; a 100-record batch of 1 KiB is ~105 KB, so the raw ceiling is
// ~20-40k batches/s. msgpack copies each batch once per side, the broker appends with one write(2) to the page cache
// (topic flush 'os', acks 1; a second row uses acks 'all' on a flush 'sync' topic: one fdatasync per group commit), so Sluice should reach a good fraction of the raw ceiling for
// 1 KiB records; for 100 B records per-request overhead (~20-50 µs of JS) dominates: ~20-50k batches/s ⇒ 2-5M rec/s max.
import { promises as fs } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { Bench } from 'tinybench'
import { openBroker } from '../../src/broker/broker.js'
import { connectTcpTransport } from '../../src/client/tcp-transport.js'
import { decodeRecords, encodeRecordBatch, iterateBatches } from '../../src/storage/record-batch.js'
import { encodeFrame, FrameDecoder } from '../../src/protocol/frame.js'
import { startServer } from '../../src/server/server.js'

const RECORDS_PER_BATCH = 100
const IN_FLIGHT = 16
const RECORD_SIZES = [100, 1024] as const

export interface BenchRow {
  name: string
  recordsPerSec: number
  megabytesPerSec: number
}

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

export async function run(): Promise<BenchRow[]> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-bench-'))
  const broker = await openBroker({ dataDir }, { logger: { info() {}, warn() {}, error() {} } })
  const server = await startServer(broker, { host: '127.0.0.1', port: 0 })
  const t = await connectTcpTransport({ brokers: [`127.0.0.1:${server.port}`] })
  const raw = await startRawServer()
  const rawC = await rawClient(raw.port)
  const bench = new Bench({ time: 2000, warmupTime: 300 })
  const bytesPerIteration = new Map<string, number>()
  try {
    for (const size of RECORD_SIZES) {
      const topic = `bench-${size}`
      await t.createTopic({ name: topic, partitions: 1, config: { flush: 'os' } })
      const batch = makeBatch(size)
      const recordBytes = RECORDS_PER_BATCH * IN_FLIGHT * size
      // One fetch returns about one iteration's records (16 batches), so no fetched byte is thrown away.
      const fetchBytes = batch.length * IN_FLIGHT
      const raws = `raw loopback socket, ${size} B records`
      bytesPerIteration.set(raws, recordBytes)
      bench.add(raws, async () => {
        await Promise.all(Array.from({ length: IN_FLIGHT }, () => rawC.send(batch)))
      })
      const produce = `sluice TCP produce acks=1, ${size} B records`
      bytesPerIteration.set(produce, recordBytes)
      bench.add(produce, async () => {
        await Promise.all(
          Array.from({ length: IN_FLIGHT }, () =>
            t.produce({ topic, partition: 0, acks: 1, batch: Buffer.from(batch) }),
          ),
        )
      })
      // The durable case: acks 'all' on a flush 'sync' topic, so every ack waits for an fdatasync (group commit).
      const durableTopic = `bench-durable-${size}`
      await t.createTopic({ name: durableTopic, partitions: 1, config: { flush: 'sync' } })
      const durable = `sluice TCP produce acks=all flush=sync, ${size} B records`
      bytesPerIteration.set(durable, recordBytes)
      bench.add(durable, async () => {
        await Promise.all(
          Array.from({ length: IN_FLIGHT }, () =>
            t.produce({ topic: durableTopic, partition: 0, acks: 'all', batch: Buffer.from(batch) }),
          ),
        )
      })
      // Fetch without record decoding: the same walk, batches CRC-checked (iterateBatches) but records not decoded.
      let fetchOffset = 0
      const fetchOnly = `sluice TCP fetch + CRC, no decode, ${size} B records`
      bytesPerIteration.set(fetchOnly, recordBytes)
      bench.add(fetchOnly, async () => {
        let records = 0
        while (records < RECORDS_PER_BATCH * IN_FLIGHT) {
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
      // Consume: walk the log from the start in fetches of 16 batches, decoding every record (wraps around at the end).
      let offset = 0
      const consume = `sluice TCP fetch + decode, ${size} B records`
      bytesPerIteration.set(consume, recordBytes)
      bench.add(consume, async () => {
        let records = 0
        while (records < RECORDS_PER_BATCH * IN_FLIGHT) {
          const res = await t.fetch({
            partitions: [{ topic, partition: 0, offset }],
            maxBytes: fetchBytes,
            maxWaitMs: 0,
          })
          const p = res.partitions[0]
          if (p === undefined || p.records.length === 0) {
            offset = 0
            continue
          }
          for (const loc of iterateBatches(p.records)) {
            const decoded = decodeRecords(p.records, loc.position, offset)
            records += decoded.length
            const last = decoded.at(-1)
            if (last !== undefined) offset = last.offset + 1
          }
        }
      })
    }
    await bench.run()
    return bench.tasks.map((task) => {
      // The median iteration time, not the mean: these machines are noisy.
      const result = task.result as { latency?: { p50: number }; period?: number }
      const period = result.latency?.p50 ?? result.period ?? NaN
      const bytes = bytesPerIteration.get(task.name) ?? 0
      return {
        name: task.name,
        recordsPerSec: Math.round((RECORDS_PER_BATCH * IN_FLIGHT * 1000) / period),
        megabytesPerSec: Math.round((bytes / (1024 * 1024)) * (1000 / period)),
      }
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

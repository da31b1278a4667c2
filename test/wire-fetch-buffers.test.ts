// Fetch responses are read into buffers the server reuses once a response is written: a response a slow client has not
// read yet keeps its buffer, so other clients' fetches meanwhile (which would reuse it) cannot change a byte of it;
// and a client that disconnects mid-response gives its buffer back without harming the next reader. Large produce
// requests are assembled in buffers of the same pool, each kept until its request is answered.
import { afterEach, describe, expect, test } from 'vitest'
import { openBroker } from '../src/broker/broker.js'
import { connectTcpTransport } from '../src/client/tcp-transport.js'
import { ApiKey } from '../src/protocol/api-keys.js'
import { decodeBody } from '../src/protocol/codec.js'
import { decodeRecords, encodeRecordBatch, iterateBatches } from '../src/storage/record-batch.js'
import { startServer } from '../src/server/server.js'
import { makeTempDir, RawClient, removeDir } from './wire-helpers.js'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const MiB = 1024 * 1024
/** Larger than loopback's socket buffers, so most of it waits in the server while the client does not read. */
const RESPONSE_BYTES = 24 * MiB
const silent = { info() {}, warn() {}, error() {} }

async function setup() {
  const dataDir = await makeTempDir()
  cleanups.push(() => removeDir(dataDir))
  const broker = await openBroker({ dataDir }, { logger: silent })
  cleanups.push(() => broker.close())
  const server = await startServer(broker, { host: '127.0.0.1', port: 0 })
  cleanups.push(() => server.close())
  const t = await connectTcpTransport({ brokers: [`127.0.0.1:${server.port}`] })
  cleanups.push(() => t.close())
  // Two topics of 1 KiB values, every byte of a topic's values its own letter.
  for (const [topic, letter] of [
    ['a', 0x41],
    ['b', 0x42],
  ] as const) {
    await t.createTopic({ name: topic, partitions: 1, config: { flush: 'os' } })
    const value = Buffer.alloc(1024, letter)
    for (let bytes = 0; bytes < RESPONSE_BYTES + MiB;) {
      const batch = encodeRecordBatch(Array.from({ length: 500 }, () => ({ key: null, value, timestamp: 1 })))
      await t.produce({ topic, partition: 0, acks: 1, batch })
      bytes += batch.length
    }
  }
  return { server, t }
}

function fetchBody(topic: string) {
  return {
    partitions: [{ topic, partition: 0, offset: 0, maxBytes: RESPONSE_BYTES }],
    maxBytes: RESPONSE_BYTES,
    maxWaitMs: 0,
  }
}

/** Every batch CRC-valid and every value all `letter`; returns the record count. */
function checkRecords(records: Buffer, letter: number): number {
  let n = 0
  let wrong = 0
  for (const loc of iterateBatches(records))
    for (const r of decodeRecords(records, loc.position)) {
      const v = r.value
      if (v === null || v.length !== 1024 || v[0] !== letter || v[1023] !== letter || v.indexOf(letter ^ 3) >= 0)
        wrong++
      n++
    }
  expect(wrong).toBe(0)
  return n
}

describe('fetch read buffers', () => {
  test('a response waiting on a client that does not read is not overwritten by other fetches', async () => {
    const { server, t } = await setup()
    const slow = await RawClient.connect(server.port, { paused: true })
    cleanups.push(() => slow.destroy())
    slow.send(ApiKey.FETCH, fetchBody('a'), 1)
    // The server reads and starts writing the response; the client reads nothing, so most of it stays queued.
    await new Promise((resolve) => setTimeout(resolve, 300))
    // Another client fetches 24 MiB of 'B' eight times: each read takes a 32 MiB pooled buffer, the one the waiting
    // response holds if it were given back too early.
    for (let i = 0; i < 8; i++) {
      const res = await t.fetch(fetchBody('b'))
      expect(checkRecords(res.partitions[0]!.records, 0x42)).toBeGreaterThan(20_000)
    }
    slow.socket.resume()
    const [frame] = await slow.waitFrames(1)
    const body = decodeBody(frame!.body) as { partitions: Array<{ records: Buffer; error: unknown }> }
    expect(body.partitions[0]!.error).toBeNull()
    expect(body.partitions[0]!.records.length).toBeGreaterThan(RESPONSE_BYTES - MiB)
    expect(checkRecords(body.partitions[0]!.records, 0x41)).toBeGreaterThan(20_000)
  })

  test('a client that disconnects mid-response gives its buffer back; the next fetches read intact data', async () => {
    const { server, t } = await setup()
    for (let round = 0; round < 3; round++) {
      const gone = await RawClient.connect(server.port, { paused: true })
      gone.send(ApiKey.FETCH, fetchBody('a'), 1)
      await new Promise((resolve) => setTimeout(resolve, 100))
      gone.destroy()
      await gone.closedPromise
      const res = await t.fetch(fetchBody(round % 2 === 0 ? 'b' : 'a'))
      expect(checkRecords(res.partitions[0]!.records, round % 2 === 0 ? 0x42 : 0x41)).toBeGreaterThan(20_000)
    }
    expect(server.connectionCount).toBe(1)
  })
})

describe('produce request buffers', () => {
  test('pipelined large produce requests each keep their buffer until answered: every batch is stored as sent', async () => {
    const dataDir = await makeTempDir()
    cleanups.push(() => removeDir(dataDir))
    const broker = await openBroker({ dataDir, autoCreateTopics: true }, { logger: silent })
    cleanups.push(() => broker.close())
    const server = await startServer(broker, { host: '127.0.0.1', port: 0 })
    cleanups.push(() => server.close())
    const t = await connectTcpTransport({ brokers: [`127.0.0.1:${server.port}`] })
    cleanups.push(() => t.close())
    // Eight ~200 KB batches, each of its own letter, sent at once to a topic that does not exist yet: every request
    // waits for the topic to be created before it appends, while the later ones arrive and are assembled. A buffer
    // given back before its request appended would be reused for a later frame, and that frame's batch (CRC-valid)
    // would be stored in its place.
    const letters = Array.from({ length: 8 }, (_, i) => 0x41 + i)
    const batches = letters.map((letter) =>
      encodeRecordBatch(
        Array.from({ length: 200 }, () => ({ key: null, value: Buffer.alloc(1024, letter), timestamp: 1 })),
      ),
    )
    const answers = await Promise.all(
      batches.map((batch) => t.produce({ topic: 'fresh', partition: 0, acks: 'all', batch })),
    )
    expect(new Set(answers.map((a) => a.baseOffset)).size).toBe(8)
    const res = await t.fetch({
      partitions: [{ topic: 'fresh', partition: 0, offset: 0, maxBytes: 8 * MiB }],
      maxBytes: 8 * MiB,
      maxWaitMs: 0,
    })
    const records = res.partitions[0]!.records
    const stored: number[] = []
    for (const loc of iterateBatches(records)) {
      const values = [...decodeRecords(records, loc.position)].map((r) => r.value!)
      expect(values.length).toBe(200)
      expect(values.every((v) => v.length === 1024 && v.every((b) => b === values[0]![0]))).toBe(true)
      stored.push(values[0]![0]!)
    }
    expect(stored.sort()).toEqual(letters)
    // the frames were assembled in pooled buffers, and they came back
    expect(server.readBufferFreeBytes).toBeGreaterThanOrEqual(256 * 1024)
  })
})

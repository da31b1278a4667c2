// P3: length attacks against a live server (in-process broker on memory storage, served on 127.0.0.1:0). Frames that
// announce more than frameBytesMax are refused and the connection closed before anything is allocated; frames that
// announce nearly frameBytesMax but send little cost only what was sent; msgpack and record-batch counts larger than
// the bytes left get a typed error response on a connection that keeps working; slow clients are served (or closed
// by the idle timeout). Heap and external memory growth per attacking connection is measured after forced GCs.
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import v8 from 'node:v8'
import { runInNewContext } from 'node:vm'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { openBroker, type Broker } from '../../src/broker/broker.js'
import { silentLogger } from '../../src/broker/logger.js'
import { LIMITS } from '../../src/config/limits.js'
import { ApiKey } from '../../src/protocol/api-keys.js'
import { decodeBody, encodeBody } from '../../src/protocol/codec.js'
import { encodeFrame, FLAG_ERROR } from '../../src/protocol/frame.js'
import { startServer, type SluiceServer } from '../../src/server/server.js'
import { encodeRecordBatch } from '../../src/storage/record-batch.js'
import { forgetMemoryDataDir, openMemoryStorage } from '../../src/testing/memory-storage.js'
import { RawClient, waitFor } from '../wire-helpers.js'
import { reportFigures } from './settings.js'

const ATTACKERS = 40
const IDLE_TIMEOUT_MS = 1_500
const HEAP_PER_CONNECTION_BYTES_MAX = 1024 * 1024

v8.setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

let dataDir = ''
let broker: Broker
let server: SluiceServer
const figures: Record<string, unknown> = {}

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'sluice-p3-'))
  broker = await openBroker(
    { dataDir },
    { logger: silentLogger, openStorage: openMemoryStorage, openGroupCoordinator: null },
  )
  await broker.createTopic({ name: 'p3', partitions: 1 })
  server = await startServer(broker, { host: '127.0.0.1', port: 0, idleTimeoutMs: IDLE_TIMEOUT_MS })
})
afterAll(async () => {
  reportFigures('P3', figures)
  await server?.close()
  await broker?.close()
  forgetMemoryDataDir(dataDir)
  await rm(dataDir, { recursive: true, force: true })
})

/** Heap plus external (Buffer) bytes after two full collections. */
function memoryBytes(): number {
  gc()
  gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.external
}

function frameHeader(size: number, apiKey: number = ApiKey.PRODUCE, correlationId = 1): Buffer {
  const b = Buffer.alloc(13)
  b.writeUInt32BE(size, 0)
  b.writeUInt16BE(apiKey, 4)
  b.writeUInt16BE(0, 6)
  b.writeUInt32BE(correlationId, 8)
  b.writeUInt8(0, 12)
  return b
}

/** A request frame around a raw (possibly malformed) body. */
function rawRequest(apiKey: number, body: Buffer, correlationId: number): Buffer {
  return encodeFrame({ apiKey, apiVersion: 0, correlationId, flags: 0 }, body)
}

async function connectMany(n: number): Promise<RawClient[]> {
  return Promise.all(Array.from({ length: n }, () => RawClient.connect(server.port)))
}

describe('P3: length attacks', () => {
  test('a frame announcing more than frameBytesMax closes the connection before its body is read or allocated', async () => {
    const before = memoryBytes()
    const clients = await connectMany(ATTACKERS)
    for (const c of clients) c.write(Buffer.concat([frameHeader(0xffff_ffff), Buffer.alloc(100)]))
    const allClosed = await waitFor(() => clients.every((c) => c.closed), 10_000)
    const perConnection = (memoryBytes() - before) / ATTACKERS
    figures.hugeSizeClosed = clients.filter((c) => c.closed).length
    figures.hugeSizeBytesPerConnection = Math.round(perConnection)
    expect(allClosed).toBe(true)
    expect(clients.every((c) => c.frames.length === 0)).toBe(true)
    expect(perConnection).toBeLessThan(HEAP_PER_CONNECTION_BYTES_MAX)
  })

  test('a frame announcing almost frameBytesMax but sending 1 KiB costs about what was sent, and times out', async () => {
    const before = memoryBytes()
    const clients = await connectMany(ATTACKERS)
    for (const c of clients) c.write(Buffer.concat([frameHeader(LIMITS.frameBytesMax - 1), Buffer.alloc(1024, 7)]))
    // Let the server read what was sent, then measure while every attacker is still connected.
    await new Promise((r) => setTimeout(r, 200))
    const open = clients.filter((c) => !c.closed).length
    const perConnection = (memoryBytes() - before) / ATTACKERS
    figures.announcedFrameBytes = LIMITS.frameBytesMax - 1
    figures.partialFrameBytesPerConnection = Math.round(perConnection)
    expect(open).toBe(ATTACKERS)
    expect(perConnection).toBeLessThan(HEAP_PER_CONNECTION_BYTES_MAX)
    // Stuck inside a frame: the idle timeout closes them.
    expect(await waitFor(() => clients.every((c) => c.closed), IDLE_TIMEOUT_MS * 6)).toBe(true)
  })

  test('msgpack lengths and record counts larger than the bytes left get a typed error and the connection goes on', async () => {
    const c = await RawClient.connect(server.port)
    const attacks: Array<{ name: string; body: Buffer }> = [
      { name: 'array32 of 2^32-1 items', body: Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff, 0x01]) },
      { name: 'map32 of 2^32-1 entries', body: Buffer.from([0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 0x61]) },
      { name: 'str32 of 4 GiB', body: Buffer.from([0xdb, 0xff, 0xff, 0xff, 0xf0, 0x61, 0x62]) },
      { name: 'bin32 of 1 GiB', body: Buffer.from([0xc6, 0x40, 0x00, 0x00, 0x00, 0x00]) },
      { name: 'ext32 of 2 GiB', body: Buffer.from([0xc9, 0x7f, 0xff, 0xff, 0xff, 0x01, 0x00]) },
    ]
    const batch = encodeRecordBatch([{ key: null, value: Buffer.from('x'), timestamp: Date.now() }])
    const bigCount = Buffer.from(batch)
    bigCount.writeInt32BE(0x7fff_ffff, 57) // recordsCount
    const bigLength = Buffer.from(batch)
    bigLength.writeInt32BE(0x7fff_fff0, 8) // batchLength
    const bigRecord = Buffer.from(batch)
    bigRecord.writeUInt8(0x7e, 61) // first record's length varint: 63 while a few bytes remain
    for (const [name, b] of [
      ['recordsCount 2^31-1', bigCount],
      ['batchLength 2^31-16', bigLength],
      ['record length past the batch', bigRecord],
    ] as const)
      attacks.push({ name, body: encodeBody({ topic: 'p3', partition: 0, acks: 1, batch: b }) })
    const codes: Record<string, string> = {}
    const rounds = 200
    const before = memoryBytes()
    let correlationId = 1
    for (let round = 0; round < rounds; round++) {
      for (const a of attacks) {
        const seen = c.frames.length
        c.write(rawRequest(ApiKey.PRODUCE, a.body, correlationId++))
        await c.waitFrames(seen + 1)
        const frame = c.frames[seen]
        if (frame === undefined) throw new Error(`connection closed after ${a.name}`)
        const body = decodeBody(frame.body) as { code?: string }
        codes[a.name] = (frame.flags & FLAG_ERROR) !== 0 ? String(body.code) : 'ACCEPTED'
      }
      c.frames.length = 0
    }
    const perRequest = (memoryBytes() - before) / (rounds * attacks.length)
    const info = await c.request(ApiKey.INFO, null, correlationId++)
    c.destroy()
    figures.countAttackCodes = codes
    figures.countAttackRequests = rounds * attacks.length
    figures.countAttackBytesPerRequest = Math.round(perRequest)
    expect(Object.entries(codes).filter(([, code]) => code === 'ACCEPTED' || code === 'INTERNAL')).toEqual([])
    expect((info.frame.flags & FLAG_ERROR) === 0).toBe(true)
    // An allocation of any announced length would be >= 1 GiB; what stays per refused request must be tiny.
    expect(perRequest).toBeLessThan(16 * 1024)
  })

  test('a msgpack array or map count beyond the body bytes is refused without allocating for that count', async () => {
    // 6-byte bodies announcing ~28 million elements: below the lengths the decoder refuses outright, far beyond the
    // bytes present (each element needs at least one byte, each map entry two).
    const c = await RawClient.connect(server.port)
    const attacks: Array<[string, Buffer]> = [
      ['array32 of 27,882,601 items in a 6-byte body', Buffer.from('dd01a9746900', 'hex')],
      ['map32 of 27,882,601 entries in a 6-byte body', Buffer.from('df01a9746900', 'hex')],
      ['array32 of 2^24 items nested in a produce body', Buffer.from('81a5746f706963dd0100000000', 'hex')],
    ]
    const growth: Record<string, number> = {}
    let correlationId = 100
    for (const [name, body] of attacks) {
      const before = memoryBytes()
      const seen = c.frames.length
      c.write(rawRequest(ApiKey.PRODUCE, body, correlationId++))
      await c.waitFrames(seen + 1)
      // No forced GC here: what the decoder allocated for the announced count is still on the heap.
      const m = process.memoryUsage()
      growth[name] = m.heapUsed + m.external - before
      const frame = c.frames[seen]
      expect(frame === undefined ? 'closed' : (frame.flags & FLAG_ERROR) !== 0 ? 'error' : 'accepted').toBe('error')
    }
    c.destroy()
    figures.countBeyondBodyHeapGrowthBytes = growth
    for (const bytes of Object.values(growth)) expect(bytes).toBeLessThan(HEAP_PER_CONNECTION_BYTES_MAX * 16)
  })

  test('a slow client sending a request one byte at a time is served; slow-loris connections hold little memory', async () => {
    const slow = await RawClient.connect(server.port)
    const request = rawRequest(ApiKey.INFO, encodeBody(null), 9)
    for (const byte of request) {
      slow.write(Buffer.from([byte]))
      await new Promise((r) => setTimeout(r, 3))
    }
    const [frame] = await slow.waitFrames(1)
    slow.destroy()
    expect(frame?.correlationId).toBe(9)
    expect((frame!.flags & FLAG_ERROR) === 0).toBe(true)

    const before = memoryBytes()
    const loris = await connectMany(ATTACKERS)
    const header = frameHeader(1024 * 1024, ApiKey.INFO)
    for (let i = 0; i < 8; i++) {
      for (const c of loris) c.write(header.subarray(i, i + 1))
      await new Promise((r) => setTimeout(r, 20))
    }
    const perConnection = (memoryBytes() - before) / ATTACKERS
    figures.slowLorisBytesPerConnection = Math.round(perConnection)
    expect(loris.every((c) => !c.closed)).toBe(true)
    expect(perConnection).toBeLessThan(HEAP_PER_CONNECTION_BYTES_MAX)
    for (const c of loris) c.destroy()
  })
})

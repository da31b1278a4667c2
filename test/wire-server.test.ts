// The TCP server and transport against an in-memory fake broker: every api round-trips, errors keep their class,
// bad bodies are refused naming the field, garbage closes only the offending connection, the in-flight and write
// buffer bounds hold, timeouts and lost connections surface as typed errors, and close() lets in-flight calls finish.
import { afterEach, describe, expect, test } from 'vitest'
import type { BrokerApi, GroupHeartbeatRequest } from '../src/broker/api.js'
import { connectTcpTransport, type TcpTransport } from '../src/client/tcp-transport.js'
import {
  ClosedError,
  ConnectionError,
  FrameTooLargeError,
  ProtocolError,
  TimeoutError,
  UnknownTopicError,
  UnsupportedVersionError,
} from '../src/errors.js'
import { ApiKey } from '../src/protocol/api-keys.js'
import { decodeBody } from '../src/protocol/codec.js'
import { encodeFrame, FLAG_ERROR, FLAG_RESPONSE } from '../src/protocol/frame.js'
import { insecureBindWarning, startServer, type ServerOptions, type SluiceServer } from '../src/server/server.js'
import { FakeBroker, RawClient, waitFor } from './wire-helpers.js'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function serve(broker: BrokerApi, options: ServerOptions = {}): Promise<SluiceServer> {
  const server = await startServer(broker, { host: '127.0.0.1', port: 0, ...options })
  cleanups.push(() => server.close())
  return server
}

async function transport(server: SluiceServer, options: { requestTimeoutMs?: number } = {}): Promise<TcpTransport> {
  const t = await connectTcpTransport({ brokers: [`127.0.0.1:${server.port}`], ...options })
  cleanups.push(() => t.close())
  return t
}

async function raw(server: SluiceServer, options: { paused?: boolean } = {}): Promise<RawClient> {
  const c = await RawClient.connect(server.port, options)
  cleanups.push(() => c.destroy())
  return c
}

const heartbeat: GroupHeartbeatRequest = {
  groupId: 'g',
  memberId: '',
  memberEpoch: 0,
  groupInstanceId: null,
  subscribedTopics: ['t'],
  subscribedTopicRegex: null,
  sessionTimeoutMs: 10_000,
  rebalanceTimeoutMs: 60_000,
  assignor: null,
  ownedPartitions: [{ topic: 't', partitions: [0] }],
  lastPollMsAgo: 0,
}

describe('wire against a fake broker', () => {
  test('every BrokerApi method round-trips: the broker sees the same arguments, the caller the same result', async () => {
    const broker = new FakeBroker()
    const t = await transport(await serve(broker))
    const direct = new FakeBroker()
    const batch = Buffer.from('batch-bytes')
    const calls: Array<[string, (api: BrokerApi) => Promise<unknown>]> = [
      ['info', (b) => b.info()],
      ['createTopic', (b) => b.createTopic({ name: 'orders', partitions: 3, config: { flush: 'os', retentionMs: 5 } })],
      [
        'alterTopicConfig',
        (b) => b.alterTopicConfig({ name: 'orders', config: { retentionMs: 60_000, flush: 'os', segmentBytes: null } }),
      ],
      ['createPartitions', (b) => b.createPartitions({ name: 'orders', count: 12 })],
      [
        'deleteRecords',
        (b) =>
          b.deleteRecords({
            topic: 'orders',
            partitions: [
              { partition: 0, offset: 2 ** 40 },
              { partition: 3, offset: -1 },
            ],
          }),
      ],
      ['deleteTopic', (b) => b.deleteTopic('orders')],
      ['listTopics', (b) => b.listTopics(true)],
      ['describeTopic', (b) => b.describeTopic('orders')],
      ['produce', (b) => b.produce({ topic: 'orders', partition: 2, acks: 'all', batch })],
      [
        'fetch',
        (b) => b.fetch({ partitions: [{ topic: 'o', partition: 1, offset: 2 ** 40 }], maxBytes: 10, maxWaitMs: 0 }),
      ],
      ['listOffsets', (b) => b.listOffsets({ topic: 'orders', timestamp: -2, partitions: [0] })],
      ['initProducer', (b) => b.initProducer()],
      ['groupHeartbeat', (b) => b.groupHeartbeat(heartbeat)],
      [
        'commitOffsets',
        (b) =>
          b.commitOffsets({
            groupId: 'g',
            memberId: 'm',
            memberEpoch: 1,
            offsets: [{ topic: 't', partition: 0, offset: 9, metadata: 'x' }],
          }),
      ],
      ['fetchOffsets', (b) => b.fetchOffsets({ groupId: 'g', partitions: [{ topic: 't', partitions: [0] }] })],
      ['listGroups', (b) => b.listGroups()],
      ['describeGroup', (b) => b.describeGroup('g')],
      ['deleteGroup', (b) => b.deleteGroup('g')],
      ['resetOffsets', (b) => b.resetOffsets({ groupId: 'g', topic: 't', to: { shiftBy: -3 }, dryRun: true })],
    ]
    for (const [name, call] of calls) {
      const viaWire = await call(t)
      const local = await call(direct)
      expect(viaWire, name).toEqual(local)
      expect(broker.calls.at(-1), name).toEqual(direct.calls.at(-1))
    }
    // The handshake's info call is on top of the 19.
    expect(new Set(broker.calls.map((c) => c.method)).size).toBe(19)
  })

  test('a broker error arrives as the same typed class with its message', async () => {
    const t = await transport(await serve(new FakeBroker()))
    const err = await t.describeTopic('missing').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UnknownTopicError)
    expect((err as Error).message).toBe('unknown topic "missing"')
  })

  test('bad request bodies are refused with InvalidArgumentError naming the field, and the connection stays usable', async () => {
    const broker = new FakeBroker()
    const c = await raw(await serve(broker))
    const bad: Array<[number, unknown, RegExp]> = [
      [ApiKey.PRODUCE, { topic: 't', partition: 0, acks: 'all', batch: 'not bytes' }, /produce\.batch: expected bytes/],
      [ApiKey.PRODUCE, { topic: 't', partition: -1, acks: 'all', batch: Buffer.alloc(1) }, /produce\.partition/],
      [ApiKey.PRODUCE, { topic: 't', partition: 0, acks: 2, batch: Buffer.alloc(1) }, /produce\.acks/],
      [
        ApiKey.FETCH,
        { partitions: [{ topic: 't', partition: 0, offset: 1.5 }], maxBytes: 1, maxWaitMs: 0 },
        /fetch\.partitions\[0\]\.offset/,
      ],
      [ApiKey.FETCH, { partitions: [], maxBytes: 1, maxWaitMs: 10 ** 9 }, /fetch\.maxWaitMs/],
      [ApiKey.CREATE_TOPIC, { name: 't', partitions: 1, evil: 1 }, /unknown field "evil"/],
      [ApiKey.CREATE_TOPIC, { name: 't', partitions: 1, config: { flush: 'never' } }, /createTopic\.config\.flush/],
      [ApiKey.RESET_OFFSETS, { groupId: 'g', topic: 't', to: 'yesterday', dryRun: true }, /resetOffsets\.to/],
      [ApiKey.DELETE_TOPIC, [1, 2], /deleteTopic: expected an object/],
    ]
    let id = 1
    for (const [key, body, message] of bad) {
      const res = await c.request(key, body, id++)
      expect(res.frame.flags).toBe(FLAG_RESPONSE | FLAG_ERROR)
      expect(res.body).toMatchObject({ code: 'INVALID_ARGUMENT' })
      expect((res.body as { message: string }).message).toMatch(message)
    }
    expect(broker.calls).toHaveLength(0)
    expect((await c.request(ApiKey.LIST_TOPICS, { includeInternal: false }, id++)).body).toEqual(['a', 'b'])
  })

  test('an unknown api key or version is answered with UNSUPPORTED_VERSION; a non-msgpack body with PROTOCOL', async () => {
    const c = await raw(await serve(new FakeBroker()))
    expect((await c.request(999, null, 1)).body).toMatchObject({ code: 'UNSUPPORTED_VERSION' })
    c.send(ApiKey.INFO, null, 2, 7)
    const frames = await c.waitFrames(2)
    expect(decodeBody(frames[1]!.body)).toMatchObject({ code: new UnsupportedVersionError('').code })
    c.write(encodeFrame({ apiKey: ApiKey.INFO, apiVersion: 0, correlationId: 3, flags: 0 }, Buffer.from([0xc1, 0xc1])))
    const after = await c.waitFrames(3)
    expect(decodeBody(after[2]!.body)).toMatchObject({ code: new ProtocolError('').code })
  })

  test('garbage on the port closes only that connection; a good client keeps working', async () => {
    const server = await serve(new FakeBroker(), { idleTimeoutMs: 300 })
    const good = await transport(server)
    // random bytes
    const a = await raw(server)
    const noise = Buffer.alloc(4096)
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 7919 + 13) & 0xff
    noise.writeUInt32BE(0x7fff_ffff, 0)
    a.write(noise)
    // a huge length prefix
    const b = await raw(server)
    b.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]))
    // a size smaller than the header
    const c = await raw(server)
    c.write(Buffer.from([0, 0, 0, 1, 0]))
    // a frame that is never finished: closed by the idle timeout
    const d = await raw(server)
    d.write(Buffer.from([0, 0, 0, 100, 0, 1, 0, 0]))
    await Promise.all([a.closedPromise, b.closedPromise, c.closedPromise, d.closedPromise])
    expect([a.frames.length, b.frames.length, c.frames.length, d.frames.length]).toEqual([0, 0, 0, 0])
    expect(await good.listTopics()).toEqual(['a', 'b'])
    expect(await waitFor(() => server.connectionCount === 1)).toBe(true)
  })

  test('at most inFlightRequestsMax requests of one connection reach the broker at once; the rest wait, none lost', async () => {
    const broker = new FakeBroker()
    broker.hold = true
    const server = await serve(broker, { inFlightRequestsMax: 4 })
    const c = await raw(server)
    const total = 50
    for (let i = 1; i <= total; i++) {
      c.send(ApiKey.PRODUCE, { topic: 't', partition: 0, acks: 1, batch: Buffer.alloc(i) }, i)
    }
    expect(await waitFor(() => broker.heldCount === 4)).toBe(true)
    // Give the rest a chance to (wrongly) get through before releasing.
    await new Promise((r) => setTimeout(r, 100))
    expect(broker.concurrentMax).toBe(4)
    while (c.frames.length < total) {
      broker.release()
      await waitFor(() => broker.heldCount > 0 || c.frames.length === total, 2000)
    }
    expect(broker.concurrentMax).toBe(4)
    const offsets = c.frames.map((f) => (decodeBody(f.body) as { baseOffset: number }).baseOffset).sort((x, y) => x - y)
    expect(offsets).toEqual(Array.from({ length: total }, (_, i) => i + 1))
    expect(c.frames.map((f) => f.correlationId).sort((x, y) => x - y)).toEqual(offsets)
  })

  test('a client that does not read stops being served once its write buffer is full; it all arrives once it reads', async () => {
    const broker = new FakeBroker()
    broker.fetchRecordsBytes = 256 * 1024
    const server = await serve(broker, { writeBufferBytesHigh: 512 * 1024 })
    const c = await raw(server, { paused: true })
    const total = 400 // 100 MiB of responses if nothing held the server back
    const fetchBody = { partitions: [{ topic: 't', partition: 0, offset: 0 }], maxBytes: 1, maxWaitMs: 0 }
    for (let i = 1; i <= total; i++) c.send(ApiKey.FETCH, fetchBody, i)
    let last = -1
    await waitFor(() => {
      const settled = broker.calls.length === last
      last = broker.calls.length
      return settled && last > 0
    })
    await new Promise((r) => setTimeout(r, 200))
    expect(broker.calls.length).toBeLessThan(total)
    c.socket.resume()
    expect((await c.waitFrames(total)).length).toBe(total)
  })

  test('a client that leaves more than writeBufferBytesMax of responses unread is disconnected; others are served', async () => {
    const broker = new FakeBroker()
    broker.fetchRecordsBytes = 256 * 1024
    const server = await serve(broker, {
      frameBytesMax: 1024 * 1024,
      writeBufferBytesHigh: 512 * 1024,
      writeBufferBytesMax: 2 * 1024 * 1024,
    })
    const c = await raw(server, { paused: true })
    // Every fetch is taken before the first answer fills the buffer: 64 x 256 KiB would be 16 MiB held for it.
    const fetchBody = { partitions: [{ topic: 't', partition: 0, offset: 0 }], maxBytes: 1, maxWaitMs: 0 }
    for (let i = 1; i <= 64; i++) c.send(ApiKey.FETCH, fetchBody, i)
    await waitFor(() => broker.calls.length >= 10)
    c.socket.resume()
    await c.closedPromise
    expect(c.frames.length).toBeLessThan(64) // cut off, not served in full
    const other = await transport(server)
    await expect(other.describeTopic('orders')).resolves.toBeDefined()
  })

  test('a call the broker does not answer in time fails with TimeoutError; the transport carries on', async () => {
    const broker = new FakeBroker()
    const server = await serve(broker)
    const t = await transport(server, { requestTimeoutMs: 200 })
    broker.hold = true
    await expect(t.produce({ topic: 't', partition: 0, acks: 1, batch: Buffer.alloc(1) })).rejects.toBeInstanceOf(
      TimeoutError,
    )
    broker.hold = false
    broker.release()
    expect(await t.listTopics()).toEqual(['a', 'b'])
  })

  test('calls in flight when the connection drops fail with ConnectionError; the next call reconnects', async () => {
    const broker = new FakeBroker()
    const server = await serve(broker, { closeTimeoutMs: 0 })
    const t = await transport(server)
    broker.hold = true
    const pending = t.produce({ topic: 't', partition: 0, acks: 1, batch: Buffer.alloc(1) })
    await waitFor(() => broker.heldCount === 1)
    const closing = server.close()
    await expect(pending).rejects.toBeInstanceOf(ConnectionError)
    await closing
    broker.release()
    broker.hold = false
    const again = await serve(broker, { port: server.port })
    expect(again.port).toBe(server.port)
    expect(await t.listTopics()).toEqual(['a', 'b'])
    expect(t.connected).toBe(true)
  })

  test('close() waits for in-flight calls to be answered before closing the sockets', async () => {
    const broker = new FakeBroker()
    const server = await serve(broker)
    const t = await transport(server)
    broker.hold = true
    const pending = t.produce({ topic: 't', partition: 0, acks: 1, batch: Buffer.alloc(3) })
    await waitFor(() => broker.heldCount === 1)
    const closing = server.close()
    setTimeout(() => broker.release(), 50)
    expect((await pending).baseOffset).toBe(3)
    await closing
    expect(server.connectionCount).toBe(0)
  })

  test('bad transport options are an InvalidConfigError listing them', async () => {
    await expect(connectTcpTransport({ brokers: ['nohost', 'h:99999'], requestTimeoutMs: 0 })).rejects.toThrow(
      /broker address "nohost".*broker address "h:99999".*requestTimeoutMs/,
    )
  })

  test('the handshake negotiates the protocol version and refuses a client that speaks none the server does', async () => {
    const c = await raw(await serve(new FakeBroker()))
    const ok = await c.request(ApiKey.HANDSHAKE, { clientId: 't', protocolVersionMin: 1, protocolVersionMax: 9 }, 1)
    expect(ok.body).toMatchObject({ protocolVersion: 1, nodeId: 'fake' })
    expect((ok.body as { apiVersions: Record<string, unknown> }).apiVersions.produce).toEqual([0, 0])
    const tooNew = await c.request(ApiKey.HANDSHAKE, { clientId: 't', protocolVersionMin: 5, protocolVersionMax: 9 }, 2)
    expect(tooNew.body).toMatchObject({ code: 'UNSUPPORTED_VERSION' })
  })

  test('connections beyond connectionsMax are refused saying why, with a warning, while the admitted ones keep working', async () => {
    const warnings: Array<[string, Record<string, unknown> | undefined]> = []
    const logger = {
      info() {},
      error() {},
      warn: (m: string, f?: Record<string, unknown>) => void warnings.push([m, f]),
    }
    const server = await serve(new FakeBroker(), { connectionsMax: 2, logger })
    const a = await raw(server)
    const b = await raw(server)
    expect(await waitFor(() => server.connectionCount === 2)).toBe(true)
    // A refused client is told why in answer to its first frame (before, Node closed it without a word and the SDK
    // reported 'connection lost'); one that sends nothing is closed once the refusal's wait ends.
    const c = await raw(server)
    const answer = await c.request(ApiKey.LIST_TOPICS, { includeInternal: false }, 7)
    expect([answer.frame.flags, answer.frame.correlationId]).toEqual([FLAG_RESPONSE | FLAG_ERROR, 7])
    expect(answer.body).toMatchObject({ code: 'CONNECTION', message: expect.stringMatching(/connection limit/) })
    await c.closedPromise
    const d = await raw(server)
    await d.closedPromise
    const sdk = await connectTcpTransport({ brokers: [`127.0.0.1:${server.port}`], connectTimeoutMs: 600 }).catch(
      (e: unknown) => e,
    )
    expect(sdk).toBeInstanceOf(TimeoutError)
    expect((sdk as Error).message).toMatch(/last attempt: the broker is at its connection limit \(connectionsMax 2\)/)
    // One warning for both (at most one per 10 s), naming the limit.
    expect(warnings).toEqual([
      [
        'connection refused: connectionsMax reached',
        expect.objectContaining({ connectionsMax: 2, droppedSinceLastWarning: 1 }),
      ],
    ])
    expect((await a.request(ApiKey.LIST_TOPICS, { includeInternal: false }, 1)).body).toEqual(['a', 'b'])
    expect((await b.request(ApiKey.LIST_TOPICS, { includeInternal: false }, 1)).body).toEqual(['a', 'b'])
  })

  test('binding a non-loopback host without auth is warned about; with auth or on loopback it is not', () => {
    expect(insecureBindWarning('0.0.0.0', false)).toMatch(/without authentication/)
    expect(insecureBindWarning('192.168.1.10', false)).toMatch(/192\.168\.1\.10/)
    expect(insecureBindWarning('0.0.0.0', true)).toBeNull()
    expect(insecureBindWarning('127.0.0.1', false)).toBeNull()
    expect(insecureBindWarning('::1', false)).toBeNull()
    expect(insecureBindWarning('localhost', false)).toBeNull()
  })

  test('a response larger than the frame limit is answered with FRAME_TOO_LARGE instead of breaking the connection', async () => {
    const broker = new FakeBroker()
    broker.fetchRecordsBytes = 100 * 1024
    const t = await transport(await serve(broker, { frameBytesMax: 64 * 1024 }))
    const fetch = { partitions: [{ topic: 't', partition: 0, offset: 0 }], maxBytes: 1, maxWaitMs: 0 }
    await expect(t.fetch(fetch)).rejects.toBeInstanceOf(FrameTooLargeError)
    broker.fetchRecordsBytes = 10
    expect((await t.fetch(fetch)).partitions[0]?.records.length).toBe(10)
  })

  test('the transport bounds its in-flight calls; close() fails both the in-flight and the waiting ones with ClosedError', async () => {
    const broker = new FakeBroker()
    const server = await serve(broker)
    const t = await connectTcpTransport({ brokers: [`127.0.0.1:${server.port}`], inFlightRequestsMax: 2 })
    broker.hold = true
    const calls = Array.from({ length: 5 }, (_, i) =>
      t.produce({ topic: 't', partition: 0, acks: 1, batch: Buffer.alloc(i + 1) }).catch((e: unknown) => e),
    )
    expect(await waitFor(() => broker.heldCount === 2)).toBe(true)
    await new Promise((r) => setTimeout(r, 50))
    expect(broker.heldCount).toBe(2)
    await t.close()
    const results = await Promise.all(calls)
    expect(results.every((r) => r instanceof ClosedError)).toBe(true)
    broker.release()
  })

  test('requests being served hold at most about inFlightRequestBytesMax of request bytes per connection', async () => {
    const broker = new FakeBroker()
    broker.hold = true
    const server = await serve(broker, { inFlightRequestBytesMax: 10 * 1024 })
    const c = await raw(server)
    for (let i = 1; i <= 10; i++)
      c.send(ApiKey.PRODUCE, { topic: 't', partition: 0, acks: 1, batch: Buffer.alloc(4096) }, i)
    expect(await waitFor(() => broker.heldCount === 3)).toBe(true)
    await new Promise((r) => setTimeout(r, 100))
    expect(broker.concurrentMax).toBe(3)
    while (c.frames.length < 10) {
      broker.release()
      await waitFor(() => broker.heldCount > 0 || c.frames.length === 10, 2000)
    }
    expect(broker.concurrentMax).toBe(3)
  })

  test('a request frame that trickles in slower than frameArrivalMs closes its connection; others are served', async () => {
    // One byte every few seconds restarted the idle timeout each time: such clients held every slot for good.
    const server = await serve(new FakeBroker(), { frameArrivalMs: 300 })
    const slow = await raw(server)
    const frame = encodeFrame({ apiKey: ApiKey.INFO, apiVersion: 0, correlationId: 1, flags: 0 }, Buffer.from([0x80]))
    let sent = 0
    const trickle = setInterval(() => {
      if (sent < frame.length - 1 && !slow.closed) slow.write(frame.subarray(sent, ++sent))
    }, 50)
    cleanups.push(() => clearInterval(trickle))
    const fast = await raw(server)
    await new Promise((r) => setTimeout(r, 150))
    fast.write(frame.subarray(0, 5))
    await new Promise((r) => setTimeout(r, 100))
    fast.write(frame.subarray(5)) // a whole frame in 100 ms: served
    await slow.closedPromise
    expect(slow.frames).toHaveLength(0)
    expect(sent).toBeLessThan(frame.length - 1)
    expect(await waitFor(() => fast.frames.length === 1)).toBe(true)
    expect(fast.closed).toBe(false)
  })

  test('a fetch counts its maxBytes (at most 16 MiB) against inFlightRequestBytesMax, not its few request bytes', async () => {
    // 64 pipelined fetches of 32 MiB from a client that read no answer took a broker to 2.1 GB.
    const broker = new FakeBroker()
    broker.hold = true
    const server = await serve(broker, {}) // inFlightRequestBytesMax 64 MiB
    const c = await raw(server)
    const fetch = { partitions: [{ topic: 't', partition: 0, offset: 0 }], maxBytes: 32 * 1024 * 1024, maxWaitMs: 0 }
    for (let i = 1; i <= 20; i++) c.send(ApiKey.FETCH, fetch, i)
    expect(await waitFor(() => broker.heldCount === 4)).toBe(true)
    await new Promise((r) => setTimeout(r, 100))
    expect(broker.concurrentMax).toBe(4)
    while (c.frames.length < 20) {
      broker.release()
      await waitFor(() => broker.heldCount > 0 || c.frames.length === 20, 2000)
    }
    expect(broker.concurrentMax).toBe(4)
  })
})

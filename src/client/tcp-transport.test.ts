// Broker address parsing and option checking of the TCP transport, without a socket: host:port and [v6]:port are
// accepted, anything else is refused with every problem listed at once. Then the receive path against a scripted
// broker: responses of any size, written in any pieces, arrive byte-exact.
import net from 'node:net'
import { describe, expect, test, vi } from 'vitest'
import { InvalidConfigError } from '../errors.js'
import { ApiKey } from '../protocol/api-keys.js'
import { encodeBody } from '../protocol/codec.js'
import { encodeFrame, FLAG_RESPONSE, FrameDecoder } from '../protocol/frame.js'
import { Random } from '../testing/random.js'
import { connectTcpTransport, parseBrokerAddress } from './tcp-transport.js'

/** What the scripted brokers below answer a handshake with. */
const HANDSHAKE_ANSWER = encodeBody({ protocolVersion: 1, nodeId: 'n', serverVersion: 'test', apiVersions: {} })

describe('tcp transport options', () => {
  test('host:port, hostnames and bracketed IPv6 addresses parse', () => {
    expect(parseBrokerAddress('127.0.0.1:7171')).toEqual({ host: '127.0.0.1', port: 7171 })
    expect(parseBrokerAddress('broker-1.internal:9')).toEqual({ host: 'broker-1.internal', port: 9 })
    expect(parseBrokerAddress('[::1]:7171')).toEqual({ host: '::1', port: 7171 })
  })

  test('addresses without a valid port are refused', () => {
    for (const bad of ['localhost', ':7171', 'h:0', 'h:65536', '::1:7171', 'h:12x']) {
      expect(() => parseBrokerAddress(bad), bad).toThrow(InvalidConfigError)
    }
  })

  test('every bad option is reported in one InvalidConfigError', async () => {
    const err = await connectTcpTransport({
      brokers: [],
      requestTimeoutMs: -1,
      inFlightRequestsMax: 0,
      tiemout: 5,
    } as never).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InvalidConfigError)
    expect((err as InvalidConfigError).problems).toEqual([
      'brokers must list at least one',
      'requestTimeoutMs must be an integer in [1, 2147483647]',
      'inFlightRequestsMax must be an integer in [1, 65536]',
      expect.stringMatching(/^unknown option "tiemout" \(known: brokers, auth, tls, /),
    ])
  })
})

describe('tcp transport receive path', () => {
  test('responses from 10 B to 3 MB, pipelined and written in random pieces, arrive byte-exact (seed 11)', async () => {
    const random = new Random(11)
    const sizes = [10, 70_000, 3_000_000, 100, 1_500_000, 20_000, 2_000_000, 0, 400_000]
    const payloads = sizes.map((n, i) => {
      const b = Buffer.allocUnsafe(n)
      for (let j = 0; j < n; j++) b[j] = (j * 31 + i) & 0xff
      return b
    })
    // A scripted broker: answers the handshake, then each request with the next payload, cut into random pieces
    // written with pauses between some of them, so the client sees every split of frames across reads.
    const server = net.createServer((socket) => {
      const decoder = new FrameDecoder()
      const out: Buffer[] = []
      let writing = false
      const pump = (): void => {
        if (writing) return
        writing = true
        const step = (): void => {
          const next = out.shift()
          if (next === undefined || socket.destroyed) {
            writing = false
            return
          }
          socket.write(next)
          if (random.next() < 0.3) setTimeout(step, 1)
          else step()
        }
        step()
      }
      let served = 0
      socket.on('data', (chunk: Buffer) => {
        decoder.push(chunk)
        for (let f = decoder.next(); f !== null; f = decoder.next()) {
          const body =
            f.apiKey === ApiKey.HANDSHAKE
              ? HANDSHAKE_ANSWER
              : encodeBody({ index: served, records: payloads[served++] })
          const frame = encodeFrame({ ...f, flags: FLAG_RESPONSE }, body)
          for (let at = 0; at < frame.length;) {
            const n = 1 + Math.floor(random.next() * 200_000)
            out.push(frame.subarray(at, at + n))
            at += n
          }
          pump()
        }
      })
      socket.on('error', () => {})
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as net.AddressInfo
    const transport = await connectTcpTransport({ brokers: [`127.0.0.1:${port}`] })
    const inPlace = vi.spyOn(FrameDecoder.prototype, 'wrote')
    try {
      const request = { partitions: [], maxBytes: 1, maxWaitMs: 0 }
      const answers = (await Promise.all(sizes.map(() => transport.fetch(request)))) as unknown as Array<{
        index: number
        records: Buffer
      }>
      for (const [i, answer] of answers.entries()) {
        expect(answer.index).toBe(i)
        expect(answer.records.length).toBe(sizes[i])
        expect(answer.records.equals(payloads[i]!), `payload ${i}`).toBe(true)
      }
      expect(inPlace).toHaveBeenCalled() // the large frames were read in place, not only through 'data' chunks
    } finally {
      inPlace.mockRestore()
      await transport.close()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })
})

describe('tcp transport send path', () => {
  test('a fetch is on the wire when fetch() returns; other calls of the same turn go out corked on the next tick', async () => {
    // A scripted broker that answers the handshake and then every request with an empty body.
    const server = net.createServer((socket) => {
      const decoder = new FrameDecoder()
      socket.on('data', (chunk: Buffer) => {
        decoder.push(chunk)
        for (let f = decoder.next(); f !== null; f = decoder.next()) {
          const body = f.apiKey === ApiKey.HANDSHAKE ? HANDSHAKE_ANSWER : encodeBody({ partitions: [] })
          socket.write(encodeFrame({ ...f, flags: FLAG_RESPONSE }, body))
        }
      })
      socket.on('error', () => {})
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as net.AddressInfo
    const transport = await connectTcpTransport({ brokers: [`127.0.0.1:${port}`] })
    const uncork = vi.spyOn(net.Socket.prototype, 'uncork')
    try {
      const batch = Buffer.alloc(100)
      // Without a flush, a caller that goes on with synchronous work (a consumer decoding the previous response)
      // would hold its fetch back until that work ends.
      const produced = transport.produce({ topic: 't', partition: 0, acks: 1, batch })
      expect(uncork).not.toHaveBeenCalled() // written, but corked until the next tick
      const fetched = transport.fetch({ partitions: [], maxBytes: 1, maxWaitMs: 0 })
      expect(uncork).toHaveBeenCalledTimes(1)
      const socket = uncork.mock.contexts[0] as net.Socket
      expect(socket.writableLength).toBe(0) // both requests were handed to the kernel within fetch()
      await Promise.all([produced, fetched])
      // Alone, a produce still waits for the tick, so that the calls of one turn share one write.
      uncork.mockClear()
      const first = transport.produce({ topic: 't', partition: 0, acks: 1, batch })
      const second = transport.produce({ topic: 't', partition: 0, acks: 1, batch })
      expect(socket.writableLength).toBeGreaterThan(2 * batch.length)
      await new Promise((resolve) => process.nextTick(resolve))
      expect(uncork).toHaveBeenCalled()
      expect(socket.writableLength).toBe(0)
      await Promise.all([first, second])
    } finally {
      uncork.mockRestore()
      await transport.close()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })
})

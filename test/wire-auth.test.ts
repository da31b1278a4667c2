// Authentication and TLS on the wire: with auth on, nothing but the handshake is served before authentication
// (a request gets NOT_AUTHENTICATED and the connection closes), a wrong secret is refused, the right one works, a
// connection that never authenticates is dropped by the handshake timeout, and a TLS connection round-trips. A client
// that cannot connect says why: an untrusted certificate, a TLS client of a plaintext broker and a plaintext client of
// a TLS broker at once, a refused port in its timeout's message. Without auth, a silent connection is closed too.
import net from 'node:net'
import path from 'node:path'
import { afterEach, describe, expect, test } from 'vitest'
import { connectTcpTransport } from '../src/client/tcp-transport.js'
import { AuthenticationError, ConnectionError, ProtocolError, TimeoutError } from '../src/errors.js'
import { ApiKey } from '../src/protocol/api-keys.js'
import { FLAG_ERROR } from '../src/protocol/frame.js'
import { addUser } from '../src/server/auth.js'
import { startServer, type ServerOptions, type SluiceServer } from '../src/server/server.js'
import { FakeBroker, RawClient, makeSelfSignedCert, makeTempDir, removeDir } from './wire-helpers.js'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function serve(options: ServerOptions): Promise<SluiceServer> {
  const server = await startServer(new FakeBroker(), { host: '127.0.0.1', port: 0, failedAuthDelayMs: 50, ...options })
  cleanups.push(() => server.close())
  return server
}

/** A server logger that keeps its warnings (message and fields) and drops the rest. */
function capturingLogger() {
  const warnings: Array<[string, Record<string, unknown> | undefined]> = []
  const logger = { info() {}, error() {}, warn: (m: string, f?: Record<string, unknown>) => void warnings.push([m, f]) }
  return { warnings, logger }
}

async function tempDir(): Promise<string> {
  const dir = await makeTempDir()
  cleanups.push(() => removeDir(dir))
  return dir
}

describe('wire auth and TLS', () => {
  test('with a users file: a request before the handshake gets NOT_AUTHENTICATED and the connection is closed', async () => {
    const file = path.join(await tempDir(), 'users.json')
    await addUser(file, 'alice', 'alice-secret')
    const server = await serve({ auth: { usersFile: file } })
    const c = await RawClient.connect(server.port)
    cleanups.push(() => c.destroy())
    const res = await c.request(ApiKey.LIST_TOPICS, { includeInternal: false })
    expect(res.body).toMatchObject({ code: 'NOT_AUTHENTICATED' })
    await c.closedPromise
    expect(c.closed).toBe(true)
  })

  test('with a users file: a wrong password or no credentials are refused, the right password is served', async () => {
    const file = path.join(await tempDir(), 'users.json')
    await addUser(file, 'alice', 'alice-secret')
    const server = await serve({ auth: { usersFile: file } })
    const brokers = [`127.0.0.1:${server.port}`]
    await expect(
      connectTcpTransport({ brokers, auth: { username: 'alice', password: 'wrong' } }),
    ).rejects.toBeInstanceOf(AuthenticationError)
    await expect(connectTcpTransport({ brokers })).rejects.toBeInstanceOf(AuthenticationError)
    const t = await connectTcpTransport({ brokers, auth: { username: 'alice', password: 'alice-secret' } })
    cleanups.push(() => t.close())
    expect(await t.listTopics()).toEqual(['a', 'b'])
  })

  test('with a token: the wrong token is refused, the right one is served', async () => {
    const server = await serve({ auth: { token: 'a-long-enough-token' } })
    const brokers = [`127.0.0.1:${server.port}`]
    await expect(connectTcpTransport({ brokers, auth: { token: 'another-token!!' } })).rejects.toBeInstanceOf(
      AuthenticationError,
    )
    const t = await connectTcpTransport({ brokers, auth: { token: 'a-long-enough-token' } })
    cleanups.push(() => t.close())
    expect((await t.info()).nodeId).toBe('fake')
  })

  test('credentials sent again on an authenticated connection are checked again: wrong ones fail and close it', async () => {
    const server = await serve({ auth: { token: 'a-long-enough-token' } })
    const c = await RawClient.connect(server.port)
    cleanups.push(() => c.destroy())
    const hello = (token: string, id: number) =>
      c.request(ApiKey.HANDSHAKE, { clientId: 'x', protocolVersionMin: 1, protocolVersionMax: 1, auth: { token } }, id)
    expect((await hello('a-long-enough-token', 1)).frame.flags & FLAG_ERROR).toBe(0)
    expect((await hello('a-long-enough-token', 2)).frame.flags & FLAG_ERROR).toBe(0)
    // Before, a wrong token here was answered with success.
    const wrong = await hello('not-the-token!!', 3)
    expect(wrong.frame.flags & FLAG_ERROR).not.toBe(0)
    expect(wrong.body).toMatchObject({ code: 'AUTHENTICATION' })
    await c.closedPromise
  })

  test('failed authentications are logged as one warning per 10 s with their count, not two lines each', async () => {
    const { warnings, logger } = capturingLogger()
    const server = await serve({ auth: { token: 'a-long-enough-token' }, failedAuthDelayMs: 0, logger })
    const brokers = [`127.0.0.1:${server.port}`]
    for (let i = 0; i < 5; i++)
      await expect(connectTcpTransport({ brokers, auth: { token: 'wrong-token-here' } })).rejects.toBeInstanceOf(
        AuthenticationError,
      )
    // Before: 'authentication failed' and 'closing connection: authentication failed' for each, 10 lines.
    expect(warnings).toEqual([
      ['authentication failed', expect.objectContaining({ failedSinceLastWarning: 1, reason: 'invalid token' })],
    ])
  })

  test('connections that never authenticate are closed by the handshake timeout, logged once per interval', async () => {
    const { warnings, logger } = capturingLogger()
    const server = await serve({ auth: { token: 'a-long-enough-token' }, handshakeTimeoutMs: 200, logger })
    const clients = await Promise.all(Array.from({ length: 5 }, () => RawClient.connect(server.port)))
    for (const c of clients) cleanups.push(() => c.destroy())
    for (const c of clients) await c.closedPromise
    for (const c of clients) expect(c.frames).toHaveLength(0)
    // Before, one line each: 1,024 silent sockets made 1,024 lines per handshake timeout.
    expect(warnings).toEqual([
      [
        'closing connection: no authenticated handshake in time',
        expect.objectContaining({ closedSinceLastWarning: 1 }),
      ],
    ])
  })

  test('a pre-authentication frame larger than a handshake needs is refused before it is read', async () => {
    const server = await serve({ auth: { token: 'a-long-enough-token' } })
    const c = await RawClient.connect(server.port)
    cleanups.push(() => c.destroy())
    const prefix = Buffer.alloc(4)
    prefix.writeUInt32BE(1024 * 1024)
    c.write(prefix)
    await c.closedPromise
    expect(c.frames).toHaveLength(0)
  })

  test('TLS: a transport trusting the self-signed certificate round-trips, with auth on top', async () => {
    const dir = await tempDir()
    const cert = makeSelfSignedCert(dir)
    const server = await serve({ tls: { cert: cert.cert, key: cert.key }, auth: { token: 'a-long-enough-token' } })
    const t = await connectTcpTransport({
      brokers: [`localhost:${server.port}`],
      tls: { ca: cert.cert },
      auth: { token: 'a-long-enough-token' },
    })
    cleanups.push(() => t.close())
    const res = await t.produce({ topic: 't', partition: 0, acks: 'all', batch: Buffer.alloc(1000) })
    expect(res.baseOffset).toBe(1000)
  })

  test('TLS: a client without TLS is refused at once with a ProtocolError naming the fix, and TLS still serves', async () => {
    const dir = await tempDir()
    const cert = makeSelfSignedCert(dir)
    const logs: string[] = []
    const logger = { info() {}, error() {}, warn: (msg: string) => void logs.push(msg) }
    const server = await serve({ tls: { cert: cert.cert, key: cert.key }, logger })
    // Before, the TLS server dropped the plaintext handshake without a word and the client retried to its timeout.
    const started = Date.now()
    const plain = await connectTcpTransport({
      brokers: [`127.0.0.1:${server.port}`],
      connectTimeoutMs: 30_000,
    }).catch((e: unknown) => e)
    expect(plain).toBeInstanceOf(ProtocolError)
    expect((plain as Error).message).toMatch(/serves TLS only: connect with TLS/)
    expect(Date.now() - started).toBeLessThan(10_000)
    expect(logs).toContain('connection refused: a client without TLS connected to this TLS listener')
    const t = await connectTcpTransport({ brokers: [`localhost:${server.port}`], tls: { ca: cert.cert } })
    cleanups.push(() => t.close())
    expect((await t.info()).nodeId).toBe('fake')
  })

  test('TLS: a TLS client of a plaintext broker fails at once with a non-retriable ConnectionError', async () => {
    const logs: string[] = []
    const logger = { info() {}, error() {}, warn: (msg: string) => void logs.push(msg) }
    const server = await serve({ logger })
    const err = await connectTcpTransport({
      brokers: [`127.0.0.1:${server.port}`],
      tls: { rejectUnauthorized: false },
      connectTimeoutMs: 30_000,
    }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ConnectionError)
    expect((err as ConnectionError).retriable).toBe(false)
    expect((err as Error).message).toMatch(/the broker does not serve TLS/)
    expect(logs).toContain('closing connection: a TLS client connected to this plaintext listener')
  })

  test('without auth: a connection that sends nothing is closed by the handshake timeout, one that sends a request is kept', async () => {
    const server = await serve({ handshakeTimeoutMs: 200 })
    const silent = await RawClient.connect(server.port)
    cleanups.push(() => silent.destroy())
    const busy = await RawClient.connect(server.port)
    cleanups.push(() => busy.destroy())
    expect((await busy.request(ApiKey.LIST_TOPICS, { includeInternal: false })).body).toEqual(['a', 'b'])
    await silent.closedPromise
    expect(silent.frames).toHaveLength(0)
    await new Promise((resolve) => setTimeout(resolve, 400))
    expect(busy.closed).toBe(false)
    expect((await busy.request(ApiKey.LIST_TOPICS, { includeInternal: false })).body).toEqual(['a', 'b'])
  })

  test('TLS: a socket that starts a handshake and never finishes it is closed at the handshake timeout', async () => {
    const dir = await tempDir()
    const cert = makeSelfSignedCert(dir)
    const server = await serve({ tls: { cert: cert.cert, key: cert.key }, handshakeTimeoutMs: 200 })
    // Before, the handshake timeout was logged and the socket kept: 1,100 of them shut every client out.
    const socket = net.connect({ host: '127.0.0.1', port: server.port })
    cleanups.push(() => void socket.destroy())
    socket.on('error', () => {})
    await new Promise((resolve) => socket.once('connect', resolve))
    socket.write(Buffer.from([0x16]))
    const closed = await Promise.race([
      new Promise((resolve) => socket.once('close', () => resolve(true))),
      new Promise((resolve) => setTimeout(() => resolve(false), 3_000)),
    ])
    expect(closed).toBe(true)
  })

  test('TLS: a certificate the client does not trust fails at once with a ConnectionError naming why', async () => {
    const dir = await tempDir()
    const cert = makeSelfSignedCert(dir)
    const server = await serve({ tls: { cert: cert.cert, key: cert.key } })
    // Retrying cannot make the certificate trusted: no waiting until connectTimeoutMs, no TimeoutError.
    const err = await connectTcpTransport({
      brokers: [`localhost:${server.port}`],
      tls: {},
      connectTimeoutMs: 30_000,
    }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ConnectionError)
    expect((err as ConnectionError).retriable).toBe(false)
    expect((err as Error).message).toMatch(/self-signed certificate.*not trusted: pass its CA/)
  })

  test('without auth: credentials a client sends are served but logged as unchecked', async () => {
    const logs: string[] = []
    const logger = { info() {}, error() {}, warn: (msg: string) => void logs.push(msg) }
    const server = await serve({ logger })
    const brokers = [`127.0.0.1:${server.port}`]
    const plain = await connectTcpTransport({ brokers })
    cleanups.push(() => plain.close())
    expect(logs).toEqual([])
    const t = await connectTcpTransport({ brokers, auth: { token: 'a-long-enough-token' } })
    cleanups.push(() => t.close())
    expect((await t.info()).nodeId).toBe('fake')
    expect(logs).toEqual(['a client sent credentials, but this broker has no auth: they were not checked'])
  })

  test('a server that is not a Sluice broker (an HTTP server) fails at once with a ProtocolError saying so', async () => {
    const http = net.createServer((socket) => {
      socket.once('data', () => socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'))
    })
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => new Promise<void>((resolve) => http.close(() => resolve())))
    const port = (http.address() as net.AddressInfo).port
    // Before: 'frame of 1213486160 bytes exceeds frameBytesMax' ("HTTP" read as a frame size).
    const err = await connectTcpTransport({ brokers: [`127.0.0.1:${port}`], connectTimeoutMs: 30_000 }).catch(
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(ProtocolError)
    expect((err as Error).message).toMatch(/does not speak the Sluice protocol.*check the address and port/)
  })

  test('a refused port times out naming the refusal', async () => {
    const probe = await serve({})
    const port = probe.port
    await probe.close() // nothing listens there now
    const err = await connectTcpTransport({ brokers: [`127.0.0.1:${port}`], connectTimeoutMs: 300 }).catch(
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(TimeoutError)
    expect((err as Error).message).toContain('ECONNREFUSED')
    expect((err as Error).cause).toBeInstanceOf(ConnectionError)
  })
})

// One client connection of the TCP server. Frames are cut by a FrameDecoder and served in arrival order but answered
// as they complete (pipelining, matched by correlation id). Three bounds hold the socket's reading: at most
// `inFlightRequestsMax` requests (and about `inFlightRequestBytesMax` of request bytes) are being served, and the
// socket's write buffer stays under `writeBufferBytesHigh`; past any, the connection stops taking frames and pauses the
// socket, so unread input stays bounded by one socket chunk plus one partial frame. A framing error (bad size, garbage)
// closes the connection; a bad body gets an error response. With auth on, nothing but HANDSHAKE is served until the
// handshake authenticates; anything else is answered NOT_AUTHENTICATED and the connection closed.
import type { Socket } from 'node:net'
import type { BrokerApi } from '../broker/api.js'
import {
  AuthenticationError,
  FrameTooLargeError,
  NotAuthenticatedError,
  ProtocolError,
  UnsupportedVersionError,
  errorToWire,
  SluiceError,
} from '../errors.js'
import {
  apiSpec,
  apiVersionRanges,
  ApiKey,
  decodeHandshake,
  PROTOCOL_VERSION_MAX,
  PROTOCOL_VERSION_MIN,
} from '../protocol/api-keys.js'
import type { HandshakeResponse } from '../protocol/api-keys.js'
import { decodeBody, encodeBody, encodeBodyParts } from '../protocol/codec.js'
import {
  encodeFrameHeader,
  FLAG_ERROR,
  FLAG_RESPONSE,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  type Frame,
} from '../protocol/frame.js'
import type { Authenticator } from './auth.js'
import type { ReadBufferLease, ReadBufferPool } from './read-buffer-pool.js'
import { errorFrame, TLS_HANDSHAKE_RECORD } from './transport-sniff.js'
import type { LogThrottle } from '../util/log-throttle.js'

/** Produce requests up to this size that arrive in several socket chunks are assembled in pooled buffers (a power of
 *  two at most twice the frame); larger ones in buffers of their own size. */
const POOLED_PRODUCE_FRAME_BYTES_MAX = 4 * 1024 * 1024

export interface ServerLogger {
  debug?(message: string, fields?: Record<string, unknown>): void
  info(message: string, fields?: Record<string, unknown>): void
  warn(message: string, fields?: Record<string, unknown>): void
  error(message: string, fields?: Record<string, unknown>): void
}

export interface ConnectionOptions {
  frameBytesMax: number
  /** Frame limit before authentication: a handshake is small. */
  handshakeFrameBytesMax: number
  inFlightRequestsMax: number
  /** Request bytes being served at once; one request larger than this is still served alone. */
  inFlightRequestBytesMax: number
  idleTimeoutMs: number
  handshakeTimeoutMs: number
  frameArrivalMs: number
  writeBufferBytesHigh: number
  /** A response that would take the unsent bytes past this closes the connection (the client is not reading). */
  writeBufferBytesMax: number
  failedAuthDelayMs: number
  authenticator: Authenticator | null
  /** The server's throttle of failed-authentication warnings (one line per interval, with the count). */
  authFailures: LogThrottle
  /** Connections closed for saying nothing in time, logged once per interval with their count (one line each was
   *  1,024 lines per handshake timeout when silent sockets filled connectionsMax). */
  silentCloses: LogThrottle
  logger: ServerLogger
  /** Fetches read into buffers leased from here; each lease is released once its response is written. Produce
   *  requests that span socket chunks are assembled in buffers taken from here, given back once served. */
  readBuffers: ReadBufferPool
}

export class Connection {
  private readonly decoder: FrameDecoder
  private inFlight = 0
  /** Runs while a partial frame is buffered (armFrameTimer). */
  private frameTimer: NodeJS.Timeout | null = null
  private inFlightBytes = 0
  private authenticated: boolean
  /** A handshake is being checked: no other frame is taken until it is answered. */
  private handshaking = false
  private closing = false
  private closed = false
  private corked = false
  private endAfterResponse = false
  private handshakeTimer: NodeJS.Timeout | null = null
  /** The first byte received, -1 before any: tells a TLS ClientHello (0x16) from a frame when the first fails. */
  private firstByte = -1
  /** A frame has been taken: the connection is in use (without auth, that ends the handshake timeout). */
  private framesTaken = 0
  private readonly idleWaiters: Array<() => void> = []
  readonly closedPromise: Promise<void>
  readonly remote: string

  constructor(
    private readonly socket: Socket,
    private readonly broker: BrokerApi,
    private readonly options: ConnectionOptions,
  ) {
    this.authenticated = options.authenticator === null
    this.decoder = new FrameDecoder(this.authenticated ? options.frameBytesMax : options.handshakeFrameBytesMax)
    // A produce request's batches are written to the log while it is served and kept nowhere (storage copies them to
    // its files), so its frame's buffer is free again once the request has been answered. A fresh ~200 KB buffer per
    // request (a 1,600 x 100 B sendBatch) kept V8 collecting garbage: a mark-compact every 50-70 ms.
    this.decoder.allocateFrame = (bytes, apiKey) =>
      apiKey === ApiKey.PRODUCE && bytes <= POOLED_PRODUCE_FRAME_BYTES_MAX && options.readBuffers.pools(bytes)
        ? options.readBuffers.take(bytes)
        : null
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`
    this.closedPromise = new Promise((resolve) => socket.once('close', () => resolve()))
  }

  start(): void {
    const { socket } = this
    socket.setNoDelay(true)
    socket.setTimeout(this.options.idleTimeoutMs)
    socket.on('timeout', () => {
      // No traffic for idleTimeoutMs with nothing being served (idle, or stuck inside a frame it never finishes).
      // With requests still being served (a long poll) the connection is busy, not idle: look again later.
      if (this.inFlight === 0) this.abort('idle timeout')
      else socket.setTimeout(this.options.idleTimeoutMs)
    })
    socket.on('data', (chunk: Buffer) => {
      if (this.firstByte < 0 && chunk.length > 0) this.firstByte = chunk[0]!
      this.decoder.push(chunk)
      this.pump()
      this.armFrameTimer()
    })
    socket.on('drain', () => this.pump())
    socket.on('error', (err) => this.log('debug', 'socket error', { error: err.message }))
    socket.on('close', () => {
      this.closed = true
      if (this.handshakeTimer !== null) clearTimeout(this.handshakeTimer)
      if (this.frameTimer !== null) clearTimeout(this.frameTimer)
      this.wakeIdle()
    })
    // A connection must authenticate (with auth on) or send its first request (without) within handshakeTimeoutMs:
    // otherwise connectionsMax silent sockets would lock every client out for idleTimeoutMs.
    this.handshakeTimer = setTimeout(() => {
      if (!this.authenticated) this.abort('no authenticated handshake in time', {}, this.options.silentCloses)
      else if (this.framesTaken === 0) this.abort('no request in time', {}, this.options.silentCloses)
    }, this.options.handshakeTimeoutMs)
  }

  /** Stops taking requests, waits (bounded) for the in-flight ones to be answered, then closes the socket. */
  async close(timeoutMs: number): Promise<void> {
    if (this.closed) return
    this.closing = true
    this.socket.pause()
    if (this.inFlight > 0) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
      ])
      clearTimeout(timer)
    }
    // Read (and drop) whatever the client still sends so its FIN is seen and the socket closes promptly.
    this.socket.removeAllListeners('data')
    this.socket.resume()
    this.socket.end()
    const timer = setTimeout(() => this.socket.destroy(), Math.min(timeoutMs, 1000))
    await this.closedPromise
    clearTimeout(timer)
  }

  private abort(reason: string, fields: Record<string, unknown> = {}, throttle: LogThrottle | null = null): void {
    if (this.closed) return
    const count = throttle === null ? 1 : throttle.note()
    if (count !== null)
      this.log(
        'warn',
        `closing connection: ${reason}`,
        throttle === null ? fields : { ...fields, closedSinceLastWarning: count },
      )
    this.closing = true
    this.socket.destroy()
  }

  private pump(): void {
    while (!this.closing && !this.handshaking && this.inFlight < this.options.inFlightRequestsMax) {
      if (this.socket.writableLength > this.options.writeBufferBytesHigh) break
      if (this.inFlight > 0 && this.inFlightBytes >= this.options.inFlightRequestBytesMax) break
      let frame: Frame | null
      try {
        frame = this.decoder.next()
      } catch (err) {
        if (this.framesTaken === 0 && this.firstByte === TLS_HANDSHAKE_RECORD) {
          // A TLS ClientHello read as a frame size (0x1603...): the client expects TLS, which this listener does not
          // serve. The plaintext answer makes the client's TLS stack fail at once with "wrong version number" (the
          // SDK names the cause), and the log says it where the operator looks.
          this.log('warn', 'closing connection: a TLS client connected to this plaintext listener', {
            hint: 'serve TLS with --tls-cert and --tls-key, or connect without TLS',
          })
          this.closing = true
          this.socket.end(errorFrame(0, 0, new ProtocolError('this broker does not serve TLS: connect without TLS')))
          setTimeout(() => this.socket.destroy(), 1000).unref()
          return
        }
        this.abort((err as Error).message, { code: err instanceof SluiceError ? err.code : 'INTERNAL' })
        return
      }
      if (frame === null) {
        if (this.socket.isPaused() && !this.closing) this.socket.resume()
        return
      }
      this.handle(frame)
    }
    // Held by a bound (or closing): stop reading until a response or 'drain' calls pump again.
    if (!this.closed) this.socket.pause()
  }

  /**
   * A frame begun must arrive within frameArrivalMs (FRAME_ARRIVAL_MS). Only the idle timeout bounded it, and each byte restarted that:
   * clients sending a byte every 5 s held every connection slot for as long as they liked. Counted while the socket
   * is read (not while the connection's own bounds pause it) and from the frame's first bytes to its last.
   */
  private armFrameTimer(): void {
    const partial = this.decoder.bufferedBytes > 0 && !this.socket.isPaused() && !this.closed
    if (!partial) {
      if (this.frameTimer !== null) clearTimeout(this.frameTimer)
      this.frameTimer = null
    } else if (this.frameTimer === null) {
      this.frameTimer = setTimeout(() => {
        this.frameTimer = null
        if (this.decoder.bufferedBytes > 0 && !this.socket.isPaused())
          this.abort(`a request frame took longer than ${this.options.frameArrivalMs} ms to arrive`)
      }, this.options.frameArrivalMs)
      this.frameTimer.unref()
    }
  }

  private handle(frame: Frame): void {
    this.framesTaken++
    if (this.frameTimer !== null) {
      clearTimeout(this.frameTimer)
      this.frameTimer = null
    }
    if (this.options.authenticator === null && this.handshakeTimer !== null) {
      clearTimeout(this.handshakeTimer)
      this.handshakeTimer = null
    }
    const pooled = frame.pooled
    // Once the request is answered (its response encoded) nothing refers to its body any more.
    const givePooled = (): void => {
      if (pooled !== undefined) this.options.readBuffers.give(pooled)
    }
    if ((frame.flags & FLAG_RESPONSE) !== 0) {
      this.abort('a client sent a response frame')
      givePooled()
      return
    }
    const spec = apiSpec(frame.apiKey)
    if (!this.authenticated && frame.apiKey !== ApiKey.HANDSHAKE) {
      this.closeAfter('request before authentication')
      this.respondError(frame, new NotAuthenticatedError('authenticate with a handshake first'))
      givePooled()
      return
    }
    if (spec === undefined) {
      this.respondError(frame, new UnsupportedVersionError(`unknown api key ${frame.apiKey}`))
      givePooled()
      return
    }
    if (frame.apiVersion < spec.versionMin || frame.apiVersion > spec.versionMax) {
      const range = `${spec.versionMin}..${spec.versionMax}`
      this.respondError(frame, new UnsupportedVersionError(`${spec.name} v${frame.apiVersion} unsupported (${range})`))
      givePooled()
      return
    }
    let body: unknown
    try {
      body = decodeBody(frame.body)
    } catch (err) {
      this.respondError(frame, err)
      givePooled()
      return
    }
    this.inFlight += 1
    // A fetch counts the response it may read into memory (its maxBytes), not its few request bytes: a client that
    // pipelined 64 fetches of 32 MiB and read none of the answers took a broker to 2.1 GB before its write buffer
    // bound closed the connection. Counted, the connection takes no new frame while they are out (pump).
    const bytes = frame.apiKey === ApiKey.FETCH ? Math.max(frame.body.length, fetchBytesOf(body)) : frame.body.length
    this.inFlightBytes += bytes
    const serve = spec.serve
    // A fetch's records are read into leased buffers, given back once the response is written (or not sent).
    const lease = frame.apiKey === ApiKey.FETCH ? this.options.readBuffers.lease() : null
    const work = (async () => (serve === null ? this.handshake(body) : serve(this.broker, body, lease?.allocate)))()
    work
      .then(
        (value) => this.respond(frame, FLAG_RESPONSE, value, lease),
        (err: unknown) => {
          lease?.release()
          this.respondError(frame, err)
        },
      )
      .finally(() => {
        givePooled()
        this.inFlight -= 1
        this.inFlightBytes -= bytes
        if (this.inFlight === 0) this.wakeIdle()
        if (!this.closed) this.pump()
      })
  }

  private async handshake(body: unknown): Promise<HandshakeResponse> {
    this.handshaking = true
    try {
      const req = decodeHandshake(body)
      const version = Math.min(req.protocolVersionMax, PROTOCOL_VERSION_MAX)
      if (version < Math.max(req.protocolVersionMin, PROTOCOL_VERSION_MIN)) {
        throw new UnsupportedVersionError(
          `client speaks protocol ${req.protocolVersionMin}..${req.protocolVersionMax}, ` +
            `server ${PROTOCOL_VERSION_MIN}..${PROTOCOL_VERSION_MAX}`,
        )
      }
      // Credentials on a connection already authenticated are checked again: a wrong password there was answered
      // with success.
      if (this.options.authenticator !== null && (!this.authenticated || req.auth !== null)) {
        try {
          const principal = await this.options.authenticator.verify(req.auth)
          this.log('info', 'authenticated', { principal, clientId: req.clientId })
        } catch (err) {
          this.logAuthFailure(req.clientId, err)
          await new Promise((resolve) => setTimeout(resolve, this.options.failedAuthDelayMs))
          this.closeAfter('authentication failed', 'debug')
          throw err instanceof AuthenticationError ? err : new AuthenticationError('authentication failed')
        }
        this.authenticated = true
        this.decoder.frameBytesMax = this.options.frameBytesMax
        if (this.handshakeTimer !== null) clearTimeout(this.handshakeTimer)
      } else if (this.options.authenticator === null && req.auth !== null) {
        // The client believes this broker checks who it is; it does not. Served as before (a client may be set up
        // ahead of the broker), but said where the operator looks.
        this.log('warn', 'a client sent credentials, but this broker has no auth: they were not checked', {
          clientId: req.clientId,
          hint: 'serve with --users-file or --token to require them',
        })
      }
      const info = await this.broker.info()
      return {
        protocolVersion: version,
        nodeId: info.nodeId,
        serverVersion: info.version,
        apiVersions: apiVersionRanges(),
      }
    } finally {
      this.handshaking = false
    }
  }

  /** Stop serving; the socket ends right after the next response is queued (end() flushes what is queued). */
  private closeAfter(reason: string, level: 'debug' | 'warn' = 'warn'): void {
    this.log(level, `closing connection: ${reason}`)
    this.closing = true
    this.endAfterResponse = true
    this.socket.pause()
  }

  private respondError(frame: Frame, err: unknown): void {
    if (!(err instanceof SluiceError)) this.log('error', 'request failed', { api: frame.apiKey, error: String(err) })
    this.respond(frame, FLAG_RESPONSE | FLAG_ERROR, errorToWire(err))
  }

  /** `lease`: released once the socket has taken every byte of this response (or at once if it is not sent). */
  private respond(frame: Frame, flags: number, value: unknown, lease: ReadBufferLease | null = null): void {
    if (this.closed || this.socket.destroyed) {
      lease?.release()
      return
    }
    let parts: Buffer[]
    try {
      parts = encodeBodyParts(value)
    } catch (err) {
      this.log('error', 'response encoding failed', { api: frame.apiKey, error: String(err) })
      flags = FLAG_RESPONSE | FLAG_ERROR
      parts = [encodeBody(errorToWire(new ProtocolError(`response could not be encoded: ${(err as Error).message}`)))]
    }
    let bodyBytes = parts.reduce((n, part) => n + part.length, 0)
    if (FRAME_HEADER_BYTES + bodyBytes > this.options.frameBytesMax) {
      // The client could not take this frame: answer with an error rather than breaking its connection.
      flags = FLAG_RESPONSE | FLAG_ERROR
      const error = new FrameTooLargeError(FRAME_HEADER_BYTES + bodyBytes, this.options.frameBytesMax)
      parts = [encodeBody(errorToWire(error))]
      bodyBytes = parts[0]?.length ?? 0
    }
    if (lease !== null && flags !== FLAG_RESPONSE) {
      lease.release() // an error body holds none of the records
      lease = null
    }
    const unsent = this.socket.writableLength + FRAME_HEADER_BYTES + bodyBytes
    if (unsent > this.options.writeBufferBytesMax) {
      // Reading already stopped at writeBufferBytesHigh; what is still answered piles up. A client that has left this
      // much unread is not reading: its connection goes rather than the broker's memory.
      lease?.release()
      this.abort('the client is not reading its responses', {
        unsentBytes: unsent,
        writeBufferBytesMax: this.options.writeBufferBytesMax,
      })
      return
    }
    const header = encodeFrameHeader(
      { apiKey: frame.apiKey, apiVersion: frame.apiVersion, correlationId: frame.correlationId, flags },
      bodyBytes,
    )
    if (!this.corked) {
      this.corked = true
      this.socket.cork()
      process.nextTick(() => {
        this.corked = false
        this.socket.uncork()
      })
    }
    this.socket.write(header)
    const last = parts.length - 1
    for (let i = 0; i < last; i++) this.socket.write(parts[i]!)
    // A stream completes its writes in order: the last part's callback runs once every part is written (or failed
    // with the socket), and only then are the leased buffers free.
    if (lease === null) this.socket.write(parts[last]!)
    else {
      const held = lease
      this.socket.write(parts[last]!, () => held.release())
    }
    if (this.endAfterResponse) this.socket.end()
  }

  private wakeIdle(): void {
    for (const wake of this.idleWaiters.splice(0)) wake()
  }

  /** One line per failed authentication was two, and a guessing client could fill the log: one warning per interval
   *  per server, with how many failed meanwhile; every one at debug. */
  private logAuthFailure(clientId: string, err: unknown): void {
    const fields = { clientId, reason: err instanceof Error ? err.message : String(err) }
    const failed = this.options.authFailures.note()
    if (failed === null) this.log('debug', 'authentication failed', fields)
    else this.log('warn', 'authentication failed', { ...fields, failedSinceLastWarning: failed })
  }

  private log(level: 'debug' | 'info' | 'warn' | 'error', message: string, fields: Record<string, unknown> = {}): void {
    const logger = this.options.logger
    const all = { remote: this.remote, ...fields }
    if (level === 'debug') logger.debug?.(message, all)
    else logger[level](message, all)
  }
}

/** How long a request frame may take from its first bytes to its last (a 1 MiB produce frame at 35 KB/s). */
export const FRAME_ARRIVAL_MS = 30_000

/** What one fetch counts of in-flight bytes at most: with the default inFlightRequestBytesMax (64 MiB), four fetches
 *  of any size are out at once (at most 4 × fetchBytesMax read), and a consumer's long poll plus the one it left to
 *  finish (consumer fetcher) never hold back its heartbeats and commits on the same connection. */
const FETCH_BYTES_COUNTED_MAX = 16 * 1024 * 1024

/** What a fetch request counts of in-flight bytes: its maxBytes, within FETCH_BYTES_COUNTED_MAX; 0 for another body. */
function fetchBytesOf(body: unknown): number {
  const maxBytes = typeof body === 'object' && body !== null ? (body as { maxBytes?: unknown }).maxBytes : undefined
  return typeof maxBytes === 'number' && Number.isFinite(maxBytes)
    ? Math.min(Math.max(0, maxBytes), FETCH_BYTES_COUNTED_MAX)
    : 0
}

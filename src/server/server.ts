// The TCP (or TLS) server in front of a BrokerApi. It owns the listening socket and the set of live connections, and
// nothing else: framing, pipelining and auth live in Connection. Bounds: `connectionsMax` sockets at once (up to 64
// more are answered why they are refused, Node drops the rest), each with its own in-flight and write-buffer bounds; close() stops
// accepting, waits at most `closeTimeoutMs` for in-flight requests, then closes every socket.
import * as net from 'node:net'
import * as tls from 'node:tls'
import type { BrokerApi } from '../broker/api.js'
import { DEFAULTS, KiB, LIMITS, MiB } from '../config/limits.js'
import { InvalidConfigError } from '../errors.js'
import { FRAME_HEADER_BYTES, UINT32_MAX } from '../protocol/frame.js'
import { createAuthenticator, type AuthOptions } from './auth.js'
import { Connection, FRAME_ARRIVAL_MS, type ServerLogger } from './connection.js'
import { ReadBufferPool } from './read-buffer-pool.js'
import { LogThrottle } from '../util/log-throttle.js'
import { refuseBusy, routeTlsOrRefuse } from './transport-sniff.js'

export type { ServerLogger } from './connection.js'

export interface ServerOptions {
  /** @default '127.0.0.1' */
  host?: string
  /** 0 picks any free port. @default 7171 */
  port?: number
  /** @default LIMITS.frameBytesMax (64 MiB) */
  frameBytesMax?: number
  /** Requests served at once per connection; reading pauses at the bound. @default 64 */
  inFlightRequestsMax?: number
  /** Request bytes served at once per connection; reading pauses past it. @default 64 MiB */
  inFlightRequestBytesMax?: number
  /** @default LIMITS.connectionsMax (1024) */
  connectionsMax?: number
  /** A connection with no traffic (or stuck inside a frame) this long is closed. @default 10 min */
  idleTimeoutMs?: number
  /**
   * A connection that has not authenticated this long after connecting (with auth on), or has not sent its first
   * request (without auth), is closed; also the TLS handshake's bound. @default 10 s
   */
  handshakeTimeoutMs?: number
  /** How long a request frame may take from its first bytes to its last; a slower one closes the connection.
   *  @default 30 s */
  frameArrivalMs?: number
  /** How long close() waits for in-flight requests. @default 5000 */
  closeTimeoutMs?: number
  /** Pause reading while a socket's unsent responses exceed this. @default 8 MiB */
  writeBufferBytesHigh?: number
  /**
   * Close a connection whose unsent responses would exceed this: a client that does not read its socket. Requests
   * already in flight when reading paused (up to inFlightRequestsMax fetches of up to frameBytesMax each) would
   * otherwise all be answered into memory. @default writeBufferBytesHigh + 2 frameBytesMax
   */
  writeBufferBytesMax?: number
  /** Delay before answering a failed authentication. @default 500 */
  failedAuthDelayMs?: number
  /**
   * Fetch responses are read into buffers that are reused once written to their socket (memory the process has
   * already touched: no page faults); at most this many bytes of them are kept between fetches. 0: fresh memory for
   * every fetch. @default 32 MiB
   */
  readBufferPoolBytes?: number
  /** Users file (scrypt-hashed secrets) or one static token; no auth when absent. */
  auth?: AuthOptions
  /** PEM certificate and key (contents, not paths): serve TLS. */
  tls?: { cert: string | Buffer; key: string | Buffer }
  logger?: ServerLogger
}

export interface SluiceServer {
  host: string
  port: number
  /** Live connections. */
  readonly connectionCount: number
  /** Bytes of read buffers (fetch reads, large produce requests) kept for reuse. */
  readonly readBufferFreeBytes: number
  close(): Promise<void>
}

/** Largest pre-authentication frame: a handshake with credentials fits comfortably. */
const HANDSHAKE_FRAME_BYTES_MAX = 64 * KiB

const SILENT_LOGGER: ServerLogger = { info() {}, warn() {}, error() {} }
/** Connections past connectionsMax being told so at once; more are closed without an answer. */
const REFUSING_MAX = 64
/** How long a refused connection may take to send the frame its answer goes to. */
const REFUSAL_TIMEOUT_MS = 2_000
/** Refused connections and failed authentications are logged at most this often (with how many there were). */
const DROP_LOG_INTERVAL_MS = 10_000

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.')
}

/** The warning to print when binding `host` would expose an unauthenticated broker beyond this machine. */
export function insecureBindWarning(host: string, authOn: boolean): string | null {
  if (authOn || isLoopback(host)) return null
  return `listening on non-loopback host ${host} without authentication: anyone who can reach it can read and write every topic`
}

function resolveOptions(options: ServerOptions) {
  const frameBytesMax = options.frameBytesMax ?? LIMITS.frameBytesMax
  const writeBufferBytesHigh = options.writeBufferBytesHigh ?? 8 * MiB
  const resolved = {
    host: options.host ?? DEFAULTS.host,
    port: options.port ?? DEFAULTS.port,
    frameBytesMax,
    inFlightRequestsMax: options.inFlightRequestsMax ?? LIMITS.inFlightRequestsMax,
    inFlightRequestBytesMax: options.inFlightRequestBytesMax ?? 64 * MiB,
    connectionsMax: options.connectionsMax ?? LIMITS.connectionsMax,
    idleTimeoutMs: options.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs,
    frameArrivalMs: options.frameArrivalMs ?? FRAME_ARRIVAL_MS,
    closeTimeoutMs: options.closeTimeoutMs ?? 5_000,
    writeBufferBytesHigh,
    writeBufferBytesMax: options.writeBufferBytesMax ?? writeBufferBytesHigh + 2 * frameBytesMax,
    failedAuthDelayMs: options.failedAuthDelayMs ?? 500,
    readBufferPoolBytes: options.readBufferPoolBytes ?? 32 * MiB,
  }
  const problems: string[] = []
  const int = (name: keyof typeof resolved, min: number, max: number) => {
    const v = resolved[name]
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      problems.push(`${name} must be an integer in [${min}, ${max}]`)
    }
  }
  int('port', 0, 65535)
  int('frameBytesMax', FRAME_HEADER_BYTES + 1, UINT32_MAX)
  int('inFlightRequestsMax', 1, 65_536)
  int('inFlightRequestBytesMax', 1, UINT32_MAX)
  int('connectionsMax', 1, 1_000_000)
  int('idleTimeoutMs', 1, 2 ** 31 - 1)
  int('handshakeTimeoutMs', 1, 2 ** 31 - 1)
  int('frameArrivalMs', 1, 2 ** 31 - 1)
  int('closeTimeoutMs', 0, 2 ** 31 - 1)
  int('writeBufferBytesHigh', 1, UINT32_MAX)
  int('writeBufferBytesMax', 1, Number.MAX_SAFE_INTEGER)
  if (resolved.writeBufferBytesMax < resolved.writeBufferBytesHigh + resolved.frameBytesMax)
    problems.push('writeBufferBytesMax must be at least writeBufferBytesHigh + frameBytesMax')
  int('failedAuthDelayMs', 0, 60_000)
  int('readBufferPoolBytes', 0, 1024 * MiB)
  if (problems.length > 0) throw new InvalidConfigError(problems, 'server options')
  return resolved
}

export async function startServer(broker: BrokerApi, options: ServerOptions = {}): Promise<SluiceServer> {
  const config = resolveOptions(options)
  const logger = options.logger ?? SILENT_LOGGER
  const authenticator =
    options.auth === undefined
      ? null
      : await createAuthenticator(options.auth, (level, message, fields) => logger[level](message, fields))
  const warning = insecureBindWarning(config.host, authenticator !== null)
  if (warning !== null) {
    if (options.logger === undefined) process.emitWarning(warning)
    else logger.warn(warning)
  }
  const connections = new Set<Connection>()
  // Connections refused for connectionsMax are logged at most every 10 s, with how many were refused meanwhile, so an
  // operator can tell a full broker from a network problem.
  const refusals = new LogThrottle(DROP_LOG_INTERVAL_MS)
  const noteRefused = (remote: string | null): void => {
    const refused = refusals.note()
    if (refused !== null)
      logger.warn('connection refused: connectionsMax reached', {
        connectionsMax: config.connectionsMax,
        remote,
        droppedSinceLastWarning: refused,
      })
  }
  const authFailures = new LogThrottle(DROP_LOG_INTERVAL_MS)
  const silentCloses = new LogThrottle(DROP_LOG_INTERVAL_MS)
  const readBuffers = new ReadBufferPool(config.readBufferPoolBytes)
  let refusing = 0
  const onSocket = (socket: net.Socket) => {
    if (connections.size >= config.connectionsMax) {
      noteRefused(`${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`)
      // Told why, within bounds: at most REFUSING_MAX such answers pending, past that closed without one.
      if (refusing >= REFUSING_MAX) {
        socket.destroy()
        return
      }
      refusing++
      socket.once('close', () => refusing--)
      refuseBusy(socket, config.connectionsMax, REFUSAL_TIMEOUT_MS)
      return
    }
    const connection = new Connection(socket, broker, {
      frameBytesMax: config.frameBytesMax,
      handshakeFrameBytesMax: Math.min(HANDSHAKE_FRAME_BYTES_MAX, config.frameBytesMax),
      inFlightRequestsMax: config.inFlightRequestsMax,
      inFlightRequestBytesMax: config.inFlightRequestBytesMax,
      idleTimeoutMs: config.idleTimeoutMs,
      handshakeTimeoutMs: config.handshakeTimeoutMs,
      frameArrivalMs: config.frameArrivalMs,
      writeBufferBytesHigh: config.writeBufferBytesHigh,
      writeBufferBytesMax: config.writeBufferBytesMax,
      failedAuthDelayMs: config.failedAuthDelayMs,
      authenticator,
      authFailures,
      silentCloses,
      logger,
      readBuffers,
    })
    connections.add(connection)
    void connection.closedPromise.then(() => connections.delete(connection))
    connection.start()
  }
  // With TLS, one plaintext listener routes each connection by its first byte (transport-sniff.ts), so a client
  // without TLS gets an answer instead of a silent close.
  const tlsServer =
    options.tls === undefined
      ? null
      : tls.createServer(
          { cert: options.tls.cert, key: options.tls.key, handshakeTimeout: config.handshakeTimeoutMs },
          onSocket,
        )
  const unrouted = new Set<net.Socket>()
  const plaintextRefusals = new LogThrottle(DROP_LOG_INTERVAL_MS)
  const onPlaintext = (remote: string): void => {
    const refused = plaintextRefusals.note()
    if (refused !== null)
      logger.warn('connection refused: a client without TLS connected to this TLS listener', {
        remote,
        refusedSinceLastWarning: refused,
      })
  }
  const server = net.createServer({ noDelay: true }, (socket) =>
    tlsServer === null
      ? onSocket(socket)
      : routeTlsOrRefuse(socket, tlsServer, unrouted, config.handshakeTimeoutMs, onPlaintext),
  )
  // Past connectionsMax a connection is answered with why (onSocket); past this hard cap Node closes it at once.
  server.maxConnections = config.connectionsMax + REFUSING_MAX
  server.on('drop', (info) => noteRefused(info === undefined ? null : `${info.remoteAddress}:${info.remotePort}`))
  server.on('error', (err) => logger.error('server error', { error: err.message }))
  const tlsFailures = new LogThrottle(DROP_LOG_INTERVAL_MS)
  tlsServer?.on('tlsClientError', (err, tlsSocket) => {
    const failed = tlsFailures.note()
    if (failed !== null) logger.warn('TLS handshake failed', { error: err.message, failedSinceLastWarning: failed })
    // A handshake that timed out left its socket open (it is handed over from the sniffing listener, so Node does
    // not close it): 1,100 sockets that sent one byte each shut every client out.
    tlsSocket.destroy()
  })
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(err)
    server.once('error', onError)
    server.listen(config.port, config.host, () => {
      server.off('error', onError)
      resolve()
    })
  })
  const address = server.address() as net.AddressInfo
  logger.info('listening', {
    host: address.address,
    port: address.port,
    tls: options.tls !== undefined,
    auth: authenticator !== null,
  })
  let closing: Promise<void> | null = null
  return {
    host: address.address,
    port: address.port,
    get connectionCount() {
      return connections.size
    },
    get readBufferFreeBytes() {
      return readBuffers.freeBytes
    },
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()))
        for (const socket of unrouted) socket.destroy()
        await Promise.all([...connections].map((c) => c.close(config.closeTimeoutMs)))
        await stopped
        logger.info('server closed')
      })()
      return closing
    },
  }
}

// The remote-mode transport: BrokerApi calls framed over one TCP (or TLS) connection to a broker. Requests are
// pipelined on the socket, at most `inFlightRequestsMax` at once (further calls wait for a slot, at most
// `pendingRequestsMax` of them), and matched to responses by correlation id; writes made in one tick go out in one
// corked write, except a fetch, which goes out at once (with whatever was corked before it). Every call has a deadline
// (requestTimeoutMs, plus maxWaitMs for a fetch) that ends it with TimeoutError. When the connection drops, its
// in-flight calls fail with ConnectionError (retriable: they may or may not have been applied) and the next call
// reconnects, trying the brokers in turn with bounded exponential backoff, for as long as some call is still waiting.
// A call is never resent by the transport.
import * as net from 'node:net'
import * as tls from 'node:tls'
import type {
  BrokerApi,
  BrokerInfo,
  CommittedOffset,
  AlterTopicConfigRequest,
  CreatePartitionsRequest,
  CreateTopicRequest,
  DeleteRecordsRequest,
  DeleteRecordsResponse,
  FetchRequest,
  FetchResponse,
  GroupDescription,
  GroupHeartbeatRequest,
  GroupHeartbeatResponse,
  GroupState,
  InitProducerResponse,
  ListOffsetsRequest,
  ListOffsetsResponse,
  OffsetCommitRequest,
  OffsetFetchRequest,
  ProduceRequest,
  ProduceResponse,
  ResetOffsetsRequest,
  ResetOffsetsResponse,
  TopicDescription,
} from '../broker/api.js'
import { DEFAULTS, LIMITS } from '../config/limits.js'
import {
  ClosedError,
  ConnectionError,
  InvalidConfigError,
  ProtocolError,
  SluiceError,
  TimeoutError,
  errorFromWire,
  type WireError,
} from '../errors.js'
import {
  ApiKey,
  PROTOCOL_VERSION_MAX,
  PROTOCOL_VERSION_MIN,
  type Credentials,
  type HandshakeResponse,
} from '../protocol/api-keys.js'
import { decodeBody, encodeBodyParts } from '../protocol/codec.js'
import { SocketReader } from './socket-reader.js'
import { unknownOptionProblems } from './validate.js'
import {
  encodeFrameHeader,
  FLAG_ERROR,
  FLAG_RESPONSE,
  FrameDecoder,
  UINT32_MAX,
  type Frame,
} from '../protocol/frame.js'

export interface TcpTransportOptions {
  /** 'host:port' addresses ('[::1]:7171' for IPv6), tried in turn. */
  brokers: readonly string[]
  auth?: Credentials
  /** true: TLS with the system CAs; an object: node tls.connect options (ca, servername, rejectUnauthorized...). */
  tls?: boolean | tls.ConnectionOptions
  /** Per-call deadline; a fetch gets its maxWaitMs on top. @default 30000 */
  requestTimeoutMs?: number
  /** One connection attempt (TCP + TLS + handshake). @default 10000 */
  connectTimeoutMs?: number
  /** @default 'sluice-client' */
  clientId?: string
  /** Calls on the socket at once. @default 64 */
  inFlightRequestsMax?: number
  /** Calls waiting for a slot beyond that; more fail at once with ConnectionError. @default 10000 */
  pendingRequestsMax?: number
  /** @default LIMITS.frameBytesMax */
  frameBytesMax?: number
  /** First reconnect delay, doubled per failed attempt up to reconnectBackoffMsMax. @default 50 */
  reconnectBackoffMs?: number
  /** @default 2000 */
  reconnectBackoffMsMax?: number
}

const TCP_OPTION_KEYS: readonly string[] = [
  'brokers',
  'auth',
  'tls',
  'requestTimeoutMs',
  'connectTimeoutMs',
  'clientId',
  'inFlightRequestsMax',
  'pendingRequestsMax',
  'frameBytesMax',
  'reconnectBackoffMs',
  'reconnectBackoffMsMax',
] satisfies ReadonlyArray<keyof TcpTransportOptions>

interface ResolvedOptions {
  brokers: Array<{ host: string; port: number; text: string }>
  auth: Credentials | null
  tls: tls.ConnectionOptions | null
  requestTimeoutMs: number
  connectTimeoutMs: number
  clientId: string
  inFlightRequestsMax: number
  pendingRequestsMax: number
  frameBytesMax: number
  reconnectBackoffMs: number
  reconnectBackoffMsMax: number
}

export function parseBrokerAddress(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text)
  const port = m === null ? NaN : Number(m[3])
  if (m === null || port < 1 || port > 65535) {
    throw new InvalidConfigError([`broker address "${text}" must be host:port`], 'broker address')
  }
  return { host: (m[1] ?? m[2]) as string, port }
}

function resolveOptions(options: TcpTransportOptions): ResolvedOptions {
  const problems: string[] = []
  if (!Array.isArray(options.brokers) || options.brokers.length === 0) problems.push('brokers must list at least one')
  const brokers: ResolvedOptions['brokers'] = []
  for (const text of options.brokers ?? []) {
    try {
      brokers.push({ ...parseBrokerAddress(text), text })
    } catch (err) {
      problems.push((err as InvalidConfigError).problems.join('; '))
    }
  }
  const resolved: ResolvedOptions = {
    brokers,
    auth: options.auth ?? null,
    tls: options.tls === undefined || options.tls === false ? null : options.tls === true ? {} : options.tls,
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    clientId: options.clientId ?? 'sluice-client',
    inFlightRequestsMax: options.inFlightRequestsMax ?? LIMITS.inFlightRequestsMax,
    pendingRequestsMax: options.pendingRequestsMax ?? 10_000,
    frameBytesMax: options.frameBytesMax ?? LIMITS.frameBytesMax,
    reconnectBackoffMs: options.reconnectBackoffMs ?? 50,
    reconnectBackoffMsMax: options.reconnectBackoffMsMax ?? 2_000,
  }
  const positive = (name: keyof ResolvedOptions, max: number) => {
    const v = resolved[name]
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) {
      problems.push(`${name} must be an integer in [1, ${max}]`)
    }
  }
  positive('requestTimeoutMs', 2 ** 31 - 1)
  positive('connectTimeoutMs', 2 ** 31 - 1)
  positive('inFlightRequestsMax', 65_536)
  positive('pendingRequestsMax', 10_000_000)
  positive('frameBytesMax', UINT32_MAX)
  positive('reconnectBackoffMs', 60_000)
  positive('reconnectBackoffMsMax', 600_000)
  problems.push(...unknownOptionProblems(options, TCP_OPTION_KEYS))
  if (problems.length > 0) throw new InvalidConfigError(problems, 'TCP transport options')
  return resolved
}

interface Pending {
  resolve(value: unknown): void
  reject(err: Error): void
  timer: NodeJS.Timeout
}

/** One socket to one broker: the pipeline of pending calls by correlation id. */
class Link {
  readonly pending = new Map<number, Pending>()
  private readonly decoder: FrameDecoder
  private nextCorrelationId = 1
  private corked = false
  /** Frames received on this connection: none yet means its first bytes are still to be vouched for. */
  private framesReceived = 0
  alive = true

  /** `reader`: the socket was opened with its `onread`; null: the socket emits 'data' (TLS). */
  constructor(
    readonly socket: net.Socket,
    readonly address: string,
    frameBytesMax: number,
    reader: SocketReader | null,
    private readonly onDead: (link: Link) => void,
  ) {
    socket.setNoDelay(true)
    if (reader === null) {
      this.decoder = new FrameDecoder(frameBytesMax)
      socket.on('data', (chunk: Buffer) => this.onData(chunk))
    } else {
      this.decoder = reader.decoder
      reader.onBytes = () => this.drain()
      this.drain() // anything that arrived before this link existed
    }
    socket.on('error', () => {}) // 'close' follows and fails the pending calls
    socket.on('close', () => this.die(new ConnectionError(`connection to ${address} lost`)))
  }

  /**
   * `body`: the encoded body's parts (encodeBodyParts), written in order without being joined. `flush`: send now,
   * with whatever this tick corked before it, instead of on the next tick.
   */
  request(apiKey: number, body: readonly Buffer[], deadline: number, flush = false): Promise<unknown> {
    if (!this.alive) return Promise.reject(new ConnectionError(`connection to ${this.address} lost`))
    const correlationId = this.nextCorrelationId
    this.nextCorrelationId = correlationId >= UINT32_MAX ? 1 : correlationId + 1
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => {
          this.pending.delete(correlationId)
          reject(new TimeoutError(`request (api ${apiKey}) to ${this.address} timed out`))
        },
        Math.max(0, deadline - Date.now()),
      )
      this.pending.set(correlationId, { resolve, reject, timer })
      const bodyBytes = body.reduce((n, part) => n + part.length, 0)
      const header = encodeFrameHeader({ apiKey, apiVersion: 0, correlationId, flags: 0 }, bodyBytes)
      if (!this.corked) {
        this.corked = true
        this.socket.cork()
        if (!flush) process.nextTick(this.uncorkTick)
      }
      this.socket.write(header)
      for (const part of body) this.socket.write(part)
      // A pending uncorkTick then finds nothing corked (uncork() of an uncorked socket does nothing).
      if (flush) this.uncorkTick()
    })
  }

  private readonly uncorkTick = (): void => {
    this.corked = false
    this.socket.uncork()
  }

  close(): void {
    this.socket.destroy()
    this.die(new ClosedError('TCP transport'))
  }

  private onData(chunk: Buffer): void {
    this.decoder.push(chunk)
    this.drain()
  }

  /** Answers every whole frame received. */
  private drain(): void {
    // Each turn takes one frame off the decoder, which holds finitely many bytes.
    for (;;) {
      let frame: Frame | null
      try {
        frame = this.decoder.next()
      } catch (err) {
        this.socket.destroy()
        // Bytes that are no frame before any frame came: not a Sluice broker at all (an HTTP server's "HTTP" read as
        // a size gave 'frame of 1213486160 bytes exceeds frameBytesMax'). Retrying the same address cannot help.
        this.die(
          this.framesReceived === 0
            ? new ProtocolError(
                `the server at ${this.address} does not speak the Sluice protocol (its answer is not a Sluice frame: ` +
                  `${(err as Error).message}); check the address and port`,
                { cause: err },
              )
            : (err as Error),
        )
        return
      }
      if (frame === null) return
      this.framesReceived++
      this.onFrame(frame)
    }
  }

  private onFrame(frame: Frame): void {
    if ((frame.flags & FLAG_RESPONSE) === 0) {
      this.socket.destroy()
      this.die(new ProtocolError(`broker ${this.address} sent a request frame`))
      return
    }
    const pending = this.pending.get(frame.correlationId)
    if (pending === undefined) return // the call timed out; its late answer is dropped
    this.pending.delete(frame.correlationId)
    clearTimeout(pending.timer)
    try {
      const body = decodeBody(frame.body)
      if ((frame.flags & FLAG_ERROR) !== 0) pending.reject(errorFromWire(body as WireError))
      else pending.resolve(body)
    } catch (err) {
      pending.reject(err as Error)
    }
  }

  private die(err: Error): void {
    if (!this.alive) return
    this.alive = false
    for (const p of this.pending.values()) {
      clearTimeout(p.timer)
      p.reject(err)
    }
    this.pending.clear()
    this.onDead(this)
  }
}

export class TcpTransport implements BrokerApi {
  private link: Link | null = null
  private connecting: Promise<Link> | null = null
  private linkWaiters = 0
  /** Why the latest attempt to connect failed (null once connected): named by the timeout of calls that waited. */
  private lastConnectError: Error | null = null
  private nextBroker = 0
  private inFlight = 0
  /** Calls waiting for a slot or a connection: while any does, later calls wait behind them (order is kept). */
  private waitingCalls = 0
  private readonly slotWaiters: Array<{ grant(): void; fail(err: Error): void; timer: NodeJS.Timeout }> = []
  private closed = false
  /** What the broker answered to the last handshake. */
  handshake: HandshakeResponse | null = null

  /** Use connectTcpTransport(); the constructor does no I/O. */
  constructor(private readonly options: ResolvedOptions) {}

  /** Connects to the first reachable broker (with backoff, within connectTimeoutMs). */
  async connect(): Promise<void> {
    await this.getLink(Date.now() + this.options.connectTimeoutMs)
  }

  get connected(): boolean {
    return this.link?.alive === true
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const w of this.slotWaiters.splice(0)) {
      clearTimeout(w.timer)
      w.fail(new ClosedError('TCP transport'))
    }
    this.link?.close()
    this.link = null
  }

  // ---- BrokerApi -------------------------------------------------------------------------------------------------

  info(): Promise<BrokerInfo> {
    return this.call(ApiKey.INFO, null)
  }
  createTopic(req: CreateTopicRequest): Promise<TopicDescription> {
    return this.call(ApiKey.CREATE_TOPIC, req)
  }
  alterTopicConfig(req: AlterTopicConfigRequest): Promise<TopicDescription> {
    return this.call(ApiKey.ALTER_TOPIC_CONFIG, req)
  }
  createPartitions(req: CreatePartitionsRequest): Promise<TopicDescription> {
    return this.call(ApiKey.CREATE_PARTITIONS, req)
  }
  deleteRecords(req: DeleteRecordsRequest): Promise<DeleteRecordsResponse> {
    return this.call(ApiKey.DELETE_RECORDS, req)
  }
  async deleteTopic(name: string): Promise<void> {
    await this.call(ApiKey.DELETE_TOPIC, { name })
  }
  listTopics(includeInternal = false): Promise<string[]> {
    return this.call(ApiKey.LIST_TOPICS, { includeInternal })
  }
  describeTopic(name: string): Promise<TopicDescription> {
    return this.call(ApiKey.DESCRIBE_TOPIC, { name })
  }
  produce(req: ProduceRequest): Promise<ProduceResponse> {
    return this.call(ApiKey.PRODUCE, req)
  }
  fetch(req: FetchRequest): Promise<FetchResponse> {
    // Flushed: a consumer typically goes on to decode the previous response synchronously for a millisecond or so,
    // and the broker can read the next one meanwhile only if this request has left.
    return this.call(ApiKey.FETCH, req, req.maxWaitMs, true)
  }
  listOffsets(req: ListOffsetsRequest): Promise<ListOffsetsResponse> {
    // A durable lookup may wait for an fsync first (bounded by the broker).
    const waitMs = req.visibility === 'durable' ? LIMITS.listOffsetsDurableWaitMsMax : 0
    return this.call(ApiKey.LIST_OFFSETS, req, waitMs)
  }
  initProducer(): Promise<InitProducerResponse> {
    return this.call(ApiKey.INIT_PRODUCER, null)
  }
  groupHeartbeat(req: GroupHeartbeatRequest): Promise<GroupHeartbeatResponse> {
    return this.call(ApiKey.GROUP_HEARTBEAT, req)
  }
  async commitOffsets(req: OffsetCommitRequest): Promise<void> {
    await this.call(ApiKey.COMMIT_OFFSETS, req)
  }
  fetchOffsets(req: OffsetFetchRequest): Promise<CommittedOffset[]> {
    return this.call(ApiKey.FETCH_OFFSETS, req)
  }
  listGroups(): Promise<Array<{ groupId: string; state: GroupState; memberCount: number }>> {
    return this.call(ApiKey.LIST_GROUPS, null)
  }
  describeGroup(groupId: string): Promise<GroupDescription> {
    return this.call(ApiKey.DESCRIBE_GROUP, { groupId })
  }
  async deleteGroup(groupId: string): Promise<void> {
    await this.call(ApiKey.DELETE_GROUP, { groupId })
  }
  resetOffsets(req: ResetOffsetsRequest): Promise<ResetOffsetsResponse> {
    return this.call(ApiKey.RESET_OFFSETS, req)
  }

  // ---- machinery -------------------------------------------------------------------------------------------------

  /**
   * Sends one call and resolves with the decoded response body. The type is the api's contract, not checked. With a
   * free slot, a live connection and no earlier call still on its way (so calls stay in order), the request is
   * written within this call; otherwise it waits for a slot and a connection first.
   */
  private call<T>(apiKey: number, body: unknown, extraTimeoutMs = 0, flush = false): Promise<T> {
    if (this.closed) return Promise.reject(new ClosedError('TCP transport'))
    const deadline = Date.now() + this.options.requestTimeoutMs + extraTimeoutMs
    // Large Buffers (a produce batch) are not copied: the socket writes them as they are. The caller hands the batch
    // over and must not change it before the call settles.
    let encoded: Buffer[]
    try {
      encoded = encodeBodyParts(body)
    } catch (err) {
      return Promise.reject(err as Error)
    }
    const link = this.link
    if (link?.alive === true && this.waitingCalls === 0 && this.inFlight < this.options.inFlightRequestsMax) {
      this.inFlight += 1
      return (link.request(apiKey, encoded, deadline, flush) as Promise<T>).finally(() => this.releaseSlot())
    }
    return this.callWhenReady<T>(apiKey, encoded, deadline, flush)
  }

  private async callWhenReady<T>(apiKey: number, encoded: Buffer[], deadline: number, flush: boolean): Promise<T> {
    this.waitingCalls += 1
    let link: Link
    try {
      await this.acquireSlot(deadline)
    } catch (err) {
      this.waitingCalls -= 1
      throw err
    }
    try {
      try {
        link = await this.getLink(deadline)
      } finally {
        this.waitingCalls -= 1
      }
      return (await link.request(apiKey, encoded, deadline, flush)) as T
    } finally {
      this.releaseSlot()
    }
  }

  private acquireSlot(deadline: number): Promise<void> {
    if (this.inFlight < this.options.inFlightRequestsMax) {
      this.inFlight += 1
      return Promise.resolve()
    }
    if (this.slotWaiters.length >= this.options.pendingRequestsMax) {
      return Promise.reject(
        new ConnectionError(`more than ${this.options.pendingRequestsMax} calls are waiting for the connection`),
      )
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        grant: resolve,
        fail: reject,
        timer: setTimeout(
          () => {
            const i = this.slotWaiters.indexOf(waiter)
            if (i >= 0) this.slotWaiters.splice(i, 1)
            reject(new TimeoutError('request timed out waiting for an in-flight slot'))
          },
          Math.max(0, deadline - Date.now()),
        ),
      }
      this.slotWaiters.push(waiter)
    })
  }

  private releaseSlot(): void {
    const next = this.slotWaiters.shift()
    if (next === undefined) {
      this.inFlight -= 1
      return
    }
    clearTimeout(next.timer)
    next.grant() // the slot passes straight to the next caller
  }

  private async getLink(deadline: number): Promise<Link> {
    if (this.link?.alive === true) return this.link
    if (this.closed) throw new ClosedError('TCP transport')
    this.linkWaiters += 1
    try {
      if (this.connecting === null) {
        const attempt = this.connectLoop().finally(() => (this.connecting = null))
        attempt.catch(() => {}) // observed by the waiters below; no unhandled rejection when all gave up
        this.connecting = attempt
      }
      let timer: NodeJS.Timeout | undefined
      const expired = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => {
            const last = this.lastConnectError
            reject(
              new TimeoutError(
                `no connection to ${this.brokerList()} in time` +
                  (last === null ? '' : ` (last attempt: ${last.message})`),
                last === null ? undefined : { cause: last },
              ),
            )
          },
          Math.max(0, deadline - Date.now()),
        )
      })
      try {
        return await Promise.race([this.connecting, expired])
      } finally {
        clearTimeout(timer)
      }
    } finally {
      this.linkWaiters -= 1
    }
  }

  private brokerList(): string {
    return this.options.brokers.map((b) => b.text).join(', ')
  }

  /** Tries the brokers in turn until one answers a handshake, while anyone waits; non-retriable errors end it. */
  private async connectLoop(): Promise<Link> {
    let delayMs = this.options.reconnectBackoffMs
    for (;;) {
      if (this.closed) throw new ClosedError('TCP transport')
      const broker = this.options.brokers[this.nextBroker % this.options.brokers.length]
      this.nextBroker += 1
      if (broker === undefined) throw new ConnectionError('no broker address')
      try {
        const link = await this.openLink(broker)
        if (this.closed) {
          link.close()
          throw new ClosedError('TCP transport')
        }
        this.link = link
        this.lastConnectError = null
        return link
      } catch (err) {
        this.lastConnectError = err instanceof Error ? err : new Error(String(err))
        if (err instanceof SluiceError && !err.retriable) throw err
        if (this.linkWaiters === 0) throw err
        // Jitter spreads reconnecting clients after a broker restart.
        await new Promise((resolve) => setTimeout(resolve, delayMs * (0.5 + Math.random() / 2)))
        delayMs = Math.min(delayMs * 2, this.options.reconnectBackoffMsMax)
      }
    }
  }

  private async openLink(broker: { host: string; port: number; text: string }): Promise<Link> {
    const { connectTimeoutMs } = this.options
    const deadline = Date.now() + connectTimeoutMs
    const tlsOptions = this.options.tls
    const reader = tlsOptions === null ? new SocketReader(this.options.frameBytesMax) : null
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s =
        reader !== null
          ? net.connect({ host: broker.host, port: broker.port, onread: reader.onread })
          : tls.connect({
              servername: net.isIP(broker.host) === 0 ? broker.host : undefined,
              ...tlsOptions,
              host: broker.host,
              port: broker.port,
            } as tls.ConnectionOptions)
      const timer = setTimeout(() => {
        s.destroy()
        reject(new ConnectionError(`connecting to ${broker.text} timed out after ${connectTimeoutMs} ms`))
      }, connectTimeoutMs)
      s.once(tlsOptions === null ? 'connect' : 'secureConnect', () => {
        clearTimeout(timer)
        s.removeAllListeners('error')
        resolve(s)
      })
      s.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer)
        s.destroy()
        // A certificate the client does not trust stays untrusted, and a broker that answers a ClientHello in
        // plaintext does not serve TLS: say so now instead of retrying until the deadline.
        const untrusted = tlsOptions !== null && isCertificateError(err)
        const notTls = tlsOptions !== null && err.code === 'ERR_SSL_WRONG_VERSION_NUMBER'
        reject(
          new ConnectionError(
            `cannot connect to ${broker.text}: ` +
              (notTls
                ? 'the broker does not serve TLS (it answered the TLS handshake in plaintext): connect without ' +
                  'tls / --tls, or serve TLS with --tls-cert and --tls-key'
                : err.message +
                  (untrusted ? ' (the broker certificate is not trusted: pass its CA with tls.ca / --tls-ca)' : '')),
            { cause: err, retriable: !untrusted && !notTls },
          ),
        )
      })
    })
    const link = new Link(socket, broker.text, this.options.frameBytesMax, reader, (dead) => {
      if (this.link === dead) this.link = null
    })
    try {
      const response = (await link.request(
        ApiKey.HANDSHAKE,
        encodeBodyParts({
          clientId: this.options.clientId,
          protocolVersionMin: PROTOCOL_VERSION_MIN,
          protocolVersionMax: PROTOCOL_VERSION_MAX,
          auth: this.options.auth,
        }),
        deadline,
      )) as HandshakeResponse
      this.handshake = response
      return link
    } catch (err) {
      link.close()
      throw err
    }
  }
}

/** OpenSSL's verification failures (Node gives them these codes): retrying cannot change the answer. */
const CERTIFICATE_ERROR_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
])

function isCertificateError(err: NodeJS.ErrnoException): boolean {
  return err.code !== undefined && CERTIFICATE_ERROR_CODES.has(err.code)
}

/** Validates the options, connects to the first reachable broker and handshakes (authenticating when asked). */
export async function connectTcpTransport(options: TcpTransportOptions): Promise<TcpTransport> {
  const transport = new TcpTransport(resolveOptions(options))
  try {
    await transport.connect()
  } catch (err) {
    await transport.close()
    throw err
  }
  return transport
}

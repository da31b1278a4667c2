// Test helpers for the wire tests: an in-memory fake BrokerApi that echoes what it was asked (and can hold calls
// open to observe concurrency), a raw socket client that speaks frames by hand, temp dirs, and a self-signed TLS
// certificate. Everything started here is stopped by the caller's cleanup.
import { execFileSync } from 'node:child_process'
import { promises as fs, readFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import type { BrokerApi, FetchResponse, ProduceResponse, TopicDescription } from '../src/broker/api.js'
import { UnknownTopicError } from '../src/errors.js'
import { decodeBody, encodeBody } from '../src/protocol/codec.js'
import { encodeFrame, FrameDecoder, type Frame } from '../src/protocol/frame.js'

export interface Call {
  method: string
  args: unknown[]
}

/** A BrokerApi that records calls; `hold` makes produce wait until `release()`. */
export class FakeBroker implements BrokerApi {
  readonly calls: Call[] = []
  concurrent = 0
  concurrentMax = 0
  hold = false
  private held: Array<() => void> = []
  fetchRecordsBytes = 16

  release(): void {
    for (const r of this.held.splice(0)) r()
  }

  get heldCount(): number {
    return this.held.length
  }

  private async record<T>(method: string, args: unknown[], value: T): Promise<T> {
    this.calls.push({ method, args })
    this.concurrent += 1
    this.concurrentMax = Math.max(this.concurrentMax, this.concurrent)
    try {
      if (this.hold) await new Promise<void>((resolve) => this.held.push(resolve))
      return value
    } finally {
      this.concurrent -= 1
    }
  }

  private topic(name: string): TopicDescription {
    if (name === 'missing') throw new UnknownTopicError(name)
    return {
      name,
      internal: false,
      config: {
        retentionMs: 1,
        retentionBytes: -1,
        segmentBytes: 1024,
        segmentMs: 1,
        flush: 'sync',
        flushIntervalMs: 1000,
        timestampAfterMaxMs: 3_600_000,
        cleanupPolicy: 'delete',
      },
      partitions: [{ partition: 0, logStartOffset: 0, logEndOffset: 5, sizeBytes: 10, segmentCount: 1, offline: null }],
    }
  }

  info() {
    return this.record('info', [], { nodeId: 'fake', version: '0.0.0', apiVersions: {} })
  }
  createTopic(req: Parameters<BrokerApi['createTopic']>[0]) {
    return this.record('createTopic', [req], this.topic(req.name))
  }
  alterTopicConfig(req: Parameters<BrokerApi['alterTopicConfig']>[0]) {
    return this.record('alterTopicConfig', [req], this.topic(req.name))
  }
  createPartitions(req: Parameters<BrokerApi['createPartitions']>[0]) {
    return this.record('createPartitions', [req], this.topic(req.name))
  }
  deleteRecords(req: Parameters<BrokerApi['deleteRecords']>[0]) {
    return this.record('deleteRecords', [req], {
      partitions: req.partitions.map((p) => ({ partition: p.partition, logStartOffset: Math.max(p.offset, 0) })),
    })
  }
  deleteTopic(name: string) {
    return this.record('deleteTopic', [name], undefined)
  }
  listTopics(includeInternal?: boolean) {
    return this.record('listTopics', [includeInternal], ['a', 'b'])
  }
  async describeTopic(name: string) {
    return this.record('describeTopic', [name], this.topic(name))
  }
  produce(req: Parameters<BrokerApi['produce']>[0]) {
    const res: ProduceResponse = {
      baseOffset: req.batch.length,
      logAppendTime: -1,
      logStartOffset: 0,
      duplicate: false,
    }
    return this.record('produce', [req], res)
  }
  fetch(req: Parameters<BrokerApi['fetch']>[0]) {
    const res: FetchResponse = {
      partitions: req.partitions.map((p) => ({
        topic: p.topic,
        partition: p.partition,
        records: Buffer.alloc(this.fetchRecordsBytes, p.partition),
        logStartOffset: 0,
        logEndOffset: p.offset,
        error: null,
      })),
    }
    return this.record('fetch', [req], res)
  }
  listOffsets(req: Parameters<BrokerApi['listOffsets']>[0]) {
    return this.record('listOffsets', [req], { offsets: [{ partition: 0, offset: req.timestamp }] })
  }
  initProducer() {
    return this.record('initProducer', [], { producerId: 42, producerEpoch: 0 })
  }
  groupHeartbeat(req: Parameters<BrokerApi['groupHeartbeat']>[0]) {
    return this.record('groupHeartbeat', [req], {
      memberId: 'm-1',
      memberEpoch: 1,
      heartbeatIntervalMs: 1000,
      assignment: [{ topic: 't', partitions: [0, 1] }],
      resets: [],
    })
  }
  commitOffsets(req: Parameters<BrokerApi['commitOffsets']>[0]) {
    return this.record('commitOffsets', [req], undefined)
  }
  fetchOffsets(req: Parameters<BrokerApi['fetchOffsets']>[0]) {
    return this.record('fetchOffsets', [req], [{ topic: 't', partition: 0, offset: 3, metadata: '' }])
  }
  listGroups() {
    return this.record('listGroups', [], [{ groupId: 'g', state: 'Empty' as const, memberCount: 0 }])
  }
  describeGroup(groupId: string) {
    return this.record('describeGroup', [groupId], {
      groupId,
      state: 'Empty' as const,
      groupEpoch: 0,
      assignor: 'uniform',
      members: [],
      offsets: [],
    })
  }
  deleteGroup(groupId: string) {
    return this.record('deleteGroup', [groupId], undefined)
  }
  resetOffsets(req: Parameters<BrokerApi['resetOffsets']>[0]) {
    return this.record('resetOffsets', [req], { plan: [{ topic: req.topic, partition: 0, from: 5, to: 0 }] })
  }
}

/** A hand-driven client socket: send frames or raw bytes, read frames, see when the server closes. */
export class RawClient {
  readonly frames: Frame[] = []
  closed = false
  private readonly decoder = new FrameDecoder()
  private waiters: Array<() => void> = []
  readonly closedPromise: Promise<void>

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.decoder.push(chunk)
      for (let f = this.decoder.next(); f !== null; f = this.decoder.next()) this.frames.push(f)
      this.wake()
    })
    socket.on('error', () => {})
    this.closedPromise = new Promise((resolve) =>
      socket.on('close', () => {
        this.closed = true
        this.wake()
        resolve()
      }),
    )
  }

  static connect(port: number, options: { paused?: boolean } = {}): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => {
        const client = new RawClient(socket)
        if (options.paused === true) socket.pause()
        resolve(client)
      })
      socket.once('error', reject)
    })
  }

  send(apiKey: number, body: unknown, correlationId: number, apiVersion = 0): void {
    this.socket.write(encodeFrame({ apiKey, apiVersion, correlationId, flags: 0 }, encodeBody(body)))
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes)
  }

  /** Resolves once `count` frames have arrived (or the socket closed). */
  async waitFrames(count: number): Promise<Frame[]> {
    while (this.frames.length < count && !this.closed) await new Promise<void>((r) => this.waiters.push(r))
    return this.frames
  }

  async request(apiKey: number, body: unknown, correlationId = 1): Promise<{ frame: Frame; body: unknown }> {
    const before = this.frames.length
    this.send(apiKey, body, correlationId)
    const frames = await this.waitFrames(before + 1)
    const frame = frames[before]
    if (frame === undefined) throw new Error('connection closed before a response')
    return { frame, body: decodeBody(frame.body) }
  }

  destroy(): void {
    this.socket.destroy()
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w()
  }
}

export async function makeTempDir(prefix = 'sluice-wire-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix))
}

export async function removeDir(dir: string): Promise<void> {
  await fs.rm(dir, { recursive: true, force: true })
}

/** A self-signed certificate for 127.0.0.1/localhost made with the openssl command (node cannot issue X.509). */
export function makeSelfSignedCert(dir: string): { cert: Buffer; key: Buffer; certFile: string; keyFile: string } {
  const keyFile = path.join(dir, 'key.pem')
  const certFile = path.join(dir, 'cert.pem')
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  )
  return { cert: readFileSync(certFile), key: readFileSync(keyFile), certFile, keyFile }
}

/** Polls `check` every 10 ms until it is true or `timeoutMs` passes; returns its last value. */
export async function waitFor(check: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const end = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > end) return false
    await new Promise((r) => setTimeout(r, 10))
  }
  return true
}

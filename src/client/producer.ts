// The producer: encodes keys, values and headers once at send time, picks the partition (explicit, murmur2 of the key,
// or sticky for null keys), groups records per partition (BatchAccumulator) and hands closed batches to the
// BatchSender, which dispatches each partition's batches in order. Buffered plus in-flight record bytes stay under
// `bufferBytesMax`: while full, sends wait in a bounded FIFO (in call order, so per-key order holds across the wait).
// One promise per send()/sendBatch() call, no per-record closures.
import { BATCH_HEADER_BYTES, LIMITS } from '../config/limits.js'
import {
  ClosedError,
  InvalidArgumentError,
  RecordTooLargeError,
  TimeoutError,
  UnknownPartitionError,
} from '../errors.js'
import type { RecordHeader, RecordInput } from '../storage/record-batch.js'
import { StickyPartitioner } from '../topics/partitioner.js'
import { partitionForKey } from '../util/murmur2.js'
import { sizeOfVarint } from '../util/varint.js'
import { BatchSender, settleError } from './batch-sender.js'
import {
  BatchAccumulator,
  type OpenBatch,
  type PartitionQueue,
  BatchResults,
  type PendingRequest,
  type RecordMetadata,
} from './batch-accumulator.js'
import { type ProducerConfig } from './client-config.js'
import { encodeWith } from './codecs.js'
import { Fifo } from './fifo.js'
import { TopicMetadataCache } from './topic-metadata.js'
import type { Transport } from './transport.js'
import { checkTopicName, toTimestamp } from './validate.js'

export type { RecordMetadata } from './batch-accumulator.js'

export type HeaderValue = string | Buffer | null

export interface ProducerMessage {
  /** Encoded by `keyCodec` (Buffer or string with the default codec); null or absent: no key (sticky partition). */
  key?: unknown
  /** Encoded by `valueCodec`; null: a record without a value. */
  value: unknown
  headers?: Record<string, HeaderValue>
  /** Explicit partition; wins over the key. */
  partition?: number
  /** ms since the epoch or a Date. @default Date.now() */
  timestamp?: number | Date
}

/** Per-record upper bound on framing bytes beyond key, value and headers: length, attributes, timestamp and offset
 *  deltas (varlong ≤ 10, varint ≤ 3 below LIMITS.batchRecordsMax), key/value lengths, header count. */
const RECORD_OVERHEAD_BYTES = 5 + 1 + 10 + 3 + 5 + 5 + 5

/** Records and their estimated sizes of one call, not yet in the accumulator (metadata loading or buffer full). */
interface WaitingSend {
  topic: string
  /** For the explicit partitions. */
  messages: readonly ProducerMessage[]
  records: RecordInput[]
  bytes: number[]
  next: number
  request: PendingRequest
}

export class Producer {
  readonly #config: ProducerConfig
  readonly #metadata: TopicMetadataCache
  readonly #accumulator: BatchAccumulator
  readonly #sticky = new StickyPartitioner()
  readonly #waiting = new Fifo<WaitingSend>()
  readonly #idleWaiters: Array<() => void> = []
  readonly #sender: BatchSender
  #bufferedBytes = 0
  /** Out-parameter of #prepare. */
  #preparedBytes = 0
  #closed = false
  #closing: Promise<void> | null = null
  readonly #onClose: ((p: Producer) => void) | null

  constructor(transport: Transport, config: ProducerConfig, onClose?: (p: Producer) => void) {
    this.#config = config
    this.#metadata = new TopicMetadataCache(transport, config.retries, config.retryBackoffMs)
    this.#accumulator = new BatchAccumulator(config.batchBytes, config.lingerMs, (q) => this.#onBatchClosed(q))
    this.#sender = new BatchSender(transport, config, () => this.#accumulator.all(), {
      onSettled: (_q, batch) => this.#onSettled(batch),
      onUnknownTopic: (topic) => this.#metadata.forget(topic),
    })
    this.#onClose = onClose ?? null
  }

  get config(): ProducerConfig {
    return this.#config
  }

  /** Sends one record; resolves with where it landed once acknowledged under `acks`. */
  send(topic: string, message: ProducerMessage): Promise<RecordMetadata> {
    return new Promise<RecordMetadata | RecordMetadata[]>((resolve, reject) => {
      this.#submitOne(topic, message, { resolve, reject, results: null, remaining: 1, settled: false })
    }) as Promise<RecordMetadata>
  }

  /** Sends many records with one promise; resolves with their metadata in the order given. All or nothing is queued:
   *  a bad message rejects the call before any record is sent. */
  sendBatch(topic: string, messages: readonly ProducerMessage[]): Promise<RecordMetadata[]> {
    if (!Array.isArray(messages))
      return Promise.reject(new InvalidArgumentError(`sendBatch takes an array of messages, got ${typeof messages}`))
    if (messages.length === 0) return Promise.resolve([])
    return new Promise<RecordMetadata | RecordMetadata[]>((resolve, reject) => {
      const results = new BatchResults(topic, messages.length)
      this.#submit(topic, messages, { resolve, reject, results, remaining: messages.length, settled: false })
    }) as Promise<RecordMetadata[]>
  }

  /** Sends every buffered record now and resolves once all sends made before (and during) the flush are settled. */
  async flush(): Promise<void> {
    this.#accumulator.beginFlush()
    try {
      await this.#whenIdle()
    } finally {
      this.#accumulator.endFlush()
    }
  }

  /** Flushes pending sends, then refuses new ones with ClosedError. */
  close(): Promise<void> {
    if (this.#closing === null) {
      this.#closed = true
      this.#closing = this.flush().finally(() => {
        this.#accumulator.stopTimers()
        this.#onClose?.(this)
      })
    }
    return this.#closing
  }

  // ---- intake -------------------------------------------------------------------------------------------------------

  /** send(): the hot path, with no per-call arrays. */
  #submitOne(topic: string, message: ProducerMessage, request: PendingRequest): void {
    try {
      const known = this.#check(topic)
      const record = this.#prepare(message, 'message', Date.now())
      const bytes = this.#preparedBytes
      if (
        known !== undefined &&
        this.#waiting.length === 0 &&
        this.#bufferedBytes + bytes <= this.#config.bufferBytesMax
      ) {
        this.#enqueue(topic, known, record, bytes, message.partition, request, 0)
        return
      }
      this.#wait({ topic, messages: [message], records: [record], bytes: [bytes], next: 0, request })
    } catch (err) {
      settleError(request, err)
    }
  }

  #submit(topic: string, messages: readonly ProducerMessage[], request: PendingRequest): void {
    try {
      const known = this.#check(topic)
      const count = messages.length
      const now = Date.now()
      const records = new Array<RecordInput>(count)
      const bytes = new Array<number>(count)
      let total = 0
      for (let i = 0; i < count; i++) {
        records[i] = this.#prepare(messages[i], `message ${i}`, now)
        bytes[i] = this.#preparedBytes
        total += this.#preparedBytes
      }
      if (
        known !== undefined &&
        this.#waiting.length === 0 &&
        this.#bufferedBytes + total <= this.#config.bufferBytesMax
      ) {
        for (let i = 0; i < count; i++)
          this.#enqueue(topic, known, records[i]!, bytes[i]!, messages[i]!.partition, request, i)
        return
      }
      this.#wait({ topic, messages, records, bytes, next: 0, request })
    } catch (err) {
      settleError(request, err)
    }
  }

  /** Throws when closed or the topic name is bad; returns the cached partition count when known. */
  #check(topic: string): number | undefined {
    if (this.#closed) throw new ClosedError('producer')
    const known = this.#metadata.cached(topic)
    if (known === undefined) checkTopicName(topic) // a cached topic was checked before its metadata was loaded
    return known
  }

  #wait(w: WaitingSend): void {
    if (this.#waiting.length >= LIMITS.producerBlockedSendsMax)
      throw new TimeoutError(
        `producer buffer is full: ${this.#bufferedBytes} bytes buffered and ${this.#waiting.length} sends waiting`,
      )
    this.#waiting.push(w)
    // A non-empty queue already has a drain pending (a metadata load or a batch completion).
    if (this.#waiting.length === 1) this.#drainWaiting()
  }

  /** Encodes one message into a RecordInput and leaves its estimated batch bytes in #preparedBytes (no tuple
   *  allocation on the hot path). Throws a typed error naming `where` for bad input. */
  #prepare(message: ProducerMessage | undefined, where: string, now: number): RecordInput {
    if (typeof message !== 'object' || message === null)
      throw new InvalidArgumentError(
        `${where} must be an object with a value, got ${message === null ? 'null' : typeof message}`,
      )
    const key = encodeWith(this.#config.keyCodec, message.key, 'key')
    const value = encodeWith(this.#config.valueCodec, message.value, 'value')
    const timestamp = message.timestamp === undefined ? now : toTimestamp(message.timestamp, `${where} timestamp`)
    let size = RECORD_OVERHEAD_BYTES + (key === null ? 0 : key.length) + (value === null ? 0 : value.length)
    let headers: RecordHeader[] | undefined
    if (message.headers !== undefined && message.headers !== null) {
      headers = toRecordHeaders(message.headers, where)
      for (const h of headers) {
        const keyBytes = Buffer.byteLength(h.key)
        size += sizeOfVarint(keyBytes) + keyBytes + 5 + (h.value === null ? 0 : h.value.length)
      }
    }
    if (message.partition !== undefined && (!Number.isSafeInteger(message.partition) || message.partition < 0))
      throw new InvalidArgumentError(
        `${where} partition must be a non-negative integer, got ${String(message.partition)}`,
      )
    const recordBytesMax = this.#config.recordBytesMax
    if (size + BATCH_HEADER_BYTES > recordBytesMax)
      throw new RecordTooLargeError(
        `${where} is about ${size} bytes (key ${key?.length ?? 0}, value ${value?.length ?? 0}), ` +
          `more than recordBytesMax ${recordBytesMax} allows in one batch`,
      )
    this.#preparedBytes = size
    return headers === undefined ? { key, value, timestamp } : { key, value, timestamp, headers }
  }

  #enqueue(
    topic: string,
    partitionCount: number,
    record: RecordInput,
    bytes: number,
    explicit: number | undefined,
    request: PendingRequest,
    slot: number,
  ): void {
    let partition: number
    if (explicit !== undefined) {
      if (explicit >= partitionCount) throw new UnknownPartitionError(topic, explicit, partitionCount)
      partition = explicit
    } else if (record.key !== null)
      partition = partitionCount === 1 ? 0 : partitionForKey(record.key, partitionCount) // no hash for one partition
    else partition = this.#sticky.partition(topic, partitionCount)
    this.#bufferedBytes += bytes
    this.#accumulator.append(this.#accumulator.queue(topic, partition), record, bytes, request, slot)
  }

  /** Moves waiting sends into the accumulator, in order, as metadata arrives and buffer space frees. */
  #drainWaiting(): void {
    while (this.#waiting.length > 0) {
      const w = this.#waiting.peek()!
      if (w.request.settled) {
        this.#waiting.shift()
        continue
      }
      const count = this.#metadata.cached(w.topic)
      if (count === undefined) {
        this.#loadMetadata(w.topic)
        return
      }
      try {
        while (w.next < w.records.length) {
          const bytes = w.bytes[w.next]!
          if (this.#bufferedBytes > 0 && this.#bufferedBytes + bytes > this.#config.bufferBytesMax) {
            // Full: send what is open so completions free space, then continue from here.
            this.#accumulator.closeAll()
            return
          }
          this.#enqueue(w.topic, count, w.records[w.next]!, bytes, w.messages[w.next]!.partition, w.request, w.next)
          w.next++
        }
      } catch (err) {
        settleError(w.request, err)
      }
      this.#waiting.shift()
    }
    this.#checkIdle()
  }

  #loadMetadata(topic: string): void {
    this.#metadata.load(topic).then(
      () => this.#drainWaiting(),
      (err: unknown) => {
        for (const w of this.#waiting.removeWhere((x) => x.topic === topic)) settleError(w.request, err)
        this.#drainWaiting()
      },
    )
  }

  // ---- sending -----------------------------------------------------------------------------------------------------

  #onBatchClosed(q: PartitionQueue): void {
    const count = this.#metadata.cached(q.topic)
    if (count !== undefined) this.#sticky.onNewBatch(q.topic, count, q.partition)
    this.#sender.trySend(q)
  }

  #onSettled(batch: OpenBatch): void {
    this.#bufferedBytes -= batch.recordBytes
    if (this.#waiting.length > 0) this.#drainWaiting()
    else this.#checkIdle()
  }

  // ---- idle --------------------------------------------------------------------------------------------------------

  #whenIdle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve()
    return new Promise((resolve) => this.#idleWaiters.push(resolve))
  }

  #isIdle(): boolean {
    return this.#bufferedBytes === 0 && this.#waiting.length === 0 && this.#sender.inFlightBatches === 0
  }

  #checkIdle(): void {
    if (this.#idleWaiters.length === 0 || !this.#isIdle()) return
    for (const resolve of this.#idleWaiters.splice(0)) resolve()
  }
}

function toRecordHeaders(headers: Record<string, HeaderValue>, where: string): RecordHeader[] {
  if (typeof headers !== 'object' || Array.isArray(headers))
    throw new InvalidArgumentError(`${where} headers must be an object of string keys, got ${typeof headers}`)
  const out: RecordHeader[] = []
  for (const key of Object.keys(headers)) {
    const value = headers[key]
    if (value === null || value === undefined) out.push({ key, value: null })
    else if (typeof value === 'string') out.push({ key, value: Buffer.from(value, 'utf8') })
    else if (Buffer.isBuffer(value)) out.push({ key, value })
    else
      throw new InvalidArgumentError(`${where} header "${key}" must be a string, Buffer or null, got ${typeof value}`)
  }
  if (out.length > LIMITS.recordHeadersMax)
    throw new InvalidArgumentError(
      `${where} has ${out.length} headers, more than recordHeadersMax ${LIMITS.recordHeadersMax}`,
    )
  return out
}

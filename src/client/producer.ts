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
import type { RecordHeader } from '../storage/record-batch.js'
import { StickyPartitioner } from '../topics/partitioner.js'
import { partitionForKey } from '../util/murmur2.js'
import { utf8Length, writeUtf8 } from '../util/utf8.js'
import { sizeOfVarint } from '../util/varint.js'
import { BatchSender, settleError } from './batch-sender.js'
import {
  BatchAccumulator,
  type OpenBatch,
  type PartitionQueue,
  BatchResults,
  type PendingRequest,
} from './batch-accumulator.js'
import { SendBatchResult, type RecordMetadata } from './send-batch-result.js'
import { type ProducerConfig } from './client-config.js'
import { bufferCodec, encodeWith, stringCodec } from './codecs.js'
import { PreparedRecords } from './prepared-records.js'
import { Fifo } from './fifo.js'
import { TopicMetadataCache } from './topic-metadata.js'
import type { Transport } from './transport.js'
import { checkKnownKeys, checkTopicName, toTimestamp } from './validate.js'

export { SendBatchResult, type RecordMetadata } from './send-batch-result.js'

export type HeaderValue = string | Buffer | null

/** A record to send. `K` and `V` are what the producer's key and value codecs take (`Encodable<C>`). */
export interface ProducerMessage<K = unknown, V = unknown> {
  /** Encoded by `keyCodec` (Buffer or string with the default codec); null or absent: no key (sticky partition). */
  key?: K | null | undefined
  /** Encoded by `valueCodec`; null, undefined or absent (with any codec): a record without a value (a tombstone). */
  value?: V | null | undefined
  headers?: Record<string, HeaderValue>
  /** Explicit partition; wins over the key. */
  partition?: number
  /** ms since the epoch or a Date. @default Date.now() */
  timestamp?: number | Date
}

/** Per-record upper bound on framing bytes beyond key, value and headers: length, attributes, timestamp and offset
 *  deltas (varlong ≤ 10, varint ≤ 3 below LIMITS.batchRecordsMax), key/value lengths, header count. */
const RECORD_OVERHEAD_BYTES = 5 + 1 + 10 + 3 + 5 + 5 + 5
/** String keys up to this many UTF-8 bytes are hashed from a reused buffer. */
const KEY_SCRATCH_BYTES = 4096
/** Records a producer keeps partition scratch arrays for (8 bytes each); larger keyed calls allocate their own. */
const PARTITION_SCRATCH_MAX = 64 * 1024
/** A new batch on one of several partitions expects its share of the call times this (keys do not spread evenly). */
const EXPECTED_SHARE_SLACK = 1.25

/** Records and their estimated sizes of one call, not yet in the accumulator (metadata loading or buffer full). */
interface WaitingSend {
  topic: string
  /** For the explicit partitions. */
  messages: readonly ProducerMessage[]
  records: PreparedRecords
  next: number
  /** Estimated bytes of the records from `next` on. */
  bytesLeft: number
  /** The call fills at least one batch on its own: its last batches leave without lingering (#enqueueSome). */
  large: boolean
  request: PendingRequest
  /** The topic's partition count was looked up again for this call, as it names a partition past the cached count. */
  refreshed?: boolean
}

/**
 * A sendBatch larger than this many batches is encoded in steps of about that size, returning to the event loop in
 * between so the batches of one step are written and fsynced while the next is encoded. Two: one batch in the disk's
 * hands while the next fills. Measured, 200,000 x 100 B records, 1 MiB batches, median of 12 calls: steps of 16 MiB
 * (the whole in-flight window, as before) 75-78 ms per call with 12 ms of it waiting for the last fsyncs, 4 MiB
 * 71-75 ms, 2 MiB 66-71 ms (5 ms waiting), 1 MiB 67-71 ms; 1 KiB records 71-74 against 66-67 ms; 6 partitions 79-80
 * against 73-78 ms.
 */
const STEP_BATCHES = 2
/** Steps are never smaller than this, so small batches do not make a large call cost thousands of event-loop turns. */
const STEP_BYTES_MIN = 2 * 1024 * 1024

/** `K` and `V`: what the key and value codecs take (`Encodable<C>`); Sluice.producer() infers them from its options. */
/** How long null-key records avoid a partition a send found offline (then it is tried again: it may be repaired). */
const OFFLINE_AVOID_MS = 30_000
/** Topics with offline partitions remembered at once (past it, all are forgotten: a bound, not a policy). */
const OFFLINE_TOPICS_MAX = 1_000

export class Producer<K = unknown, V = unknown> {
  readonly #config: ProducerConfig
  readonly #metadata: TopicMetadataCache
  readonly #accumulator: BatchAccumulator
  /** Partitions a send found offline, per topic, until when (ms): null-key records avoid them meanwhile. */
  readonly #offlineUntil = new Map<string, Map<number, number>>()
  readonly #sticky = new StickyPartitioner(Math.random, (topic) => this.#offlinePartitions(topic))
  readonly #waiting = new Fifo<WaitingSend>()
  readonly #idleWaiters: Array<() => void> = []
  readonly #sender: BatchSender
  #bufferedBytes = 0
  /** Bytes of records one synchronous step of a large send puts into batches (see STEP_BATCHES). */
  readonly #stepBytesMax: number
  #drainImmediate: NodeJS.Immediate | null = null
  /** Out-parameters of #prepare (no tuple per record on the hot path). */
  #pKey: Buffer | string | null = null
  #pKeyBytes = -1
  #pValue: Buffer | string | null = null
  #pValueBytes = -1
  #pTimestamp = 0
  #pHeaders: RecordHeader[] | undefined = undefined
  #pBytes = 0
  /** The partition the message names, -1 for none. */
  #pPartition = -1
  /** Strings are written into batches as UTF-8 without an intermediate Buffer when the codec would do just that. */
  readonly #keysAsText: boolean
  readonly #valuesAsText: boolean
  /** Buffers pass through the default codec as they are: no codec call for them. */
  readonly #keysRaw: boolean
  readonly #valuesRaw: boolean
  /** String keys are hashed for their partition from here (no Buffer per key). */
  readonly #keyScratch = Buffer.allocUnsafe(KEY_SCRATCH_BYTES)
  /** Each record's partition, and the records in partition order, for #enqueueByPartition (grown, never shrunk). */
  #partitionScratch = new Int32Array(0)
  #orderScratch = new Int32Array(0)
  #closed = false
  #closing: Promise<void> | null = null
  readonly #onClose: ((p: Producer) => void) | null

  constructor(transport: Transport, config: ProducerConfig, onClose?: (p: Producer) => void) {
    this.#config = config
    this.#stepBytesMax = Math.min(
      config.batchBytes * config.maxInFlight,
      Math.max(STEP_BATCHES * config.batchBytes, STEP_BYTES_MIN),
    )
    this.#keysAsText = config.keyCodec === bufferCodec || config.keyCodec === stringCodec
    this.#valuesAsText = config.valueCodec === bufferCodec || config.valueCodec === stringCodec
    this.#keysRaw = config.keyCodec === bufferCodec
    this.#valuesRaw = config.valueCodec === bufferCodec
    this.#metadata = new TopicMetadataCache(transport, config.retries, config.retryBackoffMs, config.metadataMaxAgeMs)
    this.#accumulator = new BatchAccumulator(config.batchBytes, config.lingerMs, (q) => this.#onBatchClosed(q))
    this.#sender = new BatchSender(transport, config, () => this.#accumulator.all(), {
      onSettled: (_q, batch) => this.#onSettled(batch),
      onUnknownTopic: (topic) => this.#metadata.forget(topic),
      onPartitionOffline: (topic, partition) => this.#markOffline(topic, partition),
    })
    this.#onClose = onClose ?? null
  }

  get config(): ProducerConfig {
    return this.#config
  }

  /** Sends one record; resolves with where it landed once acknowledged under `acks`. */
  send(topic: string, message: ProducerMessage<K, V>): Promise<RecordMetadata> {
    return new Promise<RecordMetadata | SendBatchResult>((resolve, reject) => {
      this.#submitOne(topic, message, { resolve, reject, results: null, remaining: 1, settled: false })
    }) as Promise<RecordMetadata>
  }

  /** Sends many records with one promise; resolves with where each landed, in the order given (a SendBatchResult:
   *  `at(i)`, `offsetOf(i)`, iteration, `toArray()`). All or nothing is queued: a bad message rejects the call before
   *  any record is sent. */
  sendBatch(topic: string, messages: readonly ProducerMessage<K, V>[]): Promise<SendBatchResult> {
    if (!Array.isArray(messages))
      return Promise.reject(new InvalidArgumentError(`sendBatch takes an array of messages, got ${typeof messages}`))
    if (messages.length === 0)
      return Promise.resolve(new SendBatchResult(topic, new Int32Array(0), new Float64Array(0), new Float64Array(0)))
    return new Promise<RecordMetadata | SendBatchResult>((resolve, reject) => {
      const results = new BatchResults(topic, messages.length)
      this.#submit(topic, messages, { resolve, reject, results, remaining: messages.length, settled: false })
    }) as Promise<SendBatchResult>
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
      this.#prepare(message, -1, Date.now())
      const bytes = this.#pBytes
      if (
        known !== undefined &&
        this.#pPartition < known &&
        this.#waiting.length === 0 &&
        this.#bufferedBytes + bytes <= this.#config.bufferBytesMax
      ) {
        this.#enqueue(
          topic,
          known,
          this.#pKey,
          this.#pKeyBytes,
          this.#pValue,
          this.#pValueBytes,
          this.#pTimestamp,
          this.#pHeaders,
          bytes,
          message.partition,
          request,
          0,
        )
        return
      }
      const records = new PreparedRecords(1)
      this.#keepPrepared(records, 0)
      this.#wait({ topic, messages: [message], records, next: 0, bytesLeft: bytes, large: false, request })
    } catch (err) {
      settleError(request, err)
    }
  }

  /** Copies #prepare's out-parameters into slot `i`. */
  #keepPrepared(records: PreparedRecords, i: number): void {
    records.keys[i] = this.#pKey
    records.values[i] = this.#pValue
    records.keyBytes[i] = this.#pKeyBytes
    records.valueBytes[i] = this.#pValueBytes
    records.timestamps[i] = this.#pTimestamp
    records.bytes[i] = this.#pBytes
    if (this.#pPartition >= 0) {
      records.explicitPartitions = true
      if (this.#pPartition > records.maxExplicitPartition) records.maxExplicitPartition = this.#pPartition
    }
    if (this.#pKey === null) records.nullKeys++
    if (this.#pHeaders !== undefined) {
      records.headers ??= []
      records.headers[i] = this.#pHeaders
    }
  }

  #submit(topic: string, messages: readonly ProducerMessage[], request: PendingRequest): void {
    try {
      const known = this.#check(topic)
      const count = messages.length
      const now = Date.now()
      const records = new PreparedRecords(count)
      let total = 0
      for (let i = 0; i < count; i++) {
        this.#prepare(messages[i], i, now)
        this.#keepPrepared(records, i)
        total += this.#pBytes
      }
      const large = total >= this.#config.batchBytes
      const w: WaitingSend = { topic, messages, records, next: 0, bytesLeft: total, large, request }
      if (
        known !== undefined &&
        records.maxExplicitPartition < known &&
        this.#waiting.length === 0 &&
        this.#bufferedBytes + total <= this.#config.bufferBytesMax
      ) {
        // It all fits, so 'done' or, for a large call, 'step': the rest follows on a later turn.
        if (this.#enqueueSome(w, known) === 'done') return
        this.#waiting.push(w)
        this.#scheduleDrain()
        return
      }
      this.#wait(w)
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

  /** Validates and encodes one message into the #p* out-parameters, with its estimated batch bytes in #pBytes.
   *  Throws a typed error naming the message (`index` in its sendBatch call, -1 for send) for bad input; the name is
   *  built only then (a string per record was a measurable share of a large sendBatch). */
  #prepare(message: ProducerMessage | undefined, index: number, now: number): void {
    if (typeof message !== 'object' || message === null)
      throw new InvalidArgumentError(
        `${whereOf(index)} must be an object with a value, got ${message === null ? 'null' : typeof message}`,
      )
    const k = message.key
    if (k === null || k === undefined) {
      this.#pKey = null
      this.#pKeyBytes = -1
    } else if (typeof k === 'string' && this.#keysAsText) {
      this.#pKey = k
      this.#pKeyBytes = utf8Length(k)
    } else if (this.#keysRaw && Buffer.isBuffer(k)) {
      this.#pKey = k
      this.#pKeyBytes = k.length
    } else {
      const key = encodeWith(this.#config.keyCodec, k, 'key')!
      this.#pKey = key
      this.#pKeyBytes = key.length
    }
    // A misspelt field (`vaule`, `partiton`, `header`) would otherwise be dropped without a word. About 6 ns a message.
    if (!hasOnlyMessageKeys(message)) checkKnownKeys(message, MESSAGE_KEYS, whereOf(index))
    const v = message.value
    if (v === null || v === undefined) {
      this.#pValue = null
      this.#pValueBytes = -1
    } else if (typeof v === 'string' && this.#valuesAsText) {
      this.#pValue = v
      this.#pValueBytes = utf8Length(v)
    } else if (this.#valuesRaw && Buffer.isBuffer(v)) {
      this.#pValue = v
      this.#pValueBytes = v.length
    } else {
      const value = encodeWith(this.#config.valueCodec, v, 'value')!
      this.#pValue = value
      this.#pValueBytes = value.length
    }
    const ts = message.timestamp
    this.#pTimestamp =
      ts === undefined
        ? now
        : typeof ts === 'number' && Number.isSafeInteger(ts) && ts >= 0
          ? ts
          : toTimestamp(ts, `${whereOf(index)} timestamp`)
    const keyBytes = this.#pKeyBytes < 0 ? 0 : this.#pKeyBytes
    const valueBytes = this.#pValueBytes < 0 ? 0 : this.#pValueBytes
    let size = RECORD_OVERHEAD_BYTES + keyBytes + valueBytes
    let headers: RecordHeader[] | undefined
    if (message.headers !== undefined && message.headers !== null) {
      headers = toRecordHeaders(message.headers, whereOf(index))
      for (const h of headers) {
        const hKeyBytes = Buffer.byteLength(h.key)
        size += sizeOfVarint(hKeyBytes) + hKeyBytes + 5 + (h.value === null ? 0 : h.value.length)
      }
    }
    this.#pHeaders = headers
    if (message.partition !== undefined && (!Number.isSafeInteger(message.partition) || message.partition < 0))
      throw new InvalidArgumentError(
        `${whereOf(index)} partition must be a non-negative integer, got ${typeof message.partition === 'string' ? `the string "${message.partition}"` : String(message.partition)}`,
      )
    const recordBytesMax = this.#config.recordBytesMax
    if (size + BATCH_HEADER_BYTES > recordBytesMax)
      throw new RecordTooLargeError(
        `${whereOf(index)} is about ${size} bytes (key ${keyBytes}, value ${valueBytes}); in a batch of its own, ` +
          `with the ${BATCH_HEADER_BYTES}-byte batch header, ${size + BATCH_HEADER_BYTES} bytes: more than ` +
          `recordBytesMax ${recordBytesMax} (sizes before compression)`,
      )
    this.#pBytes = size
    this.#pPartition = message.partition ?? -1
  }

  /** Record `w.next` of a waiting or batch call into the accumulator. */
  #enqueuePrepared(w: WaitingSend, partitionCount: number): void {
    const r = w.records
    const i = w.next
    this.#enqueue(
      w.topic,
      partitionCount,
      r.keys[i]!,
      r.keyBytes[i]!,
      r.values[i]!,
      r.valueBytes[i]!,
      r.timestamps[i]!,
      r.headersOf(i),
      r.bytes[i]!,
      w.messages[i]!.partition,
      w.request,
      i,
    )
  }

  #enqueue(
    topic: string,
    partitionCount: number,
    key: Buffer | string | null,
    keyBytes: number,
    value: Buffer | string | null,
    valueBytes: number,
    timestamp: number,
    headers: RecordHeader[] | undefined,
    bytes: number,
    explicit: number | undefined,
    request: PendingRequest,
    slot: number,
  ): void {
    let partition: number
    if (explicit !== undefined) {
      if (explicit >= partitionCount) throw new UnknownPartitionError(topic, explicit, partitionCount)
      partition = explicit
    } else if (key === null) partition = this.#sticky.partition(topic, partitionCount)
    else partition = this.#partitionOfKey(key, keyBytes, partitionCount)
    this.#bufferedBytes += bytes
    const q = this.#accumulator.queue(topic, partition)
    this.#accumulator.append(q, key, keyBytes, value, valueBytes, timestamp, headers, bytes, request, slot)
  }

  /** The murmur2 partition of a non-null key (Kafka's default partitioner). */
  #partitionOfKey(key: Buffer | string, keyBytes: number, partitionCount: number): number {
    if (partitionCount === 1) return 0 // no hash for one partition
    if (typeof key !== 'string') return partitionForKey(key, partitionCount)
    if (keyBytes <= KEY_SCRATCH_BYTES) {
      writeUtf8(this.#keyScratch, 0, key, keyBytes)
      return partitionForKey(this.#keyScratch, partitionCount, keyBytes)
    }
    return partitionForKey(Buffer.from(key, 'utf8'), partitionCount)
  }

  /** Appends records of `w` in order until all are in ('done'), the producer's buffer is full ('full'), or
   *  `#stepBytesMax` of them are in ('step'). A call larger than a step returns to the event loop between steps: the
   *  batches closed so far are dispatched, and the broker writes and fsyncs them while the next step is encoded,
   *  instead of after the whole call is. */
  #enqueueSome(w: WaitingSend, partitionCount: number): 'done' | 'full' | 'step' {
    const count = w.records.count
    const sizes = w.records.bytes
    const bufferMax = this.#config.bufferBytesMax
    let step = 0
    // One partition and none named: the records of the call go to one queue, in runs that fill its open batch.
    const single = partitionCount === 1 && !w.records.explicitPartitions && w.records.count > 1
    const accumulator = this.#accumulator
    if (
      partitionCount > 1 &&
      w.next === 0 &&
      count > 1 &&
      !w.records.explicitPartitions &&
      w.records.nullKeys === 0 &&
      w.bytesLeft <= this.#stepBytesMax &&
      this.#bufferedBytes + w.bytesLeft <= bufferMax
    ) {
      this.#enqueueByPartition(w, partitionCount)
      if (w.large) this.#accumulator.closeTopic(w.topic)
      return 'done'
    }
    // What each new batch can expect: the rest of the call, or its share of it on several partitions (a quarter more
    // for uneven keys). Each partition's batch sized for the whole call was most of a 6-partition sendBatch's
    // allocation (six ~180 KB buffers per 1,600 x 100 B call, a mark-compact every ~70 ms for external memory).
    accumulator.expectedBytes =
      partitionCount === 1 ? w.bytesLeft : Math.ceil((w.bytesLeft / partitionCount) * EXPECTED_SHARE_SLACK)
    try {
      // Bounded by count: each turn takes one record or more.
      while (w.next < count) {
        const bytes = sizes[w.next]!
        if (this.#bufferedBytes > 0 && this.#bufferedBytes + bytes > bufferMax) return 'full'
        if (step >= this.#stepBytesMax) return 'step'
        if (single) {
          // as many as the open batch, the step and the buffer take (each checked as for one record at a time)
          const q = accumulator.queue(w.topic, 0)
          const stepLeft = this.#stepBytesMax - step
          const bufferLeft = bufferMax - this.#bufferedBytes
          const n = accumulator.appendRun(q, w.records, null, w.next, count, stepLeft, bufferLeft, w.request)
          if (n > 0) {
            const runBytes = accumulator.runBytes
            this.#bufferedBytes += runBytes
            w.bytesLeft -= runBytes
            step += runBytes
            w.next += n
            continue
          }
        }
        this.#enqueuePrepared(w, partitionCount)
        w.bytesLeft -= bytes
        step += bytes
        w.next++
      }
      // A call that filled batches on its own gains nothing from lingerMs: waiting for records to join its last
      // batches would only add lingerMs to it (200,000 x 100 B: 5 ms of a 50 ms call).
      if (w.large) this.#accumulator.closeTopic(w.topic)
      return 'done'
    } finally {
      accumulator.expectedBytes = 0
    }
  }

  /**
   * A whole keyed call spread over several partitions, in one step and within the buffer: the records are grouped by
   * partition (a stable counting sort, so each partition keeps the call's order) and each group goes into its queue in
   * runs that fill its open batch, as one partition's records do. Record by record, every record cost a queue lookup
   * and a batch-room check of its own: the synchronous part of a 1,600-record call on 6 partitions was 294-320 us,
   * 257-265 us this way (210-216 us on one partition).
   */
  #enqueueByPartition(w: WaitingSend, partitionCount: number): void {
    const r = w.records
    const count = r.count
    const keys = r.keys
    const keyBytes = r.keyBytes
    const sizes = r.bytes
    // Scratch kept for the next call up to PARTITION_SCRATCH_MAX records; a larger call has arrays of its own.
    let partitions = this.#partitionScratch
    let order = this.#orderScratch
    if (count > PARTITION_SCRATCH_MAX) {
      partitions = new Int32Array(count)
      order = new Int32Array(count)
    } else if (partitions.length < count) {
      const size = Math.min(Math.max(count, 2 * partitions.length), PARTITION_SCRATCH_MAX)
      this.#partitionScratch = partitions = new Int32Array(size)
      this.#orderScratch = order = new Int32Array(size)
    }
    const starts = new Int32Array(partitionCount + 1)
    const groupBytes = new Float64Array(partitionCount)
    // Bounded by count.
    for (let i = 0; i < count; i++) {
      const p = this.#partitionOfKey(keys[i]!, keyBytes[i]!, partitionCount)
      partitions[i] = p
      starts[p + 1]!++
      groupBytes[p]! += sizes[i]!
    }
    for (let p = 0; p < partitionCount; p++) starts[p + 1]! += starts[p]!
    const at = starts.slice(0, partitionCount)
    for (let i = 0; i < count; i++) order[at[partitions[i]!]!++] = i
    const accumulator = this.#accumulator
    const bufferMax = this.#config.bufferBytesMax
    try {
      // Bounded by partitionCount groups of count records in all; each turn takes one record or more.
      for (let p = 0; p < partitionCount; p++) {
        let k = starts[p]!
        const end = starts[p + 1]!
        if (k === end) continue
        const q = accumulator.queue(w.topic, p)
        let left = groupBytes[p]!
        while (k < end) {
          const n = accumulator.appendRun(q, r, order, k, end, Infinity, bufferMax - this.#bufferedBytes, w.request)
          if (n > 0) {
            this.#bufferedBytes += accumulator.runBytes
            left -= accumulator.runBytes
            k += n
            continue
          }
          // No open batch, or the next record does not fit in it: append() closes or opens one, sized for the rest of
          // this partition's records.
          const i = order[k]!
          accumulator.expectedBytes = left
          accumulator.append(
            q,
            keys[i]!,
            keyBytes[i]!,
            r.values[i]!,
            r.valueBytes[i]!,
            r.timestamps[i]!,
            r.headersOf(i),
            sizes[i]!,
            w.request,
            i,
          )
          this.#bufferedBytes += sizes[i]!
          left -= sizes[i]!
          k++
        }
      }
    } finally {
      accumulator.expectedBytes = 0
    }
    w.bytesLeft = 0
    w.next = count
  }

  #scheduleDrain(): void {
    if (this.#drainImmediate !== null) return
    this.#drainImmediate = setImmediate(() => {
      this.#drainImmediate = null
      this.#drainWaiting()
    })
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
      if (w.next === 0 && w.records.maxExplicitPartition >= count) {
        // A partition past the cached count: the topic may have grown since (createPartitions). Look the count up
        // again once for this call, as Kafka's producer refreshes its metadata, before refusing the whole call.
        if (w.refreshed !== true) {
          w.refreshed = true
          this.#metadata.forget(w.topic)
          this.#loadMetadata(w.topic)
          return
        }
        settleError(w.request, new UnknownPartitionError(w.topic, w.records.maxExplicitPartition, count))
        this.#waiting.shift()
        continue
      }
      try {
        const outcome = this.#enqueueSome(w, count)
        if (outcome === 'full') {
          // Send what is open so completions free space; #onSettled continues from here.
          this.#accumulator.closeAll()
          return
        }
        if (outcome === 'step') {
          this.#scheduleDrain()
          return
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

  /** A batch to (topic, partition) failed with PartitionOfflineError: avoid it for null-key records for a while. */
  #markOffline(topic: string, partition: number): void {
    let partitions = this.#offlineUntil.get(topic)
    if (partitions === undefined) {
      if (this.#offlineUntil.size >= OFFLINE_TOPICS_MAX) this.#offlineUntil.clear()
      partitions = new Map()
      this.#offlineUntil.set(topic, partitions)
    }
    partitions.set(partition, Date.now() + OFFLINE_AVOID_MS)
  }

  #offlinePartitions(topic: string): ReadonlySet<number> | undefined {
    const partitions = this.#offlineUntil.get(topic)
    if (partitions === undefined) return undefined
    const now = Date.now()
    for (const [p, until] of partitions) if (until <= now) partitions.delete(p)
    if (partitions.size === 0) {
      this.#offlineUntil.delete(topic)
      return undefined
    }
    return new Set(partitions.keys())
  }

  // ---- sending -----------------------------------------------------------------------------------------------------

  #onBatchClosed(q: PartitionQueue): void {
    const count = this.#metadata.cached(q.topic)
    if (count !== undefined) this.#sticky.onNewBatch(q.topic, count, q.partition)
    this.#sender.trySend(q)
  }

  #onSettled(batch: OpenBatch): void {
    this.#bufferedBytes -= batch.recordBytes
    // On the next turn, not here: a settle runs in a microtask, and an fsync settles several batches at once; each
    // encoding a step of a large send here kept the batches closed meanwhile from being sent until all had run.
    if (this.#waiting.length > 0) this.#scheduleDrain()
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

const MESSAGE_KEYS: readonly string[] = ['key', 'value', 'headers', 'partition', 'timestamp']

/** True when every enumerable key of `m` is a field of ProducerMessage (a for-in and a switch: no allocation). */
function hasOnlyMessageKeys(m: object): boolean {
  for (const k in m) {
    switch (k) {
      case 'key':
      case 'value':
      case 'headers':
      case 'partition':
      case 'timestamp':
        break
      default:
        return false
    }
  }
  return true
}

/** How an error names a message: its index in a sendBatch call, or just 'message' for send() (index -1). */
function whereOf(index: number): string {
  return index < 0 ? 'message' : `message ${index}`
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

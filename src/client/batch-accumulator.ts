// Per-partition batching for the producer. Records are appended to the open batch of their partition; a batch closes
// when the next record would take it past `batchBytes`, when `lingerMs` has passed since it opened, or on flush, and
// moves to that partition's ready queue, where it still takes records (up to `batchBytes`) until it is dispatched. The accumulator only groups records and runs the linger timers: the producer
// decides when a ready batch is sent (BatchSender: a bounded window per partition, dispatched in order).
// Byte counts are upper-bound estimates of the encoded size, so a closed batch never encodes past `batchBytes`.
import type { RecordInput } from '../storage/record-batch.js'
import type { InFlightBatch } from './batch-sender.js'
import { BATCH_HEADER_BYTES } from '../config/limits.js'

export interface RecordMetadata {
  topic: string
  partition: number
  /** -1 with acks 0. */
  offset: number
  /** The record's timestamp, or the broker's log-append time when the topic uses it. */
  timestamp: number
}

/** Where each record of a sendBatch() call landed, kept in flat arrays until the last one is acknowledged: the
 *  metadata objects are made at the end, so they are not carried (and promoted by the GC) while the batch is sent. */
export class BatchResults {
  readonly partitions: Int32Array
  readonly offsets: Float64Array
  readonly timestamps: Float64Array

  constructor(
    readonly topic: string,
    count: number,
  ) {
    this.partitions = new Int32Array(count)
    this.offsets = new Float64Array(count)
    this.timestamps = new Float64Array(count)
  }

  toMetadata(): RecordMetadata[] {
    const { topic, partitions, offsets, timestamps } = this
    const out = new Array<RecordMetadata>(offsets.length)
    for (let i = 0; i < out.length; i++)
      out[i] = { topic, partition: partitions[i]!, offset: offsets[i]!, timestamp: timestamps[i]! }
    return out
  }
}

/** One send() or sendBatch() call: settled once, when its last record is acknowledged or on the first failure. */
export interface PendingRequest {
  resolve(value: RecordMetadata | RecordMetadata[]): void
  reject(err: Error): void
  /** null for send(); one slot per message for sendBatch(). */
  results: BatchResults | null
  remaining: number
  settled: boolean
}

export class OpenBatch {
  /** Emptied by release() once the batch is encoded, so records do not outlive their bytes (they would otherwise
   *  survive until the ack, often an fsync later, and be promoted by the GC). */
  readonly records: RecordInput[] = []
  /** The record count, kept after release(). */
  recordCount = 0
  /** After release(): each record's timestamp, or null when they are all `timestamp`. */
  timestamps: Float64Array | null = null
  timestamp = 0
  readonly requests: PendingRequest[] = []
  /** Index of each record in its request's `results`. */
  readonly slots: number[] = []
  /** Estimated encoded size (an upper bound), header included. */
  bytes = BATCH_HEADER_BYTES
  /** The part of `bytes` its records account for (what the producer's buffer counts). */
  recordBytes = 0

  /** The timestamp of record `i` (before or after release). */
  timestampOf(i: number): number {
    const records = this.records
    if (records.length > 0) return records[i]!.timestamp
    return this.timestamps === null ? this.timestamp : this.timestamps[i]!
  }

  /** Keeps the record count and timestamps and drops the records (call once their bytes are encoded). */
  release(): void {
    const records = this.records
    const count = records.length
    if (count === 0) return
    const first = records[0]!.timestamp
    let uniform = true
    for (let i = 1; i < count; i++)
      if (records[i]!.timestamp !== first) {
        uniform = false
        break
      }
    if (uniform) this.timestamp = first
    else {
      const timestamps = new Float64Array(count)
      for (let i = 0; i < count; i++) timestamps[i] = records[i]!.timestamp
      this.timestamps = timestamps
    }
    records.length = 0
  }
}

export class PartitionQueue {
  current: OpenBatch | null = null
  readonly ready: OpenBatch[] = []
  /** Dispatched batches not settled yet, oldest first (at most ProducerConfig.maxInFlight). */
  readonly window: InFlightBatch[] = []
  /** Idempotent producers: the baseSequence of the next batch sent. */
  nextSequence = 0
  timer: NodeJS.Timeout | null = null
  immediate: NodeJS.Immediate | null = null

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {}
}

/** Called each time a batch of the queue closes (full, linger passed, or flush). */
export type BatchClosedListener = (queue: PartitionQueue) => void

export class BatchAccumulator {
  readonly #queues = new Map<string, PartitionQueue[]>()
  /** While > 0, batches close on the next turn of the event loop instead of lingering. */
  #flushing = 0

  constructor(
    private readonly batchBytes: number,
    private readonly lingerMs: number,
    private readonly onClosed: BatchClosedListener,
  ) {}

  queue(topic: string, partition: number): PartitionQueue {
    let byPartition = this.#queues.get(topic)
    if (byPartition === undefined) {
      byPartition = []
      this.#queues.set(topic, byPartition)
    }
    let q = byPartition[partition]
    if (q === undefined) {
      q = new PartitionQueue(topic, partition)
      byPartition[partition] = q
    }
    return q
  }

  /** Adds one record of `recordBytes` (estimated) to the open batch of `q`, closing a full one first. With no open
   *  batch, the record joins the newest closed batch still waiting for room in the in-flight window if it fits: while
   *  acknowledgements are slow (an fsync stall), the records that arrive meanwhile leave as one batch when the window
   *  opens instead of as a queue of tiny batches each waiting its turn (that queue is what made latency grow). */
  append(q: PartitionQueue, record: RecordInput, recordBytes: number, request: PendingRequest, slot: number): void {
    let batch = q.current
    if (batch !== null && batch.bytes + recordBytes > this.batchBytes) {
      this.close(q)
      batch = null
    }
    if (batch === null) {
      const waiting = q.ready.length > 0 ? q.ready[q.ready.length - 1]! : null
      if (waiting !== null && waiting.bytes + recordBytes <= this.batchBytes) batch = waiting
      else {
        batch = new OpenBatch()
        q.current = batch
        this.#arm(q)
      }
    }
    batch.records.push(record)
    batch.recordCount++
    batch.requests.push(request)
    batch.slots.push(slot)
    batch.bytes += recordBytes
    batch.recordBytes += recordBytes
  }

  /** Moves the open batch of `q` (if any) to its ready queue and tells the listener. */
  close(q: PartitionQueue): void {
    stopTimer(q)
    const batch = q.current
    if (batch === null) return
    q.current = null
    q.ready.push(batch)
    this.onClosed(q)
  }

  /** Closes every open batch now; while `beginFlush` is in effect new batches close on the next tick. */
  closeAll(): void {
    for (const byPartition of this.#queues.values()) for (const q of byPartition) if (q !== undefined) this.close(q)
  }

  beginFlush(): void {
    this.#flushing++
    this.closeAll()
  }

  endFlush(): void {
    this.#flushing--
  }

  *all(): Generator<PartitionQueue> {
    for (const byPartition of this.#queues.values()) for (const q of byPartition) if (q !== undefined) yield q
  }

  /** Stops every linger timer (close of the producer; batches are flushed first). */
  stopTimers(): void {
    for (const q of this.all()) stopTimer(q)
  }

  #arm(q: PartitionQueue): void {
    const fire = (): void => {
      q.timer = null
      q.immediate = null
      this.close(q)
    }
    if (this.lingerMs === 0 || this.#flushing > 0) q.immediate = setImmediate(fire)
    else q.timer = setTimeout(fire, this.lingerMs)
  }
}

function stopTimer(q: PartitionQueue): void {
  if (q.timer !== null) clearTimeout(q.timer)
  if (q.immediate !== null) clearImmediate(q.immediate)
  q.timer = null
  q.immediate = null
}

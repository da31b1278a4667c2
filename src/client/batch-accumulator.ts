// Per-partition batching for the producer. Records are appended to the open batch of their partition; a batch closes
// when the next record would take it past `batchBytes`, when `lingerMs` has passed since it opened, or on flush, and
// moves to that partition's ready queue, where it still takes records (up to `batchBytes`) until it is dispatched. The accumulator only groups records and runs the linger timers: the producer
// decides when a ready batch is sent (BatchSender: a bounded window per partition, dispatched in order).
// Byte counts are upper-bound estimates of the encoded size, so a closed batch never encodes past `batchBytes`.
import type { RecordHeader } from '../storage/record-batch.js'
import type { InFlightBatch } from './batch-sender.js'
import { BATCH_HEADER_BYTES, LIMITS } from '../config/limits.js'
import { BatchBufferPool } from './batch-buffer-pool.js'
import { BatchBuilder } from './batch-builder.js'
import type { PreparedRecords } from './prepared-records.js'
import { SendBatchResult, type RecordMetadata } from './send-batch-result.js'

/** Where each record of a sendBatch() call landed, kept in flat arrays until the last one is acknowledged, then handed
 *  to the caller as they are (a SendBatchResult). */
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

  toResult(): SendBatchResult {
    return new SendBatchResult(this.topic, this.partitions, this.offsets, this.timestamps)
  }
}

/** One send() or sendBatch() call: settled once, when its last record is acknowledged or on the first failure. */
export interface PendingRequest {
  resolve(value: RecordMetadata | SendBatchResult): void
  reject(err: Error): void
  /** null for send(); one slot per message for sendBatch(). */
  results: BatchResults | null
  remaining: number
  settled: boolean
}

export class OpenBatch {
  /** The batch's bytes, serialized as records are appended. */
  readonly builder: BatchBuilder
  /** The records' requests, run-length encoded: run r is `runCounts[r]` consecutive records of `runRequests[r]`
   *  (a sendBatch call's records in one batch are one run, not one array entry each), the first of them at
   *  `runFirstSlots[r]` of its request's `results`. */
  readonly runRequests: PendingRequest[] = []
  readonly runCounts: number[] = []
  readonly runFirstSlots: number[] = []
  /** Index of each record in its request's `results`, kept only once a run's slots stop being consecutive (a
   *  sendBatch spread over partitions); until then a record's slot is its run's first slot plus its place in it. */
  slots: number[] | null = null
  /** Estimated encoded size (an upper bound), header included. */
  bytes = BATCH_HEADER_BYTES
  /** The part of `bytes` its records account for (what the producer's buffer counts). */
  recordBytes = 0

  constructor(batchBytes: number, expectedBytes = 0, pool: BatchBufferPool | null = null) {
    this.builder = new BatchBuilder(batchBytes, expectedBytes, pool)
  }

  get recordCount(): number {
    return this.builder.recordCount
  }

  /** Records that the record appended last belongs to `request`, at `slot` of its results. */
  addRecordOf(request: PendingRequest, slot: number): void {
    const last = this.runRequests.length - 1
    const sameRequest = last >= 0 && this.runRequests[last] === request
    if (this.slots === null) {
      if (sameRequest && slot === this.runFirstSlots[last]! + this.runCounts[last]!) {
        this.runCounts[last]!++
        return
      }
      if (sameRequest) this.slots = this.#slotsSoFar()
    }
    this.slots?.push(slot)
    if (sameRequest) this.runCounts[last]!++
    else {
      this.runRequests.push(request)
      this.runCounts.push(1)
      this.runFirstSlots.push(slot)
    }
  }

  /** Records that the `count` records appended last belong to `request`, at slots firstSlot, firstSlot + 1, ... */
  addRun(request: PendingRequest, firstSlot: number, count: number): void {
    const last = this.runRequests.length - 1
    if (this.slots === null) {
      if (last < 0 || this.runRequests[last] !== request) {
        this.runRequests.push(request)
        this.runCounts.push(count)
        this.runFirstSlots.push(firstSlot)
        return
      }
      if (firstSlot === this.runFirstSlots[last]! + this.runCounts[last]!) {
        this.runCounts[last]! += count
        return
      }
    }
    // Slots kept one by one (or they stop being consecutive here): as addRecordOf, record by record. Bounded by count.
    for (let k = 0; k < count; k++) this.addRecordOf(request, firstSlot + k)
  }

  /** Records that the records appended last belong to `request`, at slots `order[from]` ... `order[to - 1]`
   *  (increasing). */
  addSlots(request: PendingRequest, order: Int32Array, from: number, to: number): void {
    // Bounded by to - from.
    for (let k = from; k < to; k++) this.addRecordOf(request, order[k]!)
  }

  /** The slot of each record so far, from the runs (all consecutive until now). */
  #slotsSoFar(): number[] {
    const out: number[] = []
    for (let r = 0; r < this.runCounts.length; r++)
      for (let k = 0; k < this.runCounts[r]!; k++) out.push(this.runFirstSlots[r]! + k)
    return out
  }

  /** The timestamp of record `i`. */
  timestampOf(i: number): number {
    return this.builder.timestampOf(i)
  }
}

export class PartitionQueue {
  current: OpenBatch | null = null
  readonly ready: OpenBatch[] = []
  /** Dispatched batches not settled yet, oldest first (at most ProducerConfig.maxInFlight). */
  readonly window: InFlightBatch[] = []
  /** Idempotent producers: the baseSequence of the next batch sent. */
  nextSequence = 0
  /** Bytes of the last batch closed here: the next one starts with a buffer that size (traffic is steady). */
  lastBatchBytes = 0
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
  /** The queue queue() returned last (queues are never removed). */
  #lastQueue: PartitionQueue | null = null
  /** While > 0, batches close on the next turn of the event loop instead of lingering. */
  #flushing = 0
  /** Estimated bytes of records about to be appended by one call (sendBatch): new batches start that big (up to
   *  batchBytes) instead of growing from small. Set and reset by the producer around its appends. */
  expectedBytes = 0
  /** Batch buffers, reused once their batches are answered (see BatchBufferPool). */
  readonly pool: BatchBufferPool

  constructor(
    private readonly batchBytes: number,
    private readonly lingerMs: number,
    private readonly onClosed: BatchClosedListener,
  ) {
    this.pool = new BatchBufferPool(batchBytes, LIMITS.producerPooledBatchBuffersMax * batchBytes)
  }

  queue(topic: string, partition: number): PartitionQueue {
    // Consecutive records mostly go to the same queue (one call, one partition): no map lookup for them.
    const last = this.#lastQueue
    if (last !== null && last.partition === partition && last.topic === topic) return last
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
    this.#lastQueue = q
    return q
  }

  /** Adds one record of `recordBytes` (estimated, an upper bound) to the open batch of `q`, closing a full one first.
   *  With no open batch, the record joins the newest closed batch still waiting for room in the in-flight window if
   *  it fits: while acknowledgements are slow (an fsync stall), the records that arrive meanwhile leave as one batch
   *  when the window opens instead of as a queue of tiny batches each waiting its turn (that queue made latency grow).
   *  `keyBytes`/`valueBytes`: byte lengths (UTF-8 for strings), -1 for null. */
  append(
    q: PartitionQueue,
    key: Buffer | string | null,
    keyBytes: number,
    value: Buffer | string | null,
    valueBytes: number,
    timestamp: number,
    headers: readonly RecordHeader[] | undefined,
    recordBytes: number,
    request: PendingRequest,
    slot: number,
  ): void {
    let batch = q.current
    if (batch !== null && !fits(batch, recordBytes, this.batchBytes)) {
      this.close(q)
      batch = null
    }
    if (batch === null) {
      const waiting = q.ready.length > 0 ? q.ready[q.ready.length - 1]! : null
      if (waiting !== null && fits(waiting, recordBytes, this.batchBytes)) batch = waiting
      else {
        batch = new OpenBatch(this.batchBytes, Math.max(this.expectedBytes, q.lastBatchBytes), this.pool)
        q.current = batch
        this.#arm(q)
      }
    }
    batch.builder.append(key, keyBytes, value, valueBytes, timestamp, headers)
    batch.addRecordOf(request, slot)
    batch.bytes += recordBytes
    batch.recordBytes += recordBytes
  }

  /** Bytes (estimated, as counted by append) of the records the latest appendRun() took. */
  runBytes = 0

  /**
   * Appends records of `request` (slots equal to their indexes) to the open batch of `q`: records [from, to), or with
   * an `order` the records order[from] ... order[to - 1] (a partition's share of a call grouped by partition), while
   * each fits in the batch (as append() checks), the run's bytes before it are under `stepLeft` and its own end is
   * within `bufferLeft`; returns how many it took (0 when there is no open batch or the first does not fit: append()
   * then opens or closes batches). Their bytes are left in `runBytes`.
   */
  appendRun(
    q: PartitionQueue,
    records: PreparedRecords,
    order: Int32Array | null,
    from: number,
    to: number,
    stepLeft: number,
    bufferLeft: number,
    request: PendingRequest,
  ): number {
    this.runBytes = 0
    const batch = q.current
    if (batch === null) return 0
    const sizes = records.bytes
    const room = Math.min(this.batchBytes - batch.bytes, bufferLeft)
    const countRoom = LIMITS.batchRecordsMax - batch.recordCount
    let sum = 0
    let k = from
    // Bounded by to - from.
    while (k < to && k - from < countRoom && sum < stepLeft) {
      const bytes = sizes[order === null ? k : order[k]!]!
      if (sum + bytes > room) break
      sum += bytes
      k++
    }
    const n = k - from
    if (n === 0) return 0
    if (order === null) {
      batch.builder.appendPrepared(records, from, k)
      batch.addRun(request, from, n)
    } else {
      batch.builder.appendPreparedOf(records, order, from, k)
      batch.addSlots(request, order, from, k)
    }
    batch.bytes += sum
    batch.recordBytes += sum
    this.runBytes = sum
    return n
  }

  /** Moves the open batch of `q` (if any) to its ready queue and tells the listener. */
  close(q: PartitionQueue): void {
    stopTimer(q)
    const batch = q.current
    if (batch === null) return
    q.current = null
    q.lastBatchBytes = batch.builder.sizeBytes
    q.ready.push(batch)
    this.onClosed(q)
  }

  /** Closes the open batches of `topic` now. */
  closeTopic(topic: string): void {
    const byPartition = this.#queues.get(topic)
    if (byPartition !== undefined) for (const q of byPartition) if (q !== undefined) this.close(q)
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
    this.pool.clear()
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

function fits(batch: OpenBatch, recordBytes: number, batchBytes: number): boolean {
  return batch.bytes + recordBytes <= batchBytes && batch.recordCount < LIMITS.batchRecordsMax
}

function stopTimer(q: PartitionQueue): void {
  if (q.timer !== null) clearTimeout(q.timer)
  if (q.immediate !== null) clearImmediate(q.immediate)
  q.timer = null
  q.immediate = null
}

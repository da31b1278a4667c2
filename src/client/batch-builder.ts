// Builds one RecordBatch v2 as records arrive: each record is serialized into the batch's buffer when it is appended,
// so between send() and the acknowledgement the producer holds bytes, not one object (and one key Buffer) per record
// for the garbage collector to carry. The header (timestamps, producer id, sequence, CRC-32C) is written once, by
// `finish`, when the batch is dispatched. Offsets deltas are the append order; timestamp deltas are taken from the
// first record's timestamp (negative when a later record carries an earlier explicit timestamp, as the format allows).
import type { PreparedRecords } from './prepared-records.js'
import { BATCH_HEADER_BYTES } from '../config/limits.js'
import { RecordTooLargeError } from '../errors.js'
import { gzipSync } from 'node:zlib'
import {
  batchAttributes,
  markChecksummed,
  recordBodyBytes,
  writeBatchHeader,
  writeRecord,
  type Compression,
  type RecordHeader,
} from '../storage/record-batch.js'
import { assert } from '../util/assert.js'
import type { BatchBufferPool } from './batch-buffer-pool.js'
import { sizeOfVarint } from '../util/varint.js'

/** First buffer of a batch unless a larger size is expected; it doubles as records arrive, up to the capacity.
 *  Below 4 KiB Buffer.allocUnsafe slices Node's shared pool: a producer with lingerMs 0 closes a small batch every
 *  turn, and a fresh 16 KiB buffer each (as before) was most of its allocation and GC work. */
const INITIAL_BYTES = 4 * 1024 - 1

export interface FinishOptions {
  compression: Compression
  producerId: number
  producerEpoch: number
  baseSequence: number
  /** Refuse a finished batch larger than this (the producer's recordBytesMax). */
  batchBytesMax: number
}

export class BatchBuilder {
  #buf: Buffer | null = null
  /** #buf came from the pool (it goes back on release()). */
  #pooled = false
  #end = BATCH_HEADER_BYTES
  #recordCount = 0
  #baseTimestamp = 0
  #maxTimestamp = 0
  /** Each record's timestamp, kept only once one differs from the first. */
  #timestamps: Float64Array | null = null

  /** `capacityBytes`: the most this batch may hold (the accumulator's batchBytes); growth stops there.
   *  `expectedBytes`: what the caller knows is coming (a sendBatch's records), so the first buffer is big enough.
   *  `pool`: buffers of its sizes come from it and go back to it on release() (or when the batch outgrows them). */
  constructor(
    private readonly capacityBytes: number,
    private readonly expectedBytes = 0,
    private readonly pool: BatchBufferPool | null = null,
  ) {
    assert(pool === null || pool.capacityBytes === capacityBytes, 'the pool is for batches of another capacity')
  }

  get recordCount(): number {
    return this.#recordCount
  }

  /** Bytes written so far, header included. */
  get sizeBytes(): number {
    return this.#end
  }

  /** Serializes one record after the others. `keyBytes`/`valueBytes`: UTF-8 or Buffer lengths, -1 for null. */
  append(
    key: Buffer | string | null,
    keyBytes: number,
    value: Buffer | string | null,
    valueBytes: number,
    timestamp: number,
    headers: readonly RecordHeader[] | undefined,
  ): void {
    const n = this.#recordCount
    if (n === 0) {
      this.#baseTimestamp = timestamp
      this.#maxTimestamp = timestamp
    } else {
      if (timestamp > this.#maxTimestamp) this.#maxTimestamp = timestamp
      if (this.#timestamps !== null || timestamp !== this.#baseTimestamp) this.#keepTimestamp(n, timestamp)
    }
    const delta = timestamp - this.#baseTimestamp
    const body = recordBodyBytes(delta, n, keyBytes, valueBytes, headers)
    const end = this.#end + sizeOfVarint(body) + body
    const buf = this.#reserve(end)
    this.#end = writeRecord(buf, this.#end, body, delta, n, key, keyBytes, value, valueBytes, headers)
    assert(this.#end === end, 'record size mismatch')
    this.#recordCount = n + 1
  }

  /** Appends records [from, to) of `records` (each as append() would). */
  appendPrepared(records: PreparedRecords, from: number, to: number): void {
    this.#appendRecords(records, null, from, to)
  }

  /** Appends records `order[from]` ... `order[to - 1]` of `records` (each as append() would). */
  appendPreparedOf(records: PreparedRecords, order: Int32Array, from: number, to: number): void {
    this.#appendRecords(records, order, from, to)
  }

  /** Records `order[k]` (or `k` without an order) for k in [from, to). */
  #appendRecords(records: PreparedRecords, order: Int32Array | null, from: number, to: number): void {
    const { keys, keyBytes, values, valueBytes, timestamps } = records
    if (records.headers !== null) {
      // Bounded by to - from.
      for (let k = from; k < to; k++) {
        const i = order === null ? k : order[k]!
        this.append(keys[i]!, keyBytes[i]!, values[i]!, valueBytes[i]!, timestamps[i]!, records.headersOf(i))
      }
      return
    }
    // As append() for each record, with the builder's state in locals and the buffer checked against each record's
    // exact size: 25-35% less time per 100 B record than a call each (most sendBatch calls have no headers).
    let n = this.#recordCount
    let pos = this.#end
    let buf = this.#buf
    let base = this.#baseTimestamp
    let max = this.#maxTimestamp
    // Bounded by to - from.
    for (let k = from; k < to; k++, n++) {
      const i = order === null ? k : order[k]!
      const timestamp = timestamps[i]!
      if (n === 0) {
        base = this.#baseTimestamp = timestamp
        max = timestamp
      } else {
        if (timestamp > max) max = timestamp
        if (this.#timestamps !== null || timestamp !== base) this.#keepTimestamp(n, timestamp)
      }
      const delta = timestamp - base
      const kb = keyBytes[i]!
      const vb = valueBytes[i]!
      const body = recordBodyBytes(delta, n, kb, vb, undefined)
      const end = pos + sizeOfVarint(body) + body
      if (buf === null || end > buf.length) {
        this.#end = pos // #reserve keeps the bytes written so far
        buf = this.#reserve(end)
      }
      pos = writeRecord(buf, pos, body, delta, n, keys[i]!, kb, values[i]!, vb, undefined)
      assert(pos === end, 'record size mismatch')
    }
    this.#end = pos
    this.#recordCount = n
    this.#maxTimestamp = max
  }

  /** The timestamp of record `i`. */
  timestampOf(i: number): number {
    return this.#timestamps === null ? this.#baseTimestamp : this.#timestamps[i]!
  }

  /** The whole batch with its header and CRC: a view of the builder's buffer, or a new buffer when compressed. */
  finish(options: FinishOptions): Buffer {
    assert(this.#buf !== null && this.#recordCount > 0, 'finish() of an empty batch')
    let out = this.#buf.subarray(0, this.#end)
    if (options.compression === 'gzip') {
      const compressed = gzipSync(out.subarray(BATCH_HEADER_BYTES))
      out = Buffer.allocUnsafe(BATCH_HEADER_BYTES + compressed.length)
      compressed.copy(out, BATCH_HEADER_BYTES)
    }
    if (out.length > options.batchBytesMax)
      throw new RecordTooLargeError(`record batch of ${out.length} bytes exceeds ${options.batchBytesMax}`)
    writeBatchHeader(out, {
      baseOffset: 0,
      attributes: batchAttributes(options.compression),
      recordCount: this.#recordCount,
      baseTimestamp: this.#baseTimestamp,
      maxTimestamp: this.#maxTimestamp,
      producerId: options.producerId,
      producerEpoch: options.producerEpoch,
      baseSequence: options.baseSequence,
    })
    markChecksummed(out)
    return out
  }

  #reserve(bytes: number): Buffer {
    const buf = this.#buf
    if (buf !== null && bytes <= buf.length) return buf
    let size = buf === null ? Math.max(INITIAL_BYTES, this.expectedBytes) : buf.length * 2
    if (size > this.capacityBytes) size = this.capacityBytes
    if (size < bytes) size = bytes
    const fromPool = this.pool !== null && this.pool.pools(size)
    const grown = fromPool ? this.pool!.take(size) : Buffer.allocUnsafe(size)
    if (buf !== null) {
      buf.copy(grown, 0, 0, this.#end)
      // nothing holds a view of a buffer before finish(), and a finished batch takes no more records
      if (this.#pooled) this.pool!.give(buf)
    }
    this.#buf = grown
    this.#pooled = fromPool
    return grown
  }

  /** Gives the buffer back to the pool. Only once nothing holds a view of it any more (the broker answered for the
   *  batch); the builder is unusable afterwards. */
  release(): void {
    const buf = this.#buf
    this.#buf = null
    if (buf !== null && this.#pooled) this.pool!.give(buf)
    this.#pooled = false
  }

  #keepTimestamp(n: number, timestamp: number): void {
    let ts = this.#timestamps
    if (ts === null || n >= ts.length) {
      const grown = new Float64Array(Math.max(16, n * 2))
      if (ts === null) grown.fill(this.#baseTimestamp, 0, n)
      else grown.set(ts)
      this.#timestamps = ts = grown
    }
    ts[n] = timestamp
  }
}

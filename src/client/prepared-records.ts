// The records of one send()/sendBatch() call after validation and encoding, before they enter the accumulator: kept
// as parallel arrays (references to the caller's strings and Buffers, or to the codec's output) rather than one
// object per record, since a large sendBatch holds them until the accumulator takes them.
import type { RecordHeader } from '../storage/record-batch.js'

export class PreparedRecords {
  /** Sized once (a call's record count is known): filled by index, never grown. */
  readonly keys: Array<Buffer | string | null>
  readonly values: Array<Buffer | string | null>
  /** Byte lengths (UTF-8 for strings), -1 for null. */
  readonly keyBytes: Int32Array
  readonly valueBytes: Int32Array
  readonly timestamps: Float64Array
  /** Estimated bytes in a batch (an upper bound), per record. */
  readonly bytes: Int32Array
  /** Null until some record has headers. */
  headers: Array<RecordHeader[] | undefined> | null = null
  /** True once some message names its partition (then each record's partition is decided on its own). */
  explicitPartitions = false
  /** The highest partition a message names, -1 when none does. */
  maxExplicitPartition = -1
  /** Records with a null key (the sticky partitioner places them, batch by batch). */
  nullKeys = 0

  constructor(readonly count: number) {
    this.keys = new Array<Buffer | string | null>(count).fill(null)
    this.values = new Array<Buffer | string | null>(count).fill(null)
    this.keyBytes = new Int32Array(count)
    this.valueBytes = new Int32Array(count)
    this.timestamps = new Float64Array(count)
    this.bytes = new Int32Array(count)
  }

  headersOf(i: number): RecordHeader[] | undefined {
    return this.headers === null ? undefined : this.headers[i]
  }
}

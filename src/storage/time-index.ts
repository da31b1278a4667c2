// The sparse time index of one segment, in memory (Float64Array timestamps beside Int32Array relative offsets) and
// mirrored to the `.timeindex` file. Entry layout (12 bytes, big-endian): | timestamp int64 | relativeOffset int32 |.
// An entry (T, r) says: every batch up to the one ending at relative offset r has timestamps <= T. Timestamps and
// offsets are strictly increasing; a file that breaks that order, or names an offset outside the segment, is refused
// by `parse` so the caller rebuilds it from the log.
import { readInt64, writeInt64 } from './record-batch.js'

export const TIME_INDEX_ENTRY_BYTES = 12

export class TimeIndex {
  #timestamps: Float64Array
  #relativeOffsets: Int32Array
  #count = 0

  constructor(capacity = 64) {
    this.#timestamps = new Float64Array(Math.max(1, capacity))
    this.#relativeOffsets = new Int32Array(Math.max(1, capacity))
  }

  get entryCount(): number {
    return this.#count
  }

  get sizeBytes(): number {
    return this.#count * TIME_INDEX_ENTRY_BYTES
  }

  /** Timestamp of the last entry, -1 when empty. */
  get lastTimestamp(): number {
    return this.#count === 0 ? -1 : this.#timestamps[this.#count - 1]!
  }

  timestampAt(i: number): number {
    return this.#timestamps[i]!
  }

  relativeOffsetAt(i: number): number {
    return this.#relativeOffsets[i]!
  }

  append(timestamp: number, relativeOffset: number): void {
    if (this.#count === this.#timestamps.length) {
      const ts = new Float64Array(this.#timestamps.length * 2)
      ts.set(this.#timestamps)
      this.#timestamps = ts
      const rel = new Int32Array(this.#relativeOffsets.length * 2)
      rel.set(this.#relativeOffsets)
      this.#relativeOffsets = rel
    }
    this.#timestamps[this.#count] = timestamp
    this.#relativeOffsets[this.#count] = relativeOffset
    this.#count++
  }

  /** Relative offset of the last entry whose timestamp is below `timestamp` (all earlier records are), or -1. */
  lastRelativeOffsetBefore(timestamp: number): number {
    let lo = 0
    let hi = this.#count - 1
    let found = -1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      if (this.#timestamps[mid]! < timestamp) {
        found = mid
        lo = mid + 1
      } else hi = mid - 1
    }
    return found < 0 ? -1 : this.#relativeOffsets[found]!
  }

  /** Drops every entry at or above `relativeOffset`. */
  truncateToRelativeOffset(relativeOffset: number): void {
    while (this.#count > 0 && this.#relativeOffsets[this.#count - 1]! >= relativeOffset) this.#count--
  }

  toBytes(): Buffer {
    return this.bytesOf(0, this.#count)
  }

  /** Entries [from, to) as the file holds them. */
  bytesOf(from: number, to: number): Buffer {
    const out = Buffer.allocUnsafe((to - from) * TIME_INDEX_ENTRY_BYTES)
    for (let i = from; i < to; i++) {
      writeInt64(out, (i - from) * 12, this.#timestamps[i]!)
      out.writeInt32BE(this.#relativeOffsets[i]!, (i - from) * 12 + 8)
    }
    return out
  }

  static entryBytes(timestamp: number, relativeOffset: number): Buffer {
    const out = Buffer.allocUnsafe(TIME_INDEX_ENTRY_BYTES)
    writeInt64(out, 0, timestamp)
    out.writeInt32BE(relativeOffset, 8)
    return out
  }

  static fromColumns(timestamps: Float64Array, relativeOffsets: Int32Array): TimeIndex {
    const index = new TimeIndex(timestamps.length + 16)
    for (let i = 0; i < timestamps.length; i++) index.append(timestamps[i]!, relativeOffsets[i]!)
    return index
  }

  /** Parses a time index file; returns the problem as a string when it is short, unordered or past `relativeEnd`. */
  static parse(bytes: Buffer, relativeEnd: number): TimeIndex | string {
    if (bytes.length % TIME_INDEX_ENTRY_BYTES !== 0) return `size ${bytes.length} is not a multiple of 12`
    const count = bytes.length / TIME_INDEX_ENTRY_BYTES
    const index = new TimeIndex(count + 16)
    let prevTimestamp = -Infinity
    let prevRelative = -1
    for (let i = 0; i < count; i++) {
      const timestamp = readInt64(bytes, i * 12)
      const relative = bytes.readInt32BE(i * 12 + 8)
      if (timestamp <= prevTimestamp || relative <= prevRelative)
        return `entry ${i} (${timestamp}, ${relative}) is not after (${prevTimestamp}, ${prevRelative})`
      if (relative >= relativeEnd)
        return `entry ${i} names relative offset ${relative}, past the segment (${relativeEnd})`
      index.append(timestamp, relative)
      prevTimestamp = timestamp
      prevRelative = relative
    }
    return index
  }
}

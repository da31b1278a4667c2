// The sparse offset index of one segment, held in memory as a growable Int32Array and mirrored to the `.index` file.
// Entry layout (8 bytes, big-endian): | relativeOffset int32 | position int32 |. An entry is keyed by a batch's LAST
// offset and points at that batch's START. Both columns are strictly increasing; the index is a cache of the log and
// `check` refuses any file that breaks that order or points past the log, so the caller rebuilds it instead.

export const OFFSET_INDEX_ENTRY_BYTES = 8

export class OffsetIndex {
  #data: Int32Array
  #count = 0

  constructor(capacity = 64) {
    this.#data = new Int32Array(Math.max(2, capacity * 2))
  }

  get entryCount(): number {
    return this.#count
  }

  get sizeBytes(): number {
    return this.#count * OFFSET_INDEX_ENTRY_BYTES
  }

  relativeOffsetAt(i: number): number {
    return this.#data[i * 2]!
  }

  positionAt(i: number): number {
    return this.#data[i * 2 + 1]!
  }

  append(relativeOffset: number, position: number): void {
    if (this.#count * 2 + 2 > this.#data.length) {
      const grown = new Int32Array(this.#data.length * 2)
      grown.set(this.#data)
      this.#data = grown
    }
    this.#data[this.#count * 2] = relativeOffset
    this.#data[this.#count * 2 + 1] = position
    this.#count++
  }

  /**
   * The last entry whose batch ends before `relativeOffset` (every batch up to and including that one is below the
   * target, so a scan for the target starts at its position), or -1 when none does.
   */
  entryBefore(relativeOffset: number): number {
    let lo = 0
    let hi = this.#count - 1
    let found = -1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      if (this.#data[mid * 2]! < relativeOffset) {
        found = mid
        lo = mid + 1
      } else hi = mid - 1
    }
    return found
  }

  /** Index of the last entry whose position is below `position`, or -1. */
  lastEntryBefore(position: number): number {
    let i = this.#count - 1
    while (i >= 0 && this.#data[i * 2 + 1]! >= position) i--
    return i
  }

  /** Drops every entry pointing at or past `position`. */
  truncateToPosition(position: number): void {
    this.#count = this.lastEntryBefore(position) + 1
  }

  toBytes(): Buffer {
    return this.bytesOf(0, this.#count)
  }

  /** Entries [from, to) as the file holds them. */
  bytesOf(from: number, to: number): Buffer {
    const out = Buffer.allocUnsafe((to - from) * OFFSET_INDEX_ENTRY_BYTES)
    for (let i = from; i < to; i++) {
      out.writeInt32BE(this.#data[i * 2]!, (i - from) * 8)
      out.writeInt32BE(this.#data[i * 2 + 1]!, (i - from) * 8 + 4)
    }
    return out
  }

  static entryBytes(relativeOffset: number, position: number): Buffer {
    const out = Buffer.allocUnsafe(OFFSET_INDEX_ENTRY_BYTES)
    out.writeInt32BE(relativeOffset, 0)
    out.writeInt32BE(position, 4)
    return out
  }

  static fromPairs(pairs: Int32Array): OffsetIndex {
    const index = new OffsetIndex(pairs.length / 2 + 16)
    for (let i = 0; i + 1 < pairs.length; i += 2) index.append(pairs[i]!, pairs[i + 1]!)
    return index
  }

  /**
   * Parses an index file and checks it against the log it indexes; returns the problem as a string instead of an
   * index when the file is short, unordered, or points past `logBytes`.
   */
  static parse(bytes: Buffer, logBytes: number): OffsetIndex | string {
    if (bytes.length % OFFSET_INDEX_ENTRY_BYTES !== 0) return `size ${bytes.length} is not a multiple of 8`
    const count = bytes.length / OFFSET_INDEX_ENTRY_BYTES
    const index = new OffsetIndex(count + 16)
    let prevRelative = -1
    let prevPosition = -1
    for (let i = 0; i < count; i++) {
      const relative = bytes.readInt32BE(i * 8)
      const position = bytes.readInt32BE(i * 8 + 4)
      if (relative <= prevRelative || (position <= prevPosition && i > 0))
        return `entry ${i} (${relative}, ${position}) is not after (${prevRelative}, ${prevPosition})`
      if (position < 0 || position >= logBytes)
        return `entry ${i} points at ${position}, past the log (${logBytes} bytes)`
      index.append(relative, position)
      prevRelative = relative
      prevPosition = position
    }
    return index
  }
}

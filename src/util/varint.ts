// Zig-zag varints as Kafka uses them in RecordBatch v2 (protobuf `sint32`/`sint64`). Values are JS numbers:
// 32-bit varints use bit operations; varlongs (timestamp deltas) use arithmetic so they stay exact to 2^53.
import { CorruptRecordError } from '../errors.js'

export function zigzag32(n: number): number {
  return ((n << 1) ^ (n >> 31)) >>> 0
}

/** Bytes a zig-zag varint of `n` (a signed 32-bit int) takes. */
export function sizeOfVarint(n: number): number {
  let v = zigzag32(n)
  let size = 1
  while (v >= 0x80) {
    v >>>= 7
    size++
  }
  return size
}

export function writeVarint(buf: Uint8Array, pos: number, n: number): number {
  let v = zigzag32(n)
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80
    v >>>= 7
  }
  buf[pos++] = v
  return pos
}

function zigzagLong(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1
}

export function sizeOfVarlong(n: number): number {
  let v = zigzagLong(n)
  let size = 1
  while (v >= 0x80) {
    v = Math.floor(v / 128)
    size++
  }
  return size
}

export function writeVarlong(buf: Uint8Array, pos: number, n: number): number {
  if (n >= -0x40000000 && n < 0x40000000) return writeVarint(buf, pos, n)
  let v = zigzagLong(n)
  while (v >= 0x80) {
    buf[pos++] = (v % 128) | 0x80
    v = Math.floor(v / 128)
  }
  buf[pos++] = v
  return pos
}

/** A cursor over a byte range that reads varints and refuses to run past `end`. */
export class ByteReader {
  constructor(
    readonly buf: Buffer,
    public pos: number,
    readonly end: number,
  ) {}

  varint(): number {
    let result = 0
    let shift = 0
    for (;;) {
      if (this.pos >= this.end) throw new CorruptRecordError('varint runs past the end of the batch')
      const b = this.buf[this.pos++]!
      if (shift === 28) {
        if (b > 0x0f) throw new CorruptRecordError('varint is longer than 5 bytes')
        result |= b << 28
        break
      }
      result |= (b & 0x7f) << shift
      if (b < 0x80) break
      shift += 7
    }
    return (result >>> 1) ^ -(result & 1)
  }

  varlong(): number {
    let result = 0
    let multiplier = 1
    for (let i = 0; ; i++) {
      if (this.pos >= this.end) throw new CorruptRecordError('varlong runs past the end of the batch')
      if (i >= 8) throw new CorruptRecordError('varlong is beyond the safe integer range')
      const b = this.buf[this.pos++]!
      result += (b & 0x7f) * multiplier
      if (b < 0x80) break
      multiplier *= 128
    }
    // zig-zag decode without 32-bit truncation
    return result % 2 === 0 ? result / 2 : -(result + 1) / 2
  }

  int8(): number {
    if (this.pos + 1 > this.end) throw new CorruptRecordError('int8 runs past the end of the batch')
    return this.buf.readInt8(this.pos++)
  }

  /** `length` bytes as a view (no copy), or null for length -1. */
  bytes(length: number): Buffer | null {
    if (length === -1) return null
    if (length < -1) throw new CorruptRecordError(`negative length ${length}`)
    if (this.pos + length > this.end) throw new CorruptRecordError(`length ${length} runs past the end of the batch`)
    const out = this.buf.subarray(this.pos, this.pos + length)
    this.pos += length
    return out
  }
}

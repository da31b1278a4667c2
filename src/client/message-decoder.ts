// Decodes fetched record batches straight into the SDK's Message objects: the read hot path of replay and the
// consumer. It walks the same RecordBatch v2 grammar as storage/record-batch.ts `decodeRecords` (whose layout table
// is the reference) but lazily, one record per `next()`; a message is created only when it is asked for, so it
// usually dies young (cheap for the GC). Each message is a FetchedMessage whose key and value are Buffer views of
// the fetched bytes (no copy), and records without headers share one frozen empty headers object. Each
// batch is fully validated (validateBatch: CRC, structure) when the cursor enters it, before any of its records is
// returned, and every length inside a record is checked when the record is decoded. Records below `fromOffset` or at/after `toOffset` are skipped; the gzip-decompressed size is bounded as
// in decodeRecords.
import { gunzipSync } from 'node:zlib'
import { BATCH_HEADER_BYTES, LIMITS } from '../config/limits.js'
import { CorruptRecordError } from '../errors.js'
import { int32At, int64At, LOG_OVERHEAD, POS, validateBatch } from '../storage/record-batch.js'
import { ByteReader } from '../util/varint.js'

/** A record as read. `K` and `V` are what the reader's key and value codecs give (`Decoded<C>`): Buffers by default. */
export interface Message<K = unknown, V = unknown> {
  topic: string
  partition: number
  offset: number
  timestamp: number
  /** Decoded by `keyCodec` (a Buffer by default), or null. */
  key: K | null
  /** Decoded by `valueCodec` (a Buffer by default), or null. */
  value: V | null
  /** Read-only; records without headers share one frozen empty object. */
  headers: Record<string, Buffer | null>
}

export const NO_HEADERS: Readonly<Record<string, Buffer | null>> = Object.freeze({})

const DECOMPRESSED_BYTES_MAX = 64 * LIMITS.recordBytesMax

/** Node's Buffer subclass for views, as `Buffer[Symbol.species]` exposes it: `new ViewBuffer(arrayBuffer, offset,
 *  length)` makes the same Buffer view as `subarray()` at about a third of the cost (subarray looks up the species
 *  constructor on every call), which matters at two views per record. Falls back to subarray if it is missing. */
type ViewBufferConstructor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => Buffer
const ViewBuffer: ViewBufferConstructor | null = (() => {
  const species = (Buffer as unknown as Record<symbol, unknown>)[Symbol.species]
  if (typeof species !== 'function') return null
  const Ctor = species as ViewBufferConstructor
  try {
    const probe = Buffer.from([1, 2, 3])
    const view = new Ctor(probe.buffer, probe.byteOffset + 1, 2)
    return Buffer.isBuffer(view) && view.length === 2 && view[0] === 2 ? Ctor : null
  } catch {
    return null
  }
})()

/** Where the varint read last ended: the decoders below return the value and leave the position here, which saves
 *  an object per field on the hot path. Only valid straight after a call, on this one thread. */
let varintEnd = 0

/** A zig-zag varint (at most 5 bytes) at `pos`, never reading at or past `end`. */
function readVarint(buf: Buffer, pos: number, end: number): number {
  if (pos >= end) throw new CorruptRecordError('varint runs past the end of the record')
  let b = buf[pos]!
  if (b < 0x80) {
    varintEnd = pos + 1
    return (b >>> 1) ^ -(b & 1)
  }
  let result = b & 0x7f
  // Bytes 2..5: each turn reads one byte, at most 4 turns.
  for (let shift = 7; ; shift += 7) {
    if (++pos >= end) throw new CorruptRecordError('varint runs past the end of the record')
    b = buf[pos]!
    if (shift === 28) {
      if (b > 0x0f) throw new CorruptRecordError('varint is longer than 5 bytes')
      result |= b << 28
      break
    }
    result |= (b & 0x7f) << shift
    if (b < 0x80) break
  }
  varintEnd = pos + 1
  return (result >>> 1) ^ -(result & 1)
}

/** A zig-zag varlong (exact to 2^53) at `pos`, never reading at or past `end`. */
function readVarlong(buf: Buffer, pos: number, end: number): number {
  if (pos >= end) throw new CorruptRecordError('varlong runs past the end of the record')
  const first = buf[pos]!
  if (first < 0x80) {
    varintEnd = pos + 1
    return (first >>> 1) ^ -(first & 1)
  }
  let result = 0
  let multiplier = 1
  // At most 8 turns (7 bits each: 56 bits, beyond which a number is no longer exact).
  for (let i = 0; ; i++) {
    if (pos >= end) throw new CorruptRecordError('varlong runs past the end of the record')
    if (i >= 8) throw new CorruptRecordError('varlong is beyond the safe integer range')
    const b = buf[pos++]!
    result += (b & 0x7f) * multiplier
    if (b < 0x80) break
    multiplier *= 128
  }
  varintEnd = pos
  return result % 2 === 0 ? result / 2 : -(result + 1) / 2
}

/**
 * A decoded message: plain data fields, key and value Buffer views of the fetched bytes (no copy; their lengths were
 * checked when the record was decoded). Own enumerable fields, not lazy getters: `{ ...m }`, `structuredClone(m)` and
 * `postMessage(m)` to a worker keep key and value (a lazy version measured ~30 ns/record faster for consumers that
 * read neither, and lost both in those three cases).
 */
export class FetchedMessage implements Message {
  constructor(
    public topic: string,
    public partition: number,
    public offset: number,
    public timestamp: number,
    public key: unknown,
    public value: unknown,
    public headers: Record<string, Buffer | null>,
  ) {}
}

/** A Buffer over `length` bytes of `memory` at `byteOffset`, without a copy; the bounds were checked by the decoder. */
const view: (memory: ArrayBufferLike, byteOffset: number, length: number) => Buffer =
  ViewBuffer === null
    ? (memory, byteOffset, length) => Buffer.from(memory, byteOffset, length)
    : (memory, byteOffset, length) => new ViewBuffer(memory, byteOffset, length)

/** Checks a key or value length at `pos` against the record's end: -1 (null) or a length that fits. */
function checkLength(pos: number, length: number, end: number): void {
  if (length < -1) throw new CorruptRecordError(`negative length ${length}`)
  if (pos + length > end) throw new CorruptRecordError(`length ${length} runs past the end of the record`)
}

/** The headers of a record, from `pos` (just after its headers count) to `end`; leaves `varintEnd` after them. */
function readHeaders(
  buf: Buffer,
  pos: number,
  end: number,
  count: number,
  offset: number,
): Record<string, Buffer | null> {
  if (count < 0 || count > LIMITS.recordHeadersMax)
    throw new CorruptRecordError(`record at offset ${offset} has ${count} headers`)
  const reader = new ByteReader(buf, pos, end)
  const map: Record<string, Buffer | null> = {}
  for (let j = 0; j < count; j++) {
    const hk = reader.bytes(reader.varint())
    if (hk === null) throw new CorruptRecordError(`record at offset ${offset}: header ${j} has a null key`)
    const key = hk.toString('utf8')
    const value = reader.bytes(reader.varint())
    // A header named __proto__ (any string is a valid key) would set the object's prototype through assignment,
    // losing the header and giving the object the value's methods: it becomes an own property instead.
    if (key === '__proto__')
      Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true })
    else map[key] = value
  }
  varintEnd = reader.pos
  return map
}

/** Reads the messages of the whole batches in a fetched buffer, in offset order, one at a time. */
export class MessageCursor {
  /** The offset after the last whole batch in the buffer (where the next fetch starts). */
  readonly nextOffset: number
  /** Byte end of the whole batches (a partial trailing batch is ignored). */
  readonly #end: number
  /** Where the next batch starts in `buf`. */
  #position = 0
  /** The records of the batch being read: its bytes (`buf`, or the gunzipped records section), where the next
   *  record starts, where the records end, and the header fields a message needs. */
  #records: Buffer
  /** `#records.buffer` and `.byteOffset`, read once per batch (the `buffer` getter is slow enough to matter). */
  #recordsMemory: ArrayBufferLike
  #recordsByteOffset = 0
  #pos = 0
  #recordsEnd = 0
  #recordsLeft = 0
  #baseOffset = 0
  #baseTimestamp = 0
  /** Whether the batch's timestamps are log-append times (then every record has its maxTimestamp). */
  #logAppendTime = false
  #maxTimestamp = 0

  constructor(
    private readonly buf: Buffer,
    readonly topic: string,
    readonly partition: number,
    private readonly fromOffset: number,
    private readonly toOffset: number,
  ) {
    let pos = 0
    let next = fromOffset
    // Each turn moves past one whole batch (>= BATCH_HEADER_BYTES bytes).
    while (buf.length - pos >= BATCH_HEADER_BYTES) {
      const length = int32At(buf, pos + POS.batchLength)
      if (length < BATCH_HEADER_BYTES - LOG_OVERHEAD || pos + LOG_OVERHEAD + length > buf.length) break
      next = Math.max(next, int64At(buf, pos) + int32At(buf, pos + POS.lastOffsetDelta) + 1)
      pos += LOG_OVERHEAD + length
    }
    this.#end = pos
    this.nextOffset = next
    this.#records = buf
    this.#recordsMemory = buf.buffer
  }

  /** The next message in range, or null when the buffer is used up. Throws CorruptRecordError for a bad batch. */
  next(): Message | null {
    // Each turn decodes one record or enters one batch; both are finite.
    for (;;) {
      if (this.#recordsLeft > 0) {
        const message = this.#record()
        this.#recordsLeft-- // after the decode: a record that throws leaves the cursor inside its batch
        if (message !== null) return message
        continue
      }
      if (this.#position >= this.#end) return null
      const at = this.#position
      try {
        this.#enterBatch()
      } catch (err) {
        throw this.#placed(err, at)
      }
    }
  }

  /** A CorruptRecordError of the batch at byte `at` (where #enterBatch started: it may have moved past the batch when
   *  its gzip section fails), its message naming the partition and that batch's base offset (the bare "CRC mismatch"
   *  said neither). Other errors pass as they are. */
  #placed(err: unknown, at: number): unknown {
    if (!(err instanceof CorruptRecordError)) return err
    const base = this.#end - at >= 8 ? int64At(this.buf, at) : -1
    // (err.message already names a file, if any: the fields stay on the cause)
    return new CorruptRecordError(
      `${this.topic}/${this.partition}, batch at offset ${base}: ${err.message}`,
      undefined,
      undefined,
      {
        cause: err,
      },
    )
  }

  /** True while records of the current batch remain (a failure now is inside that batch). */
  get insideBatch(): boolean {
    return this.#recordsLeft > 0
  }

  #enterBatch(): void {
    const buf = this.buf
    const header = validateBatch(buf, this.#position, this.#end)
    const start = this.#position
    this.#position += header.batchBytes
    if (header.lastOffset < this.fromOffset || header.baseOffset >= this.toOffset) return
    if (header.compression === 'gzip') {
      let body: Buffer
      try {
        body = gunzipSync(buf.subarray(start + BATCH_HEADER_BYTES, start + header.batchBytes), {
          maxOutputLength: DECOMPRESSED_BYTES_MAX,
        })
      } catch (cause) {
        throw new CorruptRecordError('gzip records section does not decompress', undefined, undefined, { cause })
      }
      this.#records = body
      this.#pos = 0
      this.#recordsEnd = body.length
    } else {
      this.#records = buf
      this.#pos = start + BATCH_HEADER_BYTES
      this.#recordsEnd = start + header.batchBytes
    }
    this.#recordsMemory = this.#records.buffer
    this.#recordsByteOffset = this.#records.byteOffset
    this.#baseOffset = header.baseOffset
    this.#baseTimestamp = header.baseTimestamp
    this.#logAppendTime = header.timestampType === 'logAppend'
    this.#maxTimestamp = header.maxTimestamp
    this.#recordsLeft = header.recordCount
  }

  /** Decodes the record at `#pos` and moves past it; null when its offset is out of range. */
  #record(): Message | null {
    const buf = this.#records
    const length = readVarint(buf, this.#pos, this.#recordsEnd)
    let pos = varintEnd
    const end = pos + length
    if (length < 0 || end > this.#recordsEnd)
      throw new CorruptRecordError(`record length ${length} runs past the batch`)
    this.#pos = end
    pos++ // attributes, unused in v2
    const timestampDelta = readVarlong(buf, pos, end)
    const offset = this.#baseOffset + readVarint(buf, varintEnd, end)
    if (offset < this.fromOffset || offset >= this.toOffset) return null
    const keyLength = readVarint(buf, varintEnd, end)
    const keyPosition = varintEnd
    checkLength(keyPosition, keyLength, end)
    pos = keyLength > 0 ? keyPosition + keyLength : keyPosition
    const valueLength = readVarint(buf, pos, end)
    const valuePosition = varintEnd
    checkLength(valuePosition, valueLength, end)
    pos = valueLength > 0 ? valuePosition + valueLength : valuePosition
    const headerCount = readVarint(buf, pos, end)
    let headers = NO_HEADERS
    if (headerCount !== 0) headers = readHeaders(buf, varintEnd, end, headerCount, offset)
    if (varintEnd !== end) throw new CorruptRecordError(`record at offset ${offset} does not fill its length ${length}`)
    const timestamp = this.#logAppendTime ? this.#maxTimestamp : this.#baseTimestamp + timestampDelta
    const base = this.#recordsByteOffset
    const memory = this.#recordsMemory
    return new FetchedMessage(
      this.topic,
      this.partition,
      offset,
      timestamp,
      keyLength < 0 ? null : view(memory, base + keyPosition, keyLength),
      valueLength < 0 ? null : view(memory, base + valuePosition, valueLength),
      headers,
    )
  }
}

/**
 * Appends to `out` the messages of every whole batch in `records` with fromOffset ≤ offset < toOffset. Returns the
 * offset following the last whole batch (so the caller fetches from there next). Throws CorruptRecordError (or
 * UnsupportedVersionError) for a batch that fails validation; nothing of that batch is appended.
 */
export function decodeMessages(
  records: Buffer,
  topic: string,
  partition: number,
  fromOffset: number,
  toOffset: number,
  out: Message[],
): number {
  const cursor = new MessageCursor(records, topic, partition, fromOffset, toOffset)
  let batchStart = out.length
  try {
    for (;;) {
      if (!cursor.insideBatch) batchStart = out.length
      const m = cursor.next()
      if (m === null) break
      out.push(m)
    }
  } catch (err) {
    if (cursor.insideBatch) out.length = batchStart // a batch is all or nothing
    throw err
  }
  return cursor.nextOffset
}

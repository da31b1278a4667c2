// Decodes fetched record batches straight into the SDK's Message objects: the read hot path of replay and the
// consumer. It walks the same RecordBatch v2 grammar as storage/record-batch.ts `decodeRecords` (whose layout table
// is the reference) but lazily, one record per `next()`, building each Message directly with its key and value as
// views into the fetched buffer and a shared frozen empty headers object when there are none: a message is created
// only when it is asked for, so it usually dies young (cheap for the GC). Each batch is fully validated
// (validateBatch: CRC, structure) when the cursor enters it, before any of its records is returned. Records below
// `fromOffset` or at/after `toOffset` are skipped; the gzip-decompressed size is bounded as in decodeRecords.
import { gunzipSync } from 'node:zlib'
import { BATCH_HEADER_BYTES, LIMITS } from '../config/limits.js'
import { CorruptRecordError } from '../errors.js'
import { type BatchHeader, LOG_OVERHEAD, readBatchHeader, validateBatch } from '../storage/record-batch.js'
import { ByteReader } from '../util/varint.js'

export interface Message {
  topic: string
  partition: number
  offset: number
  timestamp: number
  /** Decoded by `keyCodec` (a Buffer by default), or null. */
  key: unknown
  /** Decoded by `valueCodec` (a Buffer by default), or null. */
  value: unknown
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

/** `length` bytes at the reader as a view (no copy), or null for length -1; the checks of ByteReader.bytes. */
function readView(reader: ByteReader, length: number): Buffer | null {
  if (length === -1) return null
  const pos = reader.pos
  if (length < -1) throw new CorruptRecordError(`negative length ${length}`)
  if (pos + length > reader.end) throw new CorruptRecordError(`length ${length} runs past the end of the batch`)
  reader.pos = pos + length
  const buf = reader.buf
  return ViewBuffer === null
    ? buf.subarray(pos, pos + length)
    : new ViewBuffer(buf.buffer, buf.byteOffset + pos, length)
}

/** Reads the messages of the whole batches in a fetched buffer, in offset order, one at a time. */
export class MessageCursor {
  /** The offset after the last whole batch in the buffer (where the next fetch starts). */
  readonly nextOffset: number
  /** Byte end of the whole batches (a partial trailing batch is ignored). */
  readonly #end: number
  #position = 0
  #reader: ByteReader | null = null
  #header: BatchHeader | null = null
  #recordsLeft = 0

  constructor(
    private readonly buf: Buffer,
    readonly topic: string,
    readonly partition: number,
    private readonly fromOffset: number,
    private readonly toOffset: number,
  ) {
    let pos = 0
    let next = fromOffset
    while (buf.length - pos >= BATCH_HEADER_BYTES) {
      const length = buf.readInt32BE(pos + 8)
      if (length < BATCH_HEADER_BYTES - LOG_OVERHEAD || pos + LOG_OVERHEAD + length > buf.length) break
      next = Math.max(next, readBatchHeader(buf, pos).lastOffset + 1)
      pos += LOG_OVERHEAD + length
    }
    this.#end = pos
    this.nextOffset = next
  }

  /** The next message in range, or null when the buffer is used up. Throws CorruptRecordError for a bad batch. */
  next(): Message | null {
    for (;;) {
      if (this.#recordsLeft > 0) {
        const message = this.#record()
        this.#recordsLeft-- // after the decode: a record that throws leaves the cursor inside its batch
        if (message !== null) return message
        continue
      }
      if (this.#position >= this.#end) return null
      this.#enterBatch()
    }
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
    let reader: ByteReader
    if (header.compression === 'gzip') {
      let body: Buffer
      try {
        body = gunzipSync(buf.subarray(start + BATCH_HEADER_BYTES, start + header.batchBytes), {
          maxOutputLength: DECOMPRESSED_BYTES_MAX,
        })
      } catch (cause) {
        throw new CorruptRecordError('gzip records section does not decompress', undefined, undefined, { cause })
      }
      reader = new ByteReader(body, 0, body.length)
    } else reader = new ByteReader(buf, start + BATCH_HEADER_BYTES, start + header.batchBytes)
    this.#reader = reader
    this.#header = header
    this.#recordsLeft = header.recordCount
  }

  /** Decodes the record at the reader; null when its offset is out of range. */
  #record(): Message | null {
    const reader = this.#reader!
    const header = this.#header!
    const end = reader.end
    const length = reader.varint()
    const recordEnd = reader.pos + length
    if (length < 0 || recordEnd > end) throw new CorruptRecordError(`record length ${length} runs past the batch`)
    reader.pos++ // attributes, unused in v2
    const timestampDelta = reader.varlong()
    const offset = header.baseOffset + reader.varint()
    if (offset < this.fromOffset || offset >= this.toOffset) {
      reader.pos = recordEnd
      return null
    }
    const key = readView(reader, reader.varint())
    const value = readView(reader, reader.varint())
    const headerCount = reader.varint()
    let headers = NO_HEADERS
    if (headerCount !== 0) {
      if (headerCount < 0 || headerCount > LIMITS.recordHeadersMax)
        throw new CorruptRecordError(`record at offset ${offset} has ${headerCount} headers`)
      const map: Record<string, Buffer | null> = {}
      for (let j = 0; j < headerCount; j++) {
        const hk = reader.bytes(reader.varint())
        if (hk === null) throw new CorruptRecordError(`record at offset ${offset}: header ${j} has a null key`)
        map[hk.toString('utf8')] = reader.bytes(reader.varint())
      }
      headers = map
    }
    if (reader.pos !== recordEnd)
      throw new CorruptRecordError(`record at offset ${offset} does not fill its length ${length}`)
    const timestamp = header.timestampType === 'logAppend' ? header.maxTimestamp : header.baseTimestamp + timestampDelta
    return { topic: this.topic, partition: this.partition, offset, timestamp, key, value, headers }
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

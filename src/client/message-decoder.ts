// Decodes fetched record batches straight into the SDK's Message objects: the read hot path of replay and the
// consumer. It walks the same RecordBatch v2 grammar as storage/record-batch.ts `decodeRecords` (whose layout table
// is the reference) but builds each Message directly, with keys and values as views into the fetched buffer and a
// shared frozen empty headers object for records without headers, so a record costs one object plus its key/value
// views instead of five objects. Batches are CRC-checked first (validateBatch through iterateBatches); records below
// `fromOffset` or at/after `toOffset` are skipped; the gzip-decompressed size is bounded as in decodeRecords.
import { gunzipSync } from 'node:zlib'
import { BATCH_HEADER_BYTES, LIMITS } from '../config/limits.js'
import { CorruptRecordError } from '../errors.js'
import { type BatchHeader, iterateBatches } from '../storage/record-batch.js'
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
  let next = fromOffset
  for (const { position, header } of iterateBatches(records)) {
    if (header.lastOffset >= fromOffset && header.baseOffset < toOffset) {
      const firstIndex = out.length
      try {
        decodeBatch(records, position, header, topic, partition, fromOffset, toOffset, out)
      } catch (err) {
        out.length = firstIndex // a batch is all or nothing
        throw err
      }
    }
    next = header.lastOffset + 1
  }
  return next
}

function decodeBatch(
  buf: Buffer,
  position: number,
  header: BatchHeader,
  topic: string,
  partition: number,
  fromOffset: number,
  toOffset: number,
  out: Message[],
): void {
  let body = buf
  let start = position + BATCH_HEADER_BYTES
  let end = position + header.batchBytes
  if (header.compression === 'gzip') {
    try {
      body = gunzipSync(buf.subarray(start, end), { maxOutputLength: DECOMPRESSED_BYTES_MAX })
    } catch (cause) {
      throw new CorruptRecordError('gzip records section does not decompress', undefined, undefined, { cause })
    }
    start = 0
    end = body.length
  }
  const logAppend = header.timestampType === 'logAppend'
  const reader = new ByteReader(body, start, end)
  for (let i = 0; i < header.recordCount; i++) {
    const length = reader.varint()
    const recordEnd = reader.pos + length
    if (length < 0 || recordEnd > end) throw new CorruptRecordError(`record ${i} length ${length} runs past the batch`)
    reader.pos++ // attributes, unused in v2
    const timestampDelta = reader.varlong()
    const offset = header.baseOffset + reader.varint()
    if (offset < fromOffset || offset >= toOffset) {
      reader.pos = recordEnd
      continue
    }
    const key = reader.bytes(reader.varint())
    const value = reader.bytes(reader.varint())
    const headerCount = reader.varint()
    let headers = NO_HEADERS
    if (headerCount !== 0) {
      if (headerCount < 0 || headerCount > LIMITS.recordHeadersMax)
        throw new CorruptRecordError(`record ${i} has ${headerCount} headers`)
      const map: Record<string, Buffer | null> = {}
      for (let j = 0; j < headerCount; j++) {
        const hk = reader.bytes(reader.varint())
        if (hk === null) throw new CorruptRecordError(`record ${i} header ${j} has a null key`)
        map[hk.toString('utf8')] = reader.bytes(reader.varint())
      }
      headers = map
    }
    if (reader.pos !== recordEnd) throw new CorruptRecordError(`record ${i} fields do not fill its length ${length}`)
    const timestamp = logAppend ? header.maxTimestamp : header.baseTimestamp + timestampDelta
    out.push({ topic, partition, offset, timestamp, key, value, headers })
  }
}

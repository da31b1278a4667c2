// Kafka RecordBatch v2, big-endian (DESIGN.md §4.2). The CRC-32C covers bytes [21, end), so `baseOffset` (0) and
// `partitionLeaderEpoch` (12) can be rewritten by the broker without recomputing it.
//
// | off | field                | type   |   | off | field          | type  |
// |-----|----------------------|--------|---|-----|----------------|-------|
// |   0 | baseOffset           | int64  |   |  35 | maxTimestamp   | int64 |
// |   8 | batchLength          | int32  |   |  43 | producerId     | int64 |
// |  12 | partitionLeaderEpoch | int32  |   |  51 | producerEpoch  | int16 |
// |  16 | magic (= 2)          | int8   |   |  53 | baseSequence   | int32 |
// |  17 | crc                  | uint32 |   |  57 | recordsCount   | int32 |
// |  21 | attributes           | int16  |   |  61 | records        |       |
// |  23 | lastOffsetDelta      | int32  |   |     |                |       |
// |  27 | baseTimestamp        | int64  |   |     |                |       |
//
// A record: length varint, attributes int8, timestampDelta varlong, offsetDelta varint, keyLength varint (-1 null),
// key, valueLength varint (-1 null), value, headersCount varint, then per header keyLength varint, key (utf8),
// valueLength varint (-1 null), value. With gzip (attributes bits 0-2 = 1) the records section is one gzip stream.
import { gunzipSync, gzipSync } from 'node:zlib'
import { BATCH_HEADER_BYTES, LIMITS } from '../config/limits.js'
import { CorruptRecordError, InvalidArgumentError, RecordTooLargeError, UnsupportedVersionError } from '../errors.js'
import { crc32c } from '../util/crc32c.js'
import { utf8Length, writeUtf8 } from '../util/utf8.js'
import { ByteReader, sizeOfVarint, sizeOfVarlong, writeVarint, writeVarlong } from '../util/varint.js'

export const POS = Object.freeze({
  baseOffset: 0,
  batchLength: 8,
  partitionLeaderEpoch: 12,
  magic: 16,
  crc: 17,
  attributes: 21,
  lastOffsetDelta: 23,
  baseTimestamp: 27,
  maxTimestamp: 35,
  producerId: 43,
  producerEpoch: 51,
  baseSequence: 53,
  recordsCount: 57,
  records: BATCH_HEADER_BYTES,
})
/** The partitionLeaderEpoch Sluice stamps on every stored batch (one node, no leader elections). */
export const LEADER_EPOCH = 0
/** baseOffset + batchLength: the bytes before what `batchLength` counts. */
export const LOG_OVERHEAD = 12
export const MAGIC = 2
const COMPRESSION_MASK = 0x07
const TIMESTAMP_TYPE_BIT = 0x08
const TRANSACTIONAL_BIT = 0x10
const CONTROL_BIT = 0x20

export type Compression = 'none' | 'gzip'
export type TimestampType = 'create' | 'logAppend'

export interface RecordHeader {
  key: string
  value: Buffer | null
}

export interface RecordInput {
  key: Buffer | null
  value: Buffer | null
  timestamp: number
  headers?: readonly RecordHeader[] | undefined
}

export interface DecodedRecord {
  offset: number
  timestamp: number
  key: Buffer | null
  value: Buffer | null
  headers: RecordHeader[]
}

export interface BatchHeader {
  baseOffset: number
  /** Bytes after the batchLength field. */
  batchLength: number
  /** Whole batch size on disk: LOG_OVERHEAD + batchLength. */
  batchBytes: number
  partitionLeaderEpoch: number
  magic: number
  crc: number
  attributes: number
  compression: Compression
  timestampType: TimestampType
  lastOffsetDelta: number
  /** baseOffset + lastOffsetDelta. */
  lastOffset: number
  baseTimestamp: number
  maxTimestamp: number
  producerId: number
  producerEpoch: number
  baseSequence: number
  recordCount: number
}

export interface EncodeBatchOptions {
  baseOffset?: number
  compression?: Compression
  producerId?: number
  producerEpoch?: number
  baseSequence?: number
  timestampType?: TimestampType
  /** Refuse to build a batch larger than this. @default LIMITS.recordBytesMax */
  batchBytesMax?: number
}

/** A big-endian int64 as a number (exact within ±2^53); throws RangeError past the end of `buf` (int64At below reads
 *  bytes the caller has already checked). */
export function readInt64(buf: Uint8Array, pos: number): number {
  const b = buf as Buffer
  return b.readInt32BE(pos) * 4294967296 + b.readUInt32BE(pos + 4)
}

// Header fields read byte by byte: the caller checked the header's bytes are there once, so the per-call bounds and
// type checks of Buffer#readInt32BE and friends (a measurable share of decoding small batches) are not repeated.
export function int32At(b: Uint8Array, p: number): number {
  return (b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!
}
function uint32At(b: Uint8Array, p: number): number {
  return int32At(b, p) >>> 0
}
function int16At(b: Uint8Array, p: number): number {
  return ((b[p]! << 24) | (b[p + 1]! << 16)) >> 16
}
export function int64At(b: Uint8Array, p: number): number {
  return int32At(b, p) * 4294967296 + uint32At(b, p + 4)
}

export function writeInt64(buf: Uint8Array, pos: number, n: number): void {
  const b = buf as Buffer
  const hi = Math.floor(n / 4294967296)
  b.writeInt32BE(hi, pos)
  b.writeUInt32BE(n - hi * 4294967296, pos + 4)
}

/** Bytes of one record's body (after its length varint). `keyBytes`/`valueBytes` are -1 for null. */
export function recordBodyBytes(
  timestampDelta: number,
  offsetDelta: number,
  keyBytes: number,
  valueBytes: number,
  headers: readonly RecordHeader[] | undefined,
): number {
  let size = 1 + sizeOfVarlong(timestampDelta) + sizeOfVarint(offsetDelta)
  size += keyBytes < 0 ? 1 : sizeOfVarint(keyBytes) + keyBytes
  size += valueBytes < 0 ? 1 : sizeOfVarint(valueBytes) + valueBytes
  if (headers === undefined || headers.length === 0) return size + 1
  size += sizeOfVarint(headers.length)
  for (const h of headers) {
    const hKeyBytes = utf8Length(h.key)
    size += sizeOfVarint(hKeyBytes) + hKeyBytes
    size += h.value === null ? 1 : sizeOfVarint(h.value.length) + h.value.length
  }
  return size
}

/** Buffers up to this size are copied byte by byte: TypedArray#set costs ~15 ns a call whatever the size, more than
 *  copying a typical key (a 5-byte key: ~9 ns a record less). */
const SMALL_COPY_BYTES = 16

/** Writes one record (length varint first) at `pos`; returns the position after it. `key` and `value` may be strings,
 *  written as UTF-8 (`keyBytes`/`valueBytes` are their byte lengths, -1 for null); `buf` was sized with recordBodyBytes. */
export function writeRecord(
  buf: Buffer,
  pos: number,
  body: number,
  timestampDelta: number,
  offsetDelta: number,
  key: Buffer | string | null,
  keyBytes: number,
  value: Buffer | string | null,
  valueBytes: number,
  headers: readonly RecordHeader[] | undefined,
): number {
  pos = writeVarint(buf, pos, body)
  buf[pos++] = 0
  pos = writeVarlong(buf, pos, timestampDelta)
  pos = writeVarint(buf, pos, offsetDelta)
  if (key === null) pos = writeVarint(buf, pos, -1)
  else {
    pos = writeVarint(buf, pos, keyBytes)
    if (typeof key === 'string') pos += writeUtf8(buf, pos, key, keyBytes)
    else if (keyBytes <= SMALL_COPY_BYTES) {
      // Bounded by SMALL_COPY_BYTES.
      for (let j = 0; j < keyBytes; j++) buf[pos + j] = key[j]!
      pos += keyBytes
    } else {
      buf.set(key, pos) // TypedArray#set: Buffer#copy's argument handling costs more than a 100-byte copy
      pos += keyBytes
    }
  }
  if (value === null) pos = writeVarint(buf, pos, -1)
  else {
    pos = writeVarint(buf, pos, valueBytes)
    if (typeof value === 'string') pos += writeUtf8(buf, pos, value, valueBytes)
    else {
      buf.set(value, pos)
      pos += valueBytes
    }
  }
  if (headers === undefined || headers.length === 0) buf[pos++] = 0
  else {
    pos = writeVarint(buf, pos, headers.length)
    for (const h of headers) {
      const hKeyBytes = utf8Length(h.key)
      pos = writeVarint(buf, pos, hKeyBytes)
      pos += writeUtf8(buf, pos, h.key, hKeyBytes)
      if (h.value === null) pos = writeVarint(buf, pos, -1)
      else {
        pos = writeVarint(buf, pos, h.value.length)
        pos += h.value.copy(buf, pos)
      }
    }
  }
  return pos
}

function recordBodySize(r: RecordInput, timestampDelta: number, offsetDelta: number): number {
  return recordBodyBytes(
    timestampDelta,
    offsetDelta,
    r.key === null ? -1 : r.key.length,
    r.value === null ? -1 : r.value.length,
    r.headers,
  )
}

function writeRecords(
  buf: Buffer,
  pos: number,
  records: readonly RecordInput[],
  bodySizes: Int32Array,
  baseTimestamp: number,
): number {
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!
    const key = r.key
    const value = r.value
    pos = writeRecord(
      buf,
      pos,
      bodySizes[i]!,
      r.timestamp - baseTimestamp,
      i,
      key,
      key === null ? -1 : key.length,
      value,
      value === null ? -1 : value.length,
      r.headers,
    )
  }
  return pos
}

/** The header fields a batch's builder knows once its records are written. */
export interface BatchHeaderFields {
  baseOffset: number
  /** With the timestamp type and compression bits. */
  attributes: number
  recordCount: number
  baseTimestamp: number
  maxTimestamp: number
  producerId: number
  producerEpoch: number
  baseSequence: number
}

/** Fills the 61-byte header of the batch that is all of `buf` (records already written after it) and its CRC-32C. */
export function writeBatchHeader(buf: Buffer, f: BatchHeaderFields): void {
  writeInt64(buf, POS.baseOffset, f.baseOffset)
  buf.writeInt32BE(buf.length - LOG_OVERHEAD, POS.batchLength)
  buf.writeInt32BE(LEADER_EPOCH, POS.partitionLeaderEpoch)
  buf.writeInt8(MAGIC, POS.magic)
  buf.writeInt16BE(f.attributes, POS.attributes)
  buf.writeInt32BE(f.recordCount - 1, POS.lastOffsetDelta)
  writeInt64(buf, POS.baseTimestamp, f.baseTimestamp)
  writeInt64(buf, POS.maxTimestamp, f.maxTimestamp)
  writeInt64(buf, POS.producerId, f.producerId)
  buf.writeInt16BE(f.producerEpoch, POS.producerEpoch)
  buf.writeInt32BE(f.baseSequence, POS.baseSequence)
  buf.writeInt32BE(f.recordCount, POS.recordsCount)
  buf.writeUInt32BE(crc32c(buf, POS.attributes), POS.crc)
}

/** The attributes bits of a batch with these settings. */
export function batchAttributes(compression: Compression, timestampType: TimestampType = 'create'): number {
  return (timestampType === 'logAppend' ? TIMESTAMP_TYPE_BIT : 0) | (compression === 'gzip' ? 1 : 0)
}

/** Encodes records into one RecordBatch v2 with its CRC-32C. Offsets are deltas from `baseOffset` (default 0). */
export function encodeRecordBatch(records: readonly RecordInput[], options: EncodeBatchOptions = {}): Buffer {
  if (records.length === 0) throw new InvalidArgumentError('a record batch needs at least one record')
  if (records.length > LIMITS.batchRecordsMax)
    throw new InvalidArgumentError(`a batch holds at most ${LIMITS.batchRecordsMax} records, got ${records.length}`)
  const batchBytesMax = options.batchBytesMax ?? LIMITS.recordBytesMax
  let baseTimestamp = records[0]!.timestamp
  let maxTimestamp = baseTimestamp
  for (const r of records) {
    if (r.timestamp < baseTimestamp) baseTimestamp = r.timestamp
    if (r.timestamp > maxTimestamp) maxTimestamp = r.timestamp
  }
  const bodySizes = new Int32Array(records.length)
  let recordsBytes = 0
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!
    if (r.headers !== undefined && r.headers.length > LIMITS.recordHeadersMax)
      throw new InvalidArgumentError(`a record has at most ${LIMITS.recordHeadersMax} headers, got ${r.headers.length}`)
    const body = recordBodySize(r, r.timestamp - baseTimestamp, i)
    bodySizes[i] = body
    recordsBytes += sizeOfVarint(body) + body
    if (BATCH_HEADER_BYTES + recordsBytes > batchBytesMax && options.compression !== 'gzip')
      throw new RecordTooLargeError(
        `record batch would exceed ${batchBytesMax} bytes (record ${i} of ${records.length})`,
      )
  }
  const compression = options.compression ?? 'none'
  let buf: Buffer
  let attributes = options.timestampType === 'logAppend' ? TIMESTAMP_TYPE_BIT : 0
  if (compression === 'gzip') {
    const plain = Buffer.allocUnsafe(recordsBytes)
    writeRecords(plain, 0, records, bodySizes, baseTimestamp)
    const compressed = gzipSync(plain)
    buf = Buffer.allocUnsafe(BATCH_HEADER_BYTES + compressed.length)
    compressed.copy(buf, BATCH_HEADER_BYTES)
    attributes |= 1
  } else {
    buf = Buffer.allocUnsafe(BATCH_HEADER_BYTES + recordsBytes)
    const end = writeRecords(buf, BATCH_HEADER_BYTES, records, bodySizes, baseTimestamp)
    if (end !== buf.length) throw new Error(`record batch size mismatch: wrote ${end} of ${buf.length}`)
  }
  if (buf.length > batchBytesMax)
    throw new RecordTooLargeError(`record batch of ${buf.length} bytes exceeds ${batchBytesMax}`)
  writeBatchHeader(buf, {
    baseOffset: options.baseOffset ?? 0,
    attributes,
    recordCount: records.length,
    baseTimestamp,
    maxTimestamp,
    producerId: options.producerId ?? -1,
    producerEpoch: options.producerEpoch ?? -1,
    baseSequence: options.baseSequence ?? -1,
  })
  return buf
}

/** Parses the 61-byte header at `pos` without checking the CRC. Throws if fewer than 61 bytes remain. */
export function readBatchHeader(buf: Buffer, pos = 0): BatchHeader {
  if (pos < 0 || pos + BATCH_HEADER_BYTES > buf.length)
    throw new CorruptRecordError(`batch header at ${pos} needs ${BATCH_HEADER_BYTES} bytes, ${buf.length - pos} remain`)
  const baseOffset = int64At(buf, pos)
  const batchLength = int32At(buf, pos + POS.batchLength)
  const attributes = int16At(buf, pos + POS.attributes)
  const lastOffsetDelta = int32At(buf, pos + POS.lastOffsetDelta)
  const codec = attributes & COMPRESSION_MASK
  return {
    baseOffset,
    batchLength,
    batchBytes: LOG_OVERHEAD + batchLength,
    partitionLeaderEpoch: int32At(buf, pos + POS.partitionLeaderEpoch),
    magic: (buf[pos + POS.magic]! << 24) >> 24,
    crc: uint32At(buf, pos + POS.crc),
    attributes,
    compression: codec === 0 ? 'none' : 'gzip',
    timestampType: attributes & TIMESTAMP_TYPE_BIT ? 'logAppend' : 'create',
    lastOffsetDelta,
    lastOffset: baseOffset + lastOffsetDelta,
    baseTimestamp: int64At(buf, pos + POS.baseTimestamp),
    maxTimestamp: int64At(buf, pos + POS.maxTimestamp),
    producerId: int64At(buf, pos + POS.producerId),
    producerEpoch: int16At(buf, pos + POS.producerEpoch),
    baseSequence: int32At(buf, pos + POS.baseSequence),
    recordCount: int32At(buf, pos + POS.recordsCount),
  }
}

/**
 * Checks the batch at `pos` completely: room for the header and the whole batch inside `end`, magic 2, a supported
 * codec, no transactional/control bits, record count consistent with lastOffsetDelta, the CRC, and (uncompressed) that
 * the records' length prefixes tile the records section exactly. Returns the header; throws CorruptRecordError
 * (or UnsupportedVersionError for a valid batch we do not support) naming the first problem.
 */
/** Batches this process's batch builder serialized and checksummed (the embedded producer's, handed to the broker
 *  in memory): validating one again on append would recompute the same CRC over the same memory (about a tenth of
 *  an embedded produce's time at 1 KiB records) and walk records that tile by construction. Keyed by the Buffer
 *  object, held weakly; bytes that arrive any other way (a socket, a file) are never in it, and the header checks
 *  still run on every batch. */
const checksummedHere = new WeakSet<Buffer>()

/** Marks `batch` (a whole batch the builder serialized, CRC just written over its bytes) as checksummed here. */
export function markChecksummed(batch: Buffer): void {
  checksummedHere.add(batch)
}

export function validateBatch(buf: Buffer, pos = 0, end = buf.length): BatchHeader {
  if (end - pos < BATCH_HEADER_BYTES)
    throw new CorruptRecordError(`truncated batch: ${end - pos} bytes where a header needs ${BATCH_HEADER_BYTES}`)
  const h = readBatchHeader(buf, pos)
  if (h.batchLength < BATCH_HEADER_BYTES - LOG_OVERHEAD)
    throw new CorruptRecordError(`batchLength ${h.batchLength} is smaller than a batch header`)
  if (pos + h.batchBytes > end)
    throw new CorruptRecordError(`batch of ${h.batchBytes} bytes runs past the end (${end - pos} bytes remain)`)
  if (h.magic !== MAGIC) throw new CorruptRecordError(`magic ${h.magic} is not 2`)
  const builtHere = pos === 0 && h.batchBytes === buf.length && checksummedHere.has(buf)
  if (!builtHere) {
    const actual = crc32c(buf, pos + POS.attributes, pos + h.batchBytes)
    if (actual !== h.crc)
      throw new CorruptRecordError(
        `CRC mismatch: stored 0x${h.crc.toString(16).padStart(8, '0')}, computed 0x${actual.toString(16).padStart(8, '0')}`,
      )
  }
  const codec = h.attributes & COMPRESSION_MASK
  if (codec > 1) throw new UnsupportedVersionError(`compression codec ${codec} is not supported (none and gzip are)`)
  if (h.attributes & (TRANSACTIONAL_BIT | CONTROL_BIT))
    throw new UnsupportedVersionError('transactional and control batches are not supported')
  if (h.recordCount < 1) throw new CorruptRecordError(`record count ${h.recordCount} is not positive`)
  if (h.lastOffsetDelta !== h.recordCount - 1)
    throw new CorruptRecordError(`lastOffsetDelta ${h.lastOffsetDelta} does not match ${h.recordCount} records`)
  if (h.maxTimestamp < h.baseTimestamp && h.timestampType === 'create')
    throw new CorruptRecordError(`maxTimestamp ${h.maxTimestamp} is before baseTimestamp ${h.baseTimestamp}`)
  // Records serialized by this process's batch builder tile by construction; bytes from anywhere else are walked.
  if (codec === 0 && !builtHere) checkRecordTiling(buf, pos + BATCH_HEADER_BYTES, pos + h.batchBytes, h.recordCount)
  return h
}

function checkRecordTiling(buf: Buffer, pos: number, end: number, recordCount: number): void {
  const reader = new ByteReader(buf, pos, end)
  for (let i = 0; i < recordCount; i++) {
    const length = reader.varint()
    if (length < 0 || reader.pos + length > end)
      throw new CorruptRecordError(`record ${i} length ${length} runs past the batch`)
    reader.pos += length
  }
  if (reader.pos !== end) throw new CorruptRecordError(`${end - reader.pos} bytes follow the last record`)
}

/** Rewrites baseOffset in place; it is outside the CRC. */
export function setBaseOffset(buf: Buffer, pos: number, baseOffset: number): void {
  writeInt64(buf, pos + POS.baseOffset, baseOffset)
}

/** Decompressed output is bounded so a small gzip cannot expand without limit. */
const DECOMPRESSED_BYTES_MAX = 64 * LIMITS.recordBytesMax

/** A reader over the records section of the batch at `pos`: its bytes in `buf`, or the decompressed ones of a gzip
 *  section (bounded by DECOMPRESSED_BYTES_MAX). */
function recordsReader(buf: Buffer, pos: number, header: BatchHeader): ByteReader {
  const start = pos + BATCH_HEADER_BYTES
  const end = pos + header.batchBytes
  if (end > buf.length) throw new CorruptRecordError('batch runs past the end of the buffer')
  if (header.compression !== 'gzip') return new ByteReader(buf, start, end)
  let body: Buffer
  try {
    body = gunzipSync(buf.subarray(start, end), { maxOutputLength: DECOMPRESSED_BYTES_MAX })
  } catch (cause) {
    throw new CorruptRecordError('gzip records section does not decompress', undefined, undefined, { cause })
  }
  return new ByteReader(body, 0, body.length)
}

/** True when this process's batch builder made `batch` (its records tile and parse by construction). */
export function builtHere(batch: Buffer): boolean {
  return checksummedHere.has(batch)
}

/**
 * Checks that every record of the (already validated) batch at `pos` parses as a reader will parse it: a gzip
 * records section decompresses (within the bound readers use), and each record's fields fill its length, with
 * offset deltas 0, 1, 2, ... and non-null header keys. validateBatch checks the CRC and, for uncompressed batches,
 * only that the record lengths tile the section; a batch that passes it but not this one would be stored and then
 * stop every reader at it. The broker checks batches from the network with this before appending them (Kafka's
 * broker validates each record likewise), `log verify` checks stored ones. Allocates nothing per record.
 */
export function checkRecordsWellFormed(buf: Buffer, pos = 0, header = readBatchHeader(buf, pos)): void {
  const reader = recordsReader(buf, pos, header)
  const end = reader.end
  // Bounded by the record count (validated positive and at most LIMITS.batchRecordsMax by its offset delta).
  for (let i = 0; i < header.recordCount; i++) {
    const length = reader.varint()
    const recordEnd = reader.pos + length
    if (length < 0 || recordEnd > end) throw new CorruptRecordError(`record ${i} length ${length} runs past the batch`)
    // The fields are read with the section's reader (no object per record); a field that runs past the record's
    // length is caught by skipBytes or by the final position check.
    reader.int8() // attributes
    reader.varlong() // timestamp delta
    const offsetDelta = reader.varint()
    if (offsetDelta !== i) throw new CorruptRecordError(`record ${i} has offset delta ${offsetDelta}`)
    skipBytes(reader, reader.varint(), recordEnd) // key
    skipBytes(reader, reader.varint(), recordEnd) // value
    const headerCount = reader.varint()
    if (headerCount < 0 || headerCount > LIMITS.recordHeadersMax)
      throw new CorruptRecordError(`record ${i} has ${headerCount} headers`)
    for (let j = 0; j < headerCount; j++) {
      const keyLength = reader.varint()
      if (keyLength < 0) throw new CorruptRecordError(`record ${i} header ${j} has a null key`)
      skipBytes(reader, keyLength, recordEnd)
      skipBytes(reader, reader.varint(), recordEnd)
    }
    if (reader.pos !== recordEnd) throw new CorruptRecordError(`record ${i} fields do not fill its length ${length}`)
  }
  if (reader.pos !== end) throw new CorruptRecordError(`${end - reader.pos} bytes follow the last record`)
}

/** Moves past `length` bytes (-1: null, none) that must end by `recordEnd`. */
function skipBytes(reader: ByteReader, length: number, recordEnd: number): void {
  if (length === -1) return
  if (length < -1) throw new CorruptRecordError(`negative length ${length}`)
  if (reader.pos + length > recordEnd) throw new CorruptRecordError(`length ${length} runs past its record`)
  reader.pos += length
}

/**
 * Decodes the records of the (already validated) batch at `pos`. Keys and values are views into `buf` for
 * uncompressed batches (no copy). Records below `fromOffset` are skipped.
 */
export function decodeRecords(
  buf: Buffer,
  pos = 0,
  fromOffset = -Infinity,
  header = readBatchHeader(buf, pos),
): DecodedRecord[] {
  const reader = recordsReader(buf, pos, header)
  const end = reader.end
  const out: DecodedRecord[] = []
  for (let i = 0; i < header.recordCount; i++) {
    const length = reader.varint()
    const recordEnd = reader.pos + length
    if (length < 0 || recordEnd > end) throw new CorruptRecordError(`record ${i} length ${length} runs past the batch`)
    reader.int8() // attributes, unused in v2
    const timestampDelta = reader.varlong()
    const offsetDelta = reader.varint()
    const key = reader.bytes(reader.varint())
    const value = reader.bytes(reader.varint())
    const headerCount = reader.varint()
    if (headerCount < 0 || headerCount > LIMITS.recordHeadersMax)
      throw new CorruptRecordError(`record ${i} has ${headerCount} headers`)
    const headers: RecordHeader[] = []
    for (let j = 0; j < headerCount; j++) {
      const hk = reader.bytes(reader.varint())
      if (hk === null) throw new CorruptRecordError(`record ${i} header ${j} has a null key`)
      headers.push({ key: hk.toString('utf8'), value: reader.bytes(reader.varint()) })
    }
    if (reader.pos !== recordEnd) throw new CorruptRecordError(`record ${i} fields do not fill its length ${length}`)
    const offset = header.baseOffset + offsetDelta
    if (offset < fromOffset) continue
    const timestamp = header.timestampType === 'logAppend' ? header.maxTimestamp : header.baseTimestamp + timestampDelta
    out.push({ offset, timestamp, key, value, headers })
  }
  return out
}

export interface BatchLocation {
  position: number
  header: BatchHeader
}

/** Walks the whole batches in `buf[start, end)`, validating each; stops before a partial trailing batch. */
export function* iterateBatches(buf: Buffer, start = 0, end = buf.length): Generator<BatchLocation> {
  let pos = start
  while (end - pos >= BATCH_HEADER_BYTES) {
    const header = readBatchHeader(buf, pos)
    if (header.batchLength < BATCH_HEADER_BYTES - LOG_OVERHEAD)
      throw new CorruptRecordError(`bad batchLength at ${pos}`)
    if (pos + header.batchBytes > end) return
    yield { position: pos, header: validateBatch(buf, pos, end) }
    pos += header.batchBytes
  }
}

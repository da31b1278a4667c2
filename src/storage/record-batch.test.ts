// Unit tests of the RecordBatch v2 codec: known CRC-32C vector, round trips (null keys/values/headers, gzip), a batch
// assembled byte by byte from the DESIGN.md §4.2 table, and every kind of bad input rejected with CorruptRecordError.
import { describe, expect, test } from 'vitest'
import { CorruptRecordError, UnsupportedVersionError } from '../errors.js'
import { crc32c } from '../util/crc32c.js'
import {
  POS,
  checkRecordsWellFormed,
  decodeRecords,
  encodeRecordBatch,
  iterateBatches,
  markChecksummed,
  readBatchHeader,
  readInt64,
  setBaseOffset,
  validateBatch,
  writeInt64,
} from './record-batch.js'

describe('crc32c', () => {
  test('known vector: crc32c("123456789") is 0xE3069283', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283)
  })
  test('a sub-range gives the CRC of just those bytes, also of a view into a larger buffer, above and below 512 B', () => {
    expect(crc32c(Buffer.from('xx123456789yy'), 2, 11)).toBe(0xe3069283)
    const big = Buffer.alloc(4096)
    for (let i = 0; i < big.length; i++) big[i] = (i * 131) & 0xff
    const inner = big.subarray(100, 3000) // byteOffset 100 into the same memory
    for (const [start, end] of [
      [7, 300],
      [5, 2800],
      [0, inner.length],
    ] as const)
      expect(crc32c(inner, start, end)).toBe(crc32c(Buffer.from(inner.subarray(start, end))))
    expect(crc32c(inner, 10, 5)).toBe(crc32c(Buffer.alloc(0))) // an empty range, as subarray makes it
  })
})

describe('int64 helpers', () => {
  test('readInt64 inverts writeInt64 for negative, zero and large safe integers', () => {
    const buf = Buffer.alloc(8)
    for (const n of [
      0,
      1,
      -1,
      -2,
      2 ** 32,
      2 ** 32 + 5,
      -(2 ** 40) - 3,
      Number.MAX_SAFE_INTEGER,
      Number.MIN_SAFE_INTEGER,
    ]) {
      writeInt64(buf, 0, n)
      expect(readInt64(buf, 0)).toBe(n)
      expect(buf.readBigInt64BE(0)).toBe(BigInt(n))
    }
  })

  test("readBatchHeader's byte-wise reads agree with Buffer's readers on random header bytes", () => {
    let seed = 12345
    const header = Buffer.alloc(61)
    for (let trial = 0; trial < 2000; trial++) {
      for (let i = 0; i < header.length; i++) header[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24
      const h = readBatchHeader(header)
      const int64 = (p: number): number => header.readInt32BE(p) * 4294967296 + header.readUInt32BE(p + 4)
      expect(h).toMatchObject({
        baseOffset: int64(POS.baseOffset),
        batchLength: header.readInt32BE(POS.batchLength),
        partitionLeaderEpoch: header.readInt32BE(POS.partitionLeaderEpoch),
        magic: header.readInt8(POS.magic),
        crc: header.readUInt32BE(POS.crc),
        attributes: header.readInt16BE(POS.attributes),
        lastOffsetDelta: header.readInt32BE(POS.lastOffsetDelta),
        baseTimestamp: int64(POS.baseTimestamp),
        maxTimestamp: int64(POS.maxTimestamp),
        producerId: int64(POS.producerId),
        producerEpoch: header.readInt16BE(POS.producerEpoch),
        baseSequence: header.readInt32BE(POS.baseSequence),
        recordCount: header.readInt32BE(POS.recordsCount),
      })
    }
  })
})

describe('encode/decode round trips', () => {
  test('null keys, null values, headers with null values and empty buffers survive a round trip', () => {
    const records = [
      { key: null, value: null, timestamp: 1_700_000_000_000 },
      {
        key: Buffer.from('k'),
        value: Buffer.alloc(0),
        timestamp: 1_700_000_000_005,
        headers: [{ key: 'h', value: null }],
      },
      {
        key: Buffer.alloc(0),
        value: Buffer.from('v'.repeat(300)),
        timestamp: 1_699_999_999_000,
        headers: [{ key: 'trace-ü', value: Buffer.from('x') }],
      },
    ]
    const batch = encodeRecordBatch(records, { baseOffset: 42 })
    const h = validateBatch(batch)
    expect(h).toMatchObject({ baseOffset: 42, recordCount: 3, lastOffset: 44, magic: 2, compression: 'none' })
    expect(h.baseTimestamp).toBe(1_699_999_999_000)
    expect(h.maxTimestamp).toBe(1_700_000_000_005)
    const decoded = decodeRecords(batch)
    expect(decoded.map((r) => r.offset)).toEqual([42, 43, 44])
    expect(decoded.map((r) => r.timestamp)).toEqual(records.map((r) => r.timestamp))
    expect(decoded[0]!.key).toBeNull()
    expect(decoded[0]!.value).toBeNull()
    expect(decoded[0]!.headers).toEqual([])
    expect(decoded[1]!.value).toEqual(Buffer.alloc(0))
    expect(decoded[1]!.headers).toEqual([{ key: 'h', value: null }])
    expect(decoded[2]!.key).toEqual(Buffer.alloc(0))
    expect(decoded[2]!.value!.toString()).toBe('v'.repeat(300))
    expect(decoded[2]!.headers[0]!.key).toBe('trace-ü')
  })

  test('gzip batches validate and decode to the same records', () => {
    const records = Array.from({ length: 50 }, (_, i) => ({
      key: Buffer.from(`key-${i}`),
      value: Buffer.from(`value-${i}`.repeat(10)),
      timestamp: 1000 + i,
    }))
    const plain = encodeRecordBatch(records)
    const gz = encodeRecordBatch(records, { compression: 'gzip' })
    expect(validateBatch(gz).compression).toBe('gzip')
    expect(gz.length).toBeLessThan(plain.length)
    const a = decodeRecords(gz).map((r) => [r.offset, r.timestamp, r.key?.toString(), r.value?.toString()])
    const b = decodeRecords(plain).map((r) => [r.offset, r.timestamp, r.key?.toString(), r.value?.toString()])
    expect(a).toEqual(b)
  })

  test('setBaseOffset moves every offset and keeps the CRC valid', () => {
    const batch = encodeRecordBatch([
      { key: null, value: Buffer.from('a'), timestamp: 1 },
      { key: null, value: Buffer.from('b'), timestamp: 2 },
    ])
    setBaseOffset(batch, 0, 2 ** 40)
    expect(validateBatch(batch).baseOffset).toBe(2 ** 40)
    expect(decodeRecords(batch).map((r) => r.offset)).toEqual([2 ** 40, 2 ** 40 + 1])
  })

  test('decodeRecords skips records below fromOffset', () => {
    const batch = encodeRecordBatch(
      [1, 2, 3, 4].map((i) => ({ key: null, value: Buffer.from(String(i)), timestamp: i })),
      { baseOffset: 10 },
    )
    expect(decodeRecords(batch, 0, 12).map((r) => r.value!.toString())).toEqual(['3', '4'])
  })

  test('iterateBatches walks concatenated batches and stops before a partial one', () => {
    const a = encodeRecordBatch([{ key: null, value: Buffer.from('a'), timestamp: 1 }], { baseOffset: 0 })
    const b = encodeRecordBatch([{ key: null, value: Buffer.from('b'), timestamp: 1 }], { baseOffset: 1 })
    const buf = Buffer.concat([a, b, b.subarray(0, 30)])
    expect([...iterateBatches(buf)].map((x) => [x.position, x.header.baseOffset])).toEqual([
      [0, 0],
      [a.length, 1],
    ])
  })
})

describe('a batch assembled byte by byte from the DESIGN.md §4.2 table', () => {
  // One record: key "k", value "hello", one header ("h" -> "v"), timestampDelta 0, offsetDelta 0.
  function handMade(): Buffer {
    const record = Buffer.from([
      0x00, // attributes
      0x00, // timestampDelta varlong 0
      0x00, // offsetDelta varint 0
      0x02, // keyLength 1 (zig-zag 2)
      0x6b, // 'k'
      0x0a, // valueLength 5 (zig-zag 10)
      0x68,
      0x65,
      0x6c,
      0x6c,
      0x6f, // 'hello'
      0x02, // headersCount 1
      0x02,
      0x68, // header key length 1, 'h'
      0x02,
      0x76, // header value length 1, 'v'
    ])
    const recordWithLength = Buffer.concat([Buffer.from([record.length * 2]), record]) // length varint (zig-zag)
    const header = Buffer.alloc(61)
    header.writeBigInt64BE(7n, 0) // baseOffset
    header.writeInt32BE(61 - 12 + recordWithLength.length, 8) // batchLength
    header.writeInt32BE(0, 12) // partitionLeaderEpoch
    header.writeInt8(2, 16) // magic
    header.writeInt16BE(0, 21) // attributes
    header.writeInt32BE(0, 23) // lastOffsetDelta
    header.writeBigInt64BE(1_700_000_000_123n, 27) // baseTimestamp
    header.writeBigInt64BE(1_700_000_000_123n, 35) // maxTimestamp
    header.writeBigInt64BE(-1n, 43) // producerId
    header.writeInt16BE(-1, 51) // producerEpoch
    header.writeInt32BE(-1, 53) // baseSequence
    header.writeInt32BE(1, 57) // recordsCount
    const batch = Buffer.concat([header, recordWithLength])
    batch.writeUInt32BE(crc32c(batch, 21), 17)
    return batch
  }

  test('it validates and decodes to the record it spells', () => {
    const batch = handMade()
    const h = validateBatch(batch)
    expect(h).toMatchObject({
      baseOffset: 7,
      recordCount: 1,
      producerId: -1,
      producerEpoch: -1,
      baseSequence: -1,
      timestampType: 'create',
    })
    const [r] = decodeRecords(batch)
    expect(r!.offset).toBe(7)
    expect(r!.timestamp).toBe(1_700_000_000_123)
    expect(r!.key!.toString()).toBe('k')
    expect(r!.value!.toString()).toBe('hello')
    expect(r!.headers).toEqual([{ key: 'h', value: Buffer.from('v') }])
  })

  test('the encoder produces exactly those bytes', () => {
    const encoded = encodeRecordBatch(
      [
        {
          key: Buffer.from('k'),
          value: Buffer.from('hello'),
          timestamp: 1_700_000_000_123,
          headers: [{ key: 'h', value: Buffer.from('v') }],
        },
      ],
      { baseOffset: 7 },
    )
    expect(encoded.equals(handMade())).toBe(true)
  })
})

describe('bad input', () => {
  const good = (): Buffer =>
    encodeRecordBatch([
      { key: Buffer.from('a'), value: Buffer.from('1'), timestamp: 5 },
      { key: Buffer.from('b'), value: Buffer.from('2'), timestamp: 6 },
    ])

  test('only the very Buffer marked as checksummed here skips the CRC; its bytes anywhere else are checked', () => {
    const marked = good()
    markChecksummed(marked)
    marked[marked.length - 1]! ^= 0x10 // what a skipped CRC cannot see: the marker vouches for the object, not bytes
    expect(() => validateBatch(marked)).not.toThrow()
    // A copy (what a socket or a file would deliver), a view, or the batch inside a larger buffer is checked.
    expect(() => validateBatch(Buffer.from(marked))).toThrow(CorruptRecordError)
    expect(() => validateBatch(marked.subarray(0))).toThrow(CorruptRecordError)
    const inside = Buffer.concat([Buffer.alloc(3), marked])
    expect(() => validateBatch(inside, 3)).toThrow(CorruptRecordError)
    // The header checks still run on a marked batch (the record count no longer matches lastOffsetDelta).
    const short = good()
    markChecksummed(short)
    short.writeInt32BE(short.readInt32BE(POS.recordsCount) + 1, POS.recordsCount)
    expect(() => validateBatch(short)).toThrow(CorruptRecordError)
  })

  test('a flipped bit anywhere in the CRC-covered bytes fails with CorruptRecordError', () => {
    const base = good()
    for (let pos = POS.attributes; pos < base.length; pos++) {
      const bad = Buffer.from(base)
      bad[pos]! ^= 0x10
      expect(() => validateBatch(bad), `byte ${pos}`).toThrow(CorruptRecordError)
    }
  })

  test('checkRecordsWellFormed refuses batches whose CRC and tiling pass but whose records a reader cannot parse', () => {
    const resealed = (b: Buffer): Buffer => {
      b.writeUInt32BE(crc32c(b, POS.attributes), POS.crc)
      return b
    }
    // Records at 61: length (1 byte), attributes, timestamp delta, offset delta, key length, key, ...
    const fakeGzip = resealed(Buffer.from(good()))
    fakeGzip.writeInt16BE(fakeGzip.readInt16BE(POS.attributes) | 1, POS.attributes)
    resealed(fakeGzip)
    const badKeyLength = Buffer.from(good())
    badKeyLength[61 + 4] = 0x7e // key length 63 in a record of a few bytes: the lengths still tile
    resealed(badKeyLength)
    const badDelta = Buffer.from(good())
    const second = 61 + 1 + badDelta[61]! / 2 // the first record's length is a one-byte zig-zag varint
    badDelta[second + 3] = 0x00 // offset delta 0 for the second record
    resealed(badDelta)
    for (const [bad, why] of [
      [fakeGzip, /gzip records section does not decompress/],
      [badKeyLength, /runs past its record/],
      [badDelta, /record 1 has offset delta 0/],
    ] as const) {
      expect(() => validateBatch(bad)).not.toThrow() // what the CRC and tiling checks let through
      expect(() => checkRecordsWellFormed(bad)).toThrow(why)
    }
    // ... and what a reader then meets: an error, or two records at one offset.
    expect(() => decodeRecords(fakeGzip)).toThrow(CorruptRecordError)
    expect(() => decodeRecords(badKeyLength)).toThrow(CorruptRecordError)
    expect(decodeRecords(badDelta).map((r) => r.offset)).toEqual([0, 0])
    for (const ok of [
      good(),
      encodeRecordBatch([{ key: null, value: Buffer.from('z'), timestamp: 1 }], { compression: 'gzip' }),
    ])
      expect(() => checkRecordsWellFormed(Buffer.from(ok))).not.toThrow()
  })

  test('a wrong stored CRC fails with CorruptRecordError naming the mismatch', () => {
    const bad = good()
    bad.writeUInt32BE((bad.readUInt32BE(POS.crc) + 1) >>> 0, POS.crc)
    expect(() => validateBatch(bad)).toThrow(/CRC mismatch/)
  })

  test('magic other than 2 fails with CorruptRecordError', () => {
    const bad = good()
    bad[POS.magic] = 1
    expect(() => validateBatch(bad)).toThrow(CorruptRecordError)
    expect(() => validateBatch(bad)).toThrow(/magic 1/)
  })

  test('a batchLength past the buffer fails with CorruptRecordError', () => {
    const bad = good()
    bad.writeInt32BE(bad.length, POS.batchLength)
    expect(() => validateBatch(bad)).toThrow(CorruptRecordError)
    expect(() => decodeRecords(bad)).toThrow(CorruptRecordError)
  })

  test('a truncated batch and a buffer shorter than a header fail with CorruptRecordError', () => {
    const b = good()
    expect(() => validateBatch(b.subarray(0, b.length - 1))).toThrow(CorruptRecordError)
    expect(() => validateBatch(b.subarray(0, 20))).toThrow(CorruptRecordError)
    expect(() => readBatchHeader(b.subarray(0, 20))).toThrow(CorruptRecordError)
  })

  test('random bytes that are not a batch fail with CorruptRecordError', () => {
    expect(() => validateBatch(Buffer.from('this is not a record batch at all, just some text bytes!!!!!!!!'))).toThrow(
      CorruptRecordError,
    )
  })

  test('an unsupported compression codec fails with UnsupportedVersionError', () => {
    const bad = good()
    bad.writeInt16BE(3, POS.attributes)
    bad.writeUInt32BE(crc32c(bad, POS.attributes), POS.crc)
    expect(() => validateBatch(bad)).toThrow(UnsupportedVersionError)
  })

  test('a record count that disagrees with lastOffsetDelta fails with CorruptRecordError', () => {
    const bad = good()
    bad.writeInt32BE(5, POS.recordsCount)
    bad.writeUInt32BE(crc32c(bad, POS.attributes), POS.crc)
    expect(() => validateBatch(bad)).toThrow(/lastOffsetDelta/)
  })
})

// A batch built record by record decodes to exactly what was appended (string and Buffer keys and values, nulls,
// headers, timestamps in any order), carries the producer fields and a valid CRC, and equals what the one-shot encoder
// makes of the same records when their first timestamp is the smallest; gzip and the size limit apply at finish.
import { describe, expect, test } from 'vitest'
import { RecordTooLargeError } from '../errors.js'
import { decodeRecords, encodeRecordBatch, readBatchHeader, validateBatch } from '../storage/record-batch.js'
import { Random } from '../testing/random.js'
import { BatchBuilder } from './batch-builder.js'
import { PreparedRecords } from './prepared-records.js'

const finish = (b: BatchBuilder, compression: 'none' | 'gzip' = 'none', batchBytesMax = 1 << 24) =>
  b.finish({ compression, producerId: 42, producerEpoch: 3, baseSequence: 7, batchBytesMax })

describe('BatchBuilder', () => {
  test('records decode as appended, through buffer growth, with negative timestamp deltas', () => {
    const random = new Random(11)
    const b = new BatchBuilder(1 << 24)
    const expected: Array<{ key: string | null; value: string | null; timestamp: number; headers: number }> = []
    for (let i = 0; i < 3_000; i++) {
      const key = random.int(0, 5) === 0 ? null : `k-${i}-é`
      const value = random.int(0, 7) === 0 ? null : 'v'.repeat(random.int(0, 300)) + i
      const timestamp = 1_700_000_000_000 + random.int(-5_000, 5_000)
      const headers = random.int(0, 3) === 0 ? [{ key: `h${i}`, value: Buffer.from('x') }] : undefined
      const asBuffer = i % 2 === 0
      const k = key === null ? null : asBuffer ? Buffer.from(key) : key
      const v = value === null ? null : asBuffer ? Buffer.from(value) : value
      b.append(
        k,
        key === null ? -1 : Buffer.byteLength(key),
        v,
        value === null ? -1 : Buffer.byteLength(value),
        timestamp,
        headers,
      )
      expected.push({ key, value, timestamp, headers: headers?.length ?? 0 })
    }
    expect(b.recordCount).toBe(3_000)
    for (const compression of ['none', 'gzip'] as const) {
      const bytes = finish(b, compression)
      expect(() => validateBatch(bytes)).not.toThrow()
      const header = readBatchHeader(bytes)
      expect(header).toMatchObject({
        producerId: 42,
        producerEpoch: 3,
        baseSequence: 7,
        recordCount: 3_000,
        compression,
      })
      expect(header.maxTimestamp).toBe(Math.max(...expected.map((e) => e.timestamp)))
      const decoded = decodeRecords(bytes)
      expect(
        decoded.map((r) => ({
          key: r.key === null ? null : r.key.toString(),
          value: r.value === null ? null : r.value.toString(),
          timestamp: r.timestamp,
          headers: r.headers.length,
        })),
      ).toEqual(expected)
      expect(decoded.map((r) => r.offset)).toEqual(expected.map((_, i) => i))
    }
    expect(expected.map((_, i) => b.timestampOf(i))).toEqual(expected.map((e) => e.timestamp))
  })

  test('same bytes as encodeRecordBatch when the first record has the smallest timestamp', () => {
    const records = [0, 1, 2, 5].map((d) => ({
      key: Buffer.from(`k${d}`),
      value: Buffer.from(`v${d}`),
      timestamp: 1_000 + d,
    }))
    const b = new BatchBuilder(1 << 20)
    for (const r of records) b.append(r.key, r.key.length, r.value, r.value.length, r.timestamp, undefined)
    expect(finish(b)).toEqual(encodeRecordBatch(records, { producerId: 42, producerEpoch: 3, baseSequence: 7 }))
    expect(b.timestampOf(3)).toBe(1_005)
  })

  test('appendPrepared(Of) without headers writes the same bytes as append() record by record, from any start, through growth', () => {
    const random = new Random(5)
    for (let round = 0; round < 20; round++) {
      const count = random.int(1, 2_000)
      const records = new PreparedRecords(count)
      const base = 1_700_000_000_000
      const sameTime = round % 2 === 0 // most calls stamp every record with one time
      for (let i = 0; i < count; i++) {
        const kind = random.int(0, 5)
        const key = kind === 0 ? null : kind === 1 ? `key-${i}` : Buffer.from('k'.repeat(random.int(0, 40)) + i) // ≤ and > 16 B
        const value =
          random.int(0, 9) === 0
            ? null
            : random.int(0, 1) === 0
              ? 'v'.repeat(random.int(0, 200))
              : Buffer.alloc(random.int(0, 300), i)
        records.keys[i] = key
        records.keyBytes[i] = key === null ? -1 : Buffer.byteLength(key)
        records.values[i] = value
        records.valueBytes[i] = value === null ? -1 : Buffer.byteLength(value)
        records.timestamps[i] = sameTime ? base : base + random.int(-5_000, 5_000)
      }
      const ahead = random.int(0, 3) // records appended one by one before the run
      const one = new BatchBuilder(1 << 22)
      const run = new BatchBuilder(1 << 22)
      for (const b of [one, run])
        for (let i = 0; i < ahead; i++) b.append(Buffer.from('x'), 1, null, -1, base + i, undefined)
      const appendEach = (b: BatchBuilder, indexes: Iterable<number>): void => {
        for (const i of indexes)
          b.append(
            records.keys[i]!,
            records.keyBytes[i]!,
            records.values[i]!,
            records.valueBytes[i]!,
            records.timestamps[i]!,
            undefined,
          )
      }
      appendEach(
        one,
        Array.from({ length: count }, (_, i) => i),
      )
      const cut = random.int(0, count)
      run.appendPrepared(records, 0, cut)
      run.appendPrepared(records, cut, count)
      expect(run.recordCount).toBe(ahead + count)
      expect(finish(run), `round ${round}`).toEqual(finish(one))
      for (let i = 0; i < ahead + count; i += 97) expect(run.timestampOf(i)).toBe(one.timestampOf(i))
      // the same through an order (a partition's records of a call): every third record, then the rest
      const order = Int32Array.from([...Array(count).keys()].sort((x, y) => (x % 3) - (y % 3) || x - y))
      const inOrder = new BatchBuilder(1 << 22)
      const ofOrder = new BatchBuilder(1 << 22)
      appendEach(inOrder, order)
      ofOrder.appendPreparedOf(records, order, 0, cut)
      ofOrder.appendPreparedOf(records, order, cut, count)
      expect(finish(ofOrder), `round ${round}, ordered`).toEqual(finish(inOrder))
    }
  })

  test('a finished batch larger than batchBytesMax is refused with RecordTooLargeError', () => {
    const b = new BatchBuilder(1 << 20)
    b.append(null, -1, Buffer.alloc(1_000), 1_000, 1, undefined)
    expect(() => finish(b, 'none', 500)).toThrow(RecordTooLargeError)
  })
})

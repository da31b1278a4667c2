// decodeMessages agrees with the reference decoder (storage/record-batch.ts decodeRecords) on random batches, honours
// the [from, to) range, decodes gzip, and refuses a corrupt batch without appending any of it.
import { describe, expect, test } from 'vitest'
import { CorruptRecordError } from '../errors.js'
import { crc32c } from '../util/crc32c.js'
import {
  decodeRecords,
  encodeRecordBatch,
  iterateBatches,
  setBaseOffset,
  type RecordInput,
} from '../storage/record-batch.js'
import { decodeMessages, FetchedMessage, type Message, MessageCursor, NO_HEADERS } from './message-decoder.js'

function seeded(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

function randomRecords(random: () => number, count: number): RecordInput[] {
  return Array.from({ length: count }, (_, i) => {
    const headerCount = Math.floor(random() * 3)
    return {
      key: random() < 0.2 ? null : Buffer.from(`k${Math.floor(random() * 1000)}`),
      value: random() < 0.1 ? null : Buffer.alloc(Math.floor(random() * 200), i & 0xff),
      timestamp: 1_700_000_000_000 + Math.floor(random() * 100_000),
      headers: Array.from({ length: headerCount }, (_, j) => ({
        key: `h${j}`,
        value: random() < 0.3 ? null : Buffer.from([j]),
      })),
    }
  })
}

/** Several batches back to back with consecutive offsets, as a fetch returns them. */
function logBytes(batches: RecordInput[][], compression: 'none' | 'gzip' = 'none'): Buffer {
  let offset = 0
  const parts = batches.map((records) => {
    const b = encodeRecordBatch(records, { compression })
    setBaseOffset(b, 0, offset)
    offset += records.length
    return b
  })
  return Buffer.concat(parts)
}

function reference(buf: Buffer, from: number, to: number): Array<Omit<Message, 'topic' | 'partition'>> {
  const out = []
  for (const { position, header } of iterateBatches(buf))
    for (const r of decodeRecords(buf, position, from, header))
      if (r.offset < to) out.push({ ...r, headers: Object.fromEntries(r.headers.map((h) => [h.key, h.value])) })
  return out
}

describe('decodeMessages', () => {
  test.each([['none'], ['gzip']] as const)(
    'matches decodeRecords on random batches (%s), seed printed on failure',
    (compression) => {
      for (let seed = 1; seed <= 20; seed++) {
        const random = seeded(seed)
        const batches = Array.from({ length: 1 + Math.floor(random() * 4) }, () =>
          randomRecords(random, 1 + Math.floor(random() * 30)),
        )
        const buf = logBytes(batches, compression)
        const total = batches.reduce((a, b) => a + b.length, 0)
        const from = Math.floor(random() * total)
        const to = from + Math.floor(random() * (total - from + 1))
        const out: Message[] = []
        const next = decodeMessages(buf, 't', 3, from, to, out)
        expect(next, `seed ${seed}`).toBe(total)
        expect(
          out.map((m) => ({
            offset: m.offset,
            timestamp: m.timestamp,
            key: m.key,
            value: m.value,
            headers: m.headers,
          })),
          `seed ${seed}`,
        ).toEqual(reference(buf, from, to))
        expect(out.every((m) => m.topic === 't' && m.partition === 3)).toBe(true)
      }
    },
  )

  test('records without headers share the frozen empty headers object', () => {
    const out: Message[] = []
    decodeMessages(logBytes([[{ key: null, value: Buffer.from('v'), timestamp: 1 }]]), 't', 0, 0, Infinity, out)
    expect(out[0]!.headers).toBe(NO_HEADERS)
    expect(Object.isFrozen(out[0]!.headers)).toBe(true)
  })

  test('a header named __proto__ is an own header, and the headers object keeps its prototype', () => {
    const headers = [
      { key: '__proto__', value: Buffer.from('x') },
      { key: 'a', value: Buffer.from('1') },
    ]
    const out: Message[] = []
    decodeMessages(logBytes([[{ key: null, value: null, timestamp: 1, headers }]]), 't', 0, 0, Infinity, out)
    const h = out[0]!.headers
    expect(Object.keys(h)).toEqual(['__proto__', 'a'])
    expect(Object.getPrototypeOf(h)).toBe(Object.prototype)
    expect(Object.getOwnPropertyDescriptor(h, '__proto__')?.value).toEqual(Buffer.from('x'))
  })

  test('a batch with a bad CRC throws CorruptRecordError and appends nothing of it', () => {
    const buf = logBytes([randomRecords(seeded(7), 5)])
    buf[buf.length - 1]! ^= 0xff
    const out: Message[] = []
    expect(() => decodeMessages(buf, 't', 0, 0, Infinity, out)).toThrow(CorruptRecordError)
    // Named by partition and batch (before: only "CRC mismatch: stored ..., computed ...").
    expect(() => decodeMessages(buf, 't', 3, 0, Infinity, out)).toThrow(/^t\/3, batch at offset 0: CRC mismatch/)
    expect(out).toEqual([])
  })

  test('a gzip section that does not decompress is named by its own batch, not the one after it', () => {
    const plain = logBytes([randomRecords(seeded(3), 4)])
    const gz = encodeRecordBatch(randomRecords(seeded(4), 4), { compression: 'gzip' })
    setBaseOffset(gz, 0, 4)
    gz.fill(0x55, 61, gz.length) // the records section: not gzip any more
    gz.writeUInt32BE(crc32c(gz, 21), 17) // a CRC that matches, so the batch passes validation and fails to inflate
    const out: Message[] = []
    // Before: "batch at offset -1" (the cursor had already moved past the batch when the gunzip failed).
    expect(() => decodeMessages(Buffer.concat([plain, gz]), 't', 0, 0, Infinity, out)).toThrow(
      /^t\/0, batch at offset 4: gzip records section does not decompress/,
    )
  })

  test('keys and values are Buffers viewing the fetched bytes (no copy), also at a non-zero byteOffset', () => {
    const batch = encodeRecordBatch([{ key: Buffer.from('key'), value: Buffer.from('value'), timestamp: 1 }])
    const pooled = Buffer.concat([Buffer.from('xxxx'), batch]).subarray(4) // a view with byteOffset 4
    const out: Message[] = []
    decodeMessages(pooled, 't', 0, 0, Infinity, out)
    const { key, value } = out[0]!
    expect(Buffer.isBuffer(key) && Buffer.isBuffer(value)).toBe(true)
    expect((key as Buffer).toString()).toBe('key')
    expect((value as Buffer).toString()).toBe('value')
    expect((value as Buffer).buffer).toBe(pooled.buffer)
    pooled[pooled.indexOf('value')] = 0x56 // 'V': the view sees the change
    expect((value as Buffer).toString()).toBe('Value')
  })

  test('a key or value read twice is the same Buffer; both can be replaced (codecs do)', () => {
    const out: Message[] = []
    decodeMessages(logBytes([[{ key: Buffer.from('k'), value: Buffer.from('v'), timestamp: 1 }]]), 't', 0, 0, 1, out)
    const m = out[0]!
    expect(m).toBeInstanceOf(FetchedMessage)
    expect(m.value).toBe(m.value)
    expect(m.key).toBe(m.key)
    m.value = 'decoded'
    m.key = null
    expect([m.key, m.value]).toEqual([null, 'decoded'])
  })

  test('spread, structuredClone and JSON.stringify keep key and value like a plain message', () => {
    const out: Message[] = []
    const records = [
      { key: Buffer.from('k'), value: null, timestamp: 5, headers: [{ key: 'h', value: Buffer.from('x') }] },
    ]
    decodeMessages(logBytes([records]), 't', 2, 0, 1, out)
    const m = out[0]!
    const plain = {
      topic: 't',
      partition: 2,
      offset: 0,
      timestamp: 5,
      key: Buffer.from('k'),
      value: null,
      headers: { h: Buffer.from('x') },
    }
    expect(JSON.parse(JSON.stringify(m))).toEqual(JSON.parse(JSON.stringify(plain)))
    expect({ ...m }).toEqual(plain)
    const cloned = structuredClone(m) as unknown as Record<string, unknown>
    expect(Buffer.from(cloned.key as Uint8Array)).toEqual(plain.key)
    expect({ ...cloned, key: plain.key, headers: plain.headers }).toEqual(plain)
    expect(Object.keys(m)).toEqual(Object.keys(plain))
  })

  test('a key length running past its record is refused when the record is decoded, not when the key is read', () => {
    const batch = encodeRecordBatch([{ key: Buffer.from('kk'), value: Buffer.from('vv'), timestamp: 1 }])
    // Record layout after the 61-byte header: length, attributes, timestampDelta, offsetDelta, keyLength (zig-zag).
    const keyLengthAt = 61 + 4
    expect(batch[keyLengthAt]).toBe(4) // zig-zag 2
    batch[keyLengthAt] = 40 // zig-zag 20: past the record's end
    batch.writeUInt32BE(crc32c(batch, 21), 17)
    const cursor = new MessageCursor(batch, 't', 0, 0, Infinity)
    expect(() => cursor.next()).toThrow(CorruptRecordError)
  })

  test('a batch with log-append timestamps gives every message the batch maxTimestamp', () => {
    const records = [5, 9, 7].map((t) => ({ key: null, value: Buffer.from('v'), timestamp: t }))
    const batch = encodeRecordBatch(records, { timestampType: 'logAppend' })
    const out: Message[] = []
    decodeMessages(batch, 't', 0, 0, Infinity, out)
    expect(out.map((m) => m.timestamp)).toEqual([9, 9, 9])
    const created: Message[] = []
    decodeMessages(encodeRecordBatch(records), 't', 0, 0, Infinity, created)
    expect(created.map((m) => m.timestamp)).toEqual([5, 9, 7])
  })
})

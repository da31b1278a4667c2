// The msgpack body codec: Buffers cross as bin and come back as Buffers, numbers past 32 bits survive, a body must be
// exactly one well-formed value, and malformed input of any kind is a ProtocolError (never a crash or a hang).
import { describe, expect, test } from 'vitest'
import { ProtocolError } from '../errors.js'
import { decodeBody, encodeBody, encodeBodyParts } from './codec.js'

describe('codec', () => {
  test('round trip keeps Buffers as Buffers, safe integers exact, null and nested values', () => {
    const value = { batch: Buffer.from([0, 1, 2, 255]), offset: 2 ** 52 + 3, ts: -2, key: null, list: [{ a: 'x' }] }
    const back = decodeBody(encodeBody(value)) as typeof value
    expect(Buffer.isBuffer(back.batch)).toBe(true)
    expect(back).toEqual(value)
  })

  test('a decoded Buffer is a view into the body (raw bytes, not copied record by record)', () => {
    const body = encodeBody({ records: Buffer.alloc(4096, 1) })
    const back = decodeBody(body) as { records: Buffer }
    expect(back.records.buffer).toBe(body.buffer)
  })

  test('undefined (a void result) travels as null', () => {
    expect(decodeBody(encodeBody(undefined))).toBeNull()
  })

  test('an empty body, trailing bytes, truncated data and absurd lengths are ProtocolErrors', () => {
    expect(() => decodeBody(Buffer.alloc(0))).toThrow(ProtocolError)
    expect(() => decodeBody(Buffer.concat([encodeBody(1), encodeBody(2)]))).toThrow(/holds 2 values/)
    expect(() => decodeBody(encodeBody({ a: 'long string' }).subarray(0, 6))).toThrow(ProtocolError)
    // array32 / str32 / bin32 announcing 4 billion elements with nothing behind them
    for (const prefix of [0xdd, 0xdb, 0xc6]) {
      expect(() => decodeBody(Buffer.from([prefix, 0xff, 0xff, 0xff, 0xff]))).toThrow(ProtocolError)
    }
  })

  test('deep nesting is a ProtocolError, and the codec keeps working afterwards', () => {
    expect(() => decodeBody(Buffer.alloc(500_000, 0x91))).toThrow(ProtocolError)
    expect(decodeBody(encodeBody({ ok: true }))).toEqual({ ok: true })
  })

  test('random bytes never escape as anything but a ProtocolError', () => {
    let seed = 12345
    const next = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff)
    for (let i = 0; i < 2000; i++) {
      const buf = Buffer.alloc(1 + (next() % 64))
      for (let j = 0; j < buf.length; j++) buf[j] = next() & 0xff
      try {
        decodeBody(buf)
      } catch (err) {
        expect(err, `input ${buf.toString('hex')}`).toBeInstanceOf(ProtocolError)
      }
    }
  })
})

describe('encodeBodyParts', () => {
  test('the parts concatenate to exactly encodeBody, large Buffers are passed through uncopied', () => {
    const big = Buffer.alloc(100_000, 7)
    const big2 = Buffer.alloc(70_000, 9)
    const value = {
      partitions: [
        { topic: 't', partition: 0, records: big, logEndOffset: 2 ** 40, error: null },
        { topic: 't', partition: 1, records: Buffer.alloc(10, 1), logEndOffset: 3, error: null },
        { topic: 'u', partition: 2, records: big2, logEndOffset: 4, error: { code: 'X', message: 'y' } },
      ],
    }
    const parts = encodeBodyParts(value)
    expect(Buffer.concat(parts).equals(encodeBody(value))).toBe(true)
    expect(parts).toContain(big)
    expect(parts).toContain(big2)
    expect(decodeBody(Buffer.concat(parts))).toEqual(value)
    // the caller's object is not modified
    expect(value.partitions[0]?.records).toBe(big)
  })

  test('bodies without large Buffers are one part, equal to encodeBody', () => {
    for (const value of [null, undefined, 1, 'x', { a: Buffer.alloc(100) }, [1, [2, [3]]]]) {
      const parts = encodeBodyParts(value)
      expect(parts).toHaveLength(1)
      expect(parts[0]?.equals(encodeBody(value))).toBe(true)
    }
  })

  test('bin sizes on both sides of the 16-bit header boundary encode exactly like msgpackr', () => {
    for (const size of [4096, 65_535, 65_536, 300_000]) {
      const value = { batch: Buffer.alloc(size, 3), after: 'tail' }
      expect(Buffer.concat(encodeBodyParts(value)).equals(encodeBody(value)), `size ${size}`).toBe(true)
    }
  })
})

// The msgpack body codec: Buffers cross as bin and come back as Buffers, numbers past 32 bits survive, a body must be
// exactly one well-formed value, and malformed input of any kind is a ProtocolError (never a crash or a hang).
import { describe, expect, test } from 'vitest'
import { ProtocolError } from '../errors.js'
import { decodeBody, encodeBody } from './codec.js'

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

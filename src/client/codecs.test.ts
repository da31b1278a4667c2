// Codecs round-trip their values, keep null as null, and refuse what they cannot encode with a typed error.
import { describe, expect, test } from 'vitest'
import { InvalidArgumentError } from '../errors.js'
import { bufferCodec, encodeWith, jsonCodec, msgpackCodec, resolveCodec, stringCodec } from './codecs.js'

describe('codecs', () => {
  test('json and msgpack round-trip nested values; string and buffer round-trip text and bytes', () => {
    const doc = { a: 1, b: [true, null, 'x'], c: { d: 2.5 } }
    expect(jsonCodec.decode(jsonCodec.encode(doc))).toEqual(doc)
    expect(msgpackCodec.decode(msgpackCodec.encode(doc))).toEqual(doc)
    expect(stringCodec.decode(stringCodec.encode('héllo'))).toBe('héllo')
    const bytes = Buffer.from([0, 1, 255])
    expect(bufferCodec.decode(bufferCodec.encode(bytes))).toBe(bytes)
    expect(bufferCodec.encode('abc')).toEqual(Buffer.from('abc'))
    expect(bufferCodec.encode(new Uint8Array([7, 8]))).toEqual(Buffer.from([7, 8]))
  })

  test('null and undefined are never given to a codec', () => {
    const refuse = {
      encode: () => {
        throw new Error('called')
      },
      decode: () => null,
    }
    expect(encodeWith(refuse, null, 'value')).toBeNull()
    expect(encodeWith(refuse, undefined, 'value')).toBeNull()
  })

  test('values a codec cannot encode, and custom codecs returning non-bytes, get InvalidArgumentError', () => {
    expect(() => bufferCodec.encode(5 as never)).toThrow(InvalidArgumentError)
    expect(() => stringCodec.encode({} as never)).toThrow(/'string' codec/)
    expect(() => jsonCodec.encode(undefined)).toThrow(InvalidArgumentError)
    expect(() => encodeWith({ encode: () => 'text' as never, decode: (b) => b }, 1, 'value')).toThrow(/not a Buffer/)
    // What the codec itself throws on (a circular object, a BigInt for 'json') is bad input too, not a TypeError.
    const circular: Record<string, unknown> = {}
    circular.self = circular
    expect(() => encodeWith(jsonCodec, circular, 'value')).toThrow(InvalidArgumentError)
    expect(() => encodeWith(jsonCodec, 1n, 'key')).toThrow(/^key could not be encoded: .*BigInt/)
  })

  test('resolveCodec names the bad option', () => {
    expect(resolveCodec(undefined, 'valueCodec')).toBe(bufferCodec)
    expect(resolveCodec('msgpack', 'valueCodec')).toBe(msgpackCodec)
    expect(resolveCodec('yaml', 'valueCodec')).toMatch(/valueCodec.*'yaml'/)
    expect(resolveCodec({ encode: () => Buffer.alloc(0) }, 'keyCodec')).toMatch(/keyCodec/)
  })
})

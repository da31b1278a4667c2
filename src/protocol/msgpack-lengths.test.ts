import { describe, expect, test } from 'vitest'
import { ProtocolError } from '../errors.js'
import { encodeBody } from './codec.js'
import { checkMsgpackLengths } from './msgpack-lengths.js'

describe('checkMsgpackLengths', () => {
  test('lets every well-formed body through, whatever its types', () => {
    const bodies: unknown[] = [
      null,
      true,
      0,
      -1,
      2 ** 40,
      -(2 ** 40),
      1.5,
      'x',
      'y'.repeat(300),
      'z'.repeat(70_000),
      Buffer.alloc(10),
      Buffer.alloc(70_000),
      [],
      Array.from({ length: 20 }, (_, i) => i),
      Array.from({ length: 70_000 }, () => 0),
      { a: 1, b: [1, 2, { c: Buffer.from('d') }] },
      Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])),
    ]
    for (const body of bodies) expect(() => checkMsgpackLengths(encodeBody(body))).not.toThrow()
  })

  test('refuses a body of more values than msgpackValuesMax, however few bytes each takes', () => {
    // A 64 MiB array of empty maps decoded to 67 M objects and took the broker past its heap limit.
    const emptyMaps = (n: number): Buffer => {
      const body = Buffer.alloc(5 + n, 0x80) // array32 of n fixmaps of 0 entries
      body[0] = 0xdd
      body.writeUInt32BE(n, 1)
      return body
    }
    expect(() => checkMsgpackLengths(emptyMaps(999_999))).not.toThrow()
    expect(() => checkMsgpackLengths(emptyMaps(1_000_000))).toThrow(/more than 1000000 values \(msgpackValuesMax\)/)
    expect(() => checkMsgpackLengths(encodeBody({ a: [1, 2, 3] }), 6)).not.toThrow() // map, key, array, 3 numbers
    expect(() => checkMsgpackLengths(encodeBody({ a: [1, 2, 3] }), 5)).toThrow(ProtocolError)
  })

  test('refuses an array, map, str or bin whose declared length cannot fit in the bytes left', () => {
    const attacks = [
      Buffer.from('dd01a9746900', 'hex'), // array32 of 27.9 M elements in a 6-byte body
      Buffer.from('df00ffffff00', 'hex'), // map32 of 16.7 M pairs
      Buffer.from('dc0100c0', 'hex'), // array16 of 256 with one element
      Buffer.from('db7fffffff61', 'hex'), // str32 of 2 GiB
      Buffer.from('c6000100000102', 'hex'), // bin32 of 64 KiB with 2 bytes
      Buffer.from('c9ffffffff01', 'hex'), // ext32
      Buffer.from('81a161dd00ffffff', 'hex'), // a map value that is a huge array
    ]
    for (const body of attacks) expect(() => checkMsgpackLengths(body)).toThrow(ProtocolError)
  })

  test('walks every value of the body, not only the first: a huge array after a small map is refused', () => {
    const trailing = Buffer.concat([encodeBody({ a: 1 }), Buffer.from('dd01de0001c0', 'hex')])
    expect(() => checkMsgpackLengths(trailing)).toThrow(ProtocolError)
    expect(() => checkMsgpackLengths(Buffer.concat([encodeBody(1), encodeBody('two')]))).not.toThrow()
  })

  test('bounds nested containers by what they owe together, not one level at a time', () => {
    // 100 nested array16 headers each announcing 200 elements: each level alone fits in the bytes left, together not.
    const nested = Buffer.concat(Array.from({ length: 100 }, () => Buffer.from('dc00c8', 'hex')))
    expect(() => checkMsgpackLengths(Buffer.concat([nested, Buffer.alloc(400, 0xc0)]))).toThrow(ProtocolError)
  })

  test('refuses truncated headers and bytes that are not msgpack', () => {
    expect(() => checkMsgpackLengths(Buffer.from('dd0001', 'hex'))).toThrow(ProtocolError)
    expect(() => checkMsgpackLengths(Buffer.from('c1', 'hex'))).toThrow(ProtocolError)
    expect(() => checkMsgpackLengths(Buffer.alloc(0))).toThrow(ProtocolError)
  })
})

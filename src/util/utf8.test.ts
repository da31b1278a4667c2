// utf8Length and writeUtf8 give exactly Node's UTF-8 bytes for ASCII, multi-byte, surrogate-pair, lone-surrogate,
// empty and long strings, on both sides of the short-string fast path.
import { describe, expect, test } from 'vitest'
import { utf8Length, writeUtf8 } from './utf8.js'

const samples = [
  '',
  'a',
  'key-123',
  'x'.repeat(32),
  'y'.repeat(33),
  'é',
  'clé-1',
  '日本',
  '😀',
  'a\ud800b',
  'z'.repeat(5000) + 'é',
]

describe('utf8', () => {
  test.each(samples.map((s) => [s.slice(0, 20), s]))('%s', (_label, s) => {
    const expected = Buffer.from(s, 'utf8')
    expect(utf8Length(s)).toBe(expected.length)
    const buf = Buffer.alloc(expected.length + 4, 0xee)
    expect(writeUtf8(buf, 2, s, utf8Length(s))).toBe(expected.length)
    expect(buf.subarray(2, 2 + expected.length)).toEqual(expected)
    expect(buf[0]).toBe(0xee)
    expect(buf[expected.length + 2]).toBe(0xee)
  })
})

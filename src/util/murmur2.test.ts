import { describe, expect, test } from 'vitest'
import { murmur2, partitionForKey } from './murmur2.js'

describe('murmur2', () => {
  test("matches the vectors published with Kafka's partitioner", () => {
    const vectors: Array<[string, number]> = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ]
    for (const [input, expected] of vectors) expect(murmur2(Buffer.from(input))).toBe(expected)
  })

  test('partitionForKey masks the sign bit before the modulo, as Kafka does', () => {
    // -973932308 & 0x7fffffff = 1173551340; % 6 = 0
    expect(partitionForKey(Buffer.from('21'), 6)).toBe(1173551340 % 6)
    expect(partitionForKey(Buffer.from('abc'), 7)).toBe(479470107 % 7)
  })
})

import { describe, expect, test } from 'vitest'
import { InvalidArgumentError } from '../errors.js'
import { murmur2 } from '../util/murmur2.js'
import { choosePartition, StickyPartitioner } from './partitioner.js'

function seeded(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

describe('choosePartition', () => {
  test("a key lands on Kafka's murmur2 partition (toPositive(murmur2) % count)", () => {
    // Kafka vectors: murmur2("21") = -973932308, murmur2("foobar") = -790332482, murmur2("abc") = 479470107.
    expect(choosePartition(Buffer.from('21'), 6)).toBe((-973932308 & 0x7fffffff) % 6)
    expect(choosePartition(Buffer.from('foobar'), 10)).toBe((-790332482 & 0x7fffffff) % 10)
    expect(choosePartition(Buffer.from('abc'), 3)).toBe(479470107 % 3)
    for (let i = 0; i < 200; i++) {
      const key = Buffer.from(`user-${i}`)
      expect(choosePartition(key, 7)).toBe((murmur2(key) & 0x7fffffff) % 7)
    }
  })

  test('the same key always picks the same partition; an empty key is hashed, not treated as null', () => {
    expect(choosePartition(Buffer.from('user-42'), 12)).toBe(choosePartition(Buffer.from('user-42'), 12))
    expect(choosePartition(Buffer.alloc(0), 5)).toBe((murmur2(Buffer.alloc(0)) & 0x7fffffff) % 5)
  })

  test('an explicit partition wins over the key and is validated', () => {
    expect(choosePartition(Buffer.from('21'), 6, 5)).toBe(5)
    expect(() => choosePartition(null, 6, 6)).toThrow(InvalidArgumentError)
    expect(() => choosePartition(null, 6, -1)).toThrow(/not in \[0, 5\]/)
    expect(() => choosePartition(null, 6, 1.5)).toThrow(InvalidArgumentError)
  })

  test('a null key without a sticky partitioner picks a partition in range', () => {
    for (let i = 0; i < 50; i++) {
      const p = choosePartition(null, 4)
      expect(p >= 0 && p < 4).toBe(true)
    }
  })
})

describe('StickyPartitioner', () => {
  test('null-key records stick to one partition until its batch is sent, then move to another', () => {
    const sticky = new StickyPartitioner(seeded(7))
    const first = choosePartition(null, 5, undefined, { partitioner: sticky, topic: 't' })
    for (let i = 0; i < 20; i++)
      expect(choosePartition(null, 5, undefined, { partitioner: sticky, topic: 't' })).toBe(first)
    const next = sticky.onNewBatch('t', 5, first)
    expect(next).not.toBe(first)
    expect(sticky.partition('t', 5)).toBe(next)
  })

  test('a batch sent for a partition that is no longer sticky does not move the sticky partition', () => {
    const sticky = new StickyPartitioner(seeded(3))
    const current = sticky.partition('t', 4)
    const other = (current + 1) % 4
    expect(sticky.onNewBatch('t', 4, other)).toBe(current)
  })

  test('topics keep separate sticky partitions and switching spreads over every partition', () => {
    const sticky = new StickyPartitioner(seeded(11))
    const seen = new Set<number>()
    let p = sticky.partition('a', 6)
    for (let i = 0; i < 300; i++) {
      seen.add(p)
      p = sticky.onNewBatch('a', 6, p)
    }
    expect(seen.size).toBe(6)
    expect(sticky.partition('b', 1)).toBe(0)
    expect(sticky.onNewBatch('b', 1, 0)).toBe(0)
  })

  test('partitions known offline are avoided while another is available; with none available it still picks one', () => {
    const offline = new Set([0, 2])
    const sticky = new StickyPartitioner(Math.random, (topic) => (topic === 't' ? offline : undefined))
    const seen = new Set<number>()
    for (let i = 0; i < 200; i++) {
      const p = sticky.partition('t', 4)
      seen.add(p)
      sticky.onNewBatch('t', 4, p)
    }
    expect([...seen].sort()).toEqual([1, 3])
    // A sticky partition that goes offline is left at the next record.
    offline.delete(2)
    offline.add(1)
    offline.add(3)
    expect(sticky.partition('t', 4)).toBe(2)
    offline.add(2)
    offline.add(0)
    expect(sticky.partition('t', 4)).toBeLessThan(4) // all offline: any, the send then says why
    expect(sticky.partition('other', 4)).toBeLessThan(4)
  })

  test('a sticky partition beyond a shrunk partition count is re-picked in range', () => {
    const sticky = new StickyPartitioner(() => 0.99)
    expect(sticky.partition('t', 10)).toBe(9)
    expect(sticky.partition('t', 3)).toBeLessThan(3)
  })
})

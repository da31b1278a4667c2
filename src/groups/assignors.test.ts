// Property tests of the pure assignors over random groups (seed printed on failure).
import { describe, expect, test } from 'vitest'
import {
  rangeAssignor,
  tpKey,
  uniformAssignor,
  type AssignorMember,
  type TargetAssignment,
  type TopicPartition,
} from './assignors.js'
import { Random } from '../testing/random.js'

/** Seeded so a failing run can be replayed. */
function rng(seed: number): () => number {
  const random = new Random(seed)
  return () => random.next()
}

function randomTopics(rand: () => number): Map<string, number> {
  const topics = new Map<string, number>()
  const n = 1 + Math.floor(rand() * 4)
  for (let i = 0; i < n; i++) topics.set(`t${i}`, 1 + Math.floor(rand() * 12))
  return topics
}

function member(id: string, topics: string[], current: TopicPartition[] = []): AssignorMember {
  return { memberId: id, groupInstanceId: null, topics, current }
}

function count(a: TargetAssignment, id: string): number {
  return a.get(id)?.length ?? 0
}

/** Every partition of a subscribed topic is assigned exactly once, only to a subscriber. */
function checkCoverage(members: AssignorMember[], topics: Map<string, number>, a: TargetAssignment): void {
  const seen = new Map<string, string>()
  for (const m of members) {
    for (const tp of a.get(m.memberId) ?? []) {
      expect(m.topics, `${m.memberId} got ${tp.topic} it does not subscribe to`).toContain(tp.topic)
      const key = tpKey(tp.topic, tp.partition)
      expect(seen.has(key), `${key} assigned twice`).toBe(false)
      seen.set(key, m.memberId)
    }
  }
  for (const [topic, n] of topics) {
    const subscribed = members.some((m) => m.topics.includes(topic))
    for (let p = 0; p < n; p++) expect(seen.has(tpKey(topic, p)), `${topic}:${p}`).toBe(subscribed)
  }
}

function movedCount(before: TargetAssignment, after: TargetAssignment): number {
  const owner = new Map<string, string>()
  for (const [id, list] of before) for (const tp of list) owner.set(tpKey(tp.topic, tp.partition), id)
  let moved = 0
  for (const [id, list] of after)
    for (const tp of list) {
      const prev = owner.get(tpKey(tp.topic, tp.partition))
      if (prev !== undefined && prev !== id) moved++
    }
  return moved
}

/** Fewest moves to rebalance counts `c` (members that stay) into n members holding total partitions. */
function minimumMoves(counts: number[], members: number, total: number): number {
  const q = Math.floor(total / members)
  const r = total % members
  const over = counts.filter((c) => c > q)
  return over.reduce((s, c) => s + (c - q), 0) - Math.min(r, over.length)
}

describe('uniform assignor', () => {
  test('covers every subscribed partition once, only subscribers, balanced per subscription, for random groups', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rand = rng(seed)
      const topics = randomTopics(rand)
      const names = [...topics.keys()]
      const members: AssignorMember[] = []
      const n = 1 + Math.floor(rand() * 8)
      for (let i = 0; i < n; i++) {
        const subs = names.filter(() => rand() < 0.6)
        members.push(member(`m${i}`, subs.length > 0 ? subs : [names[0]!]))
      }
      const a = uniformAssignor(members, topics)
      try {
        checkCoverage(members, topics, a)
        const bySub = new Map<string, number[]>()
        for (const m of members) {
          const key = [...m.topics].sort().join(',')
          bySub.set(key, [...(bySub.get(key) ?? []), count(a, m.memberId)])
        }
        for (const counts of bySub.values()) expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1)
      } catch (err) {
        throw new Error(`seed ${seed}: ${(err as Error).message}`, { cause: err })
      }
    }
  })

  test('is deterministic: the order of members and of their current partitions does not change the result', () => {
    for (let seed = 1; seed <= 100; seed++) {
      const rand = rng(seed)
      const topics = randomTopics(rand)
      const names = [...topics.keys()]
      const members = Array.from({ length: 1 + Math.floor(rand() * 6) }, (_, i) => member(`m${i}`, names))
      const first = uniformAssignor(members, topics)
      const withCurrent = members.map((m) => ({ ...m, current: first.get(m.memberId)! }))
      const shuffled = [...withCurrent].reverse().map((m) => ({ ...m, current: [...m.current].reverse() }))
      expect([...uniformAssignor(shuffled, topics)].sort(), `seed ${seed}`).toEqual(
        [...uniformAssignor(withCurrent, topics)].sort(),
      )
    }
  })

  test('adding one member moves exactly the minimum number of partitions (same subscription)', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rand = rng(seed)
      const topics = randomTopics(rand)
      const names = [...topics.keys()]
      const total = [...topics.values()].reduce((s, c) => s + c, 0)
      const n = 1 + Math.floor(rand() * 7)
      const members = Array.from({ length: n }, (_, i) => member(`m${i}`, names))
      const before = uniformAssignor(members, topics)
      const grown = [...members.map((m) => ({ ...m, current: before.get(m.memberId)! })), member(`m${n}`, names)]
      const after = uniformAssignor(grown, topics)
      checkCoverage(grown, topics, after)
      const counts = members.map((m) => count(before, m.memberId))
      expect(movedCount(before, after), `seed ${seed}`).toBe(minimumMoves(counts, n + 1, total))
    }
  })

  test('removing one member moves only its partitions', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rand = rng(seed)
      const topics = randomTopics(rand)
      const names = [...topics.keys()]
      const n = 2 + Math.floor(rand() * 7)
      const members = Array.from({ length: n }, (_, i) => member(`m${i}`, names))
      const before = uniformAssignor(members, topics)
      const gone = `m${Math.floor(rand() * n)}`
      const rest = members.filter((m) => m.memberId !== gone).map((m) => ({ ...m, current: before.get(m.memberId)! }))
      const after = uniformAssignor(rest, topics)
      checkCoverage(rest, topics, after)
      before.delete(gone)
      expect(movedCount(before, after), `seed ${seed}`).toBe(0)
      const counts = rest.map((m) => count(after, m.memberId))
      expect(Math.max(...counts) - Math.min(...counts), `seed ${seed}`).toBeLessThanOrEqual(1)
    }
  })

  test('a stable balanced assignment is returned unchanged', () => {
    const topics = new Map([['a', 7]])
    const members = ['x', 'y', 'z'].map((id) => member(id, ['a']))
    const first = uniformAssignor(members, topics)
    const again = uniformAssignor(
      members.map((m) => ({ ...m, current: first.get(m.memberId)! })),
      topics,
    )
    expect(again).toEqual(first)
  })

  test('drops current partitions of topics that vanished or shrank, and duplicate claims', () => {
    const topics = new Map([['a', 2]])
    const a = uniformAssignor(
      [
        member(
          'm1',
          ['a'],
          [
            { topic: 'a', partition: 0 },
            { topic: 'a', partition: 5 },
            { topic: 'gone', partition: 0 },
          ],
        ),
        member('m2', ['a'], [{ topic: 'a', partition: 0 }]),
      ],
      topics,
    )
    expect(a.get('m1')).toEqual([{ topic: 'a', partition: 0 }])
    expect(a.get('m2')).toEqual([{ topic: 'a', partition: 1 }])
  })
})

describe('range assignor', () => {
  test('gives each subscriber a contiguous range, the first (count % n) one extra, for random groups', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rand = rng(seed)
      const topics = randomTopics(rand)
      const names = [...topics.keys()]
      const members = Array.from({ length: 1 + Math.floor(rand() * 6) }, (_, i) =>
        member(
          `m${i}`,
          names.filter(() => rand() < 0.7),
        ),
      )
      const a = rangeAssignor(members, topics)
      checkCoverage(members, topics, a)
      for (const [topic, n] of topics) {
        const subs = members.filter((m) => m.topics.includes(topic)).sort((x, y) => (x.memberId < y.memberId ? -1 : 1))
        let next = 0
        subs.forEach((m, i) => {
          const mine = a
            .get(m.memberId)!
            .filter((tp) => tp.topic === topic)
            .map((tp) => tp.partition)
          const expected = Math.floor(n / subs.length) + (i < n % subs.length ? 1 : 0)
          expect(mine, `seed ${seed} ${topic} ${m.memberId}`).toEqual(
            Array.from({ length: expected }, (_, k) => next + k),
          )
          next += expected
        })
      }
    }
  })

  test('static members sort by instance id, so a new member id for the same instance keeps its range', () => {
    const topics = new Map([['a', 4]])
    const a = rangeAssignor(
      [
        { memberId: 'zz', groupInstanceId: 'i1', topics: ['a'], current: [] },
        { memberId: 'aa', groupInstanceId: 'i2', topics: ['a'], current: [] },
      ],
      topics,
    )
    expect(a.get('zz')!.map((tp) => tp.partition)).toEqual([0, 1])
    expect(a.get('aa')!.map((tp) => tp.partition)).toEqual([2, 3])
  })
})

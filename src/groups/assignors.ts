// Server-side partition assignors: pure, deterministic functions from (members, their subscriptions, their current
// partitions, topic partition counts) to a target assignment. Every subscribed partition goes to exactly one member
// that subscribes to its topic; the output never depends on the order of the inputs. `uniform` is balanced and
// sticky: a member keeps what it has unless balance needs it elsewhere, and among members with the same subscription
// partition counts differ by at most one. `range` gives each member a contiguous range of every topic it subscribes to.
import { assert } from '../util/assert.js'

export interface TopicPartition {
  topic: string
  partition: number
}

export interface AssignorMember {
  memberId: string
  /** Static members sort by instance id so that a restart (same id) keeps the same ranges. */
  groupInstanceId: string | null
  /** Resolved topic names (regex already expanded). */
  topics: readonly string[]
  /** The member's current target: the stickiness base for `uniform`. */
  current: readonly TopicPartition[]
}

/** memberId → its partitions, sorted by topic then partition. Every member of the input has an entry. */
export type TargetAssignment = Map<string, TopicPartition[]>

export type Assignor = (
  members: readonly AssignorMember[],
  partitionCounts: ReadonlyMap<string, number>,
) => TargetAssignment

export type AssignorName = 'uniform' | 'range'
export const ASSIGNOR_NAMES: readonly AssignorName[] = ['uniform', 'range']

export function tpKey(topic: string, partition: number): string {
  // Topic names are [a-zA-Z0-9._-] only, so ':' cannot be ambiguous.
  return `${topic}:${partition}`
}

export function compareTp(a: TopicPartition, b: TopicPartition): number {
  return a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function sortKey(m: AssignorMember): string {
  return m.groupInstanceId ?? m.memberId
}

function sortedMembers(members: readonly AssignorMember[]): AssignorMember[] {
  return [...members].sort((a, b) => compareStrings(sortKey(a), sortKey(b)) || compareStrings(a.memberId, b.memberId))
}

function finish(members: readonly AssignorMember[], owned: Map<string, TopicPartition[]>): TargetAssignment {
  const out: TargetAssignment = new Map()
  for (const m of members) out.set(m.memberId, (owned.get(m.memberId) ?? []).sort(compareTp))
  return out
}

/**
 * Balanced and sticky. (1) Every partition stays with its current holder when that member still subscribes to the
 * topic (first holder in sort order wins a duplicate claim). (2) Unheld partitions go one by one to the eligible member
 * holding the fewest. (3) While some member holds two or more than a member that could take one of its partitions, one
 * moves from the fullest to the emptiest. Step 3 only moves partitions from an over-full member to an under-full one, so
 * for a common subscription it moves the minimum; it ends because the sum of squared counts strictly falls.
 */
export const uniformAssignor: Assignor = (input, partitionCounts) => {
  const members = sortedMembers(input)
  const subs = new Map(members.map((m) => [m.memberId, new Set(m.topics)]))
  const held = new Map<string, TopicPartition[]>(members.map((m) => [m.memberId, []]))
  const taken = new Set<string>()
  for (const m of members) {
    const mine = held.get(m.memberId)!
    for (const tp of [...m.current].sort(compareTp)) {
      const count = partitionCounts.get(tp.topic)
      if (count === undefined || tp.partition >= count || !subs.get(m.memberId)!.has(tp.topic)) continue
      const key = tpKey(tp.topic, tp.partition)
      if (taken.has(key)) continue
      taken.add(key)
      mine.push({ topic: tp.topic, partition: tp.partition })
    }
  }
  const lists = members.map((m) => held.get(m.memberId)!)
  for (const topic of [...partitionCounts.keys()].sort(compareStrings)) {
    const eligible: number[] = []
    members.forEach((m, i) => {
      if (subs.get(m.memberId)!.has(topic)) eligible.push(i)
    })
    if (eligible.length === 0) continue
    const heap = new FewestHeap(eligible.map((i) => [lists[i]!.length, i]))
    const count = partitionCounts.get(topic)!
    for (let p = 0; p < count; p++) {
      if (taken.has(tpKey(topic, p))) continue
      const i = heap.takeFewest((j) => lists[j]!.length)
      lists[i]!.push({ topic, partition: p })
      heap.push([lists[i]!.length, i])
      taken.add(tpKey(topic, p))
    }
  }
  rebalance(members, subs, held)
  return finish(members, held)
}

/**
 * A binary min-heap of [count, memberIndex] (ties: lower index, i.e. sort order). Counts elsewhere only grow, so an
 * entry whose count is stale is an underestimate: takeFewest re-pushes it with the real count until the top is exact.
 */
class FewestHeap {
  constructor(private readonly items: Array<[number, number]>) {
    for (let i = (items.length >> 1) - 1; i >= 0; i--) this.down(i)
  }

  private less(a: [number, number], b: [number, number]): boolean {
    return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1])
  }

  push(item: [number, number]): void {
    const items = this.items
    items.push(item)
    let i = items.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.less(items[i]!, items[parent]!)) break
      ;[items[i], items[parent]] = [items[parent]!, items[i]!]
      i = parent
    }
  }

  private pop(): [number, number] {
    const items = this.items
    const top = items[0]!
    const last = items.pop()!
    if (items.length > 0) {
      items[0] = last
      this.down(0)
    }
    return top
  }

  private down(i: number): void {
    const items = this.items
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < items.length && this.less(items[l]!, items[m]!)) m = l
      if (r < items.length && this.less(items[r]!, items[m]!)) m = r
      if (m === i) return
      ;[items[i], items[m]] = [items[m]!, items[i]!]
      i = m
    }
  }

  /** Removes and returns the member index with the fewest partitions now. */
  takeFewest(countOf: (index: number) => number): number {
    // Each stale entry is re-pushed once with its real count, so this ends within items.length rounds.
    for (let round = 0; round <= this.items.length; round++) {
      const [count, index] = this.pop()
      const real = countOf(index)
      if (real === count) return index
      this.push([real, index])
    }
    assert(false, 'FewestHeap entries are never below their real count twice')
  }
}

function rebalance(
  members: AssignorMember[],
  subs: Map<string, Set<string>>,
  held: Map<string, TopicPartition[]>,
): void {
  let total = 0
  for (const list of held.values()) total += list.length
  // Each move lowers the sum of squared counts by at least 2, and that sum starts below total².
  const movesMax = total * total + 1
  for (let moves = 0; moves < movesMax; moves++) {
    const byCount = [...members].sort(
      (a, b) => held.get(b.memberId)!.length - held.get(a.memberId)!.length || compareStrings(a.memberId, b.memberId),
    )
    let moved = false
    search: for (const from of byCount) {
      const fromList = held.get(from.memberId)!
      for (let i = byCount.length - 1; i >= 0; i--) {
        const to = byCount[i]!
        const toList = held.get(to.memberId)!
        if (fromList.length <= toList.length + 1) break
        const toSubs = subs.get(to.memberId)!
        // Move the highest partition the receiver may take: deterministic and keeps low partitions in place.
        for (let j = fromList.length - 1; j >= 0; j--) {
          const tp = fromList[j]!
          if (!toSubs.has(tp.topic)) continue
          fromList.splice(j, 1)
          toList.push(tp)
          moved = true
          break search
        }
      }
    }
    if (!moved) return
  }
  assert(false, 'uniform assignor did not converge')
}

/** Per topic: subscribers sorted by instance id (else member id); the first (count % n) get one extra partition. */
export const rangeAssignor: Assignor = (input, partitionCounts) => {
  const members = sortedMembers(input)
  const held = new Map<string, TopicPartition[]>(members.map((m) => [m.memberId, []]))
  for (const [topic, count] of [...partitionCounts].sort((a, b) => compareStrings(a[0], b[0]))) {
    const subscribers = members.filter((m) => m.topics.includes(topic))
    if (subscribers.length === 0) continue
    const per = Math.floor(count / subscribers.length)
    const extra = count % subscribers.length
    let next = 0
    subscribers.forEach((m, i) => {
      const n = per + (i < extra ? 1 : 0)
      const list = held.get(m.memberId)!
      for (let k = 0; k < n; k++) list.push({ topic, partition: next++ })
    })
  }
  return finish(members, held)
}

export function assignorByName(name: AssignorName): Assignor {
  return name === 'range' ? rangeAssignor : uniformAssignor
}

export function isAssignorName(name: string): name is AssignorName {
  return (ASSIGNOR_NAMES as readonly string[]).includes(name)
}

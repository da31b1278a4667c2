// Unit and model tests of the pure group state machine with a fake clock: join, leave, expiry, static rejoin, fencing,
// regex subscriptions, and no double ownership at any step of random join/leave/heartbeat/expire sequences.
import { describe, expect, test } from 'vitest'
import type { GroupHeartbeatRequest, GroupHeartbeatResponse, TopicPartitions } from '../broker/api.js'
import { FencedMemberEpochError, InvalidArgumentError, NotOwnerError, UnknownMemberError } from '../errors.js'
import { tpKey } from './assignors.js'
import { ConsumerGroup, type TopicsMeta } from './group-state.js'
import { Random } from '../testing/random.js'

const SESSION_MS = 1_000
const REBALANCE_MS = 5_000

function topicsMeta(initial: Record<string, number>): TopicsMeta & { topics: Map<string, number> } {
  const topics = new Map(Object.entries(initial))
  return {
    topics,
    partitionCount: (t) => topics.get(t) ?? null,
    listTopics: () => [...topics.keys()],
  }
}

function newGroup(meta: TopicsMeta): ConsumerGroup {
  let next = 0
  return new ConsumerGroup('g', { topics: meta, newMemberId: () => `m${++next}`, heartbeatIntervalMs: 100 })
}

function req(over: Partial<GroupHeartbeatRequest>): GroupHeartbeatRequest {
  return {
    groupId: 'g',
    memberId: '',
    memberEpoch: 0,
    groupInstanceId: null,
    subscribedTopics: null,
    subscribedTopicRegex: null,
    sessionTimeoutMs: SESSION_MS,
    rebalanceTimeoutMs: REBALANCE_MS,
    assignor: null,
    ownedPartitions: [],
    lastPollMsAgo: 0,
    ...over,
  }
}

/** A simulated client: owns what it was told, releases revoked partitions at once (or when told to). */
class SimClient {
  memberId = ''
  epoch = 0
  owned = new Set<string>()
  /** Revoked by the coordinator, not yet released (a slow onPartitionsRevoked). */
  releasing = new Set<string>()
  constructor(
    readonly group: ConsumerGroup,
    readonly sub: { topics: string[] } | { regex: string },
    readonly instanceId: string | null = null,
  ) {}

  private base(): Partial<GroupHeartbeatRequest> {
    return {
      memberId: this.memberId,
      memberEpoch: this.epoch,
      groupInstanceId: this.instanceId,
      ownedPartitions: ownedList(this.owned),
    }
  }

  join(now: number): GroupHeartbeatResponse {
    this.memberId = ''
    this.epoch = 0
    this.owned.clear()
    this.releasing.clear()
    const sub = 'topics' in this.sub ? { subscribedTopics: this.sub.topics } : { subscribedTopicRegex: this.sub.regex }
    return this.apply(this.group.heartbeat(req({ ...this.base(), ...sub }), now), true)
  }

  beat(now: number, releaseNow = true): GroupHeartbeatResponse {
    if (releaseNow) for (const k of this.releasing) this.owned.delete(k)
    if (releaseNow) this.releasing.clear()
    return this.apply(this.group.heartbeat(req(this.base()), now), releaseNow)
  }

  leave(now: number, epoch: -1 | -2 = -1): void {
    this.group.heartbeat(req({ ...this.base(), memberEpoch: epoch, ownedPartitions: [] }), now)
    this.owned.clear()
    this.memberId = ''
    this.epoch = 0
  }

  private apply(res: GroupHeartbeatResponse, releaseNow: boolean): GroupHeartbeatResponse {
    this.memberId = res.memberId
    this.epoch = res.memberEpoch
    if (res.assignment !== null) {
      const next = new Set(res.assignment.flatMap((t) => t.partitions.map((p) => tpKey(t.topic, p))))
      for (const k of this.owned) if (!next.has(k)) this.releasing.add(k)
      for (const k of next) this.owned.add(k)
      if (releaseNow) {
        for (const k of this.releasing) this.owned.delete(k)
        this.releasing.clear()
      }
    }
    return res
  }
}

function ownedList(keys: Iterable<string>): TopicPartitions[] {
  const byTopic = new Map<string, number[]>()
  for (const k of keys) {
    const [topic, p] = k.split(':') as [string, string]
    byTopic.set(topic, [...(byTopic.get(topic) ?? []), Number(p)])
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }))
}

function settle(clients: SimClient[], now: number, rounds = 4): void {
  for (let i = 0; i < rounds; i++) for (const c of clients) c.beat(now)
}

function totalOwned(clients: SimClient[]): number {
  return clients.reduce((s, c) => s + c.owned.size, 0)
}

/** Seeded so a failing run can be replayed. */
function rng(seed: number): () => number {
  const random = new Random(seed)
  return () => random.next()
}

describe('ConsumerGroup', () => {
  test('a subscription pattern is matched in linear time: one that backtracks exponentially costs nothing, one that needs backtracking is refused', () => {
    // ^(a+)+$ against 40 a's and a dash: hours with a backtracking engine, on the broker's event loop.
    const evil = 'a'.repeat(40) + '-'
    const g = newGroup(topicsMeta({ [evil]: 1, aaaa: 2 }))
    const a = new SimClient(g, { regex: '^(a+)+$' })
    a.join(0)
    expect([...a.owned].sort()).toEqual([tpKey('aaaa', 0), tpKey('aaaa', 1)])
    expect(() => g.heartbeat(req({ subscribedTopicRegex: '^(a)\\1$' }), 10)).toThrow(InvalidArgumentError)
    expect(() => g.heartbeat(req({ subscribedTopicRegex: '^(a)\\1$' }), 10)).toThrow(/linear time/)
    expect(() => g.heartbeat(req({ subscribedTopicRegex: '(?<=x)y' }), 10)).toThrow(/linear time/)
  })

  test('a first member gets every partition; a second joins and gets half after the first releases', () => {
    const g = newGroup(topicsMeta({ t: 4 }))
    const a = new SimClient(g, { topics: ['t'] })
    a.join(0)
    expect(a.owned.size).toBe(4)
    expect(g.state()).toBe('Stable')
    const b = new SimClient(g, { topics: ['t'] })
    b.join(10)
    expect(b.owned.size).toBe(0) // nothing is free until a releases
    expect(g.state()).toBe('Reconciling')
    a.beat(20, false) // a is told to keep two but has not released yet
    expect(a.owned.size).toBe(4)
    b.beat(30)
    expect(b.owned.size).toBe(0)
    a.beat(40) // a reports the release
    b.beat(50)
    expect(a.owned.size).toBe(2)
    expect(b.owned.size).toBe(2)
    expect(g.state()).toBe('Stable')
    g.checkInvariants()
  })

  test('a member waiting for partitions others still hold is told to heartbeat sooner until it has them', () => {
    const g = newGroup(topicsMeta({ t: 4 }))
    const a = new SimClient(g, { topics: ['t'] })
    expect(a.join(0).heartbeatIntervalMs).toBe(100)
    const b = new SimClient(g, { topics: ['t'] })
    expect(b.join(10).heartbeatIntervalMs).toBe(20) // its two partitions are still a's
    a.beat(20) // a is told to release two
    expect(b.beat(22).heartbeatIntervalMs).toBe(20) // still waiting
    a.beat(25) // a reports them released
    expect(b.beat(30).heartbeatIntervalMs).toBe(100) // b got them: back to the normal interval
    expect(b.owned.size).toBe(2)
  })

  test('a leaving member frees its partitions for the others at once', () => {
    const g = newGroup(topicsMeta({ t: 6 }))
    const clients = [0, 1, 2].map(() => new SimClient(g, { topics: ['t'] }))
    for (const c of clients) c.join(0)
    settle(clients, 1)
    clients[0]!.leave(2)
    settle(clients.slice(1), 3)
    expect(clients[1]!.owned.size + clients[2]!.owned.size).toBe(6)
    expect(clients[1]!.owned.size).toBe(3)
  })

  test('a silent member is removed after its session timeout and its partitions move', () => {
    const g = newGroup(topicsMeta({ t: 4 }))
    const a = new SimClient(g, { topics: ['t'] })
    const b = new SimClient(g, { topics: ['t'] })
    a.join(0)
    b.join(0)
    settle([a, b], 100)
    expect(g.expire(SESSION_MS)).toEqual([]) // exactly at the timeout it is still alive
    b.beat(SESSION_MS + 50)
    const removed = g.expire(SESSION_MS + 101)
    expect(removed.map((r) => r.memberId)).toEqual([a.memberId])
    b.beat(SESSION_MS + 150)
    expect(b.owned.size).toBe(4)
    expect(() => a.beat(SESSION_MS + 200)).toThrow(UnknownMemberError)
  })

  test('a member whose processing stalls past rebalanceTimeoutMs is removed', () => {
    const g = newGroup(topicsMeta({ t: 2 }))
    const a = new SimClient(g, { topics: ['t'] })
    a.join(0)
    expect(() =>
      g.heartbeat(req({ memberId: a.memberId, memberEpoch: a.epoch, lastPollMsAgo: REBALANCE_MS + 1 }), 10),
    ).toThrow(UnknownMemberError)
    expect(g.members.size).toBe(0)
    expect(g.state()).toBe('Empty')
  })

  test('a member that never finishes a revocation is removed after its rebalance timeout', () => {
    const g = newGroup(topicsMeta({ t: 2 }))
    const a = new SimClient(g, { topics: ['t'] })
    a.join(0)
    const b = new SimClient(g, { topics: ['t'] })
    b.join(0)
    for (let now = 100; now <= REBALANCE_MS + 200; now += 100) {
      a.beat(now, false) // keeps heartbeating, never releases
      b.beat(now)
      g.expire(now)
    }
    expect(g.members.has(a.memberId)).toBe(false)
    b.beat(REBALANCE_MS + 300)
    expect(b.owned.size).toBe(2)
  })

  test('a static member that leaves with -2 and rejoins within its session gets the same partitions, others untouched', () => {
    const g = newGroup(topicsMeta({ t: 6 }))
    const s = new SimClient(g, { topics: ['t'] }, 'instance-1')
    const d = new SimClient(g, { topics: ['t'] })
    s.join(0)
    d.join(0)
    settle([s, d], 10)
    const before = [...s.owned].sort()
    const others = [...d.owned].sort()
    const id = s.memberId
    s.leave(20, -2)
    d.beat(30)
    expect([...d.owned].sort()).toEqual(others) // no reassignment while it is away
    s.join(SESSION_MS - 100)
    expect(s.memberId).toBe(id)
    expect([...s.owned].sort()).toEqual(before)
    d.beat(SESSION_MS)
    expect([...d.owned].sort()).toEqual(others)
    g.checkInvariants()
  })

  test('a static member that stays away past its session timeout loses its partitions to the others', () => {
    const g = newGroup(topicsMeta({ t: 4 }))
    const s = new SimClient(g, { topics: ['t'] }, 'instance-1')
    const d = new SimClient(g, { topics: ['t'] })
    s.join(0)
    d.join(0)
    settle([s, d], 10)
    s.leave(20, -2)
    d.beat(500)
    g.expire(SESSION_MS + 21)
    d.beat(SESSION_MS + 30)
    expect(d.owned.size).toBe(4)
  })

  test('a stale epoch is fenced: commits for a partition reassigned since, and heartbeats from two epochs back', () => {
    const g = newGroup(topicsMeta({ t: 2 }))
    const a = new SimClient(g, { topics: ['t'] })
    a.join(0)
    const firstEpoch = a.epoch
    g.checkOwnership(a.memberId, firstEpoch, 't', 0, 'commit')
    const b = new SimClient(g, { topics: ['t'] })
    b.join(1)
    settle([a, b], 2)
    const lost = ['t:0', 't:1'].find((k) => !a.owned.has(k))!
    const lostPartition = Number(lost.split(':')[1])
    expect(() => g.checkOwnership(a.memberId, a.epoch, 't', lostPartition, 'commit')).toThrow(NotOwnerError)
    expect(() => g.checkOwnership(b.memberId, b.epoch - 1, 't', lostPartition, 'commit')).toThrow(
      FencedMemberEpochError,
    )
    g.checkOwnership(b.memberId, b.epoch, 't', lostPartition, 'commit')
    expect(() => g.checkOwnership('nobody', 1, 't', 0, 'commit')).toThrow(UnknownMemberError)
    expect(() => g.heartbeat(req({ memberId: b.memberId, memberEpoch: b.epoch + 5 }), 3)).toThrow(
      FencedMemberEpochError,
    )
  })

  test('a coordinated reset moves the holder to a new epoch, fences older commits and delivers the positions once', () => {
    const g = newGroup(topicsMeta({ t: 2 }))
    const a = new SimClient(g, { topics: ['t'] })
    a.join(0)
    const before = a.epoch
    g.markResets([{ topic: 't', partition: 1, offset: 7 }])
    expect(() => g.checkOwnership(a.memberId, before, 't', 1, 'commit')).toThrow(FencedMemberEpochError)
    g.checkOwnership(a.memberId, before, 't', 0, 'commit') // other partitions keep working under the old epoch
    g.checkOwnership(a.memberId, before, 't', 1, 'fetch') // fetches are not stalled until the member hears of it
    const res = a.beat(1)
    expect(res.resets).toEqual([{ topic: 't', partition: 1, offset: 7 }])
    expect(res.memberEpoch).toBeGreaterThan(before)
    g.checkOwnership(a.memberId, res.memberEpoch, 't', 1, 'commit')
    expect(a.beat(2).resets).toEqual([])
  })

  test('two coordinated resets between two heartbeats do not fence the holder, which gets both positions', () => {
    const g = newGroup(topicsMeta({ t: 2 }))
    const a = new SimClient(g, { topics: ['t'] })
    a.join(0)
    const before = a.epoch
    g.markResets([{ topic: 't', partition: 0, offset: 3 }])
    g.markResets([{ topic: 't', partition: 1, offset: 9 }])
    g.markResets([{ topic: 't', partition: 0, offset: 4 }])
    const res = a.beat(1)
    expect(res.resets).toEqual([
      { topic: 't', partition: 0, offset: 4 },
      { topic: 't', partition: 1, offset: 9 },
    ])
    expect(res.memberEpoch).toBeGreaterThan(before)
    expect(() => g.checkOwnership(a.memberId, before, 't', 0, 'commit')).toThrow(FencedMemberEpochError)
    g.checkOwnership(a.memberId, res.memberEpoch, 't', 1, 'commit')
  })

  test('a regex subscription picks up topics created later that match', () => {
    const meta = topicsMeta({ 'orders-eu': 2, other: 3 })
    const g = newGroup(meta)
    const a = new SimClient(g, { regex: '^orders-' })
    a.join(0)
    expect([...a.owned].sort()).toEqual(['orders-eu:0', 'orders-eu:1'])
    meta.topics.set('orders-us', 1)
    expect(g.refreshTopics(1)).toBe(true)
    expect(g.refreshTopics(2)).toBe(false)
    a.beat(3)
    expect([...a.owned].sort()).toEqual(['orders-eu:0', 'orders-eu:1', 'orders-us:0'])
  })

  test('a deleted topic is revoked from its holders', () => {
    const meta = topicsMeta({ a: 1, b: 1 })
    const g = newGroup(meta)
    const c = new SimClient(g, { topics: ['a', 'b'] })
    c.join(0)
    meta.topics.delete('b')
    g.refreshTopics(1)
    c.beat(2)
    expect([...c.owned]).toEqual(['a:0'])
  })

  test('the range assignor is used when members ask for it', () => {
    const g = newGroup(topicsMeta({ t: 4 }))
    const a = new SimClient(g, { topics: ['t'] })
    g.heartbeat(req({ subscribedTopics: ['t'], assignor: 'range' }), 0)
    expect(g.assignor).toBe('range')
    expect(() => g.heartbeat(req({ subscribedTopics: ['t'], assignor: 'nope' }), 0)).toThrow(/unknown assignor/)
    void a
  })

  test('a join whose subscription is refused (bad regex, unknown assignor) leaves no member behind', () => {
    const g = newGroup(topicsMeta({ t: 2 }))
    expect(() => g.heartbeat(req({ subscribedTopics: null, subscribedTopicRegex: '(a)\\1' }), 0)).toThrow(/linear time/)
    expect(() => g.heartbeat(req({ subscribedTopics: ['t'], assignor: 'nope' }), 0)).toThrow(/unknown assignor/)
    expect(g.liveMemberCount()).toBe(0)
    expect(g.members.size).toBe(0)
  })

  test('no partition is ever held by two members under random join/leave/heartbeat/expire sequences', () => {
    for (let seed = 1; seed <= 60; seed++) {
      const rand = rng(seed)
      const meta = topicsMeta({ a: 1 + Math.floor(rand() * 6), b: 1 + Math.floor(rand() * 6) })
      const g = newGroup(meta)
      const clients: SimClient[] = []
      for (let i = 0; i < 6; i++) {
        const sub = rand() < 0.3 ? { regex: '^[ab]$' } : { topics: rand() < 0.5 ? ['a', 'b'] : ['a'] }
        clients.push(new SimClient(g, sub, rand() < 0.3 ? `inst-${i}` : null))
      }
      const joined = new Set<SimClient>()
      let now = 0
      // The change counter moves whenever the snapshot does (else the coordinator would not make a change durable).
      let lastChanges = g.changes
      let lastSnapshot = JSON.stringify(g.snapshot())
      const checkChanges = (step: number): void => {
        const snapshot = JSON.stringify(g.snapshot())
        if (g.changes === lastChanges)
          expect(snapshot, `snapshot changed, counter did not, step ${step}`).toBe(lastSnapshot)
        lastChanges = g.changes
        lastSnapshot = snapshot
      }
      try {
        for (let step = 0; step < 300; step++) {
          now += Math.floor(rand() * 150)
          const c = clients[Math.floor(rand() * clients.length)]!
          const op = rand()
          try {
            if (!joined.has(c)) {
              if (op < 0.5) {
                c.join(now)
                joined.add(c)
              }
            } else if (op < 0.05) {
              c.leave(now, c.instanceId !== null && rand() < 0.5 ? -2 : -1)
              joined.delete(c)
            } else if (op < 0.1) {
              meta.topics.set('b', 1 + Math.floor(rand() * 6))
              g.refreshTopics(now)
              checkChanges(step)
            } else if (op < 0.15) {
              // Silent for a while: the clock moves past others' sessions too, so expiry happens.
              now += SESSION_MS / 2
            } else if (op < 0.18) {
              g.markResets([{ topic: 'a', partition: 0, offset: step }])
              checkChanges(step)
            } else {
              c.beat(now, rand() < 0.7)
            }
          } catch (err) {
            if (!(err instanceof UnknownMemberError || err instanceof FencedMemberEpochError)) throw err
            // Removed: the client loses everything and will rejoin.
            c.owned.clear()
            c.releasing.clear()
            joined.delete(c)
          }
          for (const r of g.expire(now)) {
            const zombie = clients.find((x) => x.memberId === r.memberId && joined.has(x))
            if (zombie !== undefined) {
              zombie.owned.clear()
              joined.delete(zombie)
            }
          }
          g.checkInvariants()
          checkChanges(step)
          const seen = new Set<string>()
          for (const x of joined) {
            for (const k of x.owned) {
              expect(seen.has(k), `client-side double ownership of ${k} at step ${step}`).toBe(false)
              seen.add(k)
              expect(g.holderOf(k.split(':')[0]!, Number(k.split(':')[1])), `${k} owned by a client but not held`).toBe(
                x.memberId,
              )
            }
          }
        }
        // Quiesce: every live member heartbeats and releases; the group converges to its target.
        const live = [...joined]
        for (let i = 0; i < 6; i++) for (const x of live) x.beat(now + i)
        if (live.length > 0 && [...g.members.values()].every((m) => !m.departed)) {
          expect(g.state()).toBe('Stable')
          const total = live.reduce((s, x) => s + x.owned.size, 0)
          const subscribed = new Set(live.flatMap((x) => ('topics' in x.sub ? x.sub.topics : ['a', 'b'])))
          const expected = [...subscribed].reduce((s, t) => s + (meta.topics.get(t) ?? 0), 0)
          expect(total).toBe(expected)
        }
      } catch (err) {
        throw new Error(`seed ${seed}: ${(err as Error).message}`, { cause: err })
      }
    }
  })

  test('settled groups own every partition exactly once', () => {
    const g = newGroup(topicsMeta({ t: 5 }))
    const clients = [0, 1, 2, 3, 4, 5, 6].map(() => new SimClient(g, { topics: ['t'] }))
    for (const c of clients) c.join(0)
    settle(clients, 1)
    expect(totalOwned(clients)).toBe(5)
    expect(clients.filter((c) => c.owned.size === 0)).toHaveLength(2)
  })
})

describe('ConsumerGroup snapshots', () => {
  test('a group restored from its snapshot mid-rebalance is the same group, and its members carry on to a settled state', () => {
    const meta = topicsMeta({ a: 6, b: 3 })
    const group = newGroup(meta)
    const c1 = new SimClient(group, { topics: ['a', 'b'] })
    const c2 = new SimClient(group, { regex: '^a$' })
    const c3 = new SimClient(group, { topics: ['a'] }, 'static-3')
    c1.join(0)
    settle([c1], 0)
    c2.join(10)
    c3.join(10)
    c1.beat(20, false) // c1 is told to give partitions up but has not released them yet: revocations pending
    group.markResets([{ topic: 'b', partition: 0, offset: 42 }])
    const snap = group.snapshot()
    expect(snap.members.some((m) => m.pendingRevoke.length > 0)).toBe(true)
    expect(snap.members.some((m) => m.resets.length > 0)).toBe(true)

    let next = 100
    const restored = ConsumerGroup.restore(
      JSON.parse(JSON.stringify(snap)),
      {
        topics: meta,
        newMemberId: () => `r${++next}`,
        heartbeatIntervalMs: 100,
      },
      1_000,
    )
    expect(restored.snapshot()).toEqual(snap)
    expect(restored.state()).toBe(group.state())
    for (const m of group.members.values())
      expect(restored.holdings(restored.members.get(m.memberId)!)).toEqual(group.holdings(m))

    // The clients, as they were, now talk to the restored group: nobody is fenced, everything ends up owned once.
    const moved = [c1, c2, c3].map((c) => {
      const r = new SimClient(restored, c.sub, c.instanceId)
      Object.assign(r, {
        memberId: c.memberId,
        epoch: c.epoch,
        owned: new Set(c.owned),
        releasing: new Set(c.releasing),
      })
      return r
    })
    settle(moved, 1_010, 6)
    restored.checkInvariants()
    expect(restored.state()).toBe('Stable')
    expect(totalOwned(moved)).toBe(9)
    expect(moved.map((c) => c.memberId)).toEqual([c1, c2, c3].map((c) => c.memberId))
  })

  test('a snapshot that is not well formed or gives one partition to two members is refused, naming the problem', () => {
    const meta = topicsMeta({ a: 2 })
    const group = newGroup(meta)
    const c1 = new SimClient(group, { topics: ['a'] })
    const c2 = new SimClient(group, { topics: ['a'] })
    c1.join(0)
    c2.join(0)
    settle([c1, c2], 0)
    const good = group.snapshot()
    const options = { topics: meta, newMemberId: () => 'x', heartbeatIntervalMs: 100 }
    const variant = (edit: (s: ReturnType<ConsumerGroup['snapshot']>) => void) => {
      const s = JSON.parse(JSON.stringify(good)) as ReturnType<ConsumerGroup['snapshot']>
      edit(s)
      return () => ConsumerGroup.restore(s, options, 0)
    }
    expect(variant(() => undefined)).not.toThrow()
    expect(variant((s) => (s.version = 2))).toThrow(/unknown version/)
    expect(variant((s) => (s.members[1]!.assigned = s.members[0]!.assigned))).toThrow(/held by both/)
    expect(variant((s) => (s.members[0]!.memberId = ''))).toThrow(/without an id/)
    expect(variant((s) => (s.members[0]!.epoch = -3))).toThrow(/member epoch -3/)
    expect(variant((s) => (s.members[0]!.target = [['a', 1.5]]))).toThrow(/target entry/)
    expect(variant((s) => (s.members[1]!.memberId = s.members[0]!.memberId))).toThrow(/twice/)
    expect(variant((s) => (s.members[0]!.subscribedRegex = '('))).toThrow(InvalidArgumentError)
  })
})

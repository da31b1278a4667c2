// Group administration end to end, embedded and over TCP: a coordinated reset while a member consumes (the member
// rewinds exactly to the reset positions, and commits from before the reset are refused), describeGroup lag, and
// stale commits refused with typed errors that survive the wire.
import { expect, test } from 'vitest'
import type { GroupHeartbeatRequest } from '../src/broker/api.js'
import { FencedMemberEpochError, GroupNotEmptyError, NotOwnerError, UnknownMemberError } from '../src/errors.js'
import { describeEachTransport } from '../src/testing/sdk-harness.js'
import { FAST_GROUP, produce, waitFor } from './groups-fixture.js'

const TOPIC = 'events'

function join(groupId: string, over: Partial<GroupHeartbeatRequest> = {}): GroupHeartbeatRequest {
  return {
    groupId,
    memberId: '',
    memberEpoch: 0,
    groupInstanceId: null,
    subscribedTopics: [TOPIC],
    subscribedTopicRegex: null,
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 60_000,
    assignor: null,
    ownedPartitions: [],
    lastPollMsAgo: 0,
    ...over,
  }
}

describeEachTransport('consumer group administration', (sluice) => {
  test('a coordinated reset rewinds a consuming member exactly to the reset positions', async () => {
    const sl = sluice()
    await sl.admin().createTopic(TOPIC, { partitions: 2, flush: 'os' })
    const produced = await produce(sl, TOPIC, 200)
    const seen = new Map<number, number[]>()
    const consumer = sl.consumer({ ...FAST_GROUP, groupId: 'r' })
    await consumer.subscribe([TOPIC])
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        seen.set(partition, [...(seen.get(partition) ?? []), message.offset])
      },
    })
    const ends = new Map([...produced].map(([p, offsets]) => [p, Math.max(...offsets) + 1]))
    await waitFor('everything consumed and committed', async () => {
      const committed = await sl.transport.fetchOffsets({ groupId: 'r' })
      return committed.length === ends.size && committed.every((c) => c.offset === ends.get(c.partition))
    })
    const dry = await sl.admin().resetOffsets('r', { topic: TOPIC, to: { shiftBy: -50 }, dryRun: true })
    expect(dry.map((r) => r.to)).toEqual([...ends.keys()].sort().map((p) => Math.max(0, ends.get(p)! - 50)))
    expect((await sl.transport.fetchOffsets({ groupId: 'r' })).map((c) => c.offset)).toEqual(
      [...ends.keys()].sort().map((p) => ends.get(p)),
    ) // a dry run writes nothing
    const deliveredBefore = new Map([...seen].map(([p, list]) => [p, list.length]))
    const plan = await sl.admin().resetOffsets('r', { topic: TOPIC, to: { shiftBy: -50 }, dryRun: false })
    expect(plan).toEqual(dry)
    await waitFor('the member re-consumed up to the end', () =>
      plan.every((r) => (seen.get(r.partition)?.length ?? 0) >= deliveredBefore.get(r.partition)! + (r.from - r.to)),
    )
    for (const r of plan) {
      const after = seen.get(r.partition)!.slice(deliveredBefore.get(r.partition))
      // After the reset it delivers r.to, r.to + 1, ... with nothing skipped and nothing from before the rewind.
      expect(after.slice(0, r.from - r.to)).toEqual(Array.from({ length: r.from - r.to }, (_, i) => r.to + i))
    }
    await consumer.close()
    const committed = await sl.transport.fetchOffsets({ groupId: 'r' })
    // The member re-consumed to the end, so its last commit is the end again (not left at the reset point).
    expect(
      committed.map((c) => c.offset),
      'committed after re-consuming past the reset',
    ).toEqual([...ends.keys()].sort().map((p) => ends.get(p)))
  })

  test('describeGroup reports committed offsets, log ends and lag; deleteGroup waits for the group to empty', async () => {
    const sl = sluice()
    await sl.admin().createTopic(TOPIC, { partitions: 2, flush: 'os' })
    await produce(sl, TOPIC, 100)
    const consumer = sl.consumer({ ...FAST_GROUP, groupId: 'lag' })
    await consumer.subscribe([TOPIC])
    let count = 0
    await consumer.run({
      eachMessage: async () => {
        count++
      },
    })
    await waitFor('everything consumed', () => count === 100)
    const live = await sl.admin().describeGroup('lag')
    expect(live.members).toHaveLength(1)
    expect(live.members[0]!.assignment).toHaveLength(2)
    await expect(sl.admin().deleteGroup('lag')).rejects.toThrow(GroupNotEmptyError)
    await consumer.close() // commits its positions
    const extra = await produce(sl, TOPIC, 7, 100)
    const d = await sl.admin().describeGroup('lag')
    expect(d.state).toBe('Empty')
    expect(d.members).toEqual([])
    for (const o of d.offsets) expect(o.lag).toBe(extra.get(o.partition)?.length ?? 0)
    expect(d.offsets.reduce((s, o) => s + o.lag, 0)).toBe(7)
    for (const o of d.offsets) expect(o.committedOffset).toBe(o.logEndOffset - o.lag)
    // Records deleted past the commit are not left to read: the lag counts from the log start then.
    const p = d.offsets.find((o) => o.logEndOffset - o.committedOffset >= 2)!
    await sl.admin().deleteRecords(TOPIC, [{ partition: p.partition, offset: p.logEndOffset - 1 }])
    const after = (await sl.admin().describeGroup('lag')).offsets.find((o) => o.partition === p.partition)!
    expect([after.committedOffset, after.lag]).toEqual([p.committedOffset, 1])
    // ...and the log start shows the group fell behind it (its commit is below the start): records it never read.
    expect(after.logStartOffset).toBe(p.logEndOffset - 1)
    expect(after.committedOffset).toBeLessThan(after.logStartOffset)
    expect((await sl.admin().listGroups()).find((g) => g.groupId === 'lag')).toEqual({
      groupId: 'lag',
      state: 'Empty',
      memberCount: 0,
    })
    await sl.admin().deleteGroup('lag')
    expect((await sl.admin().listGroups()).map((g) => g.groupId)).not.toContain('lag')
  })

  test('commits for a moved partition, from before a reset, or from a removed member are refused with typed errors', async () => {
    const sl = sluice()
    await sl.admin().createTopic(TOPIC, { partitions: 2, flush: 'os' })
    const t = sl.transport
    const a = await t.groupHeartbeat(join('s'))
    expect(a.assignment![0]!.partitions).toEqual([0, 1])
    const b = await t.groupHeartbeat(join('s'))
    const a1 = await t.groupHeartbeat(
      join('s', {
        memberId: a.memberId,
        memberEpoch: a.memberEpoch,
        subscribedTopics: null,
        ownedPartitions: a.assignment!,
      }),
    )
    const kept = a1.assignment![0]!.partitions
    await t.groupHeartbeat(
      join('s', {
        memberId: a.memberId,
        memberEpoch: a1.memberEpoch,
        subscribedTopics: null,
        ownedPartitions: a1.assignment!,
      }),
    )
    const b1 = await t.groupHeartbeat(
      join('s', { memberId: b.memberId, memberEpoch: b.memberEpoch, subscribedTopics: null }),
    )
    const moved = b1.assignment![0]!.partitions[0]!
    expect(kept).not.toContain(moved)
    const commit = (memberId: string, memberEpoch: number, partition: number) =>
      t.commitOffsets({ groupId: 's', memberId, memberEpoch, offsets: [{ topic: TOPIC, partition, offset: 1 }] })
    await expect(commit(a.memberId, a1.memberEpoch, moved)).rejects.toThrow(NotOwnerError)
    await commit(b.memberId, b1.memberEpoch, moved)
    await sl.admin().resetOffsets('s', { topic: TOPIC, partitions: [moved], to: 'earliest', dryRun: false })
    await expect(commit(b.memberId, b1.memberEpoch, moved)).rejects.toThrow(FencedMemberEpochError)
    // The refusal says it comes from the reset (so a consumer's automatic commit can take it quietly), over the wire too.
    await expect(commit(b.memberId, b1.memberEpoch, moved)).rejects.toMatchObject({ afterReset: true })
    await t.groupHeartbeat(join('s', { memberId: a.memberId, memberEpoch: -1 }))
    await expect(commit(a.memberId, a1.memberEpoch, kept[0]!)).rejects.toThrow(UnknownMemberError)
  })
})

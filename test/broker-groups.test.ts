// The broker's group calls reach the real group coordinator: a joined member's fenced fetch is served for its own
// partitions and refused (per partition) for others, commits survive a reopen through __consumer_offsets, and deleting
// a topic drops the group's offsets for it.
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { describe, expect } from 'vitest'
import type { GroupHeartbeatRequest } from '../src/broker/api.js'
import { brokerTest as test, makeBatch } from '../src/testing/broker-fixture.js'

function join(groupId: string, topics: string[]): GroupHeartbeatRequest {
  return {
    groupId,
    memberId: '',
    memberEpoch: 0,
    groupInstanceId: null,
    subscribedTopics: topics,
    subscribedTopicRegex: null,
    sessionTimeoutMs: 30_000,
    rebalanceTimeoutMs: 60_000,
    assignor: null,
    ownedPartitions: [],
    lastPollMsAgo: 0,
  }
}

describe('broker group wiring', () => {
  test('a fenced fetch is served for an owned partition and refused per partition for another member', async ({
    fx,
  }) => {
    const broker = await fx.open()
    await broker.createTopic({ name: 't', partitions: 1 })
    await broker.createTopic({ name: 'other', partitions: 1 })
    await broker.produce({ topic: 't', partition: 0, acks: 1, batch: makeBatch(2) })
    const joined = await broker.groupHeartbeat(join('g', ['t']))
    expect(joined.assignment).toEqual([{ topic: 't', partitions: [0] }])
    const fence = { groupId: 'g', memberId: joined.memberId, memberEpoch: joined.memberEpoch }
    const res = await broker.fetch({
      partitions: [
        { topic: 't', partition: 0, offset: 0 },
        { topic: 'other', partition: 0, offset: 0 },
      ],
      maxBytes: 1 << 20,
      maxWaitMs: 0,
      fence,
    })
    expect(res.partitions[0]!.error).toBeNull()
    expect(res.partitions[0]!.records.length).toBeGreaterThan(0)
    expect(res.partitions[1]!.error?.code).toBe('NOT_OWNER')
    const stranger = await broker.fetch({
      partitions: [{ topic: 't', partition: 0, offset: 0 }],
      maxBytes: 1 << 20,
      maxWaitMs: 0,
      fence: { groupId: 'g', memberId: 'nobody', memberEpoch: 1 },
    })
    expect(stranger.partitions[0]!.error).not.toBeNull()
    expect(stranger.partitions[0]!.records.length).toBe(0)
  })

  test('committed offsets survive a reopen and are dropped when their topic is deleted', async ({ fx }) => {
    const first = await fx.open()
    await first.createTopic({ name: 't', partitions: 2 })
    await first.createTopic({ name: 'kept', partitions: 1 })
    await first.commitOffsets({
      groupId: 'g',
      memberId: '',
      memberEpoch: -1,
      offsets: [
        { topic: 't', partition: 1, offset: 0 },
        { topic: 'kept', partition: 0, offset: 0 },
      ],
    })
    await first.close()
    const second = await fx.open()
    const committed = await second.fetchOffsets({ groupId: 'g' })
    expect(committed.map((c) => [c.topic, c.partition, c.offset])).toEqual(
      expect.arrayContaining([
        ['t', 1, 0],
        ['kept', 0, 0],
      ]),
    )
    expect(await second.listGroups()).toEqual([{ groupId: 'g', state: 'Empty', memberCount: 0 }])
    await second.deleteTopic('t')
    const after = await second.fetchOffsets({ groupId: 'g' })
    expect(after.map((c) => c.topic)).toEqual(['kept'])
  })

  test("a partition that opens offline keeps its groups' commits; describeGroup gives its end and lag as -1", async ({
    fx,
  }) => {
    // Its log end is unknown, not 0: lowering the commit "to the log end" redelivered the whole partition once it was
    // repaired.
    const first = await fx.open()
    await first.createTopic({ name: 't', partitions: 2, config: { flush: 'sync' } })
    for (const partition of [0, 1]) await first.produce({ topic: 't', partition, acks: 'all', batch: makeBatch(5) })
    const offsets = [0, 1].map((partition) => ({ topic: 't', partition, offset: 5 }))
    await first.commitOffsets({ groupId: 'g', memberId: '', memberEpoch: -1, offsets })
    await first.close()
    // Partition 1 loses fsynced bytes: it opens offline (below its recovery point).
    const file = path.join(fx.dataDir, 'topics', 't', '1', '00000000000000000000.log')
    await fs.truncate(file, (await fs.stat(file)).size - 10)
    const second = await fx.open()
    const committed = await second.fetchOffsets({ groupId: 'g' })
    expect(committed.map((c) => [c.partition, c.offset])).toEqual([
      [0, 5],
      [1, 5],
    ])
    const described = await second.describeGroup('g')
    expect(described.offsets.map((o) => [o.partition, o.committedOffset, o.logEndOffset, o.lag])).toEqual([
      [0, 5, 5, 0],
      [1, 5, -1, -1],
    ])
    await expect(
      second.resetOffsets({ groupId: 'g', topic: 't', partitions: [1], to: 'earliest', dryRun: true }),
    ).rejects.toThrow(/offline: .*\(below the recovery point 5\).*delete checkpoints\/recovery-point/)
    // Following that advice accepts the loss: the partition serves what is left, and the commit comes down to its end.
    await second.close()
    await fs.rm(path.join(fx.dataDir, 'checkpoints', 'recovery-point'))
    const third = await fx.open()
    expect((await third.describeGroup('g')).offsets.map((o) => [o.partition, o.committedOffset, o.lag])).toEqual([
      [0, 5, 0],
      [1, 0, 0],
    ])
  })
})

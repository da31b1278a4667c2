// The coordinator on real storage with a fake topic view and a fake clock: fenced commits, coordinated resets,
// describe/list/delete, expiry, topic deletion, offsets that survive a restart, and membership that survives one
// when the coordinator has a data dir (and does not without).
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import type { GroupHeartbeatRequest, GroupHeartbeatResponse } from '../broker/api.js'
import {
  FencedMemberEpochError,
  GroupNotEmptyError,
  InvalidArgumentError,
  NotOwnerError,
  UnknownGroupError,
  UnknownMemberError,
  UnknownPartitionError,
  UnknownTopicError,
} from '../errors.js'
import { openStorage, type Storage } from '../storage/storage.js'
import { DEFAULT_TOPIC_CONFIG, toLogConfig } from '../topics/topic-config.js'
import { openGroupCoordinator, type GroupCoordinator, type GroupTopicsView } from './group-coordinator.js'

interface FakeTopic {
  start: number[]
  end: number[]
}

class FakeTopics implements GroupTopicsView {
  readonly topics = new Map<string, FakeTopic>()
  private listeners = new Set<() => void>()
  add(name: string, partitions: number, end = 100): void {
    this.topics.set(name, { start: Array(partitions).fill(0), end: Array(partitions).fill(end) })
    for (const l of this.listeners) l()
  }
  partitionCount(topic: string): number | null {
    return this.topics.get(topic)?.end.length ?? null
  }
  listTopics(): string[] {
    return [...this.topics.keys()]
  }
  logStartOffset(topic: string, partition: number): number {
    return this.topics.get(topic)!.start[partition]!
  }
  logEndOffset(topic: string, partition: number): number {
    return this.topics.get(topic)!.end[partition]!
  }
  offsetForTimestamp(topic: string, partition: number, timestamp: number): number {
    // Offset n has timestamp 1000 + n in this fake.
    return Math.min(
      this.logEndOffset(topic, partition),
      Math.max(this.logStartOffset(topic, partition), timestamp - 1000),
    )
  }
  onTopicsChanged(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
}

let dir: string
let storage: Storage | null = null
let coordinator: GroupCoordinator | null = null
let clock = 0
let topics: FakeTopics

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-coordinator-'))
  clock = 1_000_000
  topics = new FakeTopics()
  topics.add('t', 4)
})

afterEach(async () => {
  await coordinator?.close()
  coordinator = null
  await storage?.close()
  storage = null
  await fs.rm(dir, { recursive: true, force: true })
})

/** `persist`: give the coordinator the data dir, so membership is snapshotted under `<dir>/groups`. */
async function open(persist = false, groupsMax?: number): Promise<GroupCoordinator> {
  const offsetsLog = await reopenOffsetsLog()
  coordinator = await openGroupCoordinator({
    offsetsLog,
    topics,
    now: () => clock,
    checkInvariants: true,
    ...(persist ? { dataDir: dir } : {}),
    ...(groupsMax === undefined ? {} : { groupsMax }),
  })
  return coordinator
}

function hb(over: Partial<GroupHeartbeatRequest>): GroupHeartbeatRequest {
  return {
    groupId: 'g',
    memberId: '',
    memberEpoch: 0,
    groupInstanceId: null,
    subscribedTopics: ['t'],
    subscribedTopicRegex: null,
    sessionTimeoutMs: 1_000,
    rebalanceTimeoutMs: 10_000,
    assignor: null,
    ownedPartitions: [],
    lastPollMsAgo: 0,
    ...over,
  }
}

function owned(res: GroupHeartbeatResponse): GroupHeartbeatRequest['ownedPartitions'] {
  return res.assignment ?? []
}

describe('GroupCoordinator', () => {
  test('a member commits what it owns; a commit for a partition it does not own or from a stale epoch is refused', async () => {
    const c = await open()
    const a = await c.heartbeat(hb({}))
    expect(owned(a)[0]!.partitions).toEqual([0, 1, 2, 3])
    await c.commitOffsets({
      groupId: 'g',
      memberId: a.memberId,
      memberEpoch: a.memberEpoch,
      offsets: [{ topic: 't', partition: 0, offset: 5 }],
    })
    // b joins; a releases two partitions; b gets them under a newer epoch.
    const b0 = await c.heartbeat(hb({}))
    const a1 = await c.heartbeat(
      hb({ memberId: a.memberId, memberEpoch: a.memberEpoch, subscribedTopics: null, ownedPartitions: owned(a) }),
    )
    const kept = owned(a1)[0]!.partitions
    expect(kept).toHaveLength(2)
    await c.heartbeat(
      hb({ memberId: a.memberId, memberEpoch: a1.memberEpoch, subscribedTopics: null, ownedPartitions: owned(a1) }),
    )
    const b1 = await c.heartbeat(hb({ memberId: b0.memberId, memberEpoch: b0.memberEpoch, subscribedTopics: null }))
    const moved = owned(b1)[0]!.partitions
    expect(moved).toHaveLength(2)
    const commitMoved = { topic: 't', partition: moved[0]!, offset: 50 }
    await expect(
      c.commitOffsets({ groupId: 'g', memberId: a.memberId, memberEpoch: a1.memberEpoch, offsets: [commitMoved] }),
    ).rejects.toThrow(NotOwnerError)
    await expect(
      c.commitOffsets({ groupId: 'g', memberId: b0.memberId, memberEpoch: b0.memberEpoch, offsets: [commitMoved] }),
    ).rejects.toThrow(FencedMemberEpochError)
    await c.commitOffsets({ groupId: 'g', memberId: b0.memberId, memberEpoch: b1.memberEpoch, offsets: [commitMoved] })
    await expect(
      c.commitOffsets({ groupId: 'g', memberId: '', memberEpoch: -1, offsets: [commitMoved] }),
    ).rejects.toThrow(GroupNotEmptyError)
    await expect(
      c.commitOffsets({
        groupId: 'g',
        memberId: b0.memberId,
        memberEpoch: b1.memberEpoch,
        offsets: [{ topic: 'x', partition: 0, offset: 1 }],
      }),
    ).rejects.toThrow(UnknownTopicError)
    await expect(
      c.commitOffsets({
        groupId: 'g',
        memberId: b0.memberId,
        memberEpoch: b1.memberEpoch,
        offsets: [{ topic: 't', partition: 9, offset: 1 }],
      }),
    ).rejects.toThrow(UnknownPartitionError)
    const expected = [0, 1, 2, 3].map((p) => (p === moved[0] ? 50 : p === 0 ? 5 : -1))
    const fetched = await c.fetchOffsets({ groupId: 'g', partitions: [{ topic: 't', partitions: [0, 1, 2, 3] }] })
    expect(fetched.map((o) => o.offset)).toEqual(expected)
    expect(() =>
      c.checkFetch({ groupId: 'g', memberId: a.memberId, memberEpoch: a1.memberEpoch }, 't', moved[0]!),
    ).toThrow(NotOwnerError)
    c.checkFetch({ groupId: 'g', memberId: b0.memberId, memberEpoch: b1.memberEpoch }, 't', moved[0]!)
  })

  test('resetOffsets: a dry run writes nothing; every target resolves and clamps to [logStart, logEnd]', async () => {
    const c = await open()
    topics.topics.get('t')!.start = [10, 10, 10, 10]
    await c.commitOffsets({
      groupId: 'g',
      memberId: '',
      memberEpoch: -1,
      offsets: [{ topic: 't', partition: 0, offset: 40 }],
    })
    const plan = async (to: Parameters<GroupCoordinator['resetOffsets']>[0]['to']): Promise<number[]> =>
      (await c.resetOffsets({ groupId: 'g', topic: 't', partitions: [0, 1], to, dryRun: true })).plan.map((r) => r.to)
    expect(await plan('earliest')).toEqual([10, 10])
    expect(await plan('latest')).toEqual([100, 100])
    expect(await plan({ offset: 5 })).toEqual([10, 10])
    expect(await plan({ offset: 500 })).toEqual([100, 100])
    expect(await plan({ shiftBy: -15 })).toEqual([25, 10])
    expect(await plan({ timestamp: 1050 })).toEqual([50, 50])
    await expect(plan({ offset: 1.5 })).rejects.toThrow(InvalidArgumentError)
    const dry = await c.resetOffsets({ groupId: 'g', topic: 't', to: 'latest', dryRun: true })
    expect(dry.plan[0]).toEqual({ topic: 't', partition: 0, from: 40, to: 100 })
    expect((await c.fetchOffsets({ groupId: 'g' }))[0]!.offset).toBe(40)
    await c.resetOffsets({ groupId: 'g', topic: 't', to: 'latest', dryRun: false })
    expect((await c.fetchOffsets({ groupId: 'g' })).map((o) => o.offset)).toEqual([100, 100, 100, 100])
    await expect(c.resetOffsets({ groupId: 'g', topic: 'nope', to: 'latest', dryRun: true })).rejects.toThrow(
      UnknownTopicError,
    )
  })

  test('a reset with live members reaches the owners in their next heartbeat and fences their older commits', async () => {
    const c = await open()
    const a = await c.heartbeat(hb({}))
    await c.resetOffsets({ groupId: 'g', topic: 't', partitions: [2], to: { offset: 7 }, dryRun: false })
    await expect(
      c.commitOffsets({
        groupId: 'g',
        memberId: a.memberId,
        memberEpoch: a.memberEpoch,
        offsets: [{ topic: 't', partition: 2, offset: 60 }],
      }),
    ).rejects.toThrow(FencedMemberEpochError)
    const a1 = await c.heartbeat(
      hb({ memberId: a.memberId, memberEpoch: a.memberEpoch, subscribedTopics: null, ownedPartitions: owned(a) }),
    )
    expect(a1.resets).toEqual([{ topic: 't', partition: 2, offset: 7 }])
    expect((await c.fetchOffsets({ groupId: 'g', partitions: [{ topic: 't', partitions: [2] }] }))[0]!.offset).toBe(7)
    await c.commitOffsets({
      groupId: 'g',
      memberId: a.memberId,
      memberEpoch: a1.memberEpoch,
      offsets: [{ topic: 't', partition: 2, offset: 8 }],
    })
  })

  test('past groupsMax a new group is refused (join, simple commit, reset) and the groups held go on', async () => {
    const c = await open(false, 2)
    const simple = (groupId: string) =>
      c.commitOffsets({ groupId, memberId: '', memberEpoch: -1, offsets: [{ topic: 't', partition: 0, offset: 1 }] })
    await simple('g1')
    const a = await c.heartbeat(hb({ groupId: 'g2' }))
    await expect(simple('g3')).rejects.toThrow(/holds 2 consumer groups \(groupsMax 2\): group "g3" is not created/)
    await expect(c.heartbeat(hb({ groupId: 'g3' }))).rejects.toThrow(InvalidArgumentError)
    await expect(c.resetOffsets({ groupId: 'g3', topic: 't', to: 'earliest', dryRun: false })).rejects.toThrow(
      InvalidArgumentError,
    )
    expect((await c.listGroups()).map((g) => g.groupId)).toEqual(['g1', 'g2'])
    await simple('g1') // the groups held are served as before
    await c.heartbeat(hb({ groupId: 'g2', memberId: a.memberId, memberEpoch: a.memberEpoch }))
    await c.deleteGroup('g1')
    await simple('g3') // room again
  })

  test('describeGroup reports members, assignment and lag (unknown, -1, without a commit); listGroups and deleteGroup follow membership', async () => {
    const c = await open()
    await expect(c.describeGroup('g')).rejects.toThrow(UnknownGroupError)
    const a = await c.heartbeat(hb({}))
    await c.commitOffsets({
      groupId: 'g',
      memberId: a.memberId,
      memberEpoch: a.memberEpoch,
      offsets: [{ topic: 't', partition: 1, offset: 30 }],
    })
    const d = await c.describeGroup('g')
    expect(d.state).toBe('Stable')
    expect(d.members).toHaveLength(1)
    expect(d.members[0]!.assignment).toHaveLength(4)
    expect(d.offsets.find((o) => o.partition === 1)).toEqual({
      topic: 't',
      partition: 1,
      committedOffset: 30,
      logStartOffset: 0,
      logEndOffset: 100,
      lag: 70,
    })
    expect(d.offsets.find((o) => o.partition === 0)).toEqual({
      topic: 't',
      partition: 0,
      committedOffset: -1,
      logStartOffset: 0,
      logEndOffset: 100,
      lag: -1, // no commit: unknown (the members' autoOffsetReset decides), not the whole log
    })
    expect(await c.listGroups()).toEqual([{ groupId: 'g', state: 'Stable', memberCount: 1 }])
    await expect(c.deleteGroup('g')).rejects.toThrow(GroupNotEmptyError)
    await c.heartbeat(hb({ memberId: a.memberId, memberEpoch: -1 }))
    expect(await c.listGroups()).toEqual([{ groupId: 'g', state: 'Empty', memberCount: 0 }])
    await c.deleteGroup('g')
    expect(await c.listGroups()).toEqual([])
    await expect(c.deleteGroup('g')).rejects.toThrow(UnknownGroupError)
  })

  test('the expiry timer removes a silent member and hands its partitions to the others', async () => {
    const c = await open()
    const a = await c.heartbeat(hb({}))
    const b = await c.heartbeat(hb({}))
    await c.heartbeat(
      hb({ memberId: a.memberId, memberEpoch: a.memberEpoch, subscribedTopics: null, ownedPartitions: [] }),
    )
    clock += 900
    const b1 = await c.heartbeat(hb({ memberId: b.memberId, memberEpoch: b.memberEpoch, subscribedTopics: null }))
    clock += 200
    c.expire()
    const b2 = await c.heartbeat(
      hb({ memberId: b.memberId, memberEpoch: b1.memberEpoch, subscribedTopics: null, ownedPartitions: owned(b1) }),
    )
    expect(owned(b2)[0]!.partitions).toEqual([0, 1, 2, 3])
    await expect(
      c.heartbeat(hb({ memberId: a.memberId, memberEpoch: a.memberEpoch, subscribedTopics: null })),
    ).rejects.toThrow(UnknownMemberError)
  })

  test('regex members pick up topics created later; a deleted topic takes its offsets with it', async () => {
    const c = await open()
    const a = await c.heartbeat(hb({ subscribedTopics: null, subscribedTopicRegex: '^(t|u)$' }))
    expect(owned(a).map((t) => t.topic)).toEqual(['t'])
    await c.commitOffsets({
      groupId: 'g',
      memberId: a.memberId,
      memberEpoch: a.memberEpoch,
      offsets: [{ topic: 't', partition: 0, offset: 3 }],
    })
    topics.add('u', 2)
    const a1 = await c.heartbeat(
      hb({ memberId: a.memberId, memberEpoch: a.memberEpoch, subscribedTopics: null, ownedPartitions: owned(a) }),
    )
    expect(owned(a1).map((t) => t.topic)).toEqual(['t', 'u'])
    topics.topics.delete('t')
    await c.onTopicDeleted('t')
    expect(await c.fetchOffsets({ groupId: 'g' })).toEqual([])
  })

  test('without a data dir, committed offsets survive a restart but members do not and must rejoin', async () => {
    let c = await open()
    const a = await c.heartbeat(hb({}))
    await c.commitOffsets({
      groupId: 'g',
      memberId: a.memberId,
      memberEpoch: a.memberEpoch,
      offsets: [{ topic: 't', partition: 3, offset: 77, metadata: 'x' }],
    })
    c = await open()
    expect(await c.fetchOffsets({ groupId: 'g' })).toEqual([{ topic: 't', partition: 3, offset: 77, metadata: 'x' }])
    await expect(
      c.heartbeat(hb({ memberId: a.memberId, memberEpoch: a.memberEpoch, subscribedTopics: null })),
    ).rejects.toThrow(UnknownMemberError)
  })

  test('bad requests get typed errors naming the field', async () => {
    const c = await open()
    await expect(c.heartbeat(hb({ groupId: '' }))).rejects.toThrow(/groupId/)
    await expect(c.heartbeat(hb({ sessionTimeoutMs: 5 }))).rejects.toThrow(/sessionTimeoutMs/)
    await expect(c.heartbeat(hb({ subscribedTopics: null, subscribedTopicRegex: '(' }))).rejects.toThrow(
      /not a valid RegExp/,
    )
    await c.close()
    await expect(c.listGroups()).rejects.toThrow(/closed/)
  })

  /** Heartbeats every member (reporting what it owns) until no answer changes anything; bounded. */
  async function settle(c: GroupCoordinator, members: GroupHeartbeatResponse[]): Promise<GroupHeartbeatResponse[]> {
    const owns = members.map(owned)
    for (let round = 0; round < 20; round++) {
      let changed = false
      for (let i = 0; i < members.length; i++) {
        const m = members[i]!
        const res = await c.heartbeat(
          hb({ memberId: m.memberId, memberEpoch: m.memberEpoch, subscribedTopics: null, ownedPartitions: owns[i]! }),
        )
        if (res.assignment !== null && JSON.stringify(res.assignment) !== JSON.stringify(owns[i])) {
          owns[i] = res.assignment
          changed = true
        }
        if (res.memberEpoch !== m.memberEpoch) changed = true
        members[i] = { ...res, assignment: owns[i]! }
      }
      if (!changed) return members
    }
    throw new Error('the group did not settle in 20 rounds')
  }

  test('with a data dir, members carry on after a restart: same member, epoch and partitions, commits accepted', async () => {
    let c = await open(true)
    const [a, b] = await settle(c, [await c.heartbeat(hb({})), await c.heartbeat(hb({}))])
    const before = await c.describeGroup('g')
    expect(before.state).toBe('Stable')
    // What the members were told is on disk by the time they were told it.
    const [file] = await fs.readdir(path.join(dir, 'groups'))
    const onDisk = JSON.parse(await fs.readFile(path.join(dir, 'groups', file!), 'utf8')) as {
      members: Array<{ memberId: string; epoch: number }>
    }
    expect(onDisk.members.map((m) => [m.memberId, m.epoch])).toEqual([
      [a!.memberId, a!.memberEpoch],
      [b!.memberId, b!.memberEpoch],
    ])
    c = await open(true)
    const after = await c.describeGroup('g')
    expect(after.members).toEqual(before.members)
    expect(after.groupEpoch).toBe(before.groupEpoch)
    // Both heartbeat with what they had: no fence, no rejoin, the same partitions under the same epochs.
    const [a2, b2] = await settle(c, [a!, b!])
    expect([a2!.memberId, a2!.memberEpoch, owned(a2!)]).toEqual([a!.memberId, a!.memberEpoch, owned(a!)])
    expect([b2!.memberId, b2!.memberEpoch, owned(b2!)]).toEqual([b!.memberId, b!.memberEpoch, owned(b!)])
    const partition = owned(b!)[0]!.partitions[0]!
    await c.commitOffsets({
      groupId: 'g',
      memberId: b!.memberId,
      memberEpoch: b!.memberEpoch,
      offsets: [{ topic: 't', partition, offset: 9 }],
    })
    // A member from before the restart that is not in the group is still refused.
    await expect(c.heartbeat(hb({ memberId: 'nobody', memberEpoch: 3, subscribedTopics: null }))).rejects.toThrow(
      UnknownMemberError,
    )
  })

  test('a restored member that does not come back is removed after its session timeout; its partitions move', async () => {
    let c = await open(true)
    const [a, b] = await settle(c, [await c.heartbeat(hb({})), await c.heartbeat(hb({}))])
    c = await open(true)
    clock += 600 // restored sessions start at the restart: within the 1,000 ms timeout both are still members
    c.expire()
    expect((await c.describeGroup('g')).members).toHaveLength(2)
    const [a2] = await settle(c, [a!])
    clock += 600 // b has been silent for 1,200 ms since the restart
    c.expire()
    const [a3] = await settle(c, [a2!])
    expect(owned(a3!)).toEqual([{ topic: 't', partitions: [0, 1, 2, 3] }])
    expect((await c.describeGroup('g')).members.map((m) => m.memberId)).toEqual([a!.memberId])
    expect(b!.memberId).not.toBe(a!.memberId)
  })

  test('a commit past its log end after a crash is lowered to the end at open, so the next records are not skipped', async () => {
    const c = await open()
    await c.commitOffsets({
      groupId: 'g',
      memberId: '',
      memberEpoch: -1,
      offsets: [
        { topic: 't', partition: 0, offset: 90, metadata: 'm' },
        { topic: 't', partition: 1, offset: 30 },
      ],
    })
    // The crash: partition 0 now ends at 40 (records 40-99 were read and committed before their fsync, then lost).
    topics.topics.get('t')!.end[0] = 40
    const warnings: Array<{ message: string; fields: unknown }> = []
    coordinator = await openGroupCoordinator({
      offsetsLog: await reopenOffsetsLog(),
      topics,
      now: () => clock,
      logger: {
        info() {},
        warn: (message: string, fields: unknown) => warnings.push({ message, fields }),
        error() {},
      } as never,
    })
    expect(await coordinator.fetchOffsets({ groupId: 'g' })).toEqual([
      { topic: 't', partition: 0, offset: 40, metadata: 'm' },
      { topic: 't', partition: 1, offset: 30, metadata: '' },
    ])
    expect(warnings).toHaveLength(1)
    expect(warnings[0]!.fields).toEqual({ groupId: 'g', partitions: 't/0: 90 -> 40' })
    // Durable: the next open finds the lowered commit and has nothing to lower.
    expect(await coordinator.lowerCommitsPastLogEnds()).toBe(0)
  })

  test('an emptied group leaves no snapshot; stale temporary files and unreadable snapshots are dropped at open', async () => {
    let c = await open(true)
    const a = await c.heartbeat(hb({}))
    const groupsDir = path.join(dir, 'groups')
    expect(await fs.readdir(groupsDir)).toHaveLength(1)
    await c.heartbeat(hb({ memberId: a.memberId, memberEpoch: -1, subscribedTopics: null }))
    expect(await fs.readdir(groupsDir)).toEqual([])
    await c.heartbeat(hb({ groupId: 'other' }))
    await fs.writeFile(path.join(groupsDir, 'garbage.json'), '{"version":1,"groupId":')
    await fs.writeFile(path.join(groupsDir, '.x.json.123.tmp'), 'half a write')
    const warnings: string[] = []
    c = await openGroupCoordinator({
      offsetsLog: await reopenOffsetsLog(),
      topics,
      now: () => clock,
      checkInvariants: true,
      dataDir: dir,
      logger: { info() {}, warn: (msg: string) => warnings.push(msg), error() {} } as never,
    })
    coordinator = c
    expect(warnings).toEqual(['group snapshot skipped'])
    expect((await fs.readdir(groupsDir)).filter((n) => n.endsWith('.tmp'))).toEqual([])
    expect((await c.describeGroup('other')).members).toHaveLength(1)
  })
})

/** Closes the coordinator and storage of this test and opens the offsets log again. */
async function reopenOffsetsLog() {
  await coordinator?.close()
  coordinator = null
  await storage?.close()
  storage = await openStorage(dir)
  return storage.openLog(
    '__consumer_offsets/0',
    toLogConfig({ ...DEFAULT_TOPIC_CONFIG, retentionMs: -1, retentionBytes: -1, flush: 'sync' }),
  )
}

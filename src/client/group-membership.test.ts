// GroupMembership against the real coordinator (offsets on real storage) with a recording target: partitions move
// only after the previous owner's revocation resolved, fences lose partitions and rejoin, resets reach onReset, close
// revokes then leaves, stalled processing and a silent coordinator are handled.
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import type { BrokerApi } from '../broker/api.js'
import { ConnectionError, FencedMemberEpochError } from '../errors.js'
import { openGroupCoordinator, type GroupCoordinator, type GroupTopicsView } from '../groups/group-coordinator.js'
import { openStorage, type Storage } from '../storage/storage.js'
import { DEFAULT_TOPIC_CONFIG, toLogConfig } from '../topics/topic-config.js'
import {
  GroupMembership,
  type GroupMembershipOptions,
  type MembershipTarget,
  type TopicPartition,
} from './group-membership.js'

const PARTITIONS = 4

const topicsView: GroupTopicsView = {
  partitionCount: (t) => (t === 't' ? PARTITIONS : null),
  listTopics: () => ['t'],
  logStartOffset: () => 0,
  logEndOffset: () => 1_000,
  offsetForTimestamp: () => 0,
  onTopicsChanged: () => () => undefined,
}

let dir: string
let storage: Storage
let coordinator: GroupCoordinator
const memberships: GroupMembership[] = []

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-membership-'))
  storage = await openStorage(dir)
  const offsetsLog = await storage.openLog(
    '__consumer_offsets/0',
    toLogConfig({ ...DEFAULT_TOPIC_CONFIG, retentionMs: -1, retentionBytes: -1, flush: 'os' }),
  )
  coordinator = await openGroupCoordinator({
    offsetsLog,
    topics: topicsView,
    checkInvariants: true,
    expiryCheckIntervalMs: 20,
  })
})

afterEach(async () => {
  for (const m of memberships.splice(0)) await m.close().catch(() => undefined)
  await coordinator.close()
  await storage.close()
  await fs.rm(dir, { recursive: true, force: true })
})

/** The group calls of BrokerApi, served by the coordinator; `failHeartbeats` makes heartbeats fail with it. */
function transport(): BrokerApi & { failHeartbeats: Error | null } {
  const t = {
    failHeartbeats: null as Error | null,
    groupHeartbeat: async (req: Parameters<BrokerApi['groupHeartbeat']>[0]) => {
      if (t.failHeartbeats !== null) throw t.failHeartbeats
      return coordinator.heartbeat(req)
    },
    commitOffsets: (req: Parameters<BrokerApi['commitOffsets']>[0]) => coordinator.commitOffsets(req),
    fetchOffsets: (req: Parameters<BrokerApi['fetchOffsets']>[0]) => coordinator.fetchOffsets(req),
  }
  return t as unknown as BrokerApi & { failHeartbeats: Error | null }
}

class RecordingTarget implements MembershipTarget {
  readonly events: string[] = []
  readonly owned = new Set<number>()
  resets: Array<{ topic: string; partition: number; offset: number }> = []
  /** While set, onPartitionsRevoked waits for it. */
  revokeGate: Promise<void> | null = null
  pollMsAgo = 0

  constructor(
    readonly name: string,
    readonly world: Map<number, string>,
    readonly violations: string[],
    readonly commit?: (tps: TopicPartition[]) => Promise<void>,
  ) {}

  async onPartitionsAssigned(partitions: TopicPartition[]): Promise<void> {
    for (const tp of partitions) {
      const holder = this.world.get(tp.partition)
      if (holder !== undefined) this.violations.push(`${this.name} got ${tp.partition} held by ${holder}`)
      this.world.set(tp.partition, this.name)
      this.owned.add(tp.partition)
    }
    this.events.push(`assigned ${partitions.map((p) => p.partition).join(',')}`)
  }

  async onPartitionsRevoked(partitions: TopicPartition[]): Promise<void> {
    this.events.push(`revoking ${partitions.map((p) => p.partition).join(',')}`)
    await this.revokeGate
    await this.commit?.(partitions)
    for (const tp of partitions) this.drop(tp.partition)
    this.events.push(`revoked ${partitions.map((p) => p.partition).join(',')}`)
  }

  async onPartitionsLost(partitions: TopicPartition[]): Promise<void> {
    for (const tp of partitions) this.drop(tp.partition)
    this.events.push(`lost ${partitions.map((p) => p.partition).join(',')}`)
  }

  onReset(resets: Array<{ topic: string; partition: number; offset: number }>): void {
    this.resets.push(...resets)
  }

  lastPollMsAgo(): number {
    return this.pollMsAgo
  }

  private drop(partition: number): void {
    if (this.world.get(partition) === this.name) this.world.delete(partition)
    this.owned.delete(partition)
  }
}

function options(over: Partial<GroupMembershipOptions> = {}): GroupMembershipOptions {
  return {
    groupId: 'g',
    groupInstanceId: null,
    sessionTimeoutMs: 600,
    heartbeatIntervalMs: 20,
    maxPollIntervalMs: 60_000,
    assignor: 'uniform',
    subscription: { topics: ['t'] },
    ...over,
  }
}

function member(api: BrokerApi, target: RecordingTarget, over: Partial<GroupMembershipOptions> = {}): GroupMembership {
  const m = new GroupMembership(api, options(over), target)
  memberships.push(m)
  return m
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

describe('GroupMembership', () => {
  test('a partition reaches its new owner only after the old owner’s onPartitionsRevoked resolved', async () => {
    const world = new Map<number, string>()
    const violations: string[] = []
    const a = new RecordingTarget('a', world, violations)
    const ma = member(transport(), a)
    await ma.start()
    expect([...a.owned].sort()).toEqual([0, 1, 2, 3]) // start() resolves after the first reconciliation
    let open!: () => void
    a.revokeGate = new Promise<void>((resolve) => (open = resolve))
    const b = new RecordingTarget('b', world, violations)
    const mb = member(transport(), b)
    await mb.start()
    await waitFor('a is asked to revoke', () => a.events.some((e) => e.startsWith('revoking')))
    await new Promise((resolve) => setTimeout(resolve, 150)) // several heartbeats while a is still revoking
    expect(b.owned.size).toBe(0)
    expect(ma.owned()).toHaveLength(2) // owned() leaves out what is being revoked
    open()
    await waitFor('b gets two partitions', () => b.owned.size === 2)
    expect(a.owned.size).toBe(2)
    expect(violations).toEqual([])
    expect(mb.fence()).toEqual({ groupId: 'g', memberId: mb.memberId, memberEpoch: mb.memberEpoch })
  })

  test('commits on revoke land under the member epoch and the next owner reads them', async () => {
    const world = new Map<number, string>()
    const violations: string[] = []
    let ma: GroupMembership | null = null
    const a = new RecordingTarget('a', world, violations, (tps) =>
      ma!.commit(tps.map((tp) => ({ topic: tp.topic, partition: tp.partition, offset: 100 + tp.partition }))),
    )
    ma = member(transport(), a)
    await ma.start()
    const b = new RecordingTarget('b', world, violations)
    const mb = member(transport(), b)
    await mb.start()
    await waitFor('b gets two partitions', () => b.owned.size === 2)
    const moved = [...b.owned].map((partition) => ({ topic: 't', partition }))
    expect((await mb.fetchCommitted(moved)).map((c) => c.offset)).toEqual(moved.map((tp) => 100 + tp.partition))
  })

  test('a fenced member loses its partitions without revoking and rejoins', async () => {
    const world = new Map<number, string>()
    const api = transport()
    const a = new RecordingTarget('a', world, [])
    const ma = member(api, a)
    await ma.start()
    const firstId = ma.memberId
    api.failHeartbeats = new FencedMemberEpochError('fenced by the test')
    await waitFor('partitions lost', () => a.events.includes('lost 0,1,2,3'))
    expect(a.events.some((e) => e.startsWith('revoking'))).toBe(false)
    api.failHeartbeats = null
    await waitFor('rejoined with every partition', () => a.owned.size === PARTITIONS)
    expect(ma.memberId).not.toBe(firstId)
  })

  test('no answer for a whole session loses the partitions; transient errors before that do not', async () => {
    const api = transport()
    const a = new RecordingTarget('a', new Map(), [])
    const ma = member(api, a)
    await ma.start()
    api.failHeartbeats = new ConnectionError('down')
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(a.owned.size).toBe(PARTITIONS) // retried, not lost yet
    await waitFor('lost after the session timeout', () => a.owned.size === 0)
    expect(a.events).toContain('lost 0,1,2,3')
    api.failHeartbeats = null
    await waitFor('back after the outage', () => a.owned.size === PARTITIONS)
  })

  test('a coordinated reset reaches onReset of the owner', async () => {
    const a = new RecordingTarget('a', new Map(), [])
    const ma = member(transport(), a)
    await ma.start()
    await coordinator.resetOffsets({ groupId: 'g', topic: 't', partitions: [1], to: { offset: 42 }, dryRun: false })
    await waitFor('reset delivered', () => a.resets.length > 0)
    expect(a.resets).toEqual([{ topic: 't', partition: 1, offset: 42 }])
  })

  test('close revokes everything through the target, then leaves so the partitions are free at once', async () => {
    const world = new Map<number, string>()
    const a = new RecordingTarget('a', world, [])
    const ma = member(transport(), a)
    await ma.start()
    await ma.close()
    expect(a.events.at(-1)).toBe('revoked 0,1,2,3')
    expect((await coordinator.describeGroup('g').catch(() => null))?.members ?? []).toEqual([])
    const b = new RecordingTarget('b', world, [])
    await member(transport(), b).start()
    expect(b.owned.size).toBe(PARTITIONS)
  })

  test('a static member closes with epoch -2 and its partitions stay reserved for it', async () => {
    const a = new RecordingTarget('a', new Map(), [])
    const ma = member(transport(), a, { groupInstanceId: 'i-1' })
    await ma.start()
    await ma.close()
    const d = await coordinator.describeGroup('g')
    expect(d.members.map((m) => [m.groupInstanceId, m.assignment.length])).toEqual([['i-1', PARTITIONS]])
    const again = new RecordingTarget('a2', new Map(), [])
    const m2 = member(transport(), again, { groupInstanceId: 'i-1' })
    await m2.start()
    expect(m2.memberId).toBe(ma.memberId)
    expect(again.owned.size).toBe(PARTITIONS)
  })

  test('a member whose processing stalls past maxPollIntervalMs is removed and loses its partitions', async () => {
    const world = new Map<number, string>()
    const a = new RecordingTarget('a', world, [])
    const ma = member(transport(), a, { maxPollIntervalMs: 1_000 })
    await ma.start()
    const b = new RecordingTarget('b', world, [])
    await member(transport(), b, { maxPollIntervalMs: 1_000 }).start()
    await waitFor('split', () => b.owned.size === 2)
    a.pollMsAgo = 5_000
    await waitFor('a lost its partitions', () => a.events.some((e) => e.startsWith('lost')))
    await waitFor('b has everything', () => b.owned.size === PARTITIONS)
  })
})

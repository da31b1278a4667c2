// The group coordinator: every consumer group's state machine (group-state.ts), the committed offsets (offset-store.ts,
// in `__consumer_offsets`) and the operations the broker delegates to it. With a data dir, each group's membership
// (epochs, subscriptions, assignments, pending revocations) is snapshotted (group-snapshots.ts) and an answer that
// follows a change is given only once the snapshot holding it is durable: after a broker restart members carry on
// with their epochs and partitions instead of rejoining, and no member was ever told something the restarted broker
// does not know. Ownership checks and the offset append run in one synchronous step, so a commit cannot slip in
// between a fence (reassignment, reset) and the write it guards against. An unref'd timer expires silent members;
// close() stops it.
import type {
  CommittedOffset,
  GroupDescription,
  GroupFence,
  GroupHeartbeatRequest,
  GroupHeartbeatResponse,
  GroupState,
  OffsetCommitRequest,
  OffsetFetchRequest,
  ResetOffsetsRequest,
  ResetOffsetsResponse,
  ResetTarget,
} from '../broker/api.js'
import { DEFAULTS, LIMITS } from '../config/limits.js'
import {
  ClosedError,
  GroupNotEmptyError,
  SluiceError,
  InvalidArgumentError,
  UnknownGroupError,
  UnknownMemberError,
  UnknownPartitionError,
  UnknownTopicError,
} from '../errors.js'
import { assert } from '../util/assert.js'
import { openOffsetStore, type OffsetStore, type OffsetStoreOptions } from '../offsets/offset-store.js'
import type { PartitionLogApi, StorageLogger } from '../storage/api.js'
import { randomUUID } from 'node:crypto'
import { compareTp, tpKey, type TopicPartition } from './assignors.js'
import { ConsumerGroup, type GroupStateOptions } from './group-state.js'
import { GroupSnapshots } from './group-snapshots.js'

export interface GroupTopicsView {
  partitionCount(topic: string): number | null
  /** User topics only. */
  listTopics(): string[]
  logStartOffset(topic: string, partition: number): number
  logEndOffset(topic: string, partition: number): number
  /** The first offset whose timestamp is >= `timestamp`; the log end when none is. */
  offsetForTimestamp(topic: string, partition: number, timestamp: number): number
  onTopicsChanged(listener: () => void): () => void
}

export interface GroupCoordinatorOptions {
  offsetsLog: PartitionLogApi
  topics: GroupTopicsView
  logger?: StorageLogger
  now?: () => number
  /** The interval the coordinator asks for (capped at a third of each member's session timeout). @default 1000 */
  heartbeatIntervalMs?: number
  /** How often silent members are looked for. @default 100 */
  expiryCheckIntervalMs?: number
  /** Run the full disjoint-ownership check after every operation (tests). @default false */
  checkInvariants?: boolean
  /** Groups the broker holds at most (tests lower it). @default LIMITS.groupsMax */
  groupsMax?: number
  offsetStore?: OffsetStoreOptions
  /** Where group membership is snapshotted (`<dataDir>/groups`); without it membership lives in memory only. */
  dataDir?: string
}

/** Bounds on what one request may carry, beyond the limits of config/limits.ts. */
const SESSION_TIMEOUT_MS_MIN = 100
const SESSION_TIMEOUT_MS_MAX = 30 * 60_000
const SUBSCRIBED_TOPICS_MAX = 10_000
const OWNED_PARTITIONS_MAX = 100_000
const COMMIT_OFFSETS_MAX = 100_000

export async function openGroupCoordinator(options: GroupCoordinatorOptions): Promise<GroupCoordinator> {
  const store = await openOffsetStore(options.offsetsLog, {
    ...options.offsetStore,
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  })
  const coordinator = new GroupCoordinator(store, options)
  if (options.dataDir !== undefined) {
    const { store: snapshots, snapshots: saved } = await GroupSnapshots.open(options.dataDir, options.logger)
    coordinator.restore(snapshots, saved)
  }
  await coordinator.lowerCommitsPastLogEnds()
  coordinator.start()
  return coordinator
}

function checkGroupId(groupId: unknown): asserts groupId is string {
  if (typeof groupId !== 'string' || groupId.length === 0 || groupId.length > LIMITS.groupIdLengthMax)
    throw new InvalidArgumentError(`groupId must be a string of 1-${LIMITS.groupIdLengthMax} chars`)
}

function checkInt(name: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max)
    throw new InvalidArgumentError(`${name} must be an integer in [${min}, ${max}], got ${value}`)
}

export class GroupCoordinator {
  private readonly groups = new Map<string, ConsumerGroup>()
  private readonly now: () => number
  private timer: NodeJS.Timeout | null = null
  private unsubscribe: (() => void) | null = null
  private closed = false
  private snapshots: GroupSnapshots | null = null
  /** Each group's change counter as of its last snapshot handed to the store. */
  private readonly savedChanges = new WeakMap<ConsumerGroup, number>()

  constructor(
    private readonly store: OffsetStore,
    private readonly options: GroupCoordinatorOptions,
  ) {
    this.now = options.now ?? Date.now
  }

  /** Starts the expiry timer and the topic listener (openGroupCoordinator calls it). */
  start(): void {
    if (this.timer !== null) return
    this.timer = setInterval(() => this.expire(), this.options.expiryCheckIntervalMs ?? 100)
    this.timer.unref()
    this.unsubscribe = this.options.topics.onTopicsChanged(() => this.refreshTopics())
  }

  private open(): void {
    if (this.closed) throw new ClosedError('group coordinator')
  }

  /** Takes the groups of a previous run (openGroupCoordinator calls it once, before start()). */
  restore(snapshots: GroupSnapshots, saved: unknown[]): void {
    this.snapshots = snapshots
    const now = this.now()
    for (const snapshot of saved) {
      try {
        const group = ConsumerGroup.restore(snapshot, this.groupStateOptions(), now)
        this.groups.set(group.groupId, group)
      } catch (err) {
        this.options.logger?.warn('group snapshot not restored: its members rejoin', { error: String(err) })
      }
    }
    for (const group of this.groups.values()) {
      // Topics may have been created, deleted or resized while the broker was down.
      group.refreshTopics(now)
      this.afterChange(group)
    }
    if (this.groups.size > 0)
      this.options.logger?.info('groups restored', {
        groups: this.groups.size,
        members: [...this.groups.values()].reduce((n, g) => n + g.members.size, 0),
      })
  }

  /**
   * Lowers every committed offset that lies past its partition's log end to that end, and logs it. A consumer reads a
   * record once it is written, before its fsync; after a power cut (or a crash with flush 'interval'/'os') the log can
   * end below an offset a group committed past such records, and the next records appended reuse those offsets: left
   * as it was, the commit would make the group skip them. Run at open, before any member is served; returns how many
   * commits were lowered.
   */
  async lowerCommitsPastLogEnds(): Promise<number> {
    const topics = this.options.topics
    let lowered = 0
    for (const groupId of this.store.groupIds()) {
      const fixes: Array<{ topic: string; partition: number; offset: number; metadata: string; was: number }> = []
      for (const c of this.store.list(groupId)) {
        const count = topics.partitionCount(c.topic)
        if (count === null || c.partition >= count) continue
        let end: number
        try {
          end = topics.logEndOffset(c.topic, c.partition)
        } catch (err) {
          if (err instanceof SluiceError) continue // offline: its end is unknown, the commit stays as it is
          throw err
        }
        if (c.offset > end)
          fixes.push({ topic: c.topic, partition: c.partition, offset: end, metadata: c.metadata, was: c.offset })
      }
      if (fixes.length === 0) continue
      // Either the log lost records a consumer had read (a crash of a flush 'os'/'interval' topic) or a client
      // committed an offset it never read (a simple commit may name any offset): the log cannot tell which.
      this.options.logger?.warn(
        'committed offsets past the log end lowered to it (records lost in a crash, or an offset committed past the end)',
        {
          groupId,
          partitions: fixes.map((f) => `${f.topic}/${f.partition}: ${f.was} -> ${f.offset}`).join(','),
        },
      )
      await this.store.commit(
        groupId,
        fixes.map(({ was: _, ...f }) => f),
      )
      lowered += fixes.length
    }
    return lowered
  }

  /**
   * Saves the group's snapshot (removes it once the group is empty); resolves when it is durable. The group is
   * serialized only when its change counter moved since the last save: a heartbeat that changes nothing costs a
   * comparison, not a walk of the whole group. Under `checkInvariants` the counter is checked against the JSON.
   */
  private persist(group: ConsumerGroup): Promise<void> {
    if (this.snapshots === null) return Promise.resolve()
    const saved = this.savedChanges.get(group)
    if (saved === group.changes && this.options.checkInvariants !== true) return this.snapshots.pending(group.groupId)
    const json = group.members.size === 0 ? '' : JSON.stringify(group.snapshot())
    if (saved === group.changes)
      assert(
        json === this.snapshots.latest(group.groupId),
        `group "${group.groupId}" changed without its change counter moving`,
      )
    const changes = group.changes
    this.savedChanges.set(group, changes)
    const write = this.snapshots.save(group.groupId, json)
    write.catch(() => {
      // Not durable: the next persist serializes again and retries, changed or not.
      if (this.savedChanges.get(group) === changes) this.savedChanges.delete(group)
    })
    return write
  }

  /** persist() for changes nobody waits on (timers); a failure is logged by the store and retried on the next change. */
  private persistLater(group: ConsumerGroup): void {
    this.persist(group).catch(() => undefined)
  }

  /** Removes members whose session (or revocation) timed out; exposed for tests with a fake clock. */
  expire(): void {
    const now = this.now()
    for (const [groupId, group] of this.groups) {
      const removed = group.expire(now)
      for (const r of removed)
        this.options.logger?.info('group member removed', { groupId, memberId: r.memberId, reason: r.reason })
      this.afterChange(group)
      if (removed.length > 0) this.persistLater(group)
    }
  }

  private refreshTopics(): void {
    const now = this.now()
    for (const group of [...this.groups.values()]) {
      const changed = group.refreshTopics(now)
      this.afterChange(group)
      if (changed) this.persistLater(group)
    }
  }

  private afterChange(group: ConsumerGroup): void {
    if (this.options.checkInvariants === true) group.checkInvariants()
    if (group.members.size === 0) this.groups.delete(group.groupId)
  }

  /**
   * Refuses a group the broker does not hold yet once it holds groupsMax (with members or commits). Without a bound,
   * one client committing for ever new group ids (4 KiB of metadata each) took a broker past its heap limit, and past
   * a frame for listGroups, in minutes; the commits are durable, so the restart came up just as full.
   */
  private checkNewGroup(groupId: string): void {
    if (this.groups.has(groupId) || this.store.hasGroup(groupId)) return
    const max = this.options.groupsMax ?? LIMITS.groupsMax
    let count = this.store.groupCount
    if (count + this.groups.size < max) return
    for (const id of this.groups.keys()) if (!this.store.hasGroup(id)) count++
    if (count >= max)
      throw new InvalidArgumentError(
        `the broker holds ${count} consumer groups (groupsMax ${max}): group "${groupId}" is not ` +
          'created; delete groups no longer used (admin.deleteGroup, sluice group delete)',
      )
  }

  private group(groupId: string, create: boolean): ConsumerGroup | undefined {
    let group = this.groups.get(groupId)
    if (group === undefined && create) {
      this.checkNewGroup(groupId)
      group = new ConsumerGroup(groupId, this.groupStateOptions())
      this.groups.set(groupId, group)
    }
    return group
  }

  private groupStateOptions(): GroupStateOptions {
    const topics = this.options.topics
    return {
      topics: { partitionCount: (t) => topics.partitionCount(t), listTopics: () => topics.listTopics() },
      newMemberId: randomUUID,
      heartbeatIntervalMs: this.options.heartbeatIntervalMs ?? DEFAULTS.heartbeatIntervalMs,
    }
  }

  async heartbeat(req: GroupHeartbeatRequest): Promise<GroupHeartbeatResponse> {
    this.open()
    checkGroupId(req.groupId)
    checkInt('memberEpoch', req.memberEpoch, -2, Number.MAX_SAFE_INTEGER)
    checkInt('sessionTimeoutMs', req.sessionTimeoutMs, SESSION_TIMEOUT_MS_MIN, SESSION_TIMEOUT_MS_MAX)
    checkInt('rebalanceTimeoutMs', req.rebalanceTimeoutMs, 1, Number.MAX_SAFE_INTEGER)
    if (req.subscribedTopics !== null && req.subscribedTopics.length > SUBSCRIBED_TOPICS_MAX)
      throw new InvalidArgumentError(`a member subscribes to at most ${SUBSCRIBED_TOPICS_MAX} topics`)
    let owned = 0
    for (const t of req.ownedPartitions) owned += t.partitions.length
    if (owned > OWNED_PARTITIONS_MAX)
      throw new InvalidArgumentError(`ownedPartitions lists over ${OWNED_PARTITIONS_MAX}`)
    const group = this.group(req.groupId, req.memberEpoch === 0)
    if (group === undefined) {
      if (req.memberEpoch < 0)
        return {
          memberId: req.memberId,
          memberEpoch: req.memberEpoch,
          heartbeatIntervalMs: 0,
          assignment: null,
          resets: [],
        }
      throw new UnknownMemberError(`member "${req.memberId}" is not in group "${req.groupId}" (rejoin)`)
    }
    let response: GroupHeartbeatResponse
    try {
      response = group.heartbeat(req, this.now())
    } catch (err) {
      this.afterChange(group)
      this.persistLater(group) // a refusal can change the group too (a member removed for a stalled poll)
      throw err
    }
    this.afterChange(group)
    // The answer reflects the group as it is now: it is given once that state would survive a restart.
    await this.persist(group)
    return response
  }

  private checkPartition(topic: string, partition: number): void {
    const count = this.options.topics.partitionCount(topic)
    if (count === null) throw new UnknownTopicError(topic)
    if (!Number.isInteger(partition) || partition < 0 || partition >= count)
      throw new UnknownPartitionError(topic, partition, count)
  }

  async commitOffsets(req: OffsetCommitRequest): Promise<void> {
    this.open()
    checkGroupId(req.groupId)
    if (req.offsets.length > COMMIT_OFFSETS_MAX)
      throw new InvalidArgumentError(
        `one commit carries at most ${COMMIT_OFFSETS_MAX} offsets, got ${req.offsets.length}`,
      )
    for (const o of req.offsets) {
      this.checkPartition(o.topic, o.partition)
      if (o.metadata !== undefined && typeof o.metadata !== 'string')
        throw new InvalidArgumentError(`commit metadata for ${o.topic}/${o.partition} must be a string`)
    }
    const group = this.groups.get(req.groupId)
    if (req.memberId === '' && req.memberEpoch === -1) {
      if (group !== undefined && group.liveMemberCount() > 0)
        throw new GroupNotEmptyError(
          `group "${req.groupId}" has live members: commit as a member, not as a simple client`,
        )
    } else {
      if (group === undefined) throw new UnknownMemberError(`member "${req.memberId}" is not in group "${req.groupId}"`)
      for (const o of req.offsets) group.checkOwnership(req.memberId, req.memberEpoch, o.topic, o.partition, 'commit')
    }
    if (group === undefined) this.checkNewGroup(req.groupId)
    // No await between the checks above and the append inside commit().
    await this.store.commit(req.groupId, req.offsets)
  }

  async fetchOffsets(req: OffsetFetchRequest): Promise<CommittedOffset[]> {
    this.open()
    checkGroupId(req.groupId)
    if (req.partitions === undefined) return this.store.list(req.groupId)
    const out: CommittedOffset[] = []
    for (const t of req.partitions)
      for (const partition of t.partitions) {
        const e = this.store.get(req.groupId, t.topic, partition)
        out.push({ topic: t.topic, partition, offset: e?.offset ?? -1, metadata: e?.metadata ?? '' })
      }
    return out
  }

  async listGroups(): Promise<Array<{ groupId: string; state: GroupState; memberCount: number }>> {
    this.open()
    const ids = new Set([...this.groups.keys(), ...this.store.groupIds()])
    return [...ids].sort().map((groupId) => {
      const group = this.groups.get(groupId)
      return { groupId, state: group?.state() ?? 'Empty', memberCount: group?.liveMemberCount() ?? 0 }
    })
  }

  async describeGroup(groupId: string): Promise<GroupDescription> {
    this.open()
    checkGroupId(groupId)
    const group = this.groups.get(groupId)
    if (group === undefined && !this.store.hasGroup(groupId)) throw new UnknownGroupError(groupId)
    const members = group === undefined ? [] : [...group.members.values()]
    const partitions = new Map<string, TopicPartition>()
    for (const c of this.store.list(groupId)) partitions.set(tpKey(c.topic, c.partition), c)
    for (const m of members) for (const tp of group!.holdings(m)) partitions.set(tpKey(tp.topic, tp.partition), tp)
    const topics = this.options.topics
    const offsets: GroupDescription['offsets'] = []
    for (const tp of [...partitions.values()].sort(compareTp)) {
      const count = topics.partitionCount(tp.topic)
      if (count === null || tp.partition >= count) continue
      const committedOffset = this.store.get(groupId, tp.topic, tp.partition)?.offset ?? -1
      let logStartOffset: number
      let logEndOffset: number
      try {
        logEndOffset = topics.logEndOffset(tp.topic, tp.partition)
        logStartOffset = topics.logStartOffset(tp.topic, tp.partition)
      } catch (err) {
        if (!(err instanceof SluiceError)) throw err
        // Offline: its bounds, and so the lag, are unknown.
        offsets.push({
          topic: tp.topic,
          partition: tp.partition,
          committedOffset,
          logStartOffset: -1,
          logEndOffset: -1,
          lag: -1,
        })
        continue
      }
      offsets.push({
        topic: tp.topic,
        partition: tp.partition,
        committedOffset,
        // Given with the lag, so a group that fell behind the log start shows it (its commit below the start): the
        // lag alone counts only what is left to read.
        logStartOffset,
        logEndOffset,
        // Records left to read: none below the log start (retention or deleteRecords removed them). Without a commit
        // it is unknown (-1, as Kafka's tools show "-"): where the group starts is its members' autoOffsetReset, which
        // the coordinator does not know. Before, it counted from the log start, so a new group on 'latest' showed
        // every record as lag until its first commit, and for good if it never committed.
        lag: committedOffset < 0 ? -1 : Math.max(0, logEndOffset - Math.max(committedOffset, logStartOffset)),
      })
    }
    return {
      groupId,
      state: group?.state() ?? 'Empty',
      groupEpoch: group?.groupEpoch ?? 0,
      assignor: group?.assignor ?? 'uniform',
      members: members.map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        memberEpoch: m.epoch,
        clientId: '',
        subscribedTopics: m.resolvedTopics,
        assignment: group!.holdings(m),
      })),
      offsets,
    }
  }

  async deleteGroup(groupId: string): Promise<void> {
    this.open()
    checkGroupId(groupId)
    const group = this.groups.get(groupId)
    if (group === undefined && !this.store.hasGroup(groupId)) throw new UnknownGroupError(groupId)
    if (group !== undefined && group.liveMemberCount() > 0)
      throw new GroupNotEmptyError(`group "${groupId}" has ${group.liveMemberCount()} live members`)
    this.groups.delete(groupId)
    await this.snapshots?.save(groupId, '')
    await this.store.deleteGroup(groupId)
  }

  async resetOffsets(req: ResetOffsetsRequest): Promise<ResetOffsetsResponse> {
    this.open()
    checkGroupId(req.groupId)
    const count = this.options.topics.partitionCount(req.topic)
    if (count === null) throw new UnknownTopicError(req.topic)
    const partitions = req.partitions ?? Array.from({ length: count }, (_, p) => p)
    if (partitions.length > LIMITS.partitionsMax) throw new InvalidArgumentError('too many partitions in one reset')
    for (const p of partitions) this.checkPartition(req.topic, p)
    const plan = [...new Set(partitions)]
      .sort((a, b) => a - b)
      .map((partition) => {
        const from = this.store.get(req.groupId, req.topic, partition)?.offset ?? -1
        return { topic: req.topic, partition, from, to: this.resolveTarget(req.topic, partition, from, req.to) }
      })
    if (req.dryRun || plan.length === 0) return { plan }
    this.checkNewGroup(req.groupId)
    // Fence first: from here on, a commit for these partitions from an epoch before the reset is refused.
    const group = this.groups.get(req.groupId)
    group?.markResets(plan.map((r) => ({ topic: r.topic, partition: r.partition, offset: r.to })))
    if (group !== undefined) this.persistLater(group) // members learn of it in a heartbeat answer, which waits for it
    await this.store.commit(
      req.groupId,
      plan.map((r) => ({ topic: r.topic, partition: r.partition, offset: r.to })),
    )
    return { plan }
  }

  private resolveTarget(topic: string, partition: number, from: number, to: ResetTarget): number {
    const topics = this.options.topics
    const start = topics.logStartOffset(topic, partition)
    const end = topics.logEndOffset(topic, partition)
    const clamp = (n: number): number => Math.min(end, Math.max(start, n))
    if (to === 'earliest') return start
    if (to === 'latest') return end
    if (typeof to === 'object' && to !== null) {
      if ('offset' in to && Number.isSafeInteger(to.offset)) return clamp(to.offset)
      if ('shiftBy' in to && Number.isSafeInteger(to.shiftBy)) return clamp((from >= 0 ? from : start) + to.shiftBy)
      if ('timestamp' in to && Number.isSafeInteger(to.timestamp))
        return clamp(topics.offsetForTimestamp(topic, partition, to.timestamp))
    }
    throw new InvalidArgumentError(
      `reset target must be 'earliest', 'latest', { offset }, { shiftBy } or { timestamp } with integers, got ${JSON.stringify(to)}`,
    )
  }

  /** Throws NotOwnerError / FencedMemberEpochError / UnknownMemberError unless the fenced member may fetch this. */
  checkFetch(fence: GroupFence, topic: string, partition: number): void {
    this.open()
    const group = this.groups.get(fence.groupId)
    if (group === undefined)
      throw new UnknownMemberError(`member "${fence.memberId}" is not in group "${fence.groupId}"`)
    group.checkOwnership(fence.memberId, fence.memberEpoch, topic, partition, 'fetch')
  }

  /** Offsets of a deleted topic go with it; subscriptions drop it. */
  async onTopicDeleted(topic: string): Promise<void> {
    this.open()
    this.refreshTopics()
    await this.store.deleteTopic(topic)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    this.unsubscribe?.()
    this.unsubscribe = null
    await this.snapshots?.settled()
  }

  /** For tests and metrics. */
  get offsetStore(): OffsetStore {
    return this.store
  }
}

// The state machine of one consumer group (DESIGN.md §7, the KIP-848 model), pure: no I/O, no timers; time comes in
// as `nowMs`. Invariant: a partition is held (assigned or pending revocation) by at most one member at any moment;
// `owners` indexes every held partition and every grant asserts the partition is free. Reconciliation is incremental:
// when the target moves a partition, its holder is told to keep only (held ∩ target); the partition stays held until
// the holder's heartbeat no longer lists it in ownedPartitions (or the holder is removed), and only then can its new
// owner be granted it. Each grant stamps the partition with a fresh member epoch, so a commit or fetch sent under an
// older epoch for it is refused; a coordinated reset stamps a reset epoch that commits (not fetches) must reach.
import { LIMITS } from '../config/limits.js'
import type { GroupHeartbeatRequest, GroupHeartbeatResponse, GroupState } from '../broker/api.js'
import { FencedMemberEpochError, InvalidArgumentError, NotOwnerError, UnknownMemberError } from '../errors.js'
import { assert } from '../util/assert.js'
import { isValidRegExp } from '../util/linear-regexp.js'
import {
  assignorByName,
  compareTp,
  isAssignorName,
  tpKey,
  type AssignorMember,
  type AssignorName,
  type TopicPartition,
} from './assignors.js'
import {
  compileSubscriptionRegex,
  keysOf,
  newMemberState,
  sameKeys,
  toTopicPartitions,
  type Held,
  type MemberState,
} from './member-state.js'

/** A member waiting for partitions heartbeats this many times faster (see heartbeatIntervalFor). */
const WAITING_HEARTBEAT_DIVISOR = 5

export { compileSubscriptionRegex, toTopicPartitions, type MemberState }

export interface TopicsMeta {
  partitionCount(topic: string): number | null
  /** User topics only. */
  listTopics(): string[]
}

export interface GroupStateOptions {
  topics: TopicsMeta
  newMemberId: () => string
  heartbeatIntervalMs: number
}

/** Bumped when the snapshot's shape changes; a snapshot of another version is not restored. */
const SNAPSHOT_VERSION = 1

/** [topic, partition, epoch, resetEpoch] */
type HeldSnapshot = [string, number, number, number]

export interface GroupSnapshot {
  version: number
  groupId: string
  groupEpoch: number
  assignmentEpoch: number
  assignor: AssignorName
  topicsFingerprint: string
  members: Array<{
    memberId: string
    groupInstanceId: string | null
    epoch: number
    previousEpoch: number
    subscribedTopics: string[]
    subscribedRegex: string | null
    resolvedTopics: string[]
    assignor: AssignorName
    target: Array<[string, number]>
    assigned: HeldSnapshot[]
    pendingRevoke: HeldSnapshot[]
    /** A revocation was pending: its deadline restarts on restore. */
    revoking: boolean
    sessionTimeoutMs: number
    rebalanceTimeoutMs: number
    departed: boolean
    replacedAtEpoch?: number
    /** [topic, partition, offset] of resets not yet delivered. */
    resets: Array<[string, number, number]>
  }>
}

/** Matches no topic name. */
const MATCHES_NOTHING = /[^\s\S]/

/** A member's stored subscription pattern; one stored before patterns had to run in linear time (a backreference,
 *  a lookaround) matches nothing: the member's next join sends it again and is refused, naming it. */
function restoredRegex(source: string): RegExp {
  try {
    return compileSubscriptionRegex(source)
  } catch (err) {
    if (isValidRegExp(source)) return MATCHES_NOTHING
    throw err // not a pattern at all: the snapshot is refused
  }
}

function nonNegative(value: unknown, what: string, bad: (why: string) => never): number {
  return Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : bad(`${what} ${String(value)}`)
}

export interface RemovedMember {
  memberId: string
  reason: string
}

export class ConsumerGroup {
  groupEpoch = 0
  assignmentEpoch = 0
  assignor: AssignorName = 'uniform'
  readonly members = new Map<string, MemberState>()
  /** tpKey → memberId for every partition assigned to or pending revocation from a member. */
  private readonly owners = new Map<string, string>()
  private topicsFingerprint = ''
  /** Bumped by every change to what snapshot() returns (see `changes`). */
  #changes = 0

  constructor(
    readonly groupId: string,
    private readonly options: GroupStateOptions,
  ) {}

  /**
   * A counter that moves whenever what `snapshot()` would return changes (epochs, members, subscriptions, targets,
   * holdings, revocations, resets, timeouts), and only then: the coordinator compares it instead of serializing the
   * group on every heartbeat to learn whether there is anything new to make durable.
   */
  get changes(): number {
    return this.#changes
  }

  private changed(): void {
    this.#changes++
  }

  /** One heartbeat: join (epoch 0), leave (-1, or -2 for a static member), or heartbeat and reconcile. */
  heartbeat(req: GroupHeartbeatRequest, nowMs: number): GroupHeartbeatResponse {
    if (req.memberEpoch === -1 || req.memberEpoch === -2) return this.leave(req, nowMs)
    const member = req.memberEpoch === 0 ? this.join(req, nowMs) : this.liveMember(req.memberId)
    if (req.memberEpoch > 0 && member.groupInstanceId !== null && req.memberEpoch < member.replacedAtEpoch)
      // The process this instance id was taken from: fenced for good. A plain fence made it rejoin, which took the
      // instance back from the other process, and the two took turns for ever (a user's trial: 80 fences in 20 s).
      throw new FencedMemberEpochError(
        `groupInstanceId "${member.groupInstanceId}" of group "${this.groupId}" was taken over by another process ` +
          `(at epoch ${member.replacedAtEpoch}); this one (epoch ${req.memberEpoch}) is fenced and must stop: two ` +
          'live consumers must not share a groupInstanceId',
        { instanceReplaced: true },
      )
    if (req.memberEpoch > 0 && req.memberEpoch !== member.epoch && req.memberEpoch !== member.previousEpoch)
      throw new FencedMemberEpochError(
        `member ${member.memberId} of group "${this.groupId}" sent epoch ${req.memberEpoch}, current is ${member.epoch}`,
      )
    member.lastHeartbeatMs = nowMs
    if (member.sessionTimeoutMs !== req.sessionTimeoutMs || member.rebalanceTimeoutMs !== req.rebalanceTimeoutMs)
      this.changed()
    member.sessionTimeoutMs = req.sessionTimeoutMs
    member.rebalanceTimeoutMs = req.rebalanceTimeoutMs
    if (req.lastPollMsAgo > req.rebalanceTimeoutMs) {
      this.remove(member)
      this.computeTarget(nowMs)
      throw new UnknownMemberError(
        `member ${member.memberId} removed from group "${this.groupId}": no poll for ${req.lastPollMsAgo} ms ` +
          `(maxPollIntervalMs ${req.rebalanceTimeoutMs})`,
      )
    }
    if (this.updateSubscription(member, req)) this.computeTarget(nowMs)
    const reported = keysOf(req.ownedPartitions)
    this.reconcile(member, reported, nowMs)
    const send = req.memberEpoch === 0 || member.assignmentChanged || !sameKeys(reported, member.assigned)
    member.assignmentChanged = false
    const resets = [...member.resets.values()]
    if (resets.length > 0) this.changed()
    member.resets.clear()
    return {
      memberId: member.memberId,
      memberEpoch: member.epoch,
      heartbeatIntervalMs: this.heartbeatIntervalFor(member),
      assignment: send ? toTopicPartitions([...member.assigned.values()].map((h) => h.tp)) : null,
      resets,
    }
  }

  /**
   * The interval a member is told to heartbeat at. The coordinator cannot push, only answer, so a member still waiting
   * for partitions that others are releasing is asked to come back after a fifth of the interval: it picks them up
   * within a fraction of an interval of their release instead of up to a whole one later.
   */
  private heartbeatIntervalFor(member: MemberState): number {
    const base = Math.max(1, Math.min(this.options.heartbeatIntervalMs, Math.floor(member.sessionTimeoutMs / 3)))
    const waiting = member.target.some((tp) => !member.assigned.has(tpKey(tp.topic, tp.partition)))
    return waiting ? Math.max(1, Math.floor(base / WAITING_HEARTBEAT_DIVISOR)) : base
  }

  private liveMember(memberId: string): MemberState {
    const member = this.members.get(memberId)
    if (member === undefined || member.departed)
      throw new UnknownMemberError(`member "${memberId}" is not in group "${this.groupId}"`)
    return member
  }

  private join(req: GroupHeartbeatRequest, nowMs: number): MemberState {
    this.changed()
    if (req.groupInstanceId !== null) {
      const existing = [...this.members.values()].find((m) => m.groupInstanceId === req.groupInstanceId)
      // A static member back (or a replacement for a live zombie): same member, same partitions, newer epoch. The
      // old instance's epochs are fenced on every partition it held.
      if (existing !== undefined) {
        existing.departed = false
        const epoch = this.nextEpoch(existing)
        existing.epoch = epoch
        existing.previousEpoch = epoch
        existing.replacedAtEpoch = epoch
        for (const h of existing.assigned.values()) h.epoch = epoch
        for (const h of existing.pendingRevoke.values()) h.epoch = epoch
        existing.assignmentChanged = true
        return existing
      }
    }
    const previous = this.members.get(req.memberId)
    if (previous !== undefined) {
      // Rejoining after a fence: whatever it held is lost.
      this.remove(previous)
    }
    if (this.liveMemberCount() >= LIMITS.groupMembersMax)
      throw new InvalidArgumentError(
        `group "${this.groupId}" already has groupMembersMax ${LIMITS.groupMembersMax} members`,
      )
    if (req.subscribedTopics === null && req.subscribedTopicRegex === null)
      throw new InvalidArgumentError('a joining member must send subscribedTopics or subscribedTopicRegex')
    const member = newMemberState(this.options.newMemberId(), req, nowMs)
    assert(!this.members.has(member.memberId), 'member ids are unique')
    this.members.set(member.memberId, member)
    try {
      this.updateSubscription(member, req)
    } catch (err) {
      // A subscription refused (a regex that cannot run in linear time, an unknown assignor) joins nobody: the
      // member stayed behind until its session expired.
      this.members.delete(member.memberId)
      throw err
    }
    this.computeTarget(nowMs)
    member.epoch = this.groupEpoch
    member.previousEpoch = this.groupEpoch
    return member
  }

  private leave(req: GroupHeartbeatRequest, nowMs: number): GroupHeartbeatResponse {
    const member = this.members.get(req.memberId)
    if (member !== undefined) {
      if (req.memberEpoch === -2 && member.groupInstanceId !== null) {
        // It revoked everything before leaving: pending revocations are done; its assignment stays reserved.
        member.departed = true
        this.changed()
        member.lastHeartbeatMs = nowMs
        this.reconcile(member, new Set(), nowMs)
      } else {
        this.remove(member)
        this.computeTarget(nowMs)
      }
    }
    return {
      memberId: req.memberId,
      memberEpoch: req.memberEpoch,
      heartbeatIntervalMs: 0,
      assignment: null,
      resets: [],
    }
  }

  private updateSubscription(member: MemberState, req: GroupHeartbeatRequest): boolean {
    let changed = false
    if (req.subscribedTopics !== null) {
      const topics = [...new Set(req.subscribedTopics)].sort()
      if (member.subscribedRegex !== null || topics.join(',') !== member.subscribedTopics.join(',')) changed = true
      member.subscribedTopics = topics
      member.subscribedRegex = null
    } else if (req.subscribedTopicRegex !== null) {
      if (member.subscribedRegex?.source !== req.subscribedTopicRegex) {
        member.subscribedRegex = compileSubscriptionRegex(req.subscribedTopicRegex)
        member.subscribedTopics = []
        changed = true
      }
    }
    if (req.assignor !== null && req.assignor !== member.assignor) {
      if (!isAssignorName(req.assignor))
        throw new InvalidArgumentError(`unknown assignor "${req.assignor}" (known: uniform, range)`)
      member.assignor = req.assignor
      changed = true
    }
    if (changed) this.changed()
    return changed
  }

  /** Recomputes the target when topics appeared, vanished or changed partition count for any subscription. */
  refreshTopics(nowMs: number): boolean {
    if (this.fingerprint() === this.topicsFingerprint) return false
    this.computeTarget(nowMs)
    return true
  }

  private resolve(member: MemberState): string[] {
    const re = member.subscribedRegex
    if (re === null) return member.subscribedTopics
    return this.options.topics
      .listTopics()
      .filter((t) => re.test(t))
      .sort()
  }

  private fingerprint(): string {
    const parts: string[] = []
    const topics = new Set<string>()
    for (const m of this.members.values()) {
      const resolved = this.resolve(m)
      for (const t of resolved) topics.add(t)
      parts.push(`${m.memberId}=${resolved.join(',')}`)
    }
    for (const t of [...topics].sort()) parts.push(`${t}#${this.options.topics.partitionCount(t) ?? -1}`)
    return parts.join(';')
  }

  /** Bumps the group epoch and computes a new target from every member (departed static ones included). */
  private computeTarget(nowMs: number): void {
    this.changed()
    this.groupEpoch++
    const counts = new Map<string, number>()
    const votes = new Map<AssignorName, number>()
    const input: AssignorMember[] = []
    for (const m of this.members.values()) {
      m.resolvedTopics = this.resolve(m)
      for (const t of m.resolvedTopics) {
        const n = this.options.topics.partitionCount(t)
        if (n !== null) counts.set(t, n)
      }
      votes.set(m.assignor, (votes.get(m.assignor) ?? 0) + 1)
      input.push({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        topics: m.resolvedTopics,
        current: m.target,
      })
    }
    this.assignor = (votes.get('range') ?? 0) > (votes.get('uniform') ?? 0) ? 'range' : 'uniform'
    const target = assignorByName(this.assignor)(input, counts)
    for (const m of this.members.values()) m.target = target.get(m.memberId) ?? []
    this.assignmentEpoch = this.groupEpoch
    this.topicsFingerprint = this.fingerprint()
    // Departed static members own nothing on the client side: reconcile them now so what moved away is free.
    for (const m of this.members.values()) if (m.departed) this.reconcile(m, new Set(), nowMs)
  }

  private nextEpoch(member: MemberState): number {
    return Math.max(member.epoch + 1, this.groupEpoch)
  }

  private reconcile(member: MemberState, reported: ReadonlySet<string>, nowMs: number): void {
    for (const k of member.pendingRevoke.keys()) {
      if (reported.has(k)) continue
      member.pendingRevoke.delete(k)
      this.release(k, member)
      this.changed()
    }
    const targetKeys = new Map(member.target.map((tp) => [tpKey(tp.topic, tp.partition), tp]))
    for (const [k, held] of member.assigned) {
      if (targetKeys.has(k)) continue
      member.assigned.delete(k)
      member.assignmentChanged = true
      this.changed()
      if (reported.has(k)) member.pendingRevoke.set(k, held)
      else this.release(k, member)
    }
    if (member.pendingRevoke.size > 0) {
      if (member.revokeSinceMs === null) this.changed()
      member.revokeSinceMs ??= nowMs
      return
    }
    if (member.revokeSinceMs !== null) this.changed()
    member.revokeSinceMs = null
    const grants: Array<[string, TopicPartition]> = []
    for (const [k, tp] of targetKeys) if (!member.assigned.has(k) && !this.owners.has(k)) grants.push([k, tp])
    if (grants.length === 0) return
    this.changed()
    const epoch = this.nextEpoch(member)
    member.previousEpoch = member.epoch
    member.epoch = epoch
    for (const [k, tp] of grants) {
      assert(!this.owners.has(k), `partition ${k} granted to ${member.memberId} while held by ${this.owners.get(k)}`)
      this.owners.set(k, member.memberId)
      member.assigned.set(k, { tp, epoch, resetEpoch: 0 })
    }
    member.assignmentChanged = true
  }

  private release(key: string, member: MemberState): void {
    assert(this.owners.get(key) === member.memberId, `partition ${key} released by ${member.memberId}, not its holder`)
    this.owners.delete(key)
  }

  private remove(member: MemberState): void {
    this.changed()
    for (const k of member.assigned.keys()) this.release(k, member)
    for (const k of member.pendingRevoke.keys()) this.release(k, member)
    this.members.delete(member.memberId)
  }

  /** Removes members whose session expired or who did not finish a revocation within their rebalance timeout. */
  expire(nowMs: number): RemovedMember[] {
    const removed: RemovedMember[] = []
    for (const m of [...this.members.values()]) {
      let reason: string | null = null
      if (nowMs - m.lastHeartbeatMs > m.sessionTimeoutMs) reason = `no heartbeat for ${nowMs - m.lastHeartbeatMs} ms`
      else if (m.revokeSinceMs !== null && nowMs - m.revokeSinceMs > m.rebalanceTimeoutMs)
        reason = `revocation not done after ${nowMs - m.revokeSinceMs} ms`
      if (reason === null) continue
      this.remove(m)
      removed.push({ memberId: m.memberId, reason })
    }
    if (removed.length > 0) this.computeTarget(nowMs)
    return removed
  }

  /**
   * Throws unless `memberId` at `memberEpoch` may commit or fetch this partition: the member is live, the epoch is not
   * from the future, the member holds the partition and held it since that epoch. A commit must also come from an
   * epoch no older than the partition's last coordinated reset; a fetch need not (the member drops what it fetched
   * when it learns of the reset, and fencing its fetches until then would only stall it).
   */
  checkOwnership(
    memberId: string,
    memberEpoch: number,
    topic: string,
    partition: number,
    kind: 'commit' | 'fetch',
  ): void {
    const member = this.liveMember(memberId)
    if (memberEpoch > member.epoch)
      throw new FencedMemberEpochError(`member ${memberId} sent epoch ${memberEpoch}, newer than its ${member.epoch}`)
    const key = tpKey(topic, partition)
    const held = member.assigned.get(key) ?? member.pendingRevoke.get(key)
    if (held === undefined)
      throw new NotOwnerError(`member ${memberId} of group "${this.groupId}" does not own ${topic}/${partition}`)
    if (memberEpoch < held.epoch)
      throw new FencedMemberEpochError(
        `epoch ${memberEpoch} of member ${memberId} is older than epoch ${held.epoch} at which it got ${topic}/${partition}`,
      )
    if (kind === 'commit' && memberEpoch < held.resetEpoch)
      throw new FencedMemberEpochError(
        `commit from epoch ${memberEpoch} of member ${memberId} predates the reset of ${topic}/${partition} ` +
          `(epoch ${held.resetEpoch}); positions read before a reset are not committed`,
        { afterReset: true },
      )
  }

  /**
   * A coordinated reset: each live holder of a reset partition moves to a new epoch (fencing commits made from
   * positions read before the reset) and gets the new positions in its next heartbeat response.
   */
  markResets(resets: ReadonlyArray<{ topic: string; partition: number; offset: number }>): void {
    const byMember = new Map<MemberState, Array<{ topic: string; partition: number; offset: number }>>()
    for (const r of resets) {
      const owner = this.owners.get(tpKey(r.topic, r.partition))
      const member = owner === undefined ? undefined : this.members.get(owner)
      if (member === undefined || member.departed) continue
      byMember.set(member, [...(byMember.get(member) ?? []), r])
    }
    if (byMember.size > 0) this.changed()
    for (const [member, list] of byMember) {
      const epoch = this.nextEpoch(member)
      // Resets still undelivered mean the member has not heard of its current epoch yet: the one it knows stays
      // accepted (two resets between two heartbeats must not fence it).
      if (member.resets.size === 0) member.previousEpoch = member.epoch
      member.epoch = epoch
      for (const r of list) {
        const key = tpKey(r.topic, r.partition)
        const held = member.assigned.get(key) ?? member.pendingRevoke.get(key)
        assert(held !== undefined, 'owners index matches member holdings')
        held.resetEpoch = epoch
        member.resets.set(key, { topic: r.topic, partition: r.partition, offset: r.offset })
      }
    }
  }

  /**
   * What a broker restart must not forget (group-snapshots.ts writes it before answering): epochs, every member's
   * subscription, target and holdings with their fencing epochs, and undelivered resets. Session clocks are not kept:
   * a restored member gets a fresh session timeout to heartbeat again.
   */
  snapshot(): GroupSnapshot {
    const held = (m: Map<string, Held>): HeldSnapshot[] =>
      [...m.values()].map((h) => [h.tp.topic, h.tp.partition, h.epoch, h.resetEpoch])
    return {
      version: SNAPSHOT_VERSION,
      groupId: this.groupId,
      groupEpoch: this.groupEpoch,
      assignmentEpoch: this.assignmentEpoch,
      assignor: this.assignor,
      topicsFingerprint: this.topicsFingerprint,
      members: [...this.members.values()].map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        epoch: m.epoch,
        previousEpoch: m.previousEpoch,
        subscribedTopics: m.subscribedTopics,
        subscribedRegex: m.subscribedRegex?.source ?? null,
        resolvedTopics: m.resolvedTopics,
        assignor: m.assignor,
        target: m.target.map((tp) => [tp.topic, tp.partition]),
        assigned: held(m.assigned),
        pendingRevoke: held(m.pendingRevoke),
        revoking: m.revokeSinceMs !== null,
        sessionTimeoutMs: m.sessionTimeoutMs,
        rebalanceTimeoutMs: m.rebalanceTimeoutMs,
        departed: m.departed,
        replacedAtEpoch: m.replacedAtEpoch,
        resets: [...m.resets.values()].map((r) => [r.topic, r.partition, r.offset]),
      })),
    }
  }

  /**
   * A group as `snapshot()` left it, every member's session (and any revocation deadline) restarting at `nowMs`, and
   * every member's next response carrying its assignment. Throws InvalidArgumentError for a snapshot that is not
   * well formed or breaks the one-holder invariant; nothing of it is used then.
   */
  static restore(snapshot: unknown, options: GroupStateOptions, nowMs: number): ConsumerGroup {
    const bad = (why: string): never => {
      throw new InvalidArgumentError(`group snapshot: ${why}`)
    }
    const s = snapshot as GroupSnapshot
    if (typeof s !== 'object' || s === null || s.version !== SNAPSHOT_VERSION) bad('unknown version')
    if (typeof s.groupId !== 'string' || s.groupId.length === 0) bad('no group id')
    if (!Array.isArray(s.members) || s.members.length > LIMITS.groupMembersMax) bad('members is not a bounded list')
    const group = new ConsumerGroup(s.groupId, options)
    group.groupEpoch = nonNegative(s.groupEpoch, 'groupEpoch', bad)
    group.assignmentEpoch = nonNegative(s.assignmentEpoch, 'assignmentEpoch', bad)
    group.assignor = isAssignorName(s.assignor) ? s.assignor : bad(`assignor ${String(s.assignor)}`)
    group.topicsFingerprint = typeof s.topicsFingerprint === 'string' ? s.topicsFingerprint : bad('fingerprint')
    const tps = (list: unknown, what: string): TopicPartition[] =>
      Array.isArray(list)
        ? list.map((e: unknown) =>
            Array.isArray(e) && typeof e[0] === 'string' && Number.isSafeInteger(e[1]) && e[1] >= 0
              ? { topic: e[0], partition: e[1] as number }
              : bad(`${what} entry ${JSON.stringify(e)}`),
          )
        : bad(`${what} is not a list`)
    const helds = (list: unknown, what: string): Map<string, Held> => {
      const out = new Map<string, Held>()
      for (const [i, tp] of tps(list, what).entries()) {
        const e = (list as unknown[][])[i]!
        out.set(tpKey(tp.topic, tp.partition), {
          tp,
          epoch: nonNegative(e[2], `${what} epoch`, bad),
          resetEpoch: nonNegative(e[3], `${what} reset epoch`, bad),
        })
      }
      return out
    }
    for (const m of s.members) {
      if (typeof m !== 'object' || m === null || typeof m.memberId !== 'string' || m.memberId.length === 0)
        bad('a member without an id')
      if (group.members.has(m.memberId)) bad(`member ${m.memberId} twice`)
      const strings = (list: unknown, what: string): string[] =>
        Array.isArray(list) && list.every((t) => typeof t === 'string') ? (list as string[]) : bad(what)
      const member: MemberState = {
        memberId: m.memberId,
        groupInstanceId: typeof m.groupInstanceId === 'string' ? m.groupInstanceId : null,
        epoch: nonNegative(m.epoch, 'member epoch', bad),
        previousEpoch: nonNegative(m.previousEpoch, 'previous epoch', bad),
        subscribedTopics: strings(m.subscribedTopics, 'subscribedTopics'),
        subscribedRegex: m.subscribedRegex === null ? null : restoredRegex(String(m.subscribedRegex)),
        resolvedTopics: strings(m.resolvedTopics, 'resolvedTopics'),
        assignor: isAssignorName(m.assignor) ? m.assignor : bad(`member assignor ${String(m.assignor)}`),
        target: tps(m.target, 'target'),
        assigned: helds(m.assigned, 'assigned'),
        pendingRevoke: helds(m.pendingRevoke, 'pendingRevoke'),
        revokeSinceMs: m.revoking === true ? nowMs : null,
        lastHeartbeatMs: nowMs,
        sessionTimeoutMs: nonNegative(m.sessionTimeoutMs, 'sessionTimeoutMs', bad),
        rebalanceTimeoutMs: nonNegative(m.rebalanceTimeoutMs, 'rebalanceTimeoutMs', bad),
        departed: m.departed === true,
        replacedAtEpoch: typeof m.replacedAtEpoch === 'number' && m.replacedAtEpoch > 0 ? m.replacedAtEpoch : 0,
        resets: new Map(),
        assignmentChanged: true,
      }
      for (const r of Array.isArray(m.resets) ? m.resets : bad('resets is not a list')) {
        const [topic, partition, offset] = Array.isArray(r) ? r : bad('a reset entry')
        if (typeof topic !== 'string') bad('a reset entry')
        member.resets.set(tpKey(topic as string, nonNegative(partition, 'reset partition', bad)), {
          topic: topic as string,
          partition: partition as number,
          offset: nonNegative(offset, 'reset offset', bad),
        })
      }
      for (const k of [...member.assigned.keys(), ...member.pendingRevoke.keys()]) {
        const holder = group.owners.get(k)
        if (holder !== undefined) bad(`partition ${k} held by both ${holder} and ${member.memberId}`)
        group.owners.set(k, member.memberId)
      }
      group.members.set(member.memberId, member)
    }
    group.checkInvariants()
    return group
  }

  liveMemberCount(): number {
    let n = 0
    for (const m of this.members.values()) if (!m.departed) n++
    return n
  }

  state(): GroupState {
    if (this.liveMemberCount() === 0) return 'Empty'
    for (const m of this.members.values()) {
      if (m.pendingRevoke.size > 0 || m.assigned.size !== m.target.length) return 'Reconciling'
      for (const tp of m.target) if (!m.assigned.has(tpKey(tp.topic, tp.partition))) return 'Reconciling'
    }
    return 'Stable'
  }

  /** Partitions a member holds (assigned or pending revocation), sorted. */
  holdings(member: MemberState): TopicPartition[] {
    return [...member.assigned.values(), ...member.pendingRevoke.values()].map((h) => h.tp).sort(compareTp)
  }

  holderOf(topic: string, partition: number): string | null {
    return this.owners.get(tpKey(topic, partition)) ?? null
  }

  /** Full invariant check (tests and debugging): holdings are disjoint and match the owners index exactly. */
  checkInvariants(): void {
    const seen = new Map<string, string>()
    for (const m of this.members.values()) {
      for (const k of [...m.assigned.keys(), ...m.pendingRevoke.keys()]) {
        assert(!seen.has(k), `partition ${k} held by both ${seen.get(k)} and ${m.memberId}`)
        seen.set(k, m.memberId)
        assert(this.owners.get(k) === m.memberId, `owners index disagrees on ${k}`)
      }
    }
    assert(seen.size === this.owners.size, 'owners index holds a partition no member holds')
  }
}

// A consumer's membership in its group (DESIGN.md §7): a background heartbeat timer independent of message processing,
// and incremental reconciliation of what the coordinator assigns. Invariant: `ownedPartitions` reported to the
// coordinator is always a superset of what the consumer may be using: granted partitions are added the moment the
// response arrives, revoked ones are removed only after target.onPartitionsRevoked resolved (handlers done, offsets
// committed). One heartbeat is in flight at a time and target callbacks run one at a time, in order. A fence or an
// unknown-member answer (or no answer for a whole session timeout) loses every partition and rejoins.
import type { BrokerApi, CommittedOffset, GroupFence, GroupHeartbeatRequest, TopicPartitions } from '../broker/api.js'
import { FencedMemberEpochError, UnknownMemberError } from '../errors.js'

export interface TopicPartition {
  topic: string
  partition: number
}

export interface GroupMembershipOptions {
  groupId: string
  groupInstanceId: string | null
  /** @default 10_000 */
  sessionTimeoutMs: number
  /** The coordinator may ask for a shorter interval; the shorter one is used. @default 1_000 */
  heartbeatIntervalMs: number
  /** @default 300_000 */
  maxPollIntervalMs: number
  /** @default 'uniform' */
  assignor: 'uniform' | 'range'
  subscription: { topics: string[] } | { regex: RegExp }
  /** Errors thrown by target callbacks or by heartbeats that are retried; ignored when absent. */
  onError?: (err: unknown) => void
}

/** Implemented by the Consumer. */
export interface MembershipTarget {
  /** New partitions for this member: resolve the start position (committed offset, else autoOffsetReset) and start fetching. */
  onPartitionsAssigned(partitions: TopicPartition[]): Promise<void>
  /** Stop fetching these, wait for in-flight handlers on them, commit their positions when autoCommit is on
   *  (through membership.commit), call the user's onRevoke, then resolve. Only then does the membership tell the
   *  coordinator it no longer owns them. */
  onPartitionsRevoked(partitions: TopicPartition[]): Promise<void>
  /** Lost without a chance to commit (fenced or session expired): stop at once, do not commit. */
  onPartitionsLost(partitions: TopicPartition[]): Promise<void>
  /** A coordinated admin reset: seek these owned partitions before fetching them again (drop buffered records). */
  onReset(resets: Array<{ topic: string; partition: number; offset: number }>): void
  /** Ms since the processing loop last asked for records (for maxPollIntervalMs); 0 while idle-waiting. */
  lastPollMsAgo(): number
}

function key(topic: string, partition: number): string {
  return `${topic}:${partition}`
}

function grouped(tps: Iterable<TopicPartition>): TopicPartitions[] {
  const byTopic = new Map<string, number[]>()
  for (const tp of tps) {
    const list = byTopic.get(tp.topic)
    if (list === undefined) byTopic.set(tp.topic, [tp.partition])
    else list.push(tp.partition)
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions: partitions.sort((a, b) => a - b) }))
}

/** How long close() waits for the broker to hear the member leave. */
const LEAVE_WAIT_MS = 5_000

export class GroupMembership {
  private currentMemberId = ''
  private currentEpoch = 0
  private readonly ownedMap = new Map<string, TopicPartition>()
  /** Revoked by the coordinator; still owned until target.onPartitionsRevoked resolves. */
  private readonly revoking = new Set<string>()
  /** Bumped when everything is lost, so callbacks finishing afterwards do not touch the new state. */
  private generation = 0
  private callbacks: Promise<void> = Promise.resolve()
  private timer: NodeJS.Timeout | null = null
  private inFlight: Promise<void> | null = null
  private beatAgain = false
  private intervalMs: number
  private lastAnswerMs = Date.now()
  private started = false
  private closing: Promise<void> | null = null
  /** Set when another process took this member's groupInstanceId: no more heartbeats, no rejoin. */
  private replaced: Error | null = null

  constructor(
    private readonly transport: BrokerApi,
    private readonly options: GroupMembershipOptions,
    private readonly target: MembershipTarget,
  ) {
    this.intervalMs = options.heartbeatIntervalMs
  }

  get memberId(): string {
    return this.currentMemberId
  }

  get memberEpoch(): number {
    return this.currentEpoch
  }

  /** Joins and resolves after the first heartbeat response has been reconciled (assignment may be empty). */
  async start(): Promise<void> {
    if (this.started) return
    this.started = true
    await this.heartbeat(true)
    await this.callbacks
    this.schedule(this.intervalMs)
  }

  /** For FetchRequest.fence. */
  fence(): GroupFence {
    return { groupId: this.options.groupId, memberId: this.currentMemberId, memberEpoch: this.currentEpoch }
  }

  owned(): TopicPartition[] {
    return [...this.ownedMap.values()].filter((tp) => !this.revoking.has(key(tp.topic, tp.partition)))
  }

  /** Commits under the member epoch current at the call, so a commit from before a fence or reset is refused. */
  async commit(offsets: Array<{ topic: string; partition: number; offset: number; metadata?: string }>): Promise<void> {
    if (offsets.length === 0) return
    await this.transport.commitOffsets({
      groupId: this.options.groupId,
      memberId: this.currentMemberId,
      memberEpoch: this.currentEpoch,
      offsets,
    })
  }

  async fetchCommitted(partitions: TopicPartition[]): Promise<CommittedOffset[]> {
    if (partitions.length === 0) return []
    return this.transport.fetchOffsets({ groupId: this.options.groupId, partitions: grouped(partitions) })
  }

  /** Revokes everything through the target (so it commits), then leaves at once (epoch -1, or -2 for static members). */
  close(): Promise<void> {
    this.closing ??= this.leave()
    return this.closing
  }

  private async leave(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    await this.inFlight
    await this.callbacks
    const all = [...this.ownedMap.values()]
    if (all.length > 0) await this.callTarget(() => this.target.onPartitionsRevoked(all))
    this.ownedMap.clear()
    this.revoking.clear()
    // A member whose instance another process took over has nothing to leave: its member id is the other's now, and
    // a leave would take the instance from under it.
    if (this.currentMemberId === '' || this.replaced !== null) return
    // The leave is a courtesy (unheard, the member is removed after its session timeout), so close() waits for it at
    // most LEAVE_WAIT_MS: with the broker down it waited a whole request timeout more after the commit's own.
    const leaving = this.transport.groupHeartbeat({
      ...this.request(false),
      memberEpoch: this.options.groupInstanceId === null ? -1 : -2,
      ownedPartitions: [],
    })
    let timer: NodeJS.Timeout | undefined
    const waited = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), LEAVE_WAIT_MS)))
    try {
      await Promise.race([leaving, waited])
    } catch (err) {
      this.options.onError?.(err)
    } finally {
      clearTimeout(timer)
      leaving.catch(() => undefined) // a late failure has nobody left to tell
    }
    this.currentEpoch = this.options.groupInstanceId === null ? -1 : -2
  }

  private schedule(delayMs: number): void {
    if (this.closing !== null || this.replaced !== null) return
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.timer = null
      void this.tick()
    }, delayMs)
  }

  /** Heartbeat now (after a revocation, so the new owner gets the partitions without waiting an interval). */
  private beatSoon(): void {
    if (this.closing !== null || !this.started) return
    if (this.inFlight !== null) this.beatAgain = true
    else this.schedule(0)
  }

  private async tick(): Promise<void> {
    if (this.closing !== null) return
    if (this.currentEpoch === 0 && this.target.lastPollMsAgo() > this.options.maxPollIntervalMs) {
      // Removed for a handler stalled past maxPollIntervalMs, and it still is: a join now would report the same stale
      // poll and be removed again at once (a trial saw 68 joins in 7 s, each an error event). Join once it polls
      // again, as Kafka's consumer rejoins at its next poll().
      this.schedule(Math.min(this.intervalMs, 100))
      return
    }
    await this.heartbeat(false)
    if (this.beatAgain) {
      this.beatAgain = false
      this.schedule(0)
    } else this.schedule(this.currentEpoch === 0 ? Math.min(this.intervalMs, 100) : this.intervalMs)
  }

  private request(joining: boolean): GroupHeartbeatRequest {
    const sub = this.options.subscription
    return {
      groupId: this.options.groupId,
      memberId: this.currentMemberId,
      memberEpoch: joining ? 0 : this.currentEpoch,
      groupInstanceId: this.options.groupInstanceId,
      subscribedTopics: joining && 'topics' in sub ? sub.topics : null,
      subscribedTopicRegex: joining && 'regex' in sub ? sub.regex.source : null,
      sessionTimeoutMs: this.options.sessionTimeoutMs,
      rebalanceTimeoutMs: this.options.maxPollIntervalMs,
      assignor: joining ? this.options.assignor : null,
      ownedPartitions: grouped(this.ownedMap.values()),
      lastPollMsAgo: this.target.lastPollMsAgo(),
    }
  }

  /** One heartbeat; the first (`throwErrors`) rejects on failure, later ones recover and retry. */
  private heartbeat(throwErrors: boolean): Promise<void> {
    const run = async (): Promise<void> => {
      const joining = this.currentEpoch <= 0
      try {
        const res = await this.transport.groupHeartbeat(this.request(joining))
        if (this.closing !== null && !throwErrors) return
        this.lastAnswerMs = Date.now()
        this.currentMemberId = res.memberId
        this.currentEpoch = res.memberEpoch
        if (res.heartbeatIntervalMs > 0)
          this.intervalMs = Math.min(this.options.heartbeatIntervalMs, res.heartbeatIntervalMs)
        const resets = res.resets.filter((r) => this.ownedMap.has(key(r.topic, r.partition)))
        if (resets.length > 0) this.target.onReset(resets)
        if (res.assignment !== null) this.reconcile(res.assignment)
      } catch (err) {
        if (throwErrors) throw err
        this.options.onError?.(err)
        if (err instanceof FencedMemberEpochError && err.instanceReplaced) {
          // Another process has this groupInstanceId now: rejoining would take it back, and the two would take
          // turns for ever. This member stops (its partitions are lost to it); the error says why.
          this.replaced = err
          if (this.timer !== null) clearTimeout(this.timer)
          this.timer = null
          this.loseAll()
          return
        }
        const gone = err instanceof FencedMemberEpochError || err instanceof UnknownMemberError
        if (gone || Date.now() - this.lastAnswerMs > this.options.sessionTimeoutMs) this.loseAll()
      }
    }
    const p = run().finally(() => {
      this.inFlight = null
    })
    this.inFlight = p
    return p
  }

  private reconcile(assignment: TopicPartitions[]): void {
    const next = new Map<string, TopicPartition>()
    for (const t of assignment)
      for (const partition of t.partitions) next.set(key(t.topic, partition), { topic: t.topic, partition })
    const revoked: TopicPartition[] = []
    for (const [k, tp] of this.ownedMap) if (!next.has(k) && !this.revoking.has(k)) revoked.push(tp)
    const added: TopicPartition[] = []
    for (const [k, tp] of next)
      if (!this.ownedMap.has(k)) {
        this.ownedMap.set(k, tp)
        added.push(tp)
      }
    const generation = this.generation
    if (revoked.length > 0) {
      for (const tp of revoked) this.revoking.add(key(tp.topic, tp.partition))
      this.enqueue(async () => {
        await this.callTarget(() => this.target.onPartitionsRevoked(revoked))
        if (this.generation !== generation) return
        for (const tp of revoked) {
          const k = key(tp.topic, tp.partition)
          this.revoking.delete(k)
          this.ownedMap.delete(k)
        }
        this.beatSoon()
      })
    }
    if (added.length > 0)
      this.enqueue(async () => {
        if (this.generation !== generation) return
        const still = added.filter((tp) => this.ownedMap.has(key(tp.topic, tp.partition)))
        if (still.length > 0) await this.callTarget(() => this.target.onPartitionsAssigned(still))
      })
  }

  /** Fenced, removed, or unheard for a session: everything is lost (no commit) and the next heartbeat rejoins. */
  private loseAll(): void {
    this.generation++
    const lost = [...this.ownedMap.values()]
    this.ownedMap.clear()
    this.revoking.clear()
    this.currentEpoch = 0
    if (this.options.groupInstanceId === null) this.currentMemberId = ''
    if (lost.length > 0) this.enqueue(() => this.callTarget(() => this.target.onPartitionsLost(lost)))
  }

  private enqueue(step: () => Promise<void>): void {
    this.callbacks = this.callbacks.then(step)
  }

  private async callTarget(call: () => Promise<void>): Promise<void> {
    try {
      await call()
    } catch (err) {
      this.options.onError?.(err)
    }
  }
}

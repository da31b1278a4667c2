// One member of a consumer group as the coordinator sees it, and the small pure helpers the group state machine
// (group-state.ts) shares with it: subscription regex compilation (bounded length), and conversions between
// TopicPartitions lists and `topic:partition` key sets. A member's holdings are `assigned` (it may own them) plus
// `pendingRevoke` (told to release, not yet reported released); each entry carries the epochs that fence it.
import type { GroupHeartbeatRequest, TopicPartitions } from '../broker/api.js'
import { InvalidArgumentError } from '../errors.js'
import { isValidRegExp, linearRegExp } from '../util/linear-regexp.js'
import { compareTp, tpKey, type AssignorName, type TopicPartition } from './assignors.js'

export interface Held {
  tp: TopicPartition
  /** The member epoch at which the member got this partition (or came back as a static member). */
  epoch: number
  /** The member epoch of the last coordinated reset of this partition; 0 when none. */
  resetEpoch: number
}

export interface MemberState {
  readonly memberId: string
  readonly groupInstanceId: string | null
  epoch: number
  /** Accepted on heartbeats too, so a member that missed one response is not fenced for it. */
  previousEpoch: number
  subscribedTopics: string[]
  subscribedRegex: RegExp | null
  resolvedTopics: string[]
  assignor: AssignorName
  target: TopicPartition[]
  assigned: Map<string, Held>
  pendingRevoke: Map<string, Held>
  revokeSinceMs: number | null
  lastHeartbeatMs: number
  sessionTimeoutMs: number
  rebalanceTimeoutMs: number
  /** A static member that left with epoch -2: its partitions stay reserved until its session times out. */
  departed: boolean
  /** A static member: the epoch at which a join with its instance id took it over (0: never). A heartbeat with an
   *  older epoch comes from the process that was replaced, and is told so (it must stop, not rejoin). */
  replacedAtEpoch: number
  resets: Map<string, { topic: string; partition: number; offset: number }>
  assignmentChanged: boolean
}

/** A fresh member for a join; its subscription is applied by the group right after. */
export function newMemberState(memberId: string, req: GroupHeartbeatRequest, nowMs: number): MemberState {
  return {
    memberId,
    groupInstanceId: req.groupInstanceId,
    epoch: 0,
    previousEpoch: 0,
    subscribedTopics: [],
    subscribedRegex: null,
    resolvedTopics: [],
    assignor: 'uniform',
    target: [],
    assigned: new Map(),
    pendingRevoke: new Map(),
    revokeSinceMs: null,
    lastHeartbeatMs: nowMs,
    sessionTimeoutMs: req.sessionTimeoutMs,
    rebalanceTimeoutMs: req.rebalanceTimeoutMs,
    departed: false,
    replacedAtEpoch: 0,
    resets: new Map(),
    assignmentChanged: true,
  }
}

/** Regex sources are compiled once per member; bounded so a subscription cannot carry an unbounded pattern. */
export const SUBSCRIBED_REGEX_LENGTH_MAX = 1_000

export function compileSubscriptionRegex(source: string): RegExp {
  if (source.length === 0 || source.length > SUBSCRIBED_REGEX_LENGTH_MAX)
    throw new InvalidArgumentError(`subscribedTopicRegex must be 1-${SUBSCRIBED_REGEX_LENGTH_MAX} chars`)
  try {
    return linearRegExp(source)
  } catch (cause) {
    if (isValidRegExp(source))
      throw new InvalidArgumentError(
        `subscribedTopicRegex ${JSON.stringify(source)} cannot be matched in linear time ` +
          '(backreferences and lookaround are not supported)',
        { cause },
      )
    throw new InvalidArgumentError(`subscribedTopicRegex ${JSON.stringify(source)} is not a valid RegExp`, { cause })
  }
}

export function toTopicPartitions(tps: Iterable<TopicPartition>): TopicPartitions[] {
  const byTopic = new Map<string, number[]>()
  for (const tp of [...tps].sort(compareTp)) {
    const list = byTopic.get(tp.topic)
    if (list === undefined) byTopic.set(tp.topic, [tp.partition])
    else list.push(tp.partition)
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }))
}

export function keysOf(owned: readonly TopicPartitions[]): Set<string> {
  const keys = new Set<string>()
  for (const t of owned) for (const p of t.partitions) keys.add(tpKey(t.topic, p))
  return keys
}

export function sameKeys(a: ReadonlySet<string>, b: ReadonlyMap<string, unknown>): boolean {
  if (a.size !== b.size) return false
  for (const k of a) if (!b.has(k)) return false
  return true
}

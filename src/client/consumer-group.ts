// What the Consumer needs from a group membership (the contract with src/client/group-membership.ts, written by the
// groups engineer), kept as structural types so the consumer depends on the behaviour, not on the class, plus the
// start-offset lookup that assignment shares with manual assign(). Sluice wires the real GroupMembership in through a
// MembershipFactory.
import type { BrokerApi, CommittedOffset, GroupFence } from '../broker/api.js'
import type { TopicPartition } from './client-config.js'
import type { Transport } from './transport.js'
import { tpKey } from './validate.js'

export interface MembershipOptions {
  groupId: string
  groupInstanceId: string | null
  sessionTimeoutMs: number
  heartbeatIntervalMs: number
  maxPollIntervalMs: number
  assignor: 'uniform' | 'range'
  subscription: { topics: string[] } | { regex: RegExp }
  /** Errors of target callbacks and retried heartbeats. */
  onError?: (err: unknown) => void
}

/** Implemented by the Consumer; called by the membership. */
export interface MembershipTargetLike {
  onPartitionsAssigned(partitions: TopicPartition[]): Promise<void>
  onPartitionsRevoked(partitions: TopicPartition[]): Promise<void>
  onPartitionsLost(partitions: TopicPartition[]): Promise<void>
  onReset(resets: Array<{ topic: string; partition: number; offset: number }>): void
  lastPollMsAgo(): number
}

export interface MembershipHandle {
  start(): Promise<void>
  fence(): GroupFence
  owned(): TopicPartition[]
  commit(offsets: Array<{ topic: string; partition: number; offset: number; metadata?: string }>): Promise<void>
  fetchCommitted(partitions: TopicPartition[]): Promise<CommittedOffset[]>
  close(): Promise<void>
}

export type MembershipFactory = (
  transport: BrokerApi,
  options: MembershipOptions,
  target: MembershipTargetLike,
) => MembershipHandle

/** Offsets for `timestamp` (-2 earliest, -1 latest, else first offset with timestamp ≥ it), keyed by tpKey. */
export async function resolveStartOffsets(
  transport: Transport,
  partitions: TopicPartition[],
  timestamp: number,
): Promise<Map<string, number>> {
  const byTopic = new Map<string, number[]>()
  for (const tp of partitions) {
    const list = byTopic.get(tp.topic) ?? []
    list.push(tp.partition)
    byTopic.set(tp.topic, list)
  }
  const out = new Map<string, number>()
  for (const [topic, list] of byTopic) {
    const { offsets } = await transport.listOffsets({ topic, partitions: list, timestamp })
    for (const o of offsets) out.set(tpKey(topic, o.partition), o.offset)
  }
  return out
}

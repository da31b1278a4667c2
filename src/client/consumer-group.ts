// What the Consumer needs from a group membership: the handle it drives (structural, so tests can plug in their own;
// the options and the target contract are group-membership.ts's own types), plus the start-offset lookup that
// assignment shares with manual assign(). Sluice wires the real GroupMembership in through a MembershipFactory.
import type { BrokerApi, CommittedOffset, GroupFence } from '../broker/api.js'
import type { TopicPartition } from './client-config.js'
import type { GroupMembershipOptions, MembershipTarget } from './group-membership.js'
import type { Transport } from './transport.js'
import { tpKey } from './validate.js'

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
  options: GroupMembershipOptions,
  target: MembershipTarget,
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

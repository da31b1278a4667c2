// The group coordinator's read-only window onto the topics: partition counts, user topic names, log start/end offsets,
// offsets by time, and topic created/deleted notifications (for regex subscriptions). It reads the topic registry
// directly; an unknown topic or partition throws UnknownTopicError / UnknownPartitionError, as the registry does.
import type { GroupTopicsView } from '../groups/group-coordinator.js'
import type { TopicRegistry } from '../topics/topic-registry.js'

export class RegistryGroupTopicsView implements GroupTopicsView {
  constructor(readonly registry: TopicRegistry) {}

  partitionCount(topic: string): number | null {
    return this.registry.partitionCount(topic)
  }

  /** User topics only. */
  listTopics(): string[] {
    return this.registry.list(false)
  }

  logStartOffset(topic: string, partition: number): number {
    return this.registry.log(topic, partition).logStartOffset
  }

  logEndOffset(topic: string, partition: number): number {
    return this.registry.log(topic, partition).logEndOffset
  }

  /** First offset whose timestamp is >= `timestamp`, or the log end when none is. */
  offsetForTimestamp(topic: string, partition: number, timestamp: number): number {
    const log = this.registry.log(topic, partition)
    return log.offsetForTimestamp(timestamp) ?? log.logEndOffset
  }

  onTopicsChanged(listener: () => void): () => void {
    return this.registry.onTopicsChanged(() => listener())
  }
}

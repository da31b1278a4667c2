// The group coordinator's read-only window onto the topics: partition counts, user topic names, log start/end offsets,
// offsets by time, and topic created/deleted notifications (for regex subscriptions). It reads the topic registry
// directly; an unknown topic or partition throws UnknownTopicError / UnknownPartitionError, as the registry does, and
// the bounds of an offline partition throw its PartitionOfflineError.
import type { GroupTopicsView } from '../groups/group-coordinator.js'
import type { PartitionLogApi } from '../storage/api.js'
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

  /** Throws PartitionOfflineError for an offline log: its bounds are unknown (an offline log reports 0). */
  logStartOffset(topic: string, partition: number): number {
    return this.#online(topic, partition).logStartOffset
  }

  /** Throws PartitionOfflineError for an offline log: lowering commits to its "end" would rewind them to 0. */
  logEndOffset(topic: string, partition: number): number {
    return this.#online(topic, partition).logEndOffset
  }

  #online(topic: string, partition: number): PartitionLogApi {
    const log = this.registry.log(topic, partition)
    if (log.offlineError !== null) throw log.offlineError
    return log
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

// The consumer's public payload and argument types, apart from the Consumer class so both it and its helpers can
// name them. Messages themselves are defined beside their decoder (message-decoder.ts).
import type { Message } from './message-decoder.js'

export interface EachMessagePayload<K = unknown, V = unknown> {
  topic: string
  partition: number
  message: Message<K, V>
}

export interface Batch<K = unknown, V = unknown> {
  topic: string
  partition: number
  messages: Message<K, V>[]
  /** The partition's log end offset when the batch was fetched (lag = logEndOffset - last offset - 1). */
  logEndOffset: number
}

export interface EachBatchPayload<K = unknown, V = unknown> {
  batch: Batch<K, V>
  /**
   * Marks the messages of this call up to `offset` (one of theirs) as processed before the handler returns: the
   * position (and what a commit stores) moves past it at once, and a handler that then throws stops the partition
   * at the first message not resolved, instead of at the first of the call. Without it, the whole call counts once
   * the handler returns.
   */
  resolveOffset(offset: number): void
  /**
   * True once this call's messages are no longer this consumer's to process: the partition was lost (the member was
   * fenced, its session expired, or the handler ran past maxPollIntervalMs, so another member may be reading it), or
   * its position was moved (seek, an offset reset). A long handler should check it and stop; what it resolved still
   * counts where the partition is still this consumer's. A partition being revoked in a rebalance is not stale: the
   * rebalance waits for the handler and commits its progress.
   */
  isStale(): boolean
}

export interface RunOptions<K = unknown, V = unknown> {
  eachMessage?: (payload: EachMessagePayload<K, V>) => void | Promise<void>
  eachBatch?: (payload: EachBatchPayload<K, V>) => void | Promise<void>
}

export interface AssignPartition {
  topic: string
  partition: number
  /** Start here; else the group's committed offset (with a groupId), else autoOffsetReset. */
  offset?: number
}

/** A partition selector for pause/resume: `partition` omitted = every assigned partition of the topic. */
export interface PartitionSelector {
  topic: string
  partition?: number
}

/** Where an 'error' event comes from. Always an object; topic and partition are null (offset -1) for an error of no
 *  one partition: a fetch, an automatic commit, the group membership. */
export interface ErrorContext {
  topic: string | null
  partition: number | null
  /** The offset the partition stopped at (the failed record), or -1 when not tied to one. */
  offset: number
}

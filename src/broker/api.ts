// The broker's request/response contract: what a client Transport calls and what the TCP server dispatches. Every
// method here is one API key on the wire (protocol/api-keys.ts). Produce and fetch move whole record batches as bytes
// (the data plane); everything else is the control plane. Offsets and timestamps are JS numbers (safe integers).
import type { WireErrorDetails } from '../errors.js'
import type { FlushPolicy, ReadAllocator } from '../storage/api.js'

/** 'all' = durable under the topic's flush policy; 1 = written to the segment; 0 = no acknowledgement wanted. */
export type Acks = 'all' | 1 | 0

export interface TopicConfig {
  retentionMs: number
  retentionBytes: number
  segmentBytes: number
  segmentMs: number
  flush: FlushPolicy
  flushIntervalMs: number
  /**
   * A batch with a record timestamp (create time) more than this past the broker's clock is refused with
   * InvalidTimestampError: one far-future timestamp would keep its segment, and every later one, from ever expiring
   * by time. -1: no bound.
   */
  timestampAfterMaxMs: number
  /** 'delete' only for now; 'compact' is refused with InvalidArgumentError. */
  cleanupPolicy: 'delete'
}

export interface CreateTopicRequest {
  name: string
  partitions: number
  config?: Partial<TopicConfig>
}

/** Changes to a topic's config: a value sets that override, null removes it (the broker default applies again). */
export interface AlterTopicConfigRequest {
  name: string
  config: { [K in keyof TopicConfig]?: TopicConfig[K] | null }
}

/** Grows a topic to `count` partitions (never fewer). */
export interface CreatePartitionsRequest {
  name: string
  count: number
}

/** Removes the records below `offset` of each partition (-1: every record, up to the log end), as Kafka's
 *  deleteRecords: the log start moves there and whole segments below it are deleted. */
export interface DeleteRecordsRequest {
  topic: string
  partitions: Array<{ partition: number; offset: number }>
}

export interface DeleteRecordsResponse {
  partitions: Array<{ partition: number; logStartOffset: number }>
}

/** Offsets, size and segment count are -1 (unknown) while the partition is offline. */
export interface PartitionDescription {
  partition: number
  logStartOffset: number
  logEndOffset: number
  sizeBytes: number
  segmentCount: number
  /** Null while healthy; the reason when the partition is offline. */
  offline: string | null
}

export interface TopicDescription {
  name: string
  internal: boolean
  config: TopicConfig
  partitions: PartitionDescription[]
}

export interface ProduceRequest {
  topic: string
  partition: number
  acks: Acks
  /** One RecordBatch v2 (baseOffset is overwritten by the broker). */
  batch: Buffer
}

export interface ProduceResponse {
  baseOffset: number
  /** The log-append time when the topic uses it, else -1. */
  logAppendTime: number
  logStartOffset: number
  /** True when an idempotent retry matched an already appended batch; offsets are the original ones. */
  duplicate: boolean
}

export interface FetchPartitionRequest {
  topic: string
  partition: number
  offset: number
  /** @default FetchRequest.maxBytes */
  maxBytes?: number
}

export interface GroupFence {
  groupId: string
  memberId: string
  memberEpoch: number
}

export interface FetchRequest {
  partitions: FetchPartitionRequest[]
  /** Total bytes across partitions (at least one batch is always returned when one is there). */
  maxBytes: number
  /** Long-poll: wait up to this long for data when every partition is at its end. */
  maxWaitMs: number
  /** When set, partitions the member does not own are answered with a NOT_OWNER error. */
  fence?: GroupFence
  /** Which records the fetch may return. @default 'written' */
  visibility?: FetchVisibility
}

/**
 * 'written': every record once it is written to its segment, before its fsync (the lowest latency; a power cut may
 * still take a record a consumer has seen, and a later record may reuse its offset). 'durable': only records below the
 * partition's durable offset (fdatasynced: what acks 'all' producers of flush 'sync' topics were answered for), and
 * `logEndOffset` in the answer is that durable end; a fetch waiting for records that are written but not yet durable
 * asks for their fsync, whatever the topic's flush policy.
 */
export type FetchVisibility = 'written' | 'durable'

export interface FetchPartitionResponse {
  topic: string
  partition: number
  /** Whole batches, possibly starting below the requested offset; the client skips those records. */
  records: Buffer
  logStartOffset: number
  logEndOffset: number
  error: { code: string; message: string; details?: WireErrorDetails } | null
}

export interface FetchResponse {
  partitions: FetchPartitionResponse[]
}

/** `timestamp`: -2 earliest, -1 latest, else the first offset whose timestamp is >= it (log end when none). */
export interface ListOffsetsRequest {
  topic: string
  partitions?: number[]
  timestamp: number
  /** 'durable': answers where a reader with that visibility stops, never past the durable end: the call first waits
   *  for an fsync of what is appended now (asking for it on 'interval'/'os' topics, as a durable fetch does), up to
   *  LIMITS.listOffsetsDurableWaitMsMax, so 'latest' (-1) is the log end as of the call once that is durable. The log
   *  start (-2) is the same either way. @default 'written' */
  visibility?: FetchVisibility
}

export interface ListOffsetsResponse {
  offsets: Array<{ partition: number; offset: number }>
}

export interface InitProducerResponse {
  producerId: number
  producerEpoch: number
}

// ---- groups (KIP-848 style: one heartbeat call joins, heartbeats, reconciles and leaves) ----------------------------

export interface TopicPartitions {
  topic: string
  partitions: number[]
}

export interface GroupHeartbeatRequest {
  groupId: string
  /** '' to join. */
  memberId: string
  /** 0 to join, -1 to leave, -2 to leave keeping a static member's partitions for its session timeout. */
  memberEpoch: number
  groupInstanceId: string | null
  /** Sent on join and when changed; null = unchanged. */
  subscribedTopics: string[] | null
  /** A RegExp source; topics created later that match are picked up. null = unchanged. */
  subscribedTopicRegex: string | null
  sessionTimeoutMs: number
  /** maxPollIntervalMs: a member whose handler stalls longer is removed. */
  rebalanceTimeoutMs: number
  /** 'uniform' (default) or 'range'; null = unchanged. */
  assignor: string | null
  /** What the member currently owns (after having released what it was asked to release). */
  ownedPartitions: TopicPartitions[]
  /** The processing loop is alive (the client sets it from its poll timer). */
  lastPollMsAgo: number
}

export interface GroupHeartbeatResponse {
  memberId: string
  memberEpoch: number
  heartbeatIntervalMs: number
  /** The partitions the member may own now; null = unchanged since the last response. */
  assignment: TopicPartitions[] | null
  /** Positions set by a coordinated resetOffsets: the member must seek there before fetching again. */
  resets: Array<{ topic: string; partition: number; offset: number }>
}

export interface OffsetCommitRequest {
  groupId: string
  /** Empty with memberEpoch -1 for an admin/simple commit to a group with no live members. */
  memberId: string
  memberEpoch: number
  offsets: Array<{ topic: string; partition: number; offset: number; metadata?: string }>
}

export interface CommittedOffset {
  topic: string
  partition: number
  /** The next offset to read; -1 when nothing is committed. */
  offset: number
  metadata: string
}

export interface OffsetFetchRequest {
  groupId: string
  /** All partitions with commits when omitted. */
  partitions?: TopicPartitions[]
}

export type GroupState = 'Empty' | 'Reconciling' | 'Stable' | 'Dead'

export interface GroupDescription {
  groupId: string
  state: GroupState
  groupEpoch: number
  assignor: string
  members: Array<{
    memberId: string
    groupInstanceId: string | null
    memberEpoch: number
    clientId: string
    subscribedTopics: string[]
    assignment: Array<{ topic: string; partition: number }>
  }>
  /**
   * lag counts the records left to read: from the commit, or from the log start when retention or deleteRecords
   * removed records past the commit (committedOffset < logStartOffset says the group never read those). Without a
   * commit (committedOffset -1) the lag is -1: unknown, since the members' autoOffsetReset decides where they start.
   * The offsets and lag are -1 for a partition that is offline (unknown).
   */
  offsets: Array<{
    topic: string
    partition: number
    committedOffset: number
    logStartOffset: number
    logEndOffset: number
    lag: number
  }>
}

export type ResetTarget = 'earliest' | 'latest' | { timestamp: number } | { offset: number } | { shiftBy: number }

export interface ResetOffsetsRequest {
  groupId: string
  topic: string
  partitions?: number[]
  to: ResetTarget
  dryRun: boolean
}

export interface ResetOffsetsResponse {
  plan: Array<{ topic: string; partition: number; from: number; to: number }>
}

export interface BrokerInfo {
  nodeId: string
  version: string
  apiVersions: Record<string, number>
}

/** Implemented by Broker, by the in-process transport (a thin wrapper) and by the TCP transport. */
export interface BrokerApi {
  info(): Promise<BrokerInfo>
  // topics
  createTopic(req: CreateTopicRequest): Promise<TopicDescription>
  alterTopicConfig(req: AlterTopicConfigRequest): Promise<TopicDescription>
  createPartitions(req: CreatePartitionsRequest): Promise<TopicDescription>
  deleteRecords(req: DeleteRecordsRequest): Promise<DeleteRecordsResponse>
  deleteTopic(name: string): Promise<void>
  listTopics(includeInternal?: boolean): Promise<string[]>
  describeTopic(name: string): Promise<TopicDescription>
  // data plane
  produce(req: ProduceRequest): Promise<ProduceResponse>
  /**
   * `allocate` (in the broker's process only; transports ignore it): buffers to read the records into, which the
   * caller owns. Without it every read gets fresh memory, which is what a response handed to user code needs.
   */
  fetch(req: FetchRequest, allocate?: ReadAllocator): Promise<FetchResponse>
  listOffsets(req: ListOffsetsRequest): Promise<ListOffsetsResponse>
  initProducer(): Promise<InitProducerResponse>
  // groups
  groupHeartbeat(req: GroupHeartbeatRequest): Promise<GroupHeartbeatResponse>
  commitOffsets(req: OffsetCommitRequest): Promise<void>
  fetchOffsets(req: OffsetFetchRequest): Promise<CommittedOffset[]>
  listGroups(): Promise<Array<{ groupId: string; state: GroupState; memberCount: number }>>
  describeGroup(groupId: string): Promise<GroupDescription>
  deleteGroup(groupId: string): Promise<void>
  resetOffsets(req: ResetOffsetsRequest): Promise<ResetOffsetsResponse>
}

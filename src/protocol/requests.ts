// Server-side decoding of every request body into the typed BrokerApi request it stands for. Shapes only: types,
// ranges that are limits (LIMITS), bounded arrays, no unknown fields; the broker checks meaning (names, existence).
// Each decoder names the api in its error paths so a client sees which field of which request was wrong.
import type {
  Acks,
  AlterTopicConfigRequest,
  CreatePartitionsRequest,
  CreateTopicRequest,
  DeleteRecordsRequest,
  FetchPartitionRequest,
  FetchRequest,
  GroupFence,
  GroupHeartbeatRequest,
  ListOffsetsRequest,
  OffsetCommitRequest,
  OffsetFetchRequest,
  ProduceRequest,
  ResetOffsetsRequest,
  ResetTarget,
  TopicConfig,
  TopicPartitions,
} from '../broker/api.js'
import { LIMITS } from '../config/limits.js'
import { InvalidArgumentError } from '../errors.js'
import {
  array,
  arrayOrNull,
  boolean,
  bytes,
  integer,
  integerItem,
  object,
  oneOf,
  optionalArray,
  optionalInteger,
  optionalString,
  string,
  stringItem,
  stringOrNull,
  type Obj,
} from './validate.js'

const NAME_MAX = Math.max(LIMITS.topicNameLengthMax, LIMITS.groupIdLengthMax)
/** Member ids, client ids, instance ids, regexes: generous, but bounded. */
const ID_MAX = 1024
const PARTITION_MAX = LIMITS.partitionsMax - 1
/** Topic-partition lists name at most this many partitions in one request. */
const PARTITION_LIST_MAX = LIMITS.partitionsMax * 10
const TOPIC_LIST_MAX = 100_000

export function nameBody(body: unknown, api: string, field: string): string {
  return string(object(body, api, [field]), field, api, NAME_MAX)
}

export function emptyBody(body: unknown, api: string): void {
  if (body !== null) object(body, api, [])
}

export function decodeListTopics(body: unknown): boolean {
  const o = object(body, 'listTopics', ['includeInternal'])
  return o.includeInternal === undefined ? false : boolean(o, 'includeInternal', 'listTopics')
}

const CONFIG_INTEGERS = [
  'retentionMs',
  'retentionBytes',
  'segmentBytes',
  'segmentMs',
  'flushIntervalMs',
  'timestampAfterMaxMs',
] as const

function decodeTopicConfig(value: unknown, path: string): Partial<TopicConfig> {
  const o = object(value, path, [...CONFIG_INTEGERS, 'flush', 'cleanupPolicy'])
  const config: Partial<TopicConfig> = {}
  for (const key of CONFIG_INTEGERS) {
    const n = optionalInteger(o, key, path)
    if (n !== undefined) config[key] = n
  }
  if (o.flush !== undefined) config.flush = oneOf(o, 'flush', path, ['sync', 'interval', 'os'] as const)
  // 'compact' passes so the broker can refuse it with its own message.
  if (o.cleanupPolicy !== undefined) {
    config.cleanupPolicy = oneOf(o, 'cleanupPolicy', path, ['delete', 'compact']) as 'delete'
  }
  return config
}

/** An alter's config: like a created topic's, and null removes an override. */
function decodeTopicConfigChanges(value: unknown, path: string): AlterTopicConfigRequest['config'] {
  const o = object(value, path, [...CONFIG_INTEGERS, 'flush', 'cleanupPolicy'])
  const present = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined))
  const changes: AlterTopicConfigRequest['config'] = decodeTopicConfig(present, path)
  for (const [key, v] of Object.entries(o)) if (v === null) (changes as Record<string, null>)[key] = null
  return changes
}

export function decodeAlterTopicConfig(body: unknown): AlterTopicConfigRequest {
  const path = 'alterTopicConfig'
  const o = object(body, path, ['name', 'config'])
  return { name: string(o, 'name', path, NAME_MAX), config: decodeTopicConfigChanges(o.config, `${path}.config`) }
}

export function decodeDeleteRecords(body: unknown): DeleteRecordsRequest {
  const path = 'deleteRecords'
  const o = object(body, path, ['topic', 'partitions'])
  const partitions = array(o, 'partitions', path, LIMITS.partitionsMax, (item, itemPath) => {
    const p = object(item, itemPath, ['partition', 'offset'])
    return {
      partition: integer(p, 'partition', itemPath, 0, PARTITION_MAX),
      offset: integer(p, 'offset', itemPath, -1),
    }
  })
  return { topic: string(o, 'topic', path, NAME_MAX), partitions }
}

export function decodeCreatePartitions(body: unknown): CreatePartitionsRequest {
  const path = 'createPartitions'
  const o = object(body, path, ['name', 'count'])
  return { name: string(o, 'name', path, NAME_MAX), count: integer(o, 'count', path, 1, LIMITS.partitionsMax) }
}

export function decodeCreateTopic(body: unknown): CreateTopicRequest {
  const path = 'createTopic'
  const o = object(body, path, ['name', 'partitions', 'config'])
  const req: CreateTopicRequest = {
    name: string(o, 'name', path, NAME_MAX),
    partitions: integer(o, 'partitions', path, 1, LIMITS.partitionsMax),
  }
  if (o.config !== undefined && o.config !== null) req.config = decodeTopicConfig(o.config, `${path}.config`)
  return req
}

export function decodeProduce(body: unknown): ProduceRequest {
  const path = 'produce'
  const o = object(body, path, ['topic', 'partition', 'acks', 'batch'])
  const batch = bytes(o, 'batch', path)
  return {
    topic: string(o, 'topic', path, NAME_MAX),
    partition: integer(o, 'partition', path, 0, PARTITION_MAX),
    acks: oneOf<Acks>(o, 'acks', path, ['all', 1, 0]),
    batch,
  }
}

function decodeFence(value: unknown, path: string): GroupFence {
  const o = object(value, path, ['groupId', 'memberId', 'memberEpoch'])
  return {
    groupId: string(o, 'groupId', path, NAME_MAX),
    memberId: string(o, 'memberId', path, ID_MAX),
    memberEpoch: integer(o, 'memberEpoch', path, -2, 2 ** 31 - 1),
  }
}

function decodeFetchPartition(value: unknown, path: string): FetchPartitionRequest {
  const o = object(value, path, ['topic', 'partition', 'offset', 'maxBytes'])
  const req: FetchPartitionRequest = {
    topic: string(o, 'topic', path, NAME_MAX),
    partition: integer(o, 'partition', path, 0, PARTITION_MAX),
    offset: integer(o, 'offset', path, 0),
  }
  const maxBytes = optionalInteger(o, 'maxBytes', path, 1, LIMITS.fetchBytesMax)
  if (maxBytes !== undefined) req.maxBytes = maxBytes
  return req
}

export function decodeFetch(body: unknown): FetchRequest {
  const path = 'fetch'
  const o = object(body, path, ['partitions', 'maxBytes', 'maxWaitMs', 'fence', 'visibility'])
  const req: FetchRequest = {
    partitions: array(o, 'partitions', path, PARTITION_LIST_MAX, decodeFetchPartition),
    maxBytes: integer(o, 'maxBytes', path, 1, LIMITS.fetchBytesMax),
    maxWaitMs: integer(o, 'maxWaitMs', path, 0, LIMITS.fetchWaitMsMax),
  }
  if (o.fence !== undefined && o.fence !== null) req.fence = decodeFence(o.fence, `${path}.fence`)
  if (o.visibility !== undefined && o.visibility !== null)
    req.visibility = oneOf(o, 'visibility', path, ['written', 'durable'] as const)
  return req
}

export function decodeListOffsets(body: unknown): ListOffsetsRequest {
  const path = 'listOffsets'
  const o = object(body, path, ['topic', 'partitions', 'timestamp', 'visibility'])
  const req: ListOffsetsRequest = {
    topic: string(o, 'topic', path, NAME_MAX),
    timestamp: integer(o, 'timestamp', path, -2),
  }
  if (o.visibility !== undefined && o.visibility !== null)
    req.visibility = oneOf(o, 'visibility', path, ['written', 'durable'] as const)
  const partitions = optionalArray(o, 'partitions', path, LIMITS.partitionsMax, integerItem(0, PARTITION_MAX))
  if (partitions !== undefined) req.partitions = partitions
  return req
}

function decodeTopicPartitions(value: unknown, path: string): TopicPartitions {
  const o = object(value, path, ['topic', 'partitions'])
  return {
    topic: string(o, 'topic', path, NAME_MAX),
    partitions: array(o, 'partitions', path, LIMITS.partitionsMax, integerItem(0, PARTITION_MAX)),
  }
}

export function decodeGroupHeartbeat(body: unknown): GroupHeartbeatRequest {
  const path = 'groupHeartbeat'
  const o = object(body, path, [
    'groupId',
    'memberId',
    'memberEpoch',
    'groupInstanceId',
    'subscribedTopics',
    'subscribedTopicRegex',
    'sessionTimeoutMs',
    'rebalanceTimeoutMs',
    'assignor',
    'ownedPartitions',
    'lastPollMsAgo',
  ])
  return {
    groupId: string(o, 'groupId', path, NAME_MAX),
    memberId: string(o, 'memberId', path, ID_MAX),
    memberEpoch: integer(o, 'memberEpoch', path, -2, 2 ** 31 - 1),
    groupInstanceId: stringOrNull(o, 'groupInstanceId', path, ID_MAX),
    subscribedTopics: arrayOrNull(o, 'subscribedTopics', path, TOPIC_LIST_MAX, stringItem(NAME_MAX)),
    subscribedTopicRegex: stringOrNull(o, 'subscribedTopicRegex', path, ID_MAX),
    sessionTimeoutMs: integer(o, 'sessionTimeoutMs', path, 1, 2 ** 31 - 1),
    rebalanceTimeoutMs: integer(o, 'rebalanceTimeoutMs', path, 1, 2 ** 31 - 1),
    assignor: stringOrNull(o, 'assignor', path, ID_MAX),
    ownedPartitions: array(o, 'ownedPartitions', path, TOPIC_LIST_MAX, decodeTopicPartitions),
    lastPollMsAgo: integer(o, 'lastPollMsAgo', path, 0),
  }
}

function decodeCommitEntry(value: unknown, path: string): OffsetCommitRequest['offsets'][number] {
  const o = object(value, path, ['topic', 'partition', 'offset', 'metadata'])
  const entry: OffsetCommitRequest['offsets'][number] = {
    topic: string(o, 'topic', path, NAME_MAX),
    partition: integer(o, 'partition', path, 0, PARTITION_MAX),
    offset: integer(o, 'offset', path, 0),
  }
  const metadata = optionalString(o, 'metadata', path, LIMITS.commitMetadataBytesMax)
  if (metadata !== undefined) entry.metadata = metadata
  return entry
}

export function decodeCommitOffsets(body: unknown): OffsetCommitRequest {
  const path = 'commitOffsets'
  const o = object(body, path, ['groupId', 'memberId', 'memberEpoch', 'offsets'])
  return {
    groupId: string(o, 'groupId', path, NAME_MAX),
    memberId: string(o, 'memberId', path, ID_MAX),
    memberEpoch: integer(o, 'memberEpoch', path, -2, 2 ** 31 - 1),
    offsets: array(o, 'offsets', path, PARTITION_LIST_MAX, decodeCommitEntry),
  }
}

export function decodeFetchOffsets(body: unknown): OffsetFetchRequest {
  const path = 'fetchOffsets'
  const o = object(body, path, ['groupId', 'partitions'])
  const req: OffsetFetchRequest = { groupId: string(o, 'groupId', path, NAME_MAX) }
  const partitions = optionalArray(o, 'partitions', path, TOPIC_LIST_MAX, decodeTopicPartitions)
  if (partitions !== undefined) req.partitions = partitions
  return req
}

function decodeResetTarget(o: Obj, path: string): ResetTarget {
  const to = o.to
  if (to === 'earliest' || to === 'latest') return to
  const t = object(to, `${path}.to`, ['timestamp', 'offset', 'shiftBy'])
  const keys = Object.keys(t)
  if (keys.length !== 1) {
    throw new InvalidArgumentError(`${path}.to: expected "earliest", "latest", {timestamp}, {offset} or {shiftBy}`)
  }
  if (t.timestamp !== undefined) return { timestamp: integer(t, 'timestamp', `${path}.to`, 0) }
  if (t.offset !== undefined) return { offset: integer(t, 'offset', `${path}.to`, 0) }
  return { shiftBy: integer(t, 'shiftBy', `${path}.to`) }
}

export function decodeResetOffsets(body: unknown): ResetOffsetsRequest {
  const path = 'resetOffsets'
  const o = object(body, path, ['groupId', 'topic', 'partitions', 'to', 'dryRun'])
  const req: ResetOffsetsRequest = {
    groupId: string(o, 'groupId', path, NAME_MAX),
    topic: string(o, 'topic', path, NAME_MAX),
    to: decodeResetTarget(o, path),
    dryRun: boolean(o, 'dryRun', path),
  }
  const partitions = optionalArray(o, 'partitions', path, LIMITS.partitionsMax, integerItem(0, PARTITION_MAX))
  if (partitions !== undefined) req.partitions = partitions
  return req
}

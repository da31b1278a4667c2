// Producer and consumer options: the public option types (JSDoc @default on each), their frozen defaults, and the
// resolvers. A resolver never mutates the caller's object, checks every field, throws one InvalidConfigError listing
// every problem, and returns a complete frozen config so nothing past this boundary sees an optional field.
import type { Acks, FetchVisibility } from '../broker/api.js'
import { DEFAULTS, LIMITS } from '../config/limits.js'
import { BATCH_HEADER_BYTES } from '../config/limits.js'
import { InvalidConfigError } from '../errors.js'
import type { Compression } from '../storage/record-batch.js'
import { type Codec, type CodecOption, resolveCodec } from './codecs.js'
import { unknownOptionProblems } from './validate.js'

export interface TopicPartition {
  topic: string
  partition: number
}

export interface ProducerOptions {
  /** 'all': acked once durable under the topic's flush policy; 1: once written; 0: not acked (offset -1). @default 'all' */
  acks?: Acks
  /** How long a batch waits for more records before it is sent. @default 5 */
  lingerMs?: number
  /** A batch is sent once it reaches this many bytes. @default 1 MiB */
  batchBytes?: number
  /** Producer id + per-partition sequences so the broker drops retried duplicates. @default true (false with acks 0) */
  idempotent?: boolean
  /** @default 'none' */
  compression?: Compression
  /** @default 'buffer' */
  valueCodec?: CodecOption
  /** @default 'buffer' */
  keyCodec?: CodecOption
  /** Bytes of records buffered and in flight; `send` waits while it is full. @default LIMITS.producerBufferBytesMax */
  bufferBytesMax?: number
  /** Largest single record (its bytes in a batch). @default LIMITS.recordBytesMax */
  recordBytesMax?: number
  /** Batches of one partition in flight at once (dispatched in order). Above 1 without idempotence, a retried batch
   *  may land after a later one. @default 16 when idempotent, else 1 */
  maxInFlight?: number
  /** Retries of a batch that failed with a retriable error (the same bytes are sent again). @default 5 */
  retries?: number
  /** Wait before the first retry; doubles each time. @default 100 */
  retryBackoffMs?: number
  /** A topic's partition count is looked up again (in the background, sends go on) once it is this old, so
   *  partitions added to a topic are used. @default 300000 (Kafka's metadata.max.age.ms) */
  metadataMaxAgeMs?: number
}

export interface ProducerConfig {
  readonly acks: Acks
  readonly lingerMs: number
  readonly batchBytes: number
  readonly idempotent: boolean
  readonly compression: Compression
  readonly valueCodec: Codec
  readonly keyCodec: Codec
  readonly bufferBytesMax: number
  readonly recordBytesMax: number
  readonly maxInFlight: number
  readonly retries: number
  readonly retryBackoffMs: number
  readonly metadataMaxAgeMs: number
}

export const PRODUCER_DEFAULTS = Object.freeze({
  acks: 'all' as Acks,
  lingerMs: DEFAULTS.lingerMs,
  batchBytes: DEFAULTS.batchBytes,
  compression: 'none' as Compression,
  bufferBytesMax: LIMITS.producerBufferBytesMax,
  recordBytesMax: LIMITS.recordBytesMax,
  retries: 5,
  retryBackoffMs: 100,
  metadataMaxAgeMs: 300_000,
})

const LINGER_MS_MAX = 60_000
const METADATA_MAX_AGE_MS_MAX = 24 * 3600 * 1000
/** Batches per partition in flight; the broker remembers this many per idempotent producer for dedupe
 *  (PRODUCER_BATCHES_KEPT). Kafka allows 5; 16 lets a producer with lingerMs 0 keep sending through an fsync stall
 *  of up to ~16 batch intervals, so a consumer (which sees records before their fsync) is not held up by the disk. */
const IN_FLIGHT_MAX = 16
const RETRIES_MAX = 100
const BACKOFF_MS_MAX = 60_000

type Problems = string[]

function checkInt(problems: Problems, name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    problems.push(`${name} must be an integer in [${min}, ${max}], got ${String(value)}`)
    return min
  }
  return value
}

function checkOneOf<T>(problems: Problems, name: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) {
    problems.push(
      `${name} must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${JSON.stringify(value)}`,
    )
    return allowed[0]!
  }
  return value as T
}

function checkBool(problems: Problems, name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') problems.push(`${name} must be a boolean, got ${String(value)}`)
  return value === true
}

function checkCodec(problems: Problems, name: string, value: unknown): Codec {
  const codec = resolveCodec(value, name)
  if (typeof codec === 'string') {
    problems.push(codec)
    return resolveCodec(undefined, name) as Codec
  }
  return codec
}

function checkObject(input: unknown, what: string): Record<string, unknown> {
  if (input === undefined) return {}
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw new InvalidConfigError([`options must be an object, got ${input === null ? 'null' : typeof input}`], what)
  return input as Record<string, unknown>
}

const PRODUCER_KEYS = [
  'acks',
  'lingerMs',
  'batchBytes',
  'idempotent',
  'compression',
  'valueCodec',
  'keyCodec',
  'bufferBytesMax',
  'recordBytesMax',
  'maxInFlight',
  'retries',
  'retryBackoffMs',
  'metadataMaxAgeMs',
] as const

export function resolveProducerConfig(input?: ProducerOptions): ProducerConfig {
  const o = checkObject(input, 'producer config')
  const p: Problems = []
  p.push(...unknownOptionProblems(o, PRODUCER_KEYS))
  const acks = checkOneOf<Acks>(p, 'acks', o.acks ?? PRODUCER_DEFAULTS.acks, ['all', 1, 0])
  const lingerMs = checkInt(p, 'lingerMs', o.lingerMs ?? PRODUCER_DEFAULTS.lingerMs, 0, LINGER_MS_MAX)
  const recordBytesMax = checkInt(
    p,
    'recordBytesMax',
    o.recordBytesMax ?? PRODUCER_DEFAULTS.recordBytesMax,
    BATCH_HEADER_BYTES + 1,
    LIMITS.recordBytesMax,
  )
  const batchBytes = checkInt(
    p,
    'batchBytes',
    o.batchBytes ?? PRODUCER_DEFAULTS.batchBytes,
    BATCH_HEADER_BYTES + 1,
    LIMITS.recordBytesMax,
  )
  const idempotent = checkBool(p, 'idempotent', o.idempotent ?? acks !== 0)
  if (idempotent && acks === 0)
    p.push('idempotent needs acks 1 or "all" (with acks 0 nothing tells the producer a batch landed)')
  const compression = checkOneOf<Compression>(p, 'compression', o.compression ?? PRODUCER_DEFAULTS.compression, [
    'none',
    'gzip',
  ])
  const valueCodec = checkCodec(p, 'valueCodec', o.valueCodec)
  const keyCodec = checkCodec(p, 'keyCodec', o.keyCodec)
  const bufferBytesMax = checkInt(
    p,
    'bufferBytesMax',
    o.bufferBytesMax ?? PRODUCER_DEFAULTS.bufferBytesMax,
    LIMITS.recordBytesMax,
    LIMITS.producerBufferBytesMax,
  )
  const maxInFlight = checkInt(p, 'maxInFlight', o.maxInFlight ?? (idempotent ? IN_FLIGHT_MAX : 1), 1, IN_FLIGHT_MAX)
  const retries = checkInt(p, 'retries', o.retries ?? PRODUCER_DEFAULTS.retries, 0, RETRIES_MAX)
  const retryBackoffMs = checkInt(
    p,
    'retryBackoffMs',
    o.retryBackoffMs ?? PRODUCER_DEFAULTS.retryBackoffMs,
    0,
    BACKOFF_MS_MAX,
  )
  const metadataMaxAgeMs = checkInt(
    p,
    'metadataMaxAgeMs',
    o.metadataMaxAgeMs ?? PRODUCER_DEFAULTS.metadataMaxAgeMs,
    1,
    METADATA_MAX_AGE_MS_MAX,
  )
  if (p.length > 0) throw new InvalidConfigError(p, 'producer config')
  return Object.freeze({
    acks,
    lingerMs,
    batchBytes,
    idempotent,
    compression,
    valueCodec,
    keyCodec,
    bufferBytesMax,
    recordBytesMax,
    maxInFlight,
    retries,
    retryBackoffMs,
    metadataMaxAgeMs,
  })
}

/** Where a partition starts without a committed offset, and goes when its position left the log. 'none': it
 *  stops with an error instead (NoCommittedOffsetError, OffsetOutOfRangeError) until seek(). */
export type OffsetReset = 'earliest' | 'latest' | 'none'

/** Called with the partitions just assigned to / about to be taken from this consumer. */
export type PartitionsListener = (partitions: TopicPartition[]) => void | Promise<void>

export interface ConsumerOptions {
  /** Group to join (subscribe) or to commit to (assign). None: no commits. @default null */
  groupId?: string | null
  /** Static membership: a restarted member with the same id gets its partitions back. @default null */
  groupInstanceId?: string | null
  /** Where to start when nothing is committed. @default 'latest' */
  autoOffsetReset?: OffsetReset
  /** Commit positions on an interval, before a partition is released and on close. @default true */
  autoCommit?: boolean
  /** @default 5000 */
  autoCommitIntervalMs?: number
  /** @default 10000 */
  sessionTimeoutMs?: number
  /** @default 1000 (the coordinator's answer overrides it) */
  heartbeatIntervalMs?: number
  /** A member whose handler takes longer than this is removed from the group. @default 300000 */
  maxPollIntervalMs?: number
  /** @default 'uniform' */
  assignor?: 'uniform' | 'range'
  /** @default 'buffer' */
  valueCodec?: CodecOption
  /** @default 'buffer' */
  keyCodec?: CodecOption
  /** Bytes one fetch may return across partitions. @default 1 MiB */
  maxBytes?: number
  /** Long-poll wait of one fetch when every partition is at its end. @default 500 */
  maxWaitMs?: number
  /**
   * Messages one `eachBatch` call carries at most (Kafka's `max.poll.records`): a partition's fetched records beyond it
   * go to the next calls, in order. Bounds what one call holds however large `maxBytes` is. @default 8192
   */
  maxBatchMessages?: number
  /** Wait after a failed fetch before the next; doubles up to 10x. @default 100 */
  retryBackoffMs?: number
  /**
   * 'written': records as soon as they are written, before their fsync (lowest latency; after a power cut the consumer
   * may have seen records that are gone). 'durable': only records an fsync covered, as acks 'all' producers of flush
   * 'sync' topics were answered; on other topics the consumer's wait asks for the fsync. @default 'written'
   */
  visibility?: FetchVisibility
  /** @default none */
  onAssign?: PartitionsListener
  /** Partitions taken from this member: revoked (after their commit) or lost (fenced, or its session expired: nothing
   *  committed, and another member may already own them). @default none */
  onRevoke?: PartitionsListener
}

export interface ConsumerConfig {
  readonly groupId: string | null
  readonly groupInstanceId: string | null
  readonly autoOffsetReset: OffsetReset
  readonly autoCommit: boolean
  readonly autoCommitIntervalMs: number
  readonly sessionTimeoutMs: number
  readonly heartbeatIntervalMs: number
  readonly maxPollIntervalMs: number
  readonly assignor: 'uniform' | 'range'
  readonly valueCodec: Codec
  readonly keyCodec: Codec
  readonly maxBytes: number
  readonly maxWaitMs: number
  readonly maxBatchMessages: number
  readonly retryBackoffMs: number
  readonly visibility: FetchVisibility
  readonly onAssign: PartitionsListener | null
  readonly onRevoke: PartitionsListener | null
}

export const CONSUMER_DEFAULTS = Object.freeze({
  autoOffsetReset: 'latest' as OffsetReset,
  autoCommit: true,
  autoCommitIntervalMs: DEFAULTS.autoCommitIntervalMs,
  sessionTimeoutMs: DEFAULTS.sessionTimeoutMs,
  heartbeatIntervalMs: DEFAULTS.heartbeatIntervalMs,
  maxPollIntervalMs: DEFAULTS.maxPollIntervalMs,
  assignor: 'uniform' as const,
  maxBytes: DEFAULTS.fetchMaxBytes,
  maxWaitMs: DEFAULTS.fetchMaxWaitMs,
  maxBatchMessages: DEFAULTS.maxBatchMessages,
  retryBackoffMs: 100,
  visibility: 'written' as FetchVisibility,
})

const CONSUMER_KEYS = [
  'groupId',
  'groupInstanceId',
  'autoOffsetReset',
  'autoCommit',
  'autoCommitIntervalMs',
  'sessionTimeoutMs',
  'heartbeatIntervalMs',
  'maxPollIntervalMs',
  'assignor',
  'valueCodec',
  'keyCodec',
  'maxBytes',
  'maxWaitMs',
  'maxBatchMessages',
  'retryBackoffMs',
  'visibility',
  'onAssign',
  'onRevoke',
] as const

const TIMEOUT_MS_MAX = 24 * 3600 * 1000

function checkId(problems: Problems, name: string, value: unknown): string | null {
  if (value === undefined || value === null) return null
  if (typeof value !== 'string' || value.length === 0 || value.length > LIMITS.groupIdLengthMax) {
    problems.push(`${name} must be a string of 1 to ${LIMITS.groupIdLengthMax} chars, got ${JSON.stringify(value)}`)
    return null
  }
  return value
}

function checkListener(problems: Problems, name: string, value: unknown): PartitionsListener | null {
  if (value === undefined || value === null) return null
  if (typeof value !== 'function') {
    problems.push(`${name} must be a function, got ${typeof value}`)
    return null
  }
  return value as PartitionsListener
}

export function resolveConsumerConfig(input?: ConsumerOptions): ConsumerConfig {
  const o = checkObject(input, 'consumer config')
  const p: Problems = []
  p.push(...unknownOptionProblems(o, CONSUMER_KEYS))
  const d = CONSUMER_DEFAULTS
  const groupId = checkId(p, 'groupId', o.groupId)
  const groupInstanceId = checkId(p, 'groupInstanceId', o.groupInstanceId)
  if (groupInstanceId !== null && groupId === null) p.push('groupInstanceId needs a groupId')
  const sessionTimeoutMs = checkInt(p, 'sessionTimeoutMs', o.sessionTimeoutMs ?? d.sessionTimeoutMs, 1, TIMEOUT_MS_MAX)
  const heartbeatIntervalMs = checkInt(
    p,
    'heartbeatIntervalMs',
    o.heartbeatIntervalMs ?? d.heartbeatIntervalMs,
    1,
    TIMEOUT_MS_MAX,
  )
  if (heartbeatIntervalMs >= sessionTimeoutMs)
    p.push(`heartbeatIntervalMs (${heartbeatIntervalMs}) must be less than sessionTimeoutMs (${sessionTimeoutMs})`)
  const config: ConsumerConfig = {
    groupId,
    groupInstanceId,
    autoOffsetReset: checkOneOf<OffsetReset>(p, 'autoOffsetReset', o.autoOffsetReset ?? d.autoOffsetReset, [
      'latest',
      'earliest',
      'none',
    ]),
    autoCommit: checkBool(p, 'autoCommit', o.autoCommit ?? d.autoCommit),
    autoCommitIntervalMs: checkInt(
      p,
      'autoCommitIntervalMs',
      o.autoCommitIntervalMs ?? d.autoCommitIntervalMs,
      1,
      TIMEOUT_MS_MAX,
    ),
    sessionTimeoutMs,
    heartbeatIntervalMs,
    maxPollIntervalMs: checkInt(p, 'maxPollIntervalMs', o.maxPollIntervalMs ?? d.maxPollIntervalMs, 1, TIMEOUT_MS_MAX),
    assignor: checkOneOf(p, 'assignor', o.assignor ?? d.assignor, ['uniform', 'range'] as const),
    valueCodec: checkCodec(p, 'valueCodec', o.valueCodec),
    keyCodec: checkCodec(p, 'keyCodec', o.keyCodec),
    maxBytes: checkInt(p, 'maxBytes', o.maxBytes ?? d.maxBytes, 1, LIMITS.fetchBytesMax),
    maxWaitMs: checkInt(p, 'maxWaitMs', o.maxWaitMs ?? d.maxWaitMs, 0, LIMITS.fetchWaitMsMax),
    maxBatchMessages: checkInt(
      p,
      'maxBatchMessages',
      o.maxBatchMessages ?? d.maxBatchMessages,
      1,
      LIMITS.batchMessagesMax,
    ),
    retryBackoffMs: checkInt(p, 'retryBackoffMs', o.retryBackoffMs ?? d.retryBackoffMs, 0, BACKOFF_MS_MAX),
    visibility: checkOneOf(p, 'visibility', o.visibility ?? d.visibility, ['written', 'durable'] as const),
    onAssign: checkListener(p, 'onAssign', o.onAssign),
    onRevoke: checkListener(p, 'onRevoke', o.onRevoke),
  }
  if (p.length > 0) throw new InvalidConfigError(p, 'consumer config')
  return Object.freeze(config)
}

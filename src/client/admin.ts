// Topic and group administration, thin over the transport: each method checks its arguments (so a bad call fails
// with an InvalidArgumentError naming the problem before any request), shapes the request and returns the broker's
// answer. Nothing is cached here.
import { inspect } from 'node:util'
import type {
  AlterTopicConfigRequest,
  GroupDescription,
  GroupState,
  ResetTarget,
  TopicConfig,
  TopicDescription,
} from '../broker/api.js'
import { LIMITS } from '../config/limits.js'
import { InvalidArgumentError, InvalidConfigError } from '../errors.js'
import type { FlushPolicy } from '../storage/api.js'
import { DEFAULT_TOPIC_CONFIG, describeValue, topicConfigProblems } from '../topics/topic-config.js'
import type { Transport } from './transport.js'
import { checkKnownKeys, checkPartition, checkTopicName, toTimestamp } from './validate.js'

export interface CreateTopicOptions {
  /** @default 1 */
  partitions?: number
  /** @default the broker's (7 days) */
  retentionMs?: number
  /** @default the broker's (-1, no limit) */
  retentionBytes?: number
  /** @default the broker's (128 MiB) */
  segmentBytes?: number
  /** @default the broker's (7 days) */
  segmentMs?: number
  /** @default the broker's ('sync') */
  flush?: FlushPolicy
  /** @default the broker's (1000) */
  flushIntervalMs?: number
  /** Refuse batches stamped more than this past the broker's clock; -1: no bound. @default the broker's (1 hour) */
  timestampAfterMaxMs?: number
}

/** An alter of a topic's config: a value sets it for this topic, null gives it back to the broker's default. */
export type AlterTopicConfigOptions = {
  [K in Exclude<keyof CreateTopicOptions, 'partitions'>]?: CreateTopicOptions[K] | null
}

export interface ResetOffsetsOptions {
  topic: string
  /** @default every partition of the topic */
  partitions?: number[]
  /** `{ timestamp }` takes epoch milliseconds or a Date, as `replay` and `seekToTimestamp` do. */
  to: ResetTarget | { timestamp: Date }
  /** Only compute the plan. @default true */
  dryRun?: boolean
}

export interface ResetPlanEntry {
  topic: string
  partition: number
  from: number
  to: number
}

/** The config options a topic takes through the Admin (and the CLI), in the order they are listed. */
export const TOPIC_CONFIG_KEYS = [
  'retentionMs',
  'retentionBytes',
  'segmentBytes',
  'segmentMs',
  'flush',
  'flushIntervalMs',
  'timestampAfterMaxMs',
] as const

/**
 * Throws one InvalidConfigError with `problems` and every problem of the topic options set in `config` (null: back to
 * the default, not checked), as the broker words them. Checked before sending: over TCP the request's own decoding
 * would otherwise refuse the first wrongly typed field alone, as an InvalidArgumentError, where an embedded broker
 * lists them all.
 */
function checkTopicConfig(config: Record<string, unknown>, problems: string[]): void {
  const set = Object.fromEntries(Object.entries(config).filter(([, v]) => v !== null && v !== undefined))
  const all = [...problems, ...topicConfigProblems({ ...DEFAULT_TOPIC_CONFIG, ...set })]
  if (all.length > 0) throw new InvalidConfigError(all, 'topic config')
}

/** The topic options of `options` that are set (undefined ones skipped); an unknown key is added to `problems`,
 *  named, to be reported with the others. `extra`: keys the caller handles itself (skipped, listed as known). */
function topicOptions(options: object, problems: string[], extra: readonly string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(options)) {
    if (extra.includes(key)) continue
    if (!(TOPIC_CONFIG_KEYS as readonly string[]).includes(key))
      problems.push(`unknown topic option "${key}" (known: ${[...extra, ...TOPIC_CONFIG_KEYS].join(', ')})`)
    else if (value !== undefined) out[key] = value
  }
  return out
}

export class Admin {
  constructor(private readonly transport: Transport) {}

  async createTopic(name: string, options: CreateTopicOptions = {}): Promise<TopicDescription> {
    checkTopicName(name)
    if (typeof options !== 'object' || options === null)
      throw new InvalidArgumentError('createTopic options must be an object')
    const partitions = options.partitions ?? 1
    const problems: string[] = []
    const config = topicOptions(options, problems, ['partitions']) as Partial<TopicConfig>
    if (!Number.isSafeInteger(partitions) || partitions < 1 || partitions > LIMITS.partitionsMax)
      problems.push(`partitions must be an integer in [1, ${LIMITS.partitionsMax}], got ${describeValue(partitions)}`)
    checkTopicConfig(config, problems)
    return this.transport.createTopic({ name, partitions, config })
  }

  /** Changes the config of an existing topic (see AlterTopicConfigOptions); resolves with the topic as it is now.
   *  The broker validates the whole result first: a bad value changes nothing (InvalidConfigError listing every
   *  problem). */
  async alterTopicConfig(name: string, changes: AlterTopicConfigOptions): Promise<TopicDescription> {
    checkTopicName(name)
    if (typeof changes !== 'object' || changes === null || Array.isArray(changes))
      throw new InvalidArgumentError('alterTopicConfig changes must be an object of topic options')
    if (Object.keys(changes).length === 0) throw new InvalidArgumentError('alterTopicConfig needs at least one change')
    const problems: string[] = []
    const config = topicOptions(changes, problems)
    checkTopicConfig(config, problems)
    if (Object.keys(config).length === 0) throw new InvalidArgumentError('alterTopicConfig needs at least one change')
    return this.transport.alterTopicConfig({ name, config: config as AlterTopicConfigRequest['config'] })
  }

  /** Grows a topic to `count` partitions (never fewer; Kafka's createPartitions). New partitions start empty; keyed
   *  records hash over the new count once producers refresh their metadata (`metadataMaxAgeMs`), so a key's later
   *  records may land on another partition than its earlier ones. Groups reassign at once. */
  async createPartitions(name: string, count: number): Promise<TopicDescription> {
    checkTopicName(name)
    if (!Number.isSafeInteger(count) || count < 1 || count > LIMITS.partitionsMax)
      throw new InvalidArgumentError(`count must be an integer in [1, ${LIMITS.partitionsMax}], got ${String(count)}`)
    return this.transport.createPartitions({ name, count })
  }

  /** Removes the records below `offset` of each given partition ('latest': all of them, up to the log end), as
   *  Kafka's deleteRecords: the log start moves there, whole segments below it are deleted, and readers below it get
   *  OffsetOutOfRangeError (consumers then follow autoOffsetReset). Every entry is checked before anything is removed.
   *  Resolves with each partition's new log start. */
  async deleteRecords(
    topic: string,
    partitions: ReadonlyArray<{ partition: number; offset: number | 'latest' }>,
  ): Promise<Array<{ partition: number; logStartOffset: number }>> {
    checkTopicName(topic)
    if (!Array.isArray(partitions) || partitions.length === 0)
      throw new InvalidArgumentError('deleteRecords needs a non-empty array of { partition, offset }')
    const entries = partitions.map((p) => {
      if (typeof p !== 'object' || p === null)
        throw new InvalidArgumentError('deleteRecords entries must be { partition, offset } objects')
      checkPartition(p.partition)
      if (p.offset !== 'latest' && !(Number.isSafeInteger(p.offset) && p.offset >= 0))
        throw new InvalidArgumentError(`offset must be an integer >= 0 or 'latest', got ${String(p.offset)}`)
      return { partition: p.partition, offset: p.offset === 'latest' ? -1 : p.offset }
    })
    return (await this.transport.deleteRecords({ topic, partitions: entries })).partitions
  }

  async deleteTopic(name: string): Promise<void> {
    checkTopicName(name)
    await this.transport.deleteTopic(name)
  }

  /** Topic names, internal ones (`__consumer_offsets`) only when asked. */
  async listTopics(options: { includeInternal?: boolean } = {}): Promise<string[]> {
    return this.transport.listTopics(options.includeInternal === true)
  }

  async describeTopic(name: string): Promise<TopicDescription> {
    checkTopicName(name)
    return this.transport.describeTopic(name)
  }

  /** Per partition, the first offset whose timestamp is ≥ `timestamp` (the log end when none is). */
  async offsetsForTimes(
    topic: string,
    timestamp: number | Date,
    partitions?: number[],
  ): Promise<Array<{ partition: number; offset: number }>> {
    checkTopicName(topic)
    const ts = toTimestamp(timestamp, 'timestamp')
    if (partitions !== undefined) for (const p of partitions) checkPartition(p)
    const req = partitions === undefined ? { topic, timestamp: ts } : { topic, partitions, timestamp: ts }
    return (await this.transport.listOffsets(req)).offsets
  }

  async listGroups(): Promise<Array<{ groupId: string; state: GroupState; memberCount: number }>> {
    return this.transport.listGroups()
  }

  async describeGroup(groupId: string): Promise<GroupDescription> {
    checkGroupId(groupId)
    return this.transport.describeGroup(groupId)
  }

  async deleteGroup(groupId: string): Promise<void> {
    checkGroupId(groupId)
    await this.transport.deleteGroup(groupId)
  }

  /** Moves a group's committed offsets; a dry run (the default) only returns the plan. */
  async resetOffsets(groupId: string, options: ResetOffsetsOptions): Promise<ResetPlanEntry[]> {
    checkGroupId(groupId)
    if (typeof options !== 'object' || options === null)
      throw new InvalidArgumentError('resetOffsets needs { topic, to }')
    checkTopicName(options.topic)
    checkKnownKeys(options, ['topic', 'partitions', 'to', 'dryRun'], 'resetOffsets options')
    if (options.partitions !== undefined) for (const p of options.partitions) checkPartition(p)
    const to = checkResetTarget(options.to)
    const req = {
      groupId,
      topic: options.topic,
      to,
      dryRun: options.dryRun ?? true,
      ...(options.partitions === undefined ? {} : { partitions: options.partitions }),
    }
    return (await this.transport.resetOffsets(req)).plan
  }
}

function checkGroupId(groupId: unknown): asserts groupId is string {
  if (typeof groupId !== 'string' || groupId.length === 0 || groupId.length > LIMITS.groupIdLengthMax)
    throw new InvalidArgumentError(
      `group id must be a string of 1 to ${LIMITS.groupIdLengthMax} chars, got ${JSON.stringify(groupId)}`,
    )
}

/** The target as the broker takes it (a Date timestamp as epoch milliseconds); a bad one is named with what it needs. */
function checkResetTarget(to: unknown): ResetTarget {
  if (to === 'earliest' || to === 'latest') return to
  if (typeof to === 'object' && to !== null) {
    const keys = Object.keys(to)
    let value = (to as Record<string, unknown>)[keys[0] ?? '']
    if (keys.length === 1 && keys[0] === 'timestamp' && value instanceof Date) value = value.getTime()
    if (keys.length === 1 && Number.isSafeInteger(value)) {
      const n = value as number
      if (keys[0] === 'shiftBy') return { shiftBy: n }
      if (keys[0] === 'offset' && n >= 0) return { offset: n }
      if (keys[0] === 'timestamp' && n >= 0) return { timestamp: n }
    }
  }
  throw new InvalidArgumentError(
    "reset target must be 'earliest', 'latest', { offset: an integer >= 0 }, { timestamp: epoch ms >= 0 or a Date } " +
      `or { shiftBy: an integer }, got ${inspect(to, { breakLength: Infinity })}`,
  )
}

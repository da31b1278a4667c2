// The broker's configuration: what `openBroker` and `sluice serve` accept, merged over DEFAULTS, validated as a whole
// (every problem listed in one InvalidConfigError) and frozen. The flat topic fields (retentionMs, segmentBytes, ...)
// are the defaults every topic gets unless createTopic overrides them; `partitions` is the count auto-created topics get.
import path from 'node:path'
import type { TopicConfig } from './api.js'
import { BATCH_HEADER_BYTES, DEFAULTS, LIMITS } from '../config/limits.js'
import { InvalidConfigError } from '../errors.js'
import type { FlushPolicy } from '../storage/api.js'
import { DEFAULT_TOPIC_CONFIG, topicConfigProblems } from '../topics/topic-config.js'

/** setTimeout's own ceiling. */
const TIMER_MS_MAX = 2 ** 31 - 1
const NODE_ID_LENGTH_MAX = 255

export interface BrokerConfigInput {
  /** Directory holding every log, topic and checkpoint; resolved to an absolute path. @default './data' */
  dataDir?: string
  /** Produce (and fetch) to a missing topic creates it with `partitions` partitions. @default false */
  autoCreateTopics?: boolean
  /** Partition count of auto-created topics. @default 1 */
  partitions?: number
  /** Default topic retention by age; -1 keeps forever. @default 7 days */
  retentionMs?: number
  /** Default topic retention by size per partition; -1 = no limit. @default -1 */
  retentionBytes?: number
  /** Default segment size. @default 128 MiB */
  segmentBytes?: number
  /** Default segment age before it rolls. @default 7 days */
  segmentMs?: number
  /** Default flush policy: 'sync' fsyncs before acks 'all' (group commit). @default 'sync' */
  flush?: FlushPolicy
  /** Flush period of 'interval' topics. @default 1000 */
  flushIntervalMs?: number
  /** Default bound on record timestamps past the broker's clock; -1 = none. @default 1 hour */
  timestampAfterMaxMs?: number
  /** How often time and size retention runs over every partition. @default 60000 */
  retentionCheckIntervalMs?: number
  /** Largest batch a producer may send; at most LIMITS.recordBytesMax. @default 1 MiB */
  recordBytesMax?: number
  /** This broker's id in BrokerInfo. @default '0' */
  nodeId?: string
}

export interface BrokerConfig {
  readonly dataDir: string
  readonly autoCreateTopics: boolean
  readonly partitions: number
  readonly topicDefaults: TopicConfig
  readonly retentionCheckIntervalMs: number
  readonly recordBytesMax: number
  readonly nodeId: string
}

const KEYS: ReadonlyArray<keyof BrokerConfigInput> = [
  'dataDir',
  'autoCreateTopics',
  'partitions',
  'retentionMs',
  'retentionBytes',
  'segmentBytes',
  'segmentMs',
  'flush',
  'flushIntervalMs',
  'timestampAfterMaxMs',
  'retentionCheckIntervalMs',
  'recordBytesMax',
  'nodeId',
]

function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value)
}

function intIn(value: unknown, min: number, max: number): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max
}

/** Merges `input` over the defaults without mutating it; throws InvalidConfigError listing every problem. */
export function resolveBrokerConfig(input: BrokerConfigInput = {}): BrokerConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw new InvalidConfigError([`broker config must be an object, got ${show(input)}`], 'broker config')
  const given = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) as Record<string, unknown>
  const problems: string[] = []
  for (const key of Object.keys(given)) {
    if (!(KEYS as readonly string[]).includes(key)) problems.push(`unknown key ${key}`)
  }
  const dataDir = given.dataDir ?? DEFAULTS.dataDir
  if (typeof dataDir !== 'string' || dataDir.length === 0 || dataDir.includes('\0'))
    problems.push(`dataDir must be a non-empty path, got ${show(dataDir)}`)
  const autoCreateTopics = given.autoCreateTopics ?? false
  if (typeof autoCreateTopics !== 'boolean')
    problems.push(`autoCreateTopics must be a boolean, got ${show(autoCreateTopics)}`)
  const partitions = given.partitions ?? DEFAULTS.partitions
  if (!intIn(partitions, 1, LIMITS.partitionsMax))
    problems.push(`partitions must be an integer in [1, ${LIMITS.partitionsMax}], got ${show(partitions)}`)
  const retentionCheckIntervalMs = given.retentionCheckIntervalMs ?? DEFAULTS.retentionCheckIntervalMs
  if (!intIn(retentionCheckIntervalMs, 1, TIMER_MS_MAX))
    problems.push(
      `retentionCheckIntervalMs must be an integer in [1, ${TIMER_MS_MAX}], got ${show(retentionCheckIntervalMs)}`,
    )
  const recordBytesMax = given.recordBytesMax ?? LIMITS.recordBytesMax
  if (!intIn(recordBytesMax, BATCH_HEADER_BYTES + 1, LIMITS.recordBytesMax))
    problems.push(
      `recordBytesMax must be an integer in [${BATCH_HEADER_BYTES + 1}, ${LIMITS.recordBytesMax}], got ${show(recordBytesMax)}`,
    )
  const nodeId = given.nodeId ?? '0'
  if (typeof nodeId !== 'string' || nodeId.length === 0 || nodeId.length > NODE_ID_LENGTH_MAX)
    problems.push(`nodeId must be a string of 1 to ${NODE_ID_LENGTH_MAX} characters, got ${show(nodeId)}`)
  const topicDefaults: Record<string, unknown> = { ...DEFAULT_TOPIC_CONFIG }
  for (const key of [
    'retentionMs',
    'retentionBytes',
    'segmentBytes',
    'segmentMs',
    'flush',
    'flushIntervalMs',
    'timestampAfterMaxMs',
  ] as const) {
    if (given[key] !== undefined) topicDefaults[key] = given[key]
  }
  problems.push(...topicConfigProblems(topicDefaults))
  if (problems.length > 0) throw new InvalidConfigError(problems, 'broker config')
  return Object.freeze({
    dataDir: path.resolve(dataDir as string),
    autoCreateTopics: autoCreateTopics as boolean,
    partitions: partitions as number,
    topicDefaults: Object.freeze(topicDefaults) as unknown as TopicConfig,
    retentionCheckIntervalMs: retentionCheckIntervalMs as number,
    recordBytesMax: recordBytesMax as number,
    nodeId: nodeId as string,
  })
}

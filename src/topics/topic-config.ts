// Per-topic configuration: a partial override from createTopic merged over the broker's defaults, validated as a whole
// (every problem listed in one InvalidConfigError) and frozen, so nothing past this boundary sees an optional or
// unchecked field. `toLogConfig` maps a topic's config to the storage engine's LogConfig; the index settings are not
// per-topic and come from DEFAULTS.
import type { TopicConfig } from '../broker/api.js'
import { DEFAULTS, GiB, KiB } from '../config/limits.js'
import { InvalidConfigError } from '../errors.js'
import type { FlushPolicy, LogConfig } from '../storage/api.js'

/** Smallest segment: a few batch headers; smaller only multiplies files. */
export const SEGMENT_BYTES_MIN = 1 * KiB
/** Index positions are int32, so a segment must stay well below 2 GiB. */
export const SEGMENT_BYTES_MAX = 1 * GiB
/** The longest flush interval or segment age accepted (a year), so timers never overflow. */
export const DURATION_MS_MAX = 365 * 24 * 3600 * 1000
/** setTimeout's own ceiling. */
export const TIMER_MS_MAX = 2 ** 31 - 1

const FLUSH_POLICIES: readonly FlushPolicy[] = ['sync', 'interval', 'os']
const TOPIC_CONFIG_KEYS: ReadonlyArray<keyof TopicConfig> = [
  'retentionMs',
  'retentionBytes',
  'segmentBytes',
  'segmentMs',
  'flush',
  'flushIntervalMs',
  'timestampAfterMaxMs',
  'cleanupPolicy',
]

/** The built-in topic defaults (DESIGN.md §10). */
export const DEFAULT_TOPIC_CONFIG: TopicConfig = Object.freeze({
  retentionMs: DEFAULTS.retentionMs,
  retentionBytes: DEFAULTS.retentionBytes,
  segmentBytes: DEFAULTS.segmentBytes,
  segmentMs: DEFAULTS.segmentMs,
  flush: DEFAULTS.flush,
  flushIntervalMs: DEFAULTS.flushIntervalMs,
  timestampAfterMaxMs: DEFAULTS.timestampAfterMaxMs,
  cleanupPolicy: 'delete',
})

function isInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value)
}

/** A value as a problem names it: strings quoted, so `'6'` is not mistaken for 6. */
export function describeValue(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value)
}

/**
 * Every problem with a complete topic config, each prefixed with `prefix` (e.g. "defaultTopicConfig.").
 * Unknown keys are problems too: a typo must not silently fall back to a default.
 */
export function topicConfigProblems(config: Record<string, unknown>, prefix = ''): string[] {
  const problems: string[] = []
  const at = (key: string): string => `${prefix}${key}`
  for (const key of Object.keys(config)) {
    if (!(TOPIC_CONFIG_KEYS as readonly string[]).includes(key)) problems.push(`unknown key ${at(key)}`)
  }
  const { retentionMs, retentionBytes, segmentBytes, segmentMs, flush, flushIntervalMs, cleanupPolicy } = config
  const { timestampAfterMaxMs } = config
  if (!isInteger(timestampAfterMaxMs) || timestampAfterMaxMs < -1)
    problems.push(
      `${at('timestampAfterMaxMs')} must be -1 (no bound) or an integer >= 0, got ${describeValue(timestampAfterMaxMs)}`,
    )
  if (!isInteger(retentionMs) || retentionMs < -1)
    problems.push(
      `${at('retentionMs')} must be -1 (keep forever) or an integer >= 0, got ${describeValue(retentionMs)}`,
    )
  if (!isInteger(retentionBytes) || retentionBytes < -1)
    problems.push(
      `${at('retentionBytes')} must be -1 (no limit) or an integer >= 0, got ${describeValue(retentionBytes)}`,
    )
  if (!isInteger(segmentBytes) || segmentBytes < SEGMENT_BYTES_MIN || segmentBytes > SEGMENT_BYTES_MAX)
    problems.push(
      `${at('segmentBytes')} must be an integer in [${SEGMENT_BYTES_MIN}, ${SEGMENT_BYTES_MAX}], got ${describeValue(segmentBytes)}`,
    )
  if (!isInteger(segmentMs) || segmentMs < 1 || segmentMs > DURATION_MS_MAX)
    problems.push(`${at('segmentMs')} must be an integer in [1, ${DURATION_MS_MAX}], got ${describeValue(segmentMs)}`)
  if (typeof flush !== 'string' || !(FLUSH_POLICIES as readonly string[]).includes(flush))
    problems.push(
      `${at('flush')} must be one of ${FLUSH_POLICIES.map((p) => `'${p}'`).join(', ')}, got ${describeValue(flush)}`,
    )
  if (!isInteger(flushIntervalMs) || flushIntervalMs < 1 || flushIntervalMs > TIMER_MS_MAX)
    problems.push(
      `${at('flushIntervalMs')} must be an integer in [1, ${TIMER_MS_MAX}], got ${describeValue(flushIntervalMs)}`,
    )
  if (cleanupPolicy === 'compact')
    problems.push(`${at('cleanupPolicy')} 'compact' is not supported yet; only 'delete' is`)
  else if (cleanupPolicy !== 'delete')
    problems.push(`${at('cleanupPolicy')} must be 'delete', got ${describeValue(cleanupPolicy)}`)
  return problems
}

/**
 * Merges `partial` over `defaults` (neither is mutated; undefined fields count as absent), validates the result and
 * returns it frozen. Throws InvalidConfigError listing every problem.
 */
export function resolveTopicConfig(partial: Partial<TopicConfig> | undefined, defaults: TopicConfig): TopicConfig {
  if (partial !== undefined && (typeof partial !== 'object' || partial === null || Array.isArray(partial)))
    throw new InvalidConfigError([`topic config must be an object, got ${describeValue(partial)}`], 'topic config')
  const merged: Record<string, unknown> = { ...defaults }
  for (const [key, value] of Object.entries(partial ?? {})) {
    if (value !== undefined) merged[key] = value
  }
  const problems = topicConfigProblems(merged)
  if (problems.length > 0) throw new InvalidConfigError(problems, 'topic config')
  return Object.freeze(merged) as unknown as TopicConfig
}

/** The storage engine's view of a topic's config. */
export function toLogConfig(config: TopicConfig): LogConfig {
  return {
    segmentBytes: config.segmentBytes,
    segmentMs: config.segmentMs,
    indexIntervalBytes: DEFAULTS.indexIntervalBytes,
    indexBytesMax: DEFAULTS.indexBytesMax,
    retentionMs: config.retentionMs,
    retentionBytes: config.retentionBytes,
    flush: config.flush,
    flushIntervalMs: config.flushIntervalMs,
  }
}

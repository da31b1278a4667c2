// Validation of a LogConfig at the storage boundary: every problem is listed at once (InvalidConfigError), and the
// result is a frozen copy so later edits by the caller cannot reach a running log. Segment positions and relative
// offsets are int32 on disk, so a segment may not exceed 2 GiB - 1.
import { BATCH_HEADER_BYTES, LIMITS } from '../config/limits.js'
import { InvalidConfigError } from '../errors.js'
import type { LogConfig } from './api.js'

export const SEGMENT_BYTES_MAX = 0x7fffffff

function isInt(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n)
}

export function resolveLogConfig(config: LogConfig): Readonly<LogConfig> {
  const problems: string[] = []
  const c = config as Partial<Record<keyof LogConfig, unknown>>
  if (!isInt(c.segmentBytes) || c.segmentBytes < BATCH_HEADER_BYTES || c.segmentBytes > SEGMENT_BYTES_MAX)
    problems.push(
      `segmentBytes must be an integer in [${BATCH_HEADER_BYTES}, ${SEGMENT_BYTES_MAX}], got ${String(c.segmentBytes)}`,
    )
  if (!isInt(c.segmentMs) || c.segmentMs < 1)
    problems.push(`segmentMs must be a positive integer, got ${String(c.segmentMs)}`)
  if (!isInt(c.indexIntervalBytes) || c.indexIntervalBytes < 1)
    problems.push(`indexIntervalBytes must be a positive integer, got ${String(c.indexIntervalBytes)}`)
  if (!isInt(c.indexBytesMax) || c.indexBytesMax < 24)
    problems.push(`indexBytesMax must be an integer >= 24, got ${String(c.indexBytesMax)}`)
  if (!isInt(c.retentionMs) || c.retentionMs < -1)
    problems.push(`retentionMs must be -1 or a non-negative integer, got ${String(c.retentionMs)}`)
  if (!isInt(c.retentionBytes) || c.retentionBytes < -1)
    problems.push(`retentionBytes must be -1 or a non-negative integer, got ${String(c.retentionBytes)}`)
  if (c.flush !== 'sync' && c.flush !== 'interval' && c.flush !== 'os')
    problems.push(`flush must be 'sync', 'interval' or 'os', got ${String(c.flush)}`)
  if (!isInt(c.flushIntervalMs) || c.flushIntervalMs < 1)
    problems.push(`flushIntervalMs must be a positive integer, got ${String(c.flushIntervalMs)}`)
  if (
    c.segmentsMax !== undefined &&
    (!isInt(c.segmentsMax) || c.segmentsMax < 2 || c.segmentsMax > LIMITS.segmentsOpenMax)
  )
    problems.push(`segmentsMax must be an integer in [2, ${LIMITS.segmentsOpenMax}], got ${String(c.segmentsMax)}`)
  if (problems.length > 0) throw new InvalidConfigError(problems, 'log config')
  return Object.freeze({
    segmentBytes: config.segmentBytes,
    segmentMs: config.segmentMs,
    indexIntervalBytes: config.indexIntervalBytes,
    indexBytesMax: config.indexBytesMax,
    retentionMs: config.retentionMs,
    retentionBytes: config.retentionBytes,
    flush: config.flush,
    flushIntervalMs: config.flushIntervalMs,
    ...(config.segmentsMax === undefined ? {} : { segmentsMax: config.segmentsMax }),
  })
}

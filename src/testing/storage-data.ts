// Test data helpers for the storage engine with no test-runner import (usable from benches and child processes): a
// small LogConfig, record batch builders, a decoder of what a log returns, and a capturing logger. Test-only.
import type { LogConfig, PartitionLogApi, StorageLogger } from '../storage/api.js'
import { decodeRecords, encodeRecordBatch, iterateBatches, type RecordInput } from '../storage/record-batch.js'

export const testLogConfig: LogConfig = Object.freeze({
  segmentBytes: 4096,
  segmentMs: 7 * 24 * 3600 * 1000,
  indexIntervalBytes: 256,
  indexBytesMax: 1024 * 1024,
  retentionMs: -1,
  retentionBytes: -1,
  flush: 'sync' as const,
  flushIntervalMs: 1000,
})

export function logConfig(overrides: Partial<LogConfig> = {}): LogConfig {
  return { ...testLogConfig, ...overrides }
}

/** A batch of `count` records with values `${prefix}-${i}` and timestamps `timestamp + i`. */
export function makeBatch(prefix: string, count = 1, timestamp = 1_000): Buffer {
  const records: RecordInput[] = []
  for (let i = 0; i < count; i++)
    records.push({ key: Buffer.from(`k${i}`), value: Buffer.from(`${prefix}-${i}`), timestamp: timestamp + i })
  return encodeRecordBatch(records)
}

export interface ReadRecord {
  offset: number
  timestamp: number
  value: string | null
}

/** Decodes every record of whole batches (validating each batch). */
export function decodeAll(records: Buffer, fromOffset = -Infinity): ReadRecord[] {
  const out: ReadRecord[] = []
  for (const { position, header } of iterateBatches(records)) {
    for (const r of decodeRecords(records, position, fromOffset, header))
      out.push({ offset: r.offset, timestamp: r.timestamp, value: r.value === null ? null : r.value.toString() })
  }
  return out
}

/** Reads a log from `from` to its end with reads of `maxBytes`. */
export function readAll(log: PartitionLogApi, from = log.logStartOffset, maxBytes = 1 << 20): ReadRecord[] {
  const out: ReadRecord[] = []
  let offset = from
  // Each read returns at least one batch while offset < logEndOffset, so this ends.
  while (offset < log.logEndOffset) {
    const got = decodeAll(log.read(offset, maxBytes).records, offset)
    if (got.length === 0) throw new Error(`read at ${offset} returned nothing before the log end`)
    out.push(...got)
    offset = got[got.length - 1]!.offset + 1
  }
  return out
}

export interface CapturedLog extends StorageLogger {
  entries: { level: string; message: string; fields?: Record<string, unknown> }[]
}

export function captureLogger(): CapturedLog {
  const entries: CapturedLog['entries'] = []
  const add = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    entries.push(fields === undefined ? { level, message } : { level, message, fields })
  }
  return { entries, info: add('info'), warn: add('warn'), error: add('error') }
}

// Pure functions over the bytes of one segment file: walk its record batches, optionally verify each one (CRC and
// structure, offsets continuing from the segment's base offset), and derive the sparse offset and time index entries
// the engine would have written while appending them. No I/O here, so the same code runs in-thread (recovery of a
// small tail) and in a piscina worker (verify, large rebuilds). `IndexPolicy` is the single rule for when an index
// entry is due; the live append path uses it too, so a rebuilt index equals the one written at append time.
import { BATCH_HEADER_BYTES } from '../config/limits.js'
import {
  checkRecordsWellFormed,
  LOG_OVERHEAD,
  MAGIC,
  POS,
  readBatchHeader,
  readInt64,
  validateBatch,
} from '../storage/record-batch.js'

/** Entry flags returned by IndexPolicy.onBatch. */
export const OFFSET_ENTRY = 1
export const TIME_ENTRY = 2

/**
 * Decides when a batch gets index entries: one offset entry once `intervalBytes` of log have accumulated since the
 * previous entry (keyed by the batch's last offset, pointing at its start), and a time entry beside it when the largest
 * timestamp seen so far has grown since the last time entry (so the time index stays strictly monotonic).
 */
export class IndexPolicy {
  constructor(
    readonly intervalBytes: number,
    public bytesSinceEntry = 0,
    public maxTimestamp = -1,
    public lastTimeEntryTimestamp = -1,
  ) {}

  onBatch(batchBytes: number, maxTimestamp: number): number {
    if (maxTimestamp > this.maxTimestamp) this.maxTimestamp = maxTimestamp
    this.bytesSinceEntry += batchBytes
    if (this.bytesSinceEntry < this.intervalBytes) return 0
    this.bytesSinceEntry = 0
    if (this.maxTimestamp > this.lastTimeEntryTimestamp) {
      this.lastTimeEntryTimestamp = this.maxTimestamp
      return OFFSET_ENTRY | TIME_ENTRY
    }
    return OFFSET_ENTRY
  }
}

export interface ScanProblem {
  /** Byte position of the first batch that fails. */
  position: number
  message: string
  /** The offset the failing batch should have started at. */
  expectedOffset: number
  /** Position of a later valid batch with a consistent offset, or -1 when the bad bytes run to the end. */
  validBatchAfterPosition: number
}

export interface SegmentScan {
  baseOffset: number
  batchCount: number
  recordCount: number
  /** Offset the next batch after the valid prefix gets (baseOffset when empty). */
  nextOffset: number
  /** Largest batch maxTimestamp of the valid prefix, -1 when empty. */
  maxTimestamp: number
  /** Bytes of whole valid batches from position 0. */
  validBytes: number
  problem: ScanProblem | null
  /** Offset index entries: relativeOffset, position pairs. */
  offsetEntries: Int32Array
  /** Time index entries: timestamps and relative offsets. */
  timeTimestamps: Float64Array
  timeRelativeOffsets: Int32Array
  /** Bytes since the last offset entry at the end of the valid prefix (to resume appending). */
  bytesSinceEntry: number
}

export interface ScanOptions {
  /** Check CRC and structure of every batch (false: headers only, for bytes already trusted). @default true */
  verify?: boolean
  /** Also parse every record as a reader will (checkRecordsWellFormed): `log verify`. @default false */
  records?: boolean
  indexIntervalBytes?: number
}

/** Cheap test whether a plausible batch with offset >= expectedOffset starts at `pos`, then a full validation. */
function isValidBatchAt(bytes: Buffer, pos: number, expectedOffset: number): boolean {
  if (bytes[pos + POS.magic] !== MAGIC) return false
  const batchLength = bytes.readInt32BE(pos + POS.batchLength)
  if (batchLength < BATCH_HEADER_BYTES - LOG_OVERHEAD || pos + LOG_OVERHEAD + batchLength > bytes.length) return false
  const baseOffset = readInt64(bytes, pos)
  if (baseOffset < expectedOffset || baseOffset > expectedOffset + 0x7fffffff) return false
  try {
    validateBatch(bytes, pos, pos + LOG_OVERHEAD + batchLength)
    return true
  } catch {
    return false
  }
}

/** First position after `from` where a valid batch with a consistent offset starts, or -1. */
export function findValidBatchAfter(bytes: Buffer, from: number, expectedOffset: number): number {
  const last = bytes.length - BATCH_HEADER_BYTES
  for (let pos = from; pos <= last; pos++) {
    if (isValidBatchAt(bytes, pos, expectedOffset)) return pos
  }
  return -1
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/**
 * Walks the batches of a segment whose first batch must start at `baseOffset`. Stops at the first batch that fails
 * (CRC, structure, an offset that does not continue, a length past the end) and records it as `problem`, together with
 * whether valid batches follow the bad bytes (then they are not a torn tail).
 */
export function scanSegment(bytes: Buffer, baseOffset: number, options: ScanOptions = {}): SegmentScan {
  const verify = options.verify ?? true
  const policy = new IndexPolicy(options.indexIntervalBytes ?? 4096)
  const offsetEntries: number[] = []
  const timeTimestamps: number[] = []
  const timeRelativeOffsets: number[] = []
  let pos = 0
  let nextOffset = baseOffset
  let batchCount = 0
  let recordCount = 0
  let problem: ScanProblem | null = null
  const end = bytes.length
  // Each iteration consumes at least one batch header of bytes, so the loop ends within end / 61 turns.
  while (pos < end) {
    let message: string | null = null
    let batchBytes = 0
    let lastOffset = 0
    let maxTimestamp = 0
    let count = 0
    try {
      const h = verify ? validateBatch(bytes, pos, end) : readBatchHeader(bytes, pos)
      if (verify && options.records === true) checkRecordsWellFormed(bytes, pos, h)
      if (!verify && (h.batchLength < BATCH_HEADER_BYTES - LOG_OVERHEAD || pos + h.batchBytes > end))
        message = `batch of ${h.batchBytes} bytes runs past the end (${end - pos} bytes remain)`
      else if (h.baseOffset !== nextOffset) message = `batch starts at offset ${h.baseOffset}, expected ${nextOffset}`
      batchBytes = h.batchBytes
      lastOffset = h.lastOffset
      maxTimestamp = h.maxTimestamp
      count = h.recordCount
    } catch (err) {
      message = describe(err)
    }
    if (message !== null) {
      problem = {
        position: pos,
        message,
        expectedOffset: nextOffset,
        validBatchAfterPosition: verify ? findValidBatchAfter(bytes, pos + 1, nextOffset) : -1,
      }
      break
    }
    const flags = policy.onBatch(batchBytes, maxTimestamp)
    const relative = lastOffset - baseOffset
    if (flags & 1) offsetEntries.push(relative, pos)
    if (flags & 2) {
      timeTimestamps.push(policy.maxTimestamp)
      timeRelativeOffsets.push(relative)
    }
    batchCount++
    recordCount += count
    nextOffset = lastOffset + 1
    pos += batchBytes
  }
  return {
    baseOffset,
    batchCount,
    recordCount,
    nextOffset,
    maxTimestamp: policy.maxTimestamp,
    validBytes: pos,
    problem,
    offsetEntries: Int32Array.from(offsetEntries),
    timeTimestamps: Float64Array.from(timeTimestamps),
    timeRelativeOffsets: Int32Array.from(timeRelativeOffsets),
    bytesSinceEntry: policy.bytesSinceEntry,
  }
}

/** CRC and structure check of a whole segment (the `sluice log verify` job). */
export function verifySegmentBytes(bytes: Buffer, baseOffset: number): SegmentScan {
  return scanSegment(bytes, baseOffset, { verify: true, records: true })
}

/** Index entries for trusted segment bytes (headers only, no CRC). */
export function buildIndexes(bytes: Buffer, baseOffset: number, indexIntervalBytes: number): SegmentScan {
  return scanSegment(bytes, baseOffset, { verify: false, indexIntervalBytes })
}

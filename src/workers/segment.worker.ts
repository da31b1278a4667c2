// Piscina worker tasks over segment bytes (CPU-bound work kept off the event loop). Each task is a thin wrapper that
// reads its input and calls a pure function of segment-scan.ts; results are plain objects and typed arrays, which
// structured clone carries back to the caller.
import fs from 'node:fs'
import { buildIndexes, scanSegment, verifySegmentBytes, type SegmentScan } from './segment-scan.js'

export interface VerifySegmentTask {
  file: string
  baseOffset: number
  /** Index entries to derive while verifying (recovery rebuilds indexes from them). @default 4096 */
  indexIntervalBytes?: number
}

export interface BuildIndexesTask {
  bytes: Uint8Array
  baseOffset: number
  indexIntervalBytes: number
}

/** Reads a whole segment file and verifies every batch (CRC, structure, offsets continuing). */
export function verifySegmentFile(task: VerifySegmentTask): SegmentScan {
  const bytes = fs.readFileSync(task.file)
  if (task.indexIntervalBytes === undefined) return verifySegmentBytes(bytes, task.baseOffset)
  return scanSegment(bytes, task.baseOffset, { verify: true, indexIntervalBytes: task.indexIntervalBytes })
}

export function buildIndexesTask(task: BuildIndexesTask): SegmentScan {
  const bytes = Buffer.from(task.bytes.buffer, task.bytes.byteOffset, task.bytes.byteLength)
  return buildIndexes(bytes, task.baseOffset, task.indexIntervalBytes)
}

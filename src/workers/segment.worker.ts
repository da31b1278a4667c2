// Piscina worker tasks over segment bytes (CPU-bound work kept off the event loop). Each task is a thin wrapper that
// reads its input and calls a pure function of segment-scan.ts; results are plain objects and typed arrays, which
// structured clone carries back to the caller.
import fs from 'node:fs'
import { buildIndexes, verifySegmentBytes, type SegmentScan } from './segment-scan.js'

export interface VerifySegmentTask {
  file: string
  baseOffset: number
}

export interface BuildIndexesTask {
  bytes: Uint8Array
  baseOffset: number
  indexIntervalBytes: number
}

/** Reads a whole segment file and verifies every batch (CRC, structure, offsets continuing). */
export function verifySegmentFile(task: VerifySegmentTask): SegmentScan {
  return verifySegmentBytes(fs.readFileSync(task.file), task.baseOffset)
}

export function buildIndexesTask(task: BuildIndexesTask): SegmentScan {
  const bytes = Buffer.from(task.bytes.buffer, task.bytes.byteOffset, task.bytes.byteLength)
  return buildIndexes(bytes, task.baseOffset, task.indexIntervalBytes)
}

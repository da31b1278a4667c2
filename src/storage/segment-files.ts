// Creating and opening segment files: a new active segment (its log created exclusively), an existing segment's log
// opened with its size from fstat, and its index files loaded and checked against the log (a refused index is
// rebuilt by the caller). Kept apart from Segment so the class holds only the live read/append/seal logic.
import fs from 'node:fs'
import path from 'node:path'
import { OffsetIndex } from './offset-index.js'
import { Segment, segmentFileName } from './segment.js'
import { TimeIndex } from './time-index.js'

// Not O_APPEND: appends are positional writes at the log end, which may lie before zeros written ahead (segment.ts).
const LOG_FLAGS = fs.constants.O_RDWR

/** Creates an empty active segment; fails if its log file exists. */
export function createSegment(dir: string, baseOffset: number, indexIntervalBytes: number, nowMs: number): Segment {
  const logPath = path.join(dir, segmentFileName(baseOffset, '.log'))
  const fd = fs.openSync(logPath, LOG_FLAGS | fs.constants.O_CREAT | fs.constants.O_EXCL)
  const segment = new Segment(dir, baseOffset, fd, indexIntervalBytes, nowMs)
  segment.activate()
  return segment
}

/** Opens an existing segment's log file (size from fstat, zeros written ahead included); indexes are loaded or
 *  rebuilt by the caller. */
export function openSegmentFile(dir: string, baseOffset: number, indexIntervalBytes: number, nowMs: number): Segment {
  const logPath = path.join(dir, segmentFileName(baseOffset, '.log'))
  const fd = fs.openSync(logPath, LOG_FLAGS)
  const segment = new Segment(dir, baseOffset, fd, indexIntervalBytes, nowMs)
  segment.sizeBytes = fs.fstatSync(fd).size
  segment.fileBytes = segment.sizeBytes
  return segment
}

/** Loads both index files and checks them against the log; null (and the reason) when either must be rebuilt. */
export function loadIndexes(segment: Segment): string | null {
  let indexBytes: Buffer
  let timeBytes: Buffer
  try {
    indexBytes = fs.readFileSync(segment.indexPath)
    timeBytes = fs.readFileSync(segment.timeIndexPath)
  } catch (err) {
    return `index file missing: ${err instanceof Error ? err.message : String(err)}`
  }
  const offsetIndex = OffsetIndex.parse(indexBytes, segment.sizeBytes)
  if (typeof offsetIndex === 'string') return `${segment.indexPath}: ${offsetIndex}`
  const relativeEnd = 0x7fffffff
  const timeIndex = TimeIndex.parse(timeBytes, relativeEnd)
  if (typeof timeIndex === 'string') return `${segment.timeIndexPath}: ${timeIndex}`
  segment.adoptIndexFiles(offsetIndex, timeIndex)
  try {
    segment.resumeFromIndexes()
  } catch (err) {
    return `indexes disagree with the log: ${err instanceof Error ? err.message : String(err)}`
  }
  const lastRelative = segment.nextOffset - 1 - segment.baseOffset
  if (timeIndex.entryCount > 0 && timeIndex.relativeOffsetAt(timeIndex.entryCount - 1) > lastRelative)
    return `${segment.timeIndexPath}: names an offset past the segment`
  return null
}

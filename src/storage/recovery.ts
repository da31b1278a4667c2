// Opening the segments of one log directory, with recovery. Segments whose offsets all lie below the recovery point
// (everything there was fsynced) are trusted: their indexes are loaded and checked against a header walk of the tail,
// and rebuilt from the log when they disagree. Segments at or past the recovery point are re-validated batch by batch.
// A bad batch in the last segment whose bad bytes run to EOF past the recovery point is a torn write: it is cut and
// logged; an all-zero tail there is space written ahead of the batches (segment.ts) and kept for the next appends.
// Anything else (bad bytes below the recovery point, followed by valid batches, in a sealed segment, a gap between
// segments, or a log ending before its recovery point) is never truncated: the log opens offline with an error naming
// the file and byte position.
import fs from 'node:fs'
import path from 'node:path'
import { PartitionOfflineError } from '../errors.js'
import type { SegmentScan } from '../workers/segment-scan.js'
import type { StorageLogger } from './api.js'
import { failpoint } from './failpoints.js'
import { readBatchHeader } from './record-batch.js'
import { loadIndexes, openSegmentFile } from './segment-files.js'
import { isUnwrittenBatchAt, type Segment } from './segment.js'

const SEGMENT_LOG_FILE = /^(\d{20})\.log$/
const SEGMENT_INDEX_FILE = /^(\d{20})\.(index|timeindex)$/

export interface RecoveryInput {
  dir: string
  name: string
  /** Offsets below this were fsynced before the previous process stopped. */
  recoveryPoint: number
  indexIntervalBytes: number
  nowMs: number
  logger: StorageLogger
  /** Verifies a whole segment (CRC, structure) and derives its index entries; large ones may go to the worker pool. */
  verifySegment: (segment: Segment) => Promise<SegmentScan>
}

export interface RecoveredLog {
  /** Ordered by base offset; the last is active. Empty when the directory has no segment. */
  segments: Segment[]
  offlineError: PartitionOfflineError | null
}

/** Base offsets of the segment log files in `dir`, ascending; removes orphan index files and temp files. */
export function listSegmentBases(dir: string): number[] {
  const names = fs.readdirSync(dir)
  const bases = new Set<number>()
  for (const name of names) {
    const m = SEGMENT_LOG_FILE.exec(name)
    if (m) bases.add(Number(m[1]))
  }
  for (const name of names) {
    const m = SEGMENT_INDEX_FILE.exec(name)
    if ((m && !bases.has(Number(m[1]))) || name.endsWith('.tmp')) fs.rmSync(path.join(dir, name), { force: true })
  }
  return [...bases].sort((a, b) => a - b)
}

const REPAIR_ADVICE = 'run `sluice log verify` and repair or remove the segment'
/** Fsynced records are damaged or missing: no repair of the segments brings them back, but the loss can be accepted
 *  (without the recovery point the log is recovered as after a crash: cut at the first bad batch). */
const ACCEPT_LOSS_ADVICE =
  'fsynced records are damaged or missing; to serve the records before the damage, accepting the loss of the rest, ' +
  'stop the broker and delete checkpoints/recovery-point (every log is then re-validated at the next start)'

function offline(
  name: string,
  file: string,
  position: number,
  message: string,
  advice = REPAIR_ADVICE,
): PartitionOfflineError {
  return new PartitionOfflineError(`log ${name} is offline: ${message} in ${file} at byte ${position}; ${advice}`)
}

export async function recoverSegments(input: RecoveryInput): Promise<RecoveredLog> {
  const bases = listSegmentBases(input.dir)
  const segments: Segment[] = []
  const fail = (err: PartitionOfflineError): RecoveredLog => {
    for (const s of segments) s.close()
    return { segments: [], offlineError: err }
  }
  for (let i = 0; i < bases.length; i++) {
    const isLast = i === bases.length - 1
    const nextBase = isLast ? Infinity : bases[i + 1]!
    const segment = openSegmentFile(input.dir, bases[i]!, input.indexIntervalBytes, input.nowMs)
    segments.push(segment)
    const previous = segments[i - 1]
    if (previous !== undefined && segment.baseOffset !== previous.nextOffset)
      return fail(
        offline(
          input.name,
          segment.logPath,
          0,
          `segment starts at offset ${segment.baseOffset}, expected ${previous.nextOffset}`,
        ),
      )
    // Only the last segment can end in zeros written ahead of its batches (a roll and a close cut them).
    segment.mayHaveZeroTail = isLast
    const indexProblem = loadIndexes(segment)
    const trusted =
      indexProblem === null && segment.nextOffset <= input.recoveryPoint && (isLast || segment.nextOffset === nextBase)
    if (!trusted) {
      const scan = await input.verifySegment(segment)
      const problem = scan.problem
      if (problem !== null) {
        if (!isLast)
          return fail(
            offline(input.name, segment.logPath, problem.position, `${problem.message} (in a sealed segment)`),
          )
        if (problem.expectedOffset < input.recoveryPoint)
          return fail(
            offline(
              input.name,
              segment.logPath,
              problem.position,
              `${problem.message} (below the recovery point ${input.recoveryPoint})`,
              ACCEPT_LOSS_ADVICE,
            ),
          )
        // A bad batch whose start never reached the disk (isUnwrittenBatchAt), while a later write did: a write over
        // zeros written ahead is not ordered before a later write that grows the file (and the end of the same write
        // may have landed past the old end). No batch after it was made durable by an fdatasync of this file (that
        // would have written the missing bytes too), so this is a torn tail like any other: cut below (as PostgreSQL
        // ends its WAL at a zeroed record). Other bad bytes followed by a valid batch may be damage to durable data:
        // offline, nothing cut.
        const unwritten = isUnwrittenBatchAt(segment.fd, problem)
        if (problem.validBatchAfterPosition >= 0 && !unwritten)
          return fail(
            offline(
              input.name,
              segment.logPath,
              problem.position,
              `${problem.message} (followed by a valid batch at byte ${problem.validBatchAfterPosition})`,
            ),
          )
        if (segment.isZeroFrom(scan.validBytes)) {
          // zeros written ahead of the batches (preallocation): appends go on over them
          segment.sizeBytes = scan.validBytes
        } else {
          const cutBytes = segment.fileBytes - scan.validBytes
          segment.cutTail(scan.validBytes)
          fs.fdatasyncSync(segment.fd)
          input.logger.warn('cut a torn tail from a segment', {
            log: input.name,
            file: segment.logPath,
            position: scan.validBytes,
            bytes: cutBytes,
            reason: unwritten
              ? `${problem.message}: a batch never written, before a batch at byte ${problem.validBatchAfterPosition} that no fsync covered`
              : problem.message,
          })
        }
      }
      if (indexProblem !== null && segment.sizeBytes > 0)
        input.logger.info('rebuilt segment indexes', { log: input.name, file: segment.logPath, reason: indexProblem })
      segment.adoptScan(scan)
      failpoint('recovery')
    }
    segment.mayHaveZeroTail = false
    if (!isLast && segment.nextOffset !== nextBase)
      return fail(
        offline(
          input.name,
          segment.logPath,
          segment.sizeBytes,
          `segment ends at offset ${segment.nextOffset}, the next starts at ${nextBase}`,
        ),
      )
  }
  const active = segments[segments.length - 1]
  // Offsets below the recovery point were fsynced: a log that ends before it lost acknowledged records (a disk that
  // dropped synced data, or zeros where fsynced batches were). Serving the shorter log would hide that.
  if (active !== undefined && active.nextOffset < input.recoveryPoint)
    return fail(
      offline(
        input.name,
        active.logPath,
        active.sizeBytes,
        `the log ends at offset ${active.nextOffset}, below its recovery point ${input.recoveryPoint}`,
        ACCEPT_LOSS_ADVICE, // the segments left may all be sound (log verify passes them)
      ),
    )
  if (active !== undefined) {
    if (active.sizeBytes > 0) {
      const first = readBatchHeader(active.readAt(0, 61))
      active.createdAtMs = Math.min(input.nowMs, Math.max(0, first.maxTimestamp))
    }
    active.activate()
    // What recovery kept may so far live only in the page cache of the crashed run: make it durable once.
    if (active.nextOffset > input.recoveryPoint) fs.fdatasyncSync(active.fd)
  }
  for (const s of segments) if (s !== active) s.persistIndexesIfStale()
  return { segments, offlineError: null }
}

// Offline integrity checks for `sluice log verify` and `sluice log dump`; they work on a data dir whose broker is not
// running and never modify a file. verifyLogDir checks every batch of every segment of one log (CRC, structure,
// offsets continuing within and across segments) in the worker pool, and the index files for order and range;
// verifyDataDir does so for every log under a data dir, segments checked in parallel. dumpSegment walks one segment
// file and yields each batch header with its validity.
import fs from 'node:fs'
import path from 'node:path'
import { BATCH_HEADER_BYTES } from '../config/limits.js'
import { CorruptRecordError, InvalidArgumentError } from '../errors.js'
import { WorkerPool } from '../workers/pool.js'
import type { SegmentScan } from '../workers/segment-scan.js'
import { OffsetIndex } from './offset-index.js'
import { LOG_OVERHEAD, readBatchHeader, validateBatch, type BatchHeader } from './record-batch.js'
import { isUnwrittenBatchAt, isZeroRange, segmentFileName } from './segment.js'
import { TimeIndex } from './time-index.js'

const SEGMENT_LOG_FILE = /^(\d{20})\.log$/
const LOG_DIR_DEPTH_MAX = 8
const LOG_DIRS_MAX = 100_000

export interface VerifyProblem {
  file: string
  /** Byte position of the first bad byte, or 0 for a whole-file problem. */
  position: number
  message: string
}

export interface SegmentVerifyReport {
  file: string
  baseOffset: number
  sizeBytes: number
  batches: number
  records: number
  /** Null when the segment holds no valid batch. */
  firstOffset: number | null
  lastOffset: number | null
  maxTimestamp: number
  /** Bytes of whole valid batches from the start of the file. */
  validBytes: number
  /** Zeros after the batches of the last segment of a log whose broker stopped without closing it: space written
   *  ahead of appends (preallocation), not a problem; the next open appends over them. */
  preallocatedBytes: number
  problems: VerifyProblem[]
  /** Index files are caches rebuilt at open; their problems are reported apart and do not fail the verification. */
  indexProblems: string[]
}

export interface VerifyReport {
  dir: string
  segments: SegmentVerifyReport[]
  /** Every problem of every segment, plus gaps between segments. */
  problems: VerifyProblem[]
  ok: boolean
}

export interface VerifyOptions {
  /** Pool to run on; a private one is created and destroyed otherwise. */
  pool?: WorkerPool
}

function segmentBases(dir: string): number[] {
  const out: number[] = []
  for (const name of fs.readdirSync(dir)) {
    const m = SEGMENT_LOG_FILE.exec(name)
    if (m) out.push(Number(m[1]))
  }
  return out.sort((a, b) => a - b)
}

function checkIndexFiles(dir: string, baseOffset: number, sizeBytes: number, scan: SegmentScan): string[] {
  const problems: string[] = []
  const indexFile = path.join(dir, segmentFileName(baseOffset, '.index'))
  const timeFile = path.join(dir, segmentFileName(baseOffset, '.timeindex'))
  for (const [file, parse] of [
    [indexFile, (b: Buffer) => OffsetIndex.parse(b, sizeBytes)],
    [timeFile, (b: Buffer) => TimeIndex.parse(b, Math.max(1, scan.nextOffset - baseOffset))],
  ] as const) {
    let bytes: Buffer
    try {
      bytes = fs.readFileSync(file)
    } catch {
      problems.push(`${file}: missing`)
      continue
    }
    const parsed = parse(bytes)
    if (typeof parsed === 'string') problems.push(`${file}: ${parsed}`)
  }
  return problems
}

function toSegmentReport(
  dir: string,
  baseOffset: number,
  sizeBytes: number,
  scan: SegmentScan,
  isLast: boolean,
): SegmentVerifyReport {
  const file = path.join(dir, segmentFileName(baseOffset, '.log'))
  const problems: VerifyProblem[] = []
  const p = scan.problem
  let preallocatedBytes = 0
  if (
    p !== null &&
    isLast &&
    p.position === scan.validBytes &&
    withFile(file, (fd) => isZeroRange(fd, p.position, sizeBytes))
  )
    preallocatedBytes = sizeBytes - p.position
  else if (p !== null) {
    const after =
      p.validBatchAfterPosition < 0
        ? '; the bad bytes run to the end of the file'
        : isLast && withFile(file, (fd) => isUnwrittenBatchAt(fd, p))
          ? `; it starts with zeros, before a valid batch at byte ${p.validBatchAfterPosition}: a write that never` +
            ' reached the disk (past the recovery point, opening the log cuts it with what follows)'
          : `; a valid batch follows at byte ${p.validBatchAfterPosition}`
    problems.push({ file, position: p.position, message: p.message + after })
  }
  return {
    file,
    baseOffset,
    sizeBytes,
    batches: scan.batchCount,
    records: scan.recordCount,
    firstOffset: scan.batchCount > 0 ? baseOffset : null,
    lastOffset: scan.batchCount > 0 ? scan.nextOffset - 1 : null,
    maxTimestamp: scan.maxTimestamp,
    validBytes: scan.validBytes,
    preallocatedBytes,
    problems,
    indexProblems: checkIndexFiles(dir, baseOffset, sizeBytes, scan),
  }
}

/** `read` applied to a read-only fd of `file`, closed after. */
function withFile<T>(file: string, read: (fd: number) => T): T {
  const fd = fs.openSync(file, 'r')
  try {
    return read(fd)
  } finally {
    fs.closeSync(fd)
  }
}

async function verifyWith(pool: WorkerPool, dir: string): Promise<VerifyReport> {
  const bases = segmentBases(dir)
  const scans = await Promise.all(
    bases.map(async (base, i) => {
      const file = path.join(dir, segmentFileName(base, '.log'))
      const sizeBytes = fs.statSync(file).size
      const scan = await pool.verifySegmentFile(file, base)
      return toSegmentReport(dir, base, sizeBytes, scan, i === bases.length - 1)
    }),
  )
  const problems: VerifyProblem[] = []
  for (let i = 0; i < scans.length; i++) {
    const s = scans[i]!
    const prev = scans[i - 1]
    if (prev !== undefined && prev.problems.length === 0) {
      const expected = prev.lastOffset === null ? prev.baseOffset : prev.lastOffset + 1
      if (s.baseOffset !== expected)
        problems.push({
          file: s.file,
          position: 0,
          message: `segment starts at offset ${s.baseOffset}, expected ${expected}`,
        })
    }
    problems.push(...s.problems)
  }
  return { dir, segments: scans, problems, ok: problems.length === 0 }
}

async function withPool<T>(options: VerifyOptions, fn: (pool: WorkerPool) => Promise<T>): Promise<T> {
  if (options.pool !== undefined) return fn(options.pool)
  const pool = new WorkerPool()
  try {
    return await fn(pool)
  } finally {
    await pool.close()
  }
}

/** Verifies one log directory (the broker need not run; nothing is modified). */
export function verifyLogDir(dir: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  return withPool(options, (pool) => verifyWith(pool, dir))
}

/** Directories under `dataDir` holding segment files, depth-first, sorted. */
export function findLogDirs(dataDir: string): string[] {
  const out: string[] = []
  const visit = (dir: string, depth: number): void => {
    if (depth > LOG_DIR_DEPTH_MAX || out.length >= LOG_DIRS_MAX) return
    const entries = fs.readdirSync(dir, { withFileTypes: true })
    if (entries.some((e) => e.isFile() && SEGMENT_LOG_FILE.test(e.name))) out.push(dir)
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1)))
      if (e.isDirectory() && !(depth === 0 && e.name === 'checkpoints')) visit(path.join(dir, e.name), depth + 1)
  }
  visit(path.resolve(dataDir), 0)
  return out
}

/** Verifies every log under a data dir; segments are checked in parallel on the worker pool. */
export function verifyDataDir(dataDir: string, options: VerifyOptions = {}): Promise<VerifyReport[]> {
  return withPool(options, (pool) => Promise.all(findLogDirs(dataDir).map((dir) => verifyWith(pool, dir))))
}

export interface DumpedBatch extends BatchHeader {
  position: number
  /** Null when the batch passes validateBatch (CRC and structure), else the problem. */
  problem: string | null
}

export interface DumpOptions {
  /** Skip batches whose last offset is below this. */
  from?: number
  /** Yield at most this many batches. */
  limit?: number
}

/**
 * Yields the batch headers of one segment file in order. A batch whose length cannot be followed (past the end of the
 * file, shorter than a header) ends the walk with CorruptRecordError naming the file and byte position.
 */
export async function* dumpSegment(file: string, options: DumpOptions = {}): AsyncGenerator<DumpedBatch> {
  const from = options.from ?? -Infinity
  const limit = options.limit ?? Infinity
  if (!file.endsWith('.log'))
    throw new InvalidArgumentError(`${file} is not a segment log file (a NNNNNNNNNNNNNNNNNNNN.log of a partition dir)`)
  const handle = await fs.promises.open(file, 'r')
  try {
    const stat = await handle.stat()
    if (!stat.isFile()) throw new InvalidArgumentError(`${file} is not a segment log file (it is not a regular file)`)
    const size = stat.size
    let position = 0
    let yielded = 0
    // Each turn advances by one whole batch (>= 61 bytes) or ends.
    while (position < size && yielded < limit) {
      const head = Buffer.alloc(Math.min(BATCH_HEADER_BYTES, size - position))
      await handle.read(head, 0, head.length, position)
      // zeros written ahead of the batches (preallocation) end the walk: no batch starts with a length of 0
      if (head.readInt32BE(0) === 0 && isZeroRange(handle.fd, position, size)) return
      if (head.length < BATCH_HEADER_BYTES)
        throw new CorruptRecordError(`partial batch header (${head.length} bytes)`, file, position)
      const header = readBatchHeader(head)
      if (header.batchLength < BATCH_HEADER_BYTES - LOG_OVERHEAD || position + header.batchBytes > size)
        throw new CorruptRecordError(`batch length ${header.batchLength} does not fit the file`, file, position)
      // A header that disagrees with itself cannot place its batch: it is shown whatever `from` says (skipped by its
      // garbage lastOffset, it was hidden from 'log dump --from' while the dump exited 0).
      const selfConsistent = header.recordCount >= 1 && header.lastOffsetDelta === header.recordCount - 1
      if (header.lastOffset >= from || !selfConsistent) {
        const batch = Buffer.alloc(header.batchBytes)
        await handle.read(batch, 0, batch.length, position)
        let problem: string | null = null
        try {
          validateBatch(batch)
        } catch (err) {
          problem = (err as Error).message
        }
        if (problem === null && !selfConsistent)
          problem = `batch header says ${header.recordCount} records but lastOffsetDelta ${header.lastOffsetDelta}`
        yield { ...header, position, problem }
        yielded++
      }
      position += header.batchBytes
    }
  } finally {
    await handle.close()
  }
}

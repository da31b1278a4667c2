// One segment of a partition log: the `.log` file of whole record batches (one positional write(2) per batch at the
// log end, reads by byte position into fresh Buffers) and its two sparse indexes, kept in memory and appended to
// their files while the segment is active. Invariants: `sizeBytes` is the end of the last whole batch; batches tile
// the file from position 0 with offsets continuing from `baseOffset`; `nextOffset` is one past the last record; the
// file's bytes past `sizeBytes`, if any, are zeros written ahead (preallocation, below). A sealed segment has its log
// cut to `sizeBytes`, its log and index files fsynced and its index fds closed; its log fd stays open for reads.
//
// Preallocation: an fdatasync after an append that grew the file must also write the new size and block allocation
// (the inode and extent blocks, through the journal where the filesystem has one: this machine's ext4 has none, as
// `ext4_fsync_nojournal` in a kernel profile shows); into bytes already written it flushes data only. Measured (one
// run each, 400 rounds): six files, 27 KB appended to each then fdatasynced in parallel, 1.01 ms per round appending
// against 0.57 ms into zeros written beforehand; one file, 160 KB, 0.42 ms against 0.29 ms. So a log that fsyncs every
// append (flush 'sync') writes zeros ahead of its end, a chunk growing with the segment from 64 KiB to 1 MiB, and
// writes its batches over them, as long as its fsyncs each cover little (PREALLOCATE_SYNC_BYTES_MAX). Node has no
// fallocate(2), and unwritten extents would still need their metadata written. The zeros cost one extra write of each byte to
// the disk; a crash leaves them after the last batch, where opening the log recognizes an all-zero tail and appends
// over it (anything else there is a torn write, cut as before).
import fs from 'node:fs'
import path from 'node:path'
import { BATCH_HEADER_BYTES } from '../config/limits.js'
import { CorruptRecordError, DiskFullError, StorageError } from '../errors.js'
import { assert } from '../util/assert.js'
import type { ReadAllocator } from './api.js'
import { writeFileSynced } from './atomic-file.js'
import { failpoint } from './failpoints.js'
import {
  IndexPolicy,
  OFFSET_ENTRY,
  TIME_ENTRY,
  buildIndexes,
  type ScanProblem,
  type SegmentScan,
} from '../workers/segment-scan.js'
import { OffsetIndex } from './offset-index.js'
import {
  LEADER_EPOCH,
  LOG_OVERHEAD,
  POS,
  readBatchHeader,
  readInt64,
  writeInt64,
  type BatchHeader,
} from './record-batch.js'
import { TimeIndex } from './time-index.js'

/** The fs calls the engine makes for durability; tests replace them to inject failures and count calls. */
export interface DurabilityFs {
  fdatasync(fd: number): Promise<void>
  fdatasyncSync(fd: number): void
}

export const nodeDurabilityFs: DurabilityFs = {
  fdatasync: (fd) =>
    new Promise<void>((resolve, reject) => {
      fs.fdatasync(fd, (err) => (err ? reject(err) : resolve()))
    }),
  fdatasyncSync: (fd) => fs.fdatasyncSync(fd),
}

/** Test-only seam (S5 disk-full test): the positional write(2) of batch appends and of the zeros written ahead of
 *  them, replaced to inject ENOSPC. */
export const appendWriteFs = {
  writeSync: (fd: number, buf: Buffer, offset: number, length: number, position: number): number =>
    fs.writeSync(fd, buf, offset, length, position),
}

/** Zeros written ahead of the log end of a preallocating segment: the first chunk, and the most at once. */
export const PREALLOCATE_CHUNK_MIN = 64 * 1024
export const PREALLOCATE_CHUNK_MAX = 1024 * 1024
/** Zeros are written ahead only while the previous fsync of the segment covered at most this many bytes. Writing
 *  them costs the appending thread about 0.2 ms per MiB, and an fsync saves 0.1-0.4 ms by not growing the file, so
 *  they pay where each fsync covers little. Measured over TCP (1,600 records per round): 100 B records, 160 KB per
 *  fsync on 1 partition and 27 KB on 6, gained 42% and 35%; 1 KiB records, 1.6 MB and 270 KB per fsync, lost 40% and
 *  22%; embedded `sendBatch` (a 1 MiB batch per fsync) lost 5-14%. */
export const PREALLOCATE_SYNC_BYTES_MAX = 256 * 1024
const ZEROS = Buffer.alloc(PREALLOCATE_CHUNK_MAX)
/** Window of the all-zero tail check when a log is opened. */
const ZERO_CHECK_WINDOW = 1024 * 1024

const HEADER_WINDOW_BYTES = 16 * 1024
/** Index entries are kept in memory and written to their files this many at a time (and before every fsync of the
 *  index files: a seal, a checkpoint, and a log's close, which fsyncs them; a segment's own close writes nothing, so an
 *  offline log's files stay as they are). One write per entry was two write(2) calls per append of a batch larger
 *  than indexIntervalBytes, 12 of the 18 syscalls a 6-partition produce request cost the broker (~7 µs each here).
 *  A crash loses at most these many entries of the active segment: opening it walks the batch headers from the last
 *  entry in the file (resumeFromIndexes), so the walk is at most this many batches longer and the index that much
 *  sparser there; lookups stay correct (they start at an earlier entry). */
export const INDEX_WRITE_ENTRIES = 64
const INDEX_FLAGS = fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT

/** True when the bytes of `fd` in [from, to) are all zeros (or the file ends before `to`); read in 1 MiB windows. */
export function isZeroRange(fd: number, from: number, to: number): boolean {
  const window = Buffer.allocUnsafe(Math.min(ZERO_CHECK_WINDOW, Math.max(0, to - from)))
  // Each turn reads one window or stops at EOF: at most (to - from) / window turns.
  for (let at = from; at < to;) {
    const n = fs.readSync(fd, window, 0, Math.min(window.length, to - at), at)
    if (n === 0) return true
    for (let i = 0; i < n; i++) if (window[i] !== 0) return false
    at += n
  }
  return true
}

/**
 * True when the bad batch of `problem` is a write whose start never reached the disk: its bytes begin with zeros (the
 * zeros written ahead it went over), and either those cover its baseOffset and batchLength (no written batch has
 * batchLength 0), or after them the header is exactly the one expected there (the baseOffset it should have, and the
 * length that ends it where the next valid batch starts). A lost write over bytes already in the file looks like this
 * whatever of its end landed past the old end of the file. Damage to written bytes does not: offline stays offline.
 */
export function isUnwrittenBatchAt(fd: number, problem: ScanProblem): boolean {
  if (problem.validBatchAfterPosition < 0) return false
  const head = Buffer.alloc(LOG_OVERHEAD)
  const n = fs.readSync(fd, head, 0, LOG_OVERHEAD, problem.position)
  if (n < LOG_OVERHEAD || head[0] !== 0) return false
  let zeros = 0
  while (zeros < LOG_OVERHEAD && head[zeros] === 0) zeros++
  if (zeros === LOG_OVERHEAD) return true
  const expected = Buffer.alloc(LOG_OVERHEAD)
  writeInt64(expected, 0, problem.expectedOffset)
  expected.writeInt32BE(problem.validBatchAfterPosition - problem.position - LOG_OVERHEAD, 8)
  return head.subarray(zeros).equals(expected.subarray(zeros)) && !head.equals(expected)
}

export function segmentFileName(baseOffset: number, extension: '.log' | '.index' | '.timeindex'): string {
  return String(baseOffset).padStart(20, '0') + extension
}

/** Where a batch starts, and the offset it starts at. */
export interface BatchStart {
  position: number
  baseOffset: number
}

function storageError(what: string, file: string, cause: unknown): StorageError {
  const message = `${what} ${file} failed: ${cause instanceof Error ? cause.message : String(cause)}`
  const code = (cause as NodeJS.ErrnoException | null)?.code
  // A full disk is retriable: the failed write was cut back, and appends work again once space returns.
  if (code === 'ENOSPC' || code === 'EDQUOT') return new DiskFullError(message, { cause })
  return new StorageError(message, { cause })
}

export class Segment {
  readonly logPath: string
  readonly indexPath: string
  readonly timeIndexPath: string
  sizeBytes = 0
  nextOffset: number
  maxTimestamp = -1
  /** Wall-clock ms the segment counts its age from (segmentMs rolls). */
  createdAtMs: number
  offsetIndex = new OffsetIndex()
  timeIndex = new TimeIndex()
  policy: IndexPolicy
  #indexFd = -1
  #timeIndexFd = -1
  #indexFilesStale = false
  /** Index fsyncs on the thread pool (syncIndexesAsync) not yet returned, and index fds closed meanwhile: those are
   *  closed only once the fsyncs have returned, so that their numbers cannot be reused by another file first (an
   *  fsync of a reused number would sync, and take the writeback error of, a file it was never meant for). */
  #indexSyncsInFlight = 0
  #retiredIndexFds: number[] = []
  /** Entries of each index in its file; the rest are written by #writePendingIndexEntries. */
  #offsetEntriesInFile = 0
  #timeEntriesInFile = 0
  #pins = 0
  #closeWhenUnpinned = false
  #closed = false
  /** Bytes in the file: sizeBytes plus zeros written ahead of it (see preallocation at the top). */
  #fileBytes = 0
  /** Off after a failed zero write (a full disk) until the next segment. */
  #preallocationFailed = false
  /** Bytes appended since the latest `sync` began, and those its sync covered (the zeros-ahead decision). */
  #bytesSinceSync = 0
  #lastSyncBytes = 0
  /** Set on the last segment of a log being opened: an all-zero tail after its batches is preallocated space. */
  mayHaveZeroTail = false

  constructor(
    readonly dir: string,
    readonly baseOffset: number,
    readonly fd: number,
    readonly indexIntervalBytes: number,
    createdAtMs: number,
  ) {
    this.logPath = path.join(dir, segmentFileName(baseOffset, '.log'))
    this.indexPath = path.join(dir, segmentFileName(baseOffset, '.index'))
    this.timeIndexPath = path.join(dir, segmentFileName(baseOffset, '.timeindex'))
    this.nextOffset = baseOffset
    this.createdAtMs = createdAtMs
    this.policy = new IndexPolicy(indexIntervalBytes)
  }

  get isActive(): boolean {
    return this.#indexFd >= 0
  }

  get fileName(): string {
    return path.basename(this.logPath)
  }

  /** Bytes in the log file, zeros written ahead of `sizeBytes` included. */
  get fileBytes(): number {
    return Math.max(this.#fileBytes, this.sizeBytes)
  }

  /** Tells the segment how long its file is (when opened: fstat). */
  set fileBytes(bytes: number) {
    this.#fileBytes = bytes
  }

  /** True when [position, fileBytes) holds only zeros. */
  isZeroFrom(position: number): boolean {
    return isZeroRange(this.fd, position, this.fileBytes)
  }

  // ---- reads ------------------------------------------------------------------------------------------------

  /** `length` bytes from `position` into a fresh Buffer (fewer at EOF). */
  readAt(position: number, length: number, allocate?: ReadAllocator): Buffer {
    const out = allocate === undefined ? Buffer.allocUnsafe(length) : allocate(length)
    let done = 0
    // Each turn reads at least one byte or stops at EOF, so this ends within `length` turns.
    while (done < length) {
      let n: number
      try {
        n = fs.readSync(this.fd, out, done, length - done, position + done)
      } catch (err) {
        throw storageError('read of', this.logPath, err)
      }
      if (n === 0) break
      done += n
    }
    return done === length ? out : out.subarray(0, done)
  }

  readAll(): Buffer {
    return this.readAt(0, this.sizeBytes)
  }

  /**
   * Calls `visit` for each batch header in [from, to), reading 64 KiB windows; stops when `visit` returns false.
   * Headers are checked for a length that stays inside [from, to) and, given `expectedBaseOffset`, for offsets that
   * continue from it batch after batch (baseOffset is outside the CRC, so only this check catches damage to it).
   */
  walkHeaders(
    from: number,
    to: number,
    visit: (position: number, header: BatchHeader) => boolean,
    expectedBaseOffset = -1,
  ): void {
    let expected = expectedBaseOffset
    let window: Buffer = Buffer.alloc(0)
    let windowStart = from
    let pos = from
    // Each turn advances `pos` by a whole batch (at least 61 bytes), so this ends within (to - from) / 61 turns.
    while (pos < to) {
      if (pos + BATCH_HEADER_BYTES > windowStart + window.length) {
        window = this.readAt(pos, Math.min(HEADER_WINDOW_BYTES, to - pos))
        windowStart = pos
        if (window.length < BATCH_HEADER_BYTES) {
          if (this.#endsAtZeroTail(pos)) return
          throw new CorruptRecordError(`partial batch header (${to - pos} bytes)`, this.logPath, pos)
        }
      }
      const header = readBatchHeader(window, pos - windowStart)
      if (header.batchLength < BATCH_HEADER_BYTES - LOG_OVERHEAD || pos + header.batchBytes > to) {
        if (header.batchLength === 0 && this.#endsAtZeroTail(pos)) return
        throw new CorruptRecordError(`batch length ${header.batchLength} does not fit the segment`, this.logPath, pos)
      }
      checkLeaderEpoch(header.partitionLeaderEpoch, this.logPath, pos)
      // Offsets are taken from headers here without the CRC: a header must at least agree with itself, or one flipped
      // bit in lastOffsetDelta (S2 found it: the sign bit) would move the log end by two billion offsets.
      if (header.recordCount < 1 || header.lastOffsetDelta !== header.recordCount - 1)
        throw new CorruptRecordError(
          `batch header says ${header.recordCount} records but lastOffsetDelta ${header.lastOffsetDelta}`,
          this.logPath,
          pos,
        )
      if (expected >= 0) {
        if (header.baseOffset !== expected)
          throw new CorruptRecordError(
            `batch starts at offset ${header.baseOffset}, expected ${expected}`,
            this.logPath,
            pos,
          )
        expected = header.lastOffset + 1
      }
      if (!visit(pos, header)) return
      pos += header.batchBytes
    }
  }

  /** Opening a log: where a walk meets preallocated zeros, the segment's batches end (sizeBytes becomes `position`). */
  #endsAtZeroTail(position: number): boolean {
    if (!this.mayHaveZeroTail || !this.isZeroFrom(position)) return false
    this.#fileBytes = this.fileBytes
    this.sizeBytes = position
    return true
  }

  /**
   * Start position of the batch holding `offset` (baseOffset <= offset < nextOffset): the offset index gives where to
   * start, a header walk finds the batch. An index entry that disagrees with the log makes the indexes be rebuilt from
   * the log (they are caches) and the lookup retried once.
   */
  findPosition(offset: number): BatchStart {
    assert(offset >= this.baseOffset && offset < this.nextOffset, `offset ${offset} is not in ${this.logPath}`)
    const entry = this.offsetIndex.entryBefore(offset - this.baseOffset)
    if (entry >= 0) {
      try {
        return this.#findFrom(entry, offset)
      } catch (err) {
        if (!(err instanceof CorruptRecordError)) throw err
      }
      this.rebuildIndexesFromLog()
      return this.#findFrom(this.offsetIndex.entryBefore(offset - this.baseOffset), offset)
    }
    return this.#findFrom(-1, offset)
  }

  #findFrom(entry: number, offset: number): BatchStart {
    let start = 0
    let expected = this.baseOffset
    if (entry >= 0) {
      // the entry's batch ends before `offset`: check it is where the index says, then walk on from the next one
      start = this.offsetIndex.positionAt(entry)
      const entryLastOffset = this.baseOffset + this.offsetIndex.relativeOffsetAt(entry)
      const head = this.readAt(start, BATCH_HEADER_BYTES)
      if (head.length < BATCH_HEADER_BYTES)
        throw new CorruptRecordError('index entry points past the log', this.indexPath, start)
      const header = readBatchHeader(head)
      if (header.lastOffset !== entryLastOffset || header.batchLength < BATCH_HEADER_BYTES - LOG_OVERHEAD)
        throw new CorruptRecordError(
          `index entry says offset ${entryLastOffset}, the batch ends at ${header.lastOffset}`,
          this.indexPath,
          start,
        )
      start += header.batchBytes
      expected = entryLastOffset + 1
    }
    let found: BatchStart | null = null
    this.walkHeaders(
      start,
      this.sizeBytes,
      (position, header) => {
        if (header.lastOffset < offset) return true
        found = { position, baseOffset: header.baseOffset }
        return false
      },
      expected,
    )
    if (found === null) throw new CorruptRecordError(`no batch holds offset ${offset}`, this.logPath, this.sizeBytes)
    return found
  }

  /** Rebuilds both indexes from the log's batch headers and rewrites their files. */
  rebuildIndexesFromLog(): void {
    const scan = buildIndexes(this.readAll(), this.baseOffset, this.indexIntervalBytes)
    if (scan.problem !== null || scan.validBytes !== this.sizeBytes)
      throw new CorruptRecordError(
        scan.problem?.message ?? 'batches do not tile the segment',
        this.logPath,
        scan.problem?.position ?? scan.validBytes,
      )
    this.adoptScan(scan)
    this.#rewriteIndexFiles()
  }

  /**
   * Whole batches from `position` (where a batch starting at `expectedBaseOffset` must be) up to `maxBytes`, the
   * first one whole even when larger if `atLeastOne`, in a fresh buffer. Every batch's offsets must continue from the
   * previous one's, and a read reaching the end of the segment must end at `nextOffset`; anything else is a
   * CorruptRecordError naming file and position.
   */
  read(
    position: number,
    maxBytes: number,
    atLeastOne: boolean,
    expectedBaseOffset: number,
    allocate?: ReadAllocator,
  ): Buffer {
    const available = this.sizeBytes - position
    if (available <= 0) return Buffer.alloc(0)
    const want = Math.min(available, Math.max(maxBytes, atLeastOne ? BATCH_HEADER_BYTES : 0))
    if (want < BATCH_HEADER_BYTES) return Buffer.alloc(0)
    let buf: Buffer = this.readAt(position, want, allocate)
    let cut = 0
    let expected = expectedBaseOffset
    // Each turn moves `cut` forward by one batch (>= 61 bytes).
    while (cut + BATCH_HEADER_BYTES <= buf.length) {
      const batchBytes = LOG_OVERHEAD + buf.readInt32BE(cut + POS.batchLength)
      if (batchBytes < BATCH_HEADER_BYTES || position + cut + batchBytes > this.sizeBytes)
        throw new CorruptRecordError(
          `batch length ${batchBytes - LOG_OVERHEAD} does not fit the segment`,
          this.logPath,
          position + cut,
        )
      const baseOffset = readInt64(buf, cut)
      if (baseOffset !== expected)
        throw new CorruptRecordError(
          `batch starts at offset ${baseOffset}, expected ${expected}`,
          this.logPath,
          position + cut,
        )
      checkLeaderEpoch(buf.readInt32BE(cut + POS.partitionLeaderEpoch), this.logPath, position + cut)
      // The header must agree with itself before its lastOffsetDelta says where the next batch starts: a flipped bit
      // there was reported at the next, healthy batch ('starts at offset 185, expected -16777031'), not at this one.
      const lastOffsetDelta = buf.readInt32BE(cut + POS.lastOffsetDelta)
      const recordCount = buf.readInt32BE(cut + POS.recordsCount)
      if (recordCount < 1 || lastOffsetDelta !== recordCount - 1)
        throw new CorruptRecordError(
          `batch header says ${recordCount} records but lastOffsetDelta ${lastOffsetDelta}`,
          this.logPath,
          position + cut,
        )
      if (cut + batchBytes > buf.length) break
      expected = baseOffset + lastOffsetDelta + 1
      cut += batchBytes
    }
    if (cut === 0) {
      if (!atLeastOne) return Buffer.alloc(0)
      const batchBytes = LOG_OVERHEAD + buf.readInt32BE(POS.batchLength)
      buf = this.readAt(position, batchBytes, allocate)
      if (buf.length < batchBytes)
        throw new CorruptRecordError('batch runs past the end of the file', this.logPath, position)
      cut = batchBytes
      expected = expectedBaseOffset + buf.readInt32BE(POS.lastOffsetDelta) + 1
    }
    if (position + cut === this.sizeBytes && expected !== this.nextOffset)
      throw new CorruptRecordError(
        `segment ends at offset ${expected - 1}, expected ${this.nextOffset - 1}`,
        this.logPath,
        position,
      )
    return cut === buf.length ? buf : buf.subarray(0, cut)
  }

  // ---- appends ----------------------------------------------------------------------------------------------

  /**
   * Appends one validated batch (offsets already assigned) with one write at the log end; returns its position.
   * `preallocateUpTo` > 0 first writes zeros ahead of the end (not past that many bytes unless the batch needs it).
   */
  append(batch: Buffer, lastOffset: number, maxTimestamp: number, preallocateUpTo = 0): number {
    assert(this.isActive, `append to sealed segment ${this.logPath}`)
    const position = this.sizeBytes
    const end = position + batch.length
    if (
      preallocateUpTo > 0 &&
      end > this.#fileBytes &&
      this.#lastSyncBytes <= PREALLOCATE_SYNC_BYTES_MAX &&
      !this.#preallocationFailed
    )
      this.#writeZerosAhead(end, preallocateUpTo)
    let done = 0
    try {
      // Each turn writes at least one byte (writeSync throws otherwise).
      while (done < batch.length)
        done += appendWriteFs.writeSync(this.fd, batch, done, batch.length - done, position + done)
    } catch (err) {
      // A part written is cut (with any zeros after it); ftruncate throws when even that fails, and the caller then
      // takes the log offline.
      if (done > 0) this.cutTail(position)
      throw storageError('append to', this.logPath, err)
    }
    if (end > this.#fileBytes) this.#fileBytes = end
    this.#bytesSinceSync += batch.length
    failpoint('write-fsync')
    this.sizeBytes += batch.length
    this.nextOffset = lastOffset + 1
    const flags = this.policy.onBatch(batch.length, maxTimestamp)
    this.maxTimestamp = this.policy.maxTimestamp
    const relative = lastOffset - this.baseOffset
    if (flags & OFFSET_ENTRY) this.offsetIndex.append(relative, position)
    if (flags & TIME_ENTRY) this.timeIndex.append(this.policy.maxTimestamp, relative)
    if (
      this.offsetIndex.entryCount - this.#offsetEntriesInFile >= INDEX_WRITE_ENTRIES ||
      this.timeIndex.entryCount - this.#timeEntriesInFile >= INDEX_WRITE_ENTRIES
    )
      this.#writePendingIndexEntries()
    return position
  }

  /**
   * Writes zeros from the file's end to cover `end` and one chunk beyond (the chunk as large as the segment so far,
   * within [PREALLOCATE_CHUNK_MIN, PREALLOCATE_CHUNK_MAX], and not past `limit` unless `end` is). A failure (a full
   * disk) cuts the zeros back and turns preallocation off for this segment: the batch's own write then decides.
   */
  #writeZerosAhead(end: number, limit: number): void {
    const chunk = Math.min(PREALLOCATE_CHUNK_MAX, Math.max(PREALLOCATE_CHUNK_MIN, this.sizeBytes))
    const target = Math.max(end, Math.min(limit, end + chunk))
    const from = this.#fileBytes
    let at = from
    try {
      // Each turn writes at least one byte (writeSync throws otherwise): at most target - from turns.
      while (at < target) at += appendWriteFs.writeSync(this.fd, ZEROS, 0, Math.min(ZEROS.length, target - at), at)
      this.#fileBytes = target
    } catch {
      this.#preallocationFailed = true
      try {
        fs.ftruncateSync(this.fd, Math.max(from, this.sizeBytes))
        this.#fileBytes = Math.max(from, this.sizeBytes)
      } catch {
        this.#fileBytes = at // zeros past the end harm nothing: opening the log recognizes them
      }
    }
  }

  /** Cuts the zeros written ahead of the last batch (before a seal or a close). */
  releasePreallocated(): void {
    if (this.#fileBytes > this.sizeBytes) this.cutTail(this.sizeBytes)
  }

  /** Cuts the file at `position` (a batch boundary; the log's bytes after it are dropped). No fsync. */
  cutTail(position: number): void {
    fs.ftruncateSync(this.fd, position)
    this.#fileBytes = position
    if (this.sizeBytes > position) this.sizeBytes = position
  }

  /** Appends the entries not yet in the index files. Index files are caches: a failed or short write only means the
   *  files are rewritten whole when sealed or closed. */
  #writePendingIndexEntries(): void {
    if (this.#indexFilesStale || !this.isActive) return
    const offsets = this.offsetIndex.entryCount
    const times = this.timeIndex.entryCount
    if (offsets < this.#offsetEntriesInFile || times < this.#timeEntriesInFile) {
      // entries dropped in memory without a rewrite: only a whole rewrite makes the files right again
      this.#indexFilesStale = true
      return
    }
    try {
      if (offsets > this.#offsetEntriesInFile) {
        const bytes = this.offsetIndex.bytesOf(this.#offsetEntriesInFile, offsets)
        if (fs.writeSync(this.#indexFd, bytes) !== bytes.length) throw new Error('short index write')
        this.#offsetEntriesInFile = offsets
        failpoint('index-write')
      }
      if (times > this.#timeEntriesInFile) {
        const bytes = this.timeIndex.bytesOf(this.#timeEntriesInFile, times)
        if (fs.writeSync(this.#timeIndexFd, bytes) !== bytes.length) throw new Error('short index write')
        this.#timeEntriesInFile = times
        failpoint('index-write')
      }
    } catch {
      this.#indexFilesStale = true
    }
  }

  /** True when one more index entry could overflow `indexBytesMax`. */
  indexWouldOverflow(indexBytesMax: number): boolean {
    return this.offsetIndex.sizeBytes + 8 > indexBytesMax || this.timeIndex.sizeBytes + 12 > indexBytesMax
  }

  // ---- durability and lifecycle -----------------------------------------------------------------------------

  /** True while a `sync` is in flight. */
  get syncing(): boolean {
    return this.#pins > 0
  }

  /** fdatasync of the log through `dfs`; the fd stays open until every pending sync is done. */
  async sync(dfs: DurabilityFs): Promise<void> {
    assert(!this.#closed, `sync of closed segment ${this.logPath}`)
    this.#lastSyncBytes = this.#bytesSinceSync
    this.#bytesSinceSync = 0
    this.#pins++
    try {
      await dfs.fdatasync(this.fd)
    } finally {
      this.#pins--
      if (this.#pins === 0 && this.#closeWhenUnpinned) this.#closeNow()
    }
  }

  /** Makes the segment writable: (re)writes both index files from memory and opens them for append. */
  activate(): void {
    if (this.isActive) return
    this.#rewriteIndexFiles()
    this.#indexFd = fs.openSync(this.indexPath, INDEX_FLAGS)
    this.#timeIndexFd = fs.openSync(this.timeIndexPath, INDEX_FLAGS)
  }

  /** Rolls away from this segment: a final time entry, everything fsynced, index fds closed. */
  seal(dfs: DurabilityFs): void {
    if (!this.isActive) return
    if (this.policy.maxTimestamp > this.timeIndex.lastTimestamp && this.nextOffset > this.baseOffset) {
      const relative = this.nextOffset - 1 - this.baseOffset
      this.timeIndex.append(this.policy.maxTimestamp, relative)
      this.policy.lastTimeEntryTimestamp = this.policy.maxTimestamp
    }
    this.#writePendingIndexEntries()
    this.releasePreallocated()
    dfs.fdatasyncSync(this.fd)
    if (this.#indexFilesStale) this.#rewriteIndexFiles()
    fs.fsyncSync(this.#indexFd)
    fs.fsyncSync(this.#timeIndexFd)
    this.#closeIndexFds()
  }

  /** Flushes the index files of an active segment (for a checkpoint); the log itself goes through `sync`. */
  syncIndexes(): void {
    if (!this.isActive) return
    this.#writePendingIndexEntries()
    if (this.#indexFilesStale) this.#rewriteIndexFiles()
    fs.fsyncSync(this.#indexFd)
    fs.fsyncSync(this.#timeIndexFd)
  }

  /** As syncIndexes, with the fsyncs on the thread pool (the periodic checkpoint, off the event loop). A seal may run
   *  while they are in flight: it fsyncs the indexes itself, and their fds stay open until these return. Linux reports
   *  a writeback error once per open file, so of two concurrent fsyncs only one may see it: when this one fails, the
   *  index files are marked stale and written again whole (at once if the segment was sealed meanwhile, else at its
   *  next sync, seal or close), and the caller (the checkpoint) trusts nothing of this round. */
  async syncIndexesAsync(): Promise<void> {
    if (!this.isActive) return
    this.#writePendingIndexEntries()
    if (this.#indexFilesStale) return this.syncIndexes()
    const fsyncFd = (fd: number) =>
      new Promise<void>((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())))
    this.#indexSyncsInFlight++
    let results: Array<PromiseSettledResult<void>>
    try {
      results = await Promise.allSettled([fsyncFd(this.#indexFd), fsyncFd(this.#timeIndexFd)])
    } finally {
      if (--this.#indexSyncsInFlight === 0) for (const fd of this.#retiredIndexFds.splice(0)) fs.closeSync(fd)
    }
    const failed = results.find((r) => r.status === 'rejected')
    if (failed !== undefined) {
      this.#indexFilesStale = true
      if (!this.isActive && !this.#closed) this.#rewriteIndexFiles()
      throw failed.reason
    }
  }

  /** Writes the index files of a sealed segment whose indexes were rebuilt in memory. */
  persistIndexesIfStale(): void {
    if (this.#indexFilesStale && !this.isActive) this.#rewriteIndexFiles()
  }

  #rewriteIndexFiles(): void {
    try {
      writeFileSynced(this.indexPath, this.offsetIndex.toBytes())
      writeFileSynced(this.timeIndexPath, this.timeIndex.toBytes())
      this.#indexFilesStale = false
      this.#offsetEntriesInFile = this.offsetIndex.entryCount
      this.#timeEntriesInFile = this.timeIndex.entryCount
    } catch (err) {
      // The index files are caches of the in-memory indexes: on a full disk they stay stale (rewritten at the next
      // seal, checkpoint or close; a file cut short is refused and rebuilt when the log is opened next). Before, a
      // log reopened on a full disk after a crash went offline here, its acknowledged records unreadable.
      const code = (err as NodeJS.ErrnoException | null)?.code
      if (code !== 'ENOSPC' && code !== 'EDQUOT') throw err
      this.#indexFilesStale = true
    }
    if (this.isActive) {
      this.#closeIndexFds()
      this.#indexFd = fs.openSync(this.indexPath, INDEX_FLAGS)
      this.#timeIndexFd = fs.openSync(this.timeIndexPath, INDEX_FLAGS)
    }
  }

  #closeIndexFds(): void {
    for (const fd of [this.#indexFd, this.#timeIndexFd]) {
      if (fd < 0) continue
      if (this.#indexSyncsInFlight > 0) this.#retiredIndexFds.push(fd)
      else fs.closeSync(fd)
    }
    this.#indexFd = -1
    this.#timeIndexFd = -1
  }

  /** Cuts the log at `position` (a batch boundary) whose batches end at `nextOffset`; indexes follow. */
  truncateTo(position: number, nextOffset: number): void {
    this.cutTail(position)
    this.nextOffset = nextOffset
    this.offsetIndex.truncateToPosition(position)
    this.timeIndex.truncateToRelativeOffset(nextOffset - this.baseOffset)
    try {
      this.resumeFromIndexes()
      this.#rewriteIndexFiles()
    } catch (err) {
      if (!(err instanceof CorruptRecordError)) throw err
      this.rebuildIndexesFromLog()
    }
  }

  /** Adopts indexes read from this segment's index files (they hold exactly these entries). */
  adoptIndexFiles(offsetIndex: OffsetIndex, timeIndex: TimeIndex): void {
    this.offsetIndex = offsetIndex
    this.timeIndex = timeIndex
    this.#offsetEntriesInFile = offsetIndex.entryCount
    this.#timeEntriesInFile = timeIndex.entryCount
  }

  /** Adopts indexes rebuilt by a scan of this segment's bytes (validBytes must equal sizeBytes). */
  adoptScan(scan: SegmentScan): void {
    assert(scan.validBytes === this.sizeBytes, 'scan covers the whole segment')
    this.offsetIndex = OffsetIndex.fromPairs(scan.offsetEntries)
    this.timeIndex = TimeIndex.fromColumns(scan.timeTimestamps, scan.timeRelativeOffsets)
    this.nextOffset = scan.nextOffset
    this.maxTimestamp = scan.maxTimestamp
    this.policy = new IndexPolicy(
      this.indexIntervalBytes,
      scan.bytesSinceEntry,
      scan.maxTimestamp,
      this.timeIndex.lastTimestamp,
    )
    this.#indexFilesStale = true
  }

  /**
   * Derives nextOffset, maxTimestamp and the index policy state from the loaded indexes plus a header walk of the log
   * after the last offset entry. Throws CorruptRecordError when the walk disagrees with the indexes.
   */
  resumeFromIndexes(): void {
    const last = this.offsetIndex.entryCount - 1
    const start = last >= 0 ? this.offsetIndex.positionAt(last) : 0
    const entryOffset = last >= 0 ? this.baseOffset + this.offsetIndex.relativeOffsetAt(last) : -1
    let next = last >= 0 ? entryOffset + 1 : this.baseOffset
    let maxTimestamp = this.timeIndex.lastTimestamp
    let bytesSinceEntry = 0
    let entryFound = last < 0
    this.walkHeaders(start, this.sizeBytes, (position, h) => {
      if (position === start && last >= 0) {
        entryFound = true
        if (h.lastOffset !== entryOffset)
          throw new CorruptRecordError(
            `index entry says offset ${entryOffset}, batch ends at ${h.lastOffset}`,
            this.logPath,
            position,
          )
      } else {
        if (h.baseOffset !== next)
          throw new CorruptRecordError(`batch starts at ${h.baseOffset}, expected ${next}`, this.logPath, position)
        bytesSinceEntry += h.batchBytes
        next = h.lastOffset + 1
      }
      if (h.maxTimestamp > maxTimestamp) maxTimestamp = h.maxTimestamp
      return true
    })
    // The walk ended at zeros written ahead before reaching the last entry's batch: that batch never reached the disk.
    if (!entryFound)
      throw new CorruptRecordError(
        `index entry says offset ${entryOffset}, the log has zeros there`,
        this.logPath,
        start,
      )
    this.nextOffset = next
    this.maxTimestamp = maxTimestamp
    this.policy = new IndexPolicy(this.indexIntervalBytes, bytesSinceEntry, maxTimestamp, this.timeIndex.lastTimestamp)
  }

  /** Closes the files (after any sync in flight). Zeros written ahead stay unless the owner released them first: an
   *  offline log's files are never modified, and opening a log recognizes them. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    if (this.#indexFilesStale) {
      try {
        this.#rewriteIndexFiles()
      } catch {
        // a cache: rebuilt at the next open
      }
    }
    this.#closeIndexFds()
    if (this.#pins > 0) this.#closeWhenUnpinned = true
    else this.#closeNow()
  }

  #closeNow(): void {
    fs.closeSync(this.fd)
  }

  /** Closes and unlinks the three files. */
  delete(): void {
    this.close()
    for (const file of [this.logPath, this.indexPath, this.timeIndexPath]) fs.rmSync(file, { force: true })
  }
}

/** Like baseOffset, partitionLeaderEpoch lies outside the CRC; this single-node log stamps LEADER_EPOCH on every
 *  append, so any other value read back is a damaged header (S2 found such flips served unnoticed). */
function checkLeaderEpoch(epoch: number, file: string, position: number): void {
  if (epoch !== LEADER_EPOCH)
    throw new CorruptRecordError(
      `batch has partitionLeaderEpoch ${epoch}, this log writes ${LEADER_EPOCH}`,
      file,
      position,
    )
}

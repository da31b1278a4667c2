// One partition log: an ordered list of segments (the last one active), the log-start offset (persisted in
// `<dir>/log-start-offset` before any segment below it is deleted), and the durability state: `durableOffset` is the
// offset below which every byte has been fdatasynced. Appends and reads are synchronous; `waitDurable` joins the
// Storage-wide group commit. Invariants: segments tile [first base, logEndOffset) without gaps; logStartOffset <=
// logEndOffset; durableOffset <= logEndOffset; once offline (failed fsync, corrupt bytes) every call throws.
import path from 'node:path'
import { BATCH_HEADER_BYTES, LIMITS } from '../config/limits.js'
import {
  ClosedError,
  CorruptRecordError,
  InvalidArgumentError,
  OffsetOutOfRangeError,
  PartitionOfflineError,
  RecordTooLargeError,
  StorageError,
} from '../errors.js'
import { crc32c } from '../util/crc32c.js'
import { DurableWaiters } from './durable-waiters.js'
import type {
  AppendResult,
  LogConfig,
  PartitionLogApi,
  ReadOptions,
  ReadResult,
  RetentionResult,
  StorageLogger,
} from './api.js'
import { fsyncDir, readJsonFile, writeFileAtomic } from './atomic-file.js'
import { failpoint } from './failpoints.js'
import type { Flushable, GroupCommitFlusher } from './group-commit.js'
import { resolveLogConfig, SEGMENT_BYTES_MAX } from './log-config.js'
import {
  LOG_OVERHEAD,
  POS,
  decodeRecords,
  readInt64,
  LEADER_EPOCH,
  setBaseOffset,
  validateBatch,
  builtHere,
  checkRecordsWellFormed,
  writeInt64,
} from './record-batch.js'
import { createSegment } from './segment-files.js'
import type { BatchStart, DurabilityFs, Segment } from './segment.js'

const LOG_START_OFFSET_FILE = 'log-start-offset'
const RELATIVE_OFFSET_MAX = 0x7fffffff

export interface PartitionLogDeps {
  flusher: GroupCommitFlusher
  dfs: DurabilityFs
  logger: StorageLogger
  clock: () => number
  /** Called after every successful fdatasync of a log file (stats). */
  onFdatasync: () => void
  /** A roll made a whole segment durable: the recovery point may move past it (checkpointed soon, coalesced). */
  onRolled: () => void
  /** Truncation removed offsets at and above `offset`: the recovery point must not claim them (persisted at once). */
  lowerRecoveryPoint: (name: string, offset: number) => void
}

/** Last offset of the last whole batch in `records`, or null when their framing does not hold: a damaged length (a
 *  flipped bit on disk) must not throw here or walk backwards; the reader's CRC checks report the damage, and the
 *  read hint is simply not kept. */
export function lastOffsetOf(records: Buffer): number | null {
  let position = 0
  let last = -1
  // Each turn moves past one batch of at least BATCH_HEADER_BYTES: at most records.length / 61 turns.
  while (position + LOG_OVERHEAD <= records.length) {
    const length = records.readInt32BE(position + POS.batchLength)
    if (length < BATCH_HEADER_BYTES - LOG_OVERHEAD || position + LOG_OVERHEAD + length > records.length) return null
    last = position
    position += LOG_OVERHEAD + length
  }
  return last < 0 ? null : readInt64(records, last) + records.readInt32BE(last + POS.lastOffsetDelta)
}

export function readLogStartOffset(dir: string): number {
  const data = readJsonFile(path.join(dir, LOG_START_OFFSET_FILE)) as { logStartOffset?: unknown } | undefined
  const n = data?.logStartOffset
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : 0
}

export class PartitionLog implements PartitionLogApi, Flushable {
  #config: Readonly<LogConfig>
  #segments: Segment[]
  #logStartOffset: number
  #durableOffset: number
  /** A size or age roll was skipped at segmentsOpenMax (and said so in the log). */
  #segmentCapWarned = false
  #waiters: DurableWaiters
  #listeners = new Set<(logEndOffset: number) => void>()
  #durableListeners = new Set<(durableOffset: number) => void>()
  #offlineError: PartitionOfflineError | null
  #truncations = 0
  /** End of segments sealed (and fdatasynced) while a group-commit fdatasync was in flight: durable once it
   *  succeeds (see #roll); -1 when none. */
  #sealedPending = -1
  #timer: NodeJS.Timeout | null = null
  #closed = false
  /** Where the previous read ended, so a sequential reader skips the index lookup. */
  #readHint: { offset: number; segment: Segment; position: number } | null = null

  /** Takes ownership of recovered segments (the last one active), or none with an offline error. */
  constructor(
    readonly name: string,
    readonly dir: string,
    config: LogConfig,
    segments: Segment[],
    logStartOffset: number,
    offlineError: PartitionOfflineError | null,
    readonly deps: PartitionLogDeps,
  ) {
    this.#config = resolveLogConfig(config)
    this.#waiters = new DurableWaiters(name)
    this.#segments = segments
    this.#offlineError = offlineError
    const end = segments.at(-1)?.nextOffset ?? 0
    this.#logStartOffset = Math.min(Math.max(logStartOffset, segments[0]?.baseOffset ?? 0), end)
    this.#durableOffset = end
    this.#startTimer()
  }

  // ---- state ------------------------------------------------------------------------------------------------

  get config(): Readonly<LogConfig> {
    return this.#config
  }

  get logStartOffset(): number {
    return this.#logStartOffset
  }

  get logEndOffset(): number {
    return this.#segments.at(-1)?.nextOffset ?? 0
  }

  /** Offsets below this are fdatasynced. */
  get durableOffset(): number {
    return this.#durableOffset
  }

  get sizeBytes(): number {
    let total = 0
    for (const s of this.#segments) total += s.sizeBytes
    return total
  }

  get segmentCount(): number {
    return this.#segments.length
  }

  get offlineError(): Error | null {
    return this.#offlineError
  }

  /** Base offsets of the segments, oldest first (for tests and tools). */
  get segmentBaseOffsets(): number[] {
    return this.#segments.map((s) => s.baseOffset)
  }

  #check(): Segment {
    if (this.#offlineError !== null) throw this.#offlineError
    if (this.#closed) throw new ClosedError(`log ${this.name}`)
    return this.#segments.at(-1)!
  }

  #goOffline(err: PartitionOfflineError): PartitionOfflineError {
    if (this.#offlineError !== null) return this.#offlineError
    this.#offlineError = err
    this.deps.logger.error('log is offline', { log: this.name, error: err.message })
    this.#stopTimer()
    this.#waiters.rejectAll(err)
    return err
  }

  /** Corrupt bytes met while serving take the log offline; other errors pass through. */
  #guard<T>(fn: () => T): T {
    try {
      return fn()
    } catch (err) {
      if (err instanceof CorruptRecordError)
        throw this.#goOffline(new PartitionOfflineError(`log ${this.name} is offline: ${err.message}`, { cause: err }))
      throw err
    }
  }

  // ---- appends ----------------------------------------------------------------------------------------------

  append(batch: Buffer): AppendResult {
    let active = this.#check()
    if (!Buffer.isBuffer(batch))
      throw new InvalidArgumentError(`log ${this.name}: append needs a Buffer holding one record batch`)
    if (batch.length > LIMITS.recordBytesMax)
      throw new RecordTooLargeError(
        `record batch of ${batch.length} bytes exceeds recordBytesMax ${LIMITS.recordBytesMax}`,
      )
    const h = validateBatch(batch)
    if (h.batchBytes !== batch.length)
      throw new CorruptRecordError(`${batch.length - h.batchBytes} bytes follow the record batch`)
    // Bytes from outside this process are parsed record by record before they are stored: a batch that only readers
    // could find malformed would stop each of them at it.
    if (!builtHere(batch)) checkRecordsWellFormed(batch, 0, h)
    const now = this.deps.clock()
    const baseOffset = active.nextOffset
    if (this.#shouldRoll(active, h.batchBytes, baseOffset + h.lastOffsetDelta, now)) active = this.#roll(now)
    setBaseOffset(batch, 0, baseOffset)
    batch.writeInt32BE(LEADER_EPOCH, POS.partitionLeaderEpoch) // outside the CRC, as baseOffset: the log's own stamp
    let timestamp = h.maxTimestamp
    if (h.timestampType === 'logAppend') {
      timestamp = now
      writeInt64(batch, POS.maxTimestamp, now)
      batch.writeUInt32BE(crc32c(batch, POS.attributes), POS.crc)
    }
    const lastOffset = baseOffset + h.lastOffsetDelta
    let position: number
    try {
      // A log that fsyncs every append writes zeros ahead of its end: its fsyncs then flush data, not metadata.
      position = active.append(
        batch,
        lastOffset,
        timestamp,
        this.#config.flush === 'sync' ? this.#config.segmentBytes : 0,
      )
    } catch (err) {
      if (err instanceof StorageError) throw err // nothing of the batch stayed in the file
      throw this.#goOffline(
        new PartitionOfflineError(
          `log ${this.name} is offline: a failed append could not be undone in ${active.logPath}`,
          {
            cause: err,
          },
        ),
      )
    }
    // Flush 'sync' logs always fsync what is appended; others when a reader of durable records is waiting for it.
    if (this.#config.flush === 'sync' || this.#durableListeners.size > 0) this.deps.flusher.request(this)
    this.#notify()
    return { baseOffset, lastOffset, timestamp, position, logStartOffset: this.#logStartOffset }
  }

  get #segmentsMax(): number {
    return this.#config.segmentsMax ?? LIMITS.segmentsOpenMax
  }

  #shouldRoll(active: Segment, batchBytes: number, lastOffset: number, now: number): boolean {
    if (active.sizeBytes === 0) return false
    // What the segment format cannot hold forces a roll.
    if (
      active.sizeBytes + batchBytes > SEGMENT_BYTES_MAX ||
      active.indexWouldOverflow(this.#config.indexBytesMax) ||
      lastOffset - active.baseOffset > RELATIVE_OFFSET_MAX
    )
      return true
    if (active.sizeBytes + batchBytes <= this.#config.segmentBytes && now - active.createdAtMs < this.#config.segmentMs)
      return false
    if (this.#segments.length < this.#segmentsMax) return true
    // At segmentsOpenMax, a size or age roll is skipped and the active segment grows instead: before, every append
    // was refused from then on (a tiny segmentMs reaches the cap in seconds; 1 minute with 7 days of retention, in
    // 6.9 days). Said once per log, until a roll happens again.
    if (!this.#segmentCapWarned) {
      this.#segmentCapWarned = true
      this.deps.logger.warn('log has segmentsOpenMax segments: the active segment grows past segmentBytes/segmentMs', {
        log: this.name,
        segments: this.#segments.length,
        hint: 'raise segmentBytes or segmentMs, or lower retention',
      })
    }
    return false
  }

  /** Seals the active segment (fsynced with its indexes) and starts a new one at logEndOffset. */
  #roll(now: number): Segment {
    const old = this.#segments.at(-1)!
    if (this.#segments.length >= this.#segmentsMax)
      throw new StorageError(
        `log ${this.name} has ${this.#segments.length} segments (segmentsOpenMax) and its active segment is full; ` +
          'raise segmentBytes or lower retention',
      )
    this.#segmentCapWarned = false
    try {
      old.seal(this.deps.dfs)
      this.deps.onFdatasync()
      const next = createSegment(this.dir, old.nextOffset, this.#config.indexIntervalBytes, now)
      this.#segments.push(next)
      failpoint('roll-dirsync')
      fsyncDir(this.dir)
      // A group-commit fdatasync of a sealed segment still in flight may yet report a writeback error that the seal's
      // fdatasync of the same fd did not see (Linux reports an error once per open file): the sealed records count as
      // durable once it returns success (flushRound), not before.
      if (old.syncing || this.#sealedPending >= 0) this.#sealedPending = old.nextOffset
      else this.#advanceDurable(old.nextOffset)
      this.deps.onRolled()
      return next
    } catch (err) {
      throw this.#goOffline(
        new PartitionOfflineError(
          `log ${this.name} is offline: rolling ${old.logPath} failed: ${(err as Error).message}`,
          { cause: err },
        ),
      )
    }
  }

  #notify(): void {
    this.#call(this.#listeners, this.logEndOffset, 'onAppend')
  }

  #call(listeners: Set<(offset: number) => void>, offset: number, what: string): void {
    for (const listener of listeners) {
      try {
        listener(offset)
      } catch (err) {
        this.deps.logger.warn(`${what} listener threw`, { log: this.name, error: (err as Error).message })
      }
    }
  }

  onAppend(listener: (logEndOffset: number) => void): () => void {
    return this.#subscribe(this.#listeners, listener, 'append')
  }

  onDurable(listener: (durableOffset: number) => void): () => void {
    return this.#subscribe(this.#durableListeners, listener, 'durable')
  }

  #subscribe(listeners: Set<(offset: number) => void>, listener: (offset: number) => void, what: string): () => void {
    this.#check()
    if (listeners.size >= LIMITS.appendListenersMax)
      throw new StorageError(`log ${this.name} has ${listeners.size} ${what} listeners (appendListenersMax)`, {
        retriable: true,
      })
    listeners.add(listener)
    return () => {
      listeners.delete(listener)
    }
  }

  // ---- durability -------------------------------------------------------------------------------------------

  waitDurable(offset: number): Promise<void> {
    try {
      this.#check()
      if (!Number.isSafeInteger(offset)) throw new InvalidArgumentError(`offset must be a safe integer, got ${offset}`)
      if (this.#config.flush !== 'sync' || offset < this.#durableOffset) return Promise.resolve()
      if (offset >= this.logEndOffset)
        throw new InvalidArgumentError(`offset ${offset} is not appended yet (logEndOffset ${this.logEndOffset})`)
      const waiting = this.#waiters.add(offset)
      this.deps.flusher.request(this)
      return waiting
    } catch (err) {
      return Promise.reject(err as Error)
    }
  }

  /** One fdatasync of the active segment covering everything appended before it started (group commit round). */
  async flushRound(): Promise<void> {
    if (this.#offlineError !== null || this.#closed) return
    const target = this.logEndOffset
    if (target <= this.#durableOffset) return this.#waiters.resolveBelow(this.#durableOffset)
    const segment = this.#segments.at(-1)!
    const truncations = this.#truncations
    try {
      await segment.sync(this.deps.dfs)
      this.deps.onFdatasync()
    } catch (err) {
      this.#goOffline(
        new PartitionOfflineError(
          `log ${this.name} is offline: fdatasync of ${segment.logPath} failed (${(err as Error).message}); a failed fsync is never retried`,
          { cause: err },
        ),
      )
      return
    }
    failpoint('fsync-ack')
    // A log that went offline meanwhile (a failed roll or truncation fdatasync of the same file) believes no success
    // that returns later: Linux reports a writeback error once per open file, so the other fdatasync may have taken
    // the error for pages this one waited on.
    if (this.#offlineError !== null) return
    if (truncations !== this.#truncations) return
    const sealed = this.#sealedPending
    this.#sealedPending = -1
    this.#advanceDurable(Math.max(target, sealed))
  }

  #advanceDurable(offset: number): void {
    const advanced = offset > this.#durableOffset
    if (advanced) this.#durableOffset = offset
    this.#waiters.resolveBelow(this.#durableOffset)
    if (advanced) this.#call(this.#durableListeners, this.#durableOffset, 'onDurable')
  }

  #startTimer(): void {
    this.#stopTimer()
    if (this.#config.flush !== 'interval' || this.#offlineError !== null) return
    this.#timer = setInterval(() => {
      if (this.logEndOffset > this.#durableOffset) this.deps.flusher.request(this)
    }, this.#config.flushIntervalMs)
    this.#timer.unref()
  }

  #stopTimer(): void {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
  }

  /** Queues a flush regardless of policy (checkpoint, close). */
  requestFlush(): void {
    if (this.#offlineError === null && !this.#closed && this.logEndOffset > this.#durableOffset)
      this.deps.flusher.request(this)
  }

  // ---- reads ------------------------------------------------------------------------------------------------

  /** Index of the segment holding `offset` (the last one whose base is <= offset). */
  #segmentIndexFor(offset: number): number {
    let lo = 0
    let hi = this.#segments.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1
      if (this.#segments[mid]!.baseOffset <= offset) lo = mid
      else hi = mid - 1
    }
    return lo
  }

  #checkOffset(offset: number): void {
    if (!Number.isSafeInteger(offset)) throw new InvalidArgumentError(`offset must be a safe integer, got ${offset}`)
    if (offset < this.#logStartOffset || offset > this.logEndOffset)
      throw new OffsetOutOfRangeError(offset, this.#logStartOffset, this.logEndOffset, `log ${this.name}`)
  }

  read(offset: number, maxBytes: number, options: ReadOptions = {}): ReadResult {
    this.#check()
    this.#checkOffset(offset)
    const result = (records: Buffer): ReadResult => ({
      records,
      logStartOffset: this.#logStartOffset,
      logEndOffset: this.logEndOffset,
    })
    if (offset === this.logEndOffset) return result(Buffer.alloc(0))
    const budgetMax = Math.min(Math.max(0, maxBytes), LIMITS.fetchBytesMax)
    return this.#guard(() => {
      const parts: Buffer[] = []
      let i = this.#segmentIndexFor(offset)
      let segment = this.#segments[i]!
      const hint = this.#readHint
      let start: BatchStart =
        hint !== null && hint.offset === offset && hint.segment === segment && hint.position < segment.sizeBytes
          ? { position: hint.position, baseOffset: hint.offset }
          : segment.findPosition(offset)
      let budget = budgetMax
      let end = start.position
      // One turn per segment, at most segmentCount turns.
      for (;;) {
        const chunk = segment.read(
          start.position,
          budget,
          parts.length === 0 && options.atLeastOne !== false,
          start.baseOffset,
          options.allocate,
        )
        if (chunk.length > 0) parts.push(chunk)
        budget -= chunk.length
        end = start.position + chunk.length
        if (budget <= 0 || end < segment.sizeBytes || ++i >= this.#segments.length) break
        segment = this.#segments[i]!
        start = { position: 0, baseOffset: segment.baseOffset }
      }
      const records = parts.length === 1 ? parts[0]! : Buffer.concat(parts)
      const last = lastOffsetOf(records)
      this.#readHint = last === null ? null : { offset: last + 1, segment, position: end }
      return result(records)
    })
  }

  offsetForTimestamp(timestamp: number): number | null {
    this.#check()
    if (!Number.isFinite(timestamp)) throw new InvalidArgumentError(`timestamp must be a number, got ${timestamp}`)
    return this.#guard(() => {
      for (let i = this.#segmentIndexFor(this.#logStartOffset); i < this.#segments.length; i++) {
        const segment = this.#segments[i]!
        if (segment.maxTimestamp < timestamp || segment.nextOffset <= this.#logStartOffset) continue
        const before = segment.timeIndex.lastRelativeOffsetBefore(timestamp)
        const from = Math.max(before >= 0 ? segment.baseOffset + before + 1 : segment.baseOffset, this.#logStartOffset)
        if (from >= segment.nextOffset) continue
        let found: number | null = null
        const start = segment.findPosition(from)
        segment.walkHeaders(
          start.position,
          segment.sizeBytes,
          (position, h) => {
            if (h.maxTimestamp < timestamp) return true
            const batch = segment.readAt(position, h.batchBytes)
            for (const r of decodeRecords(batch, 0, from, h)) {
              if (r.timestamp >= timestamp) {
                found = r.offset
                return false
              }
            }
            return true
          },
          start.baseOffset,
        )
        if (found !== null) return found
      }
      return null
    })
  }

  // ---- truncation and retention -----------------------------------------------------------------------------

  /**
   * Removes every record at or above `offset`. Truncation works on whole batches: when `offset` falls inside a batch,
   * that whole batch goes and logEndOffset becomes its base offset.
   */
  truncateTo(offset: number): void {
    this.#check()
    if (!Number.isSafeInteger(offset)) throw new InvalidArgumentError(`offset must be a safe integer, got ${offset}`)
    if (offset >= this.logEndOffset) return
    if (offset < this.#logStartOffset)
      throw new OffsetOutOfRangeError(offset, this.#logStartOffset, this.logEndOffset, `log ${this.name}`)
    // A failure part way (a segment deleted, the file cut but its fdatasync failed) leaves the files and this object
    // out of step, and a failed fdatasync is never retried: the log goes offline, as after a failed roll.
    try {
      this.#truncate(offset)
    } catch (err) {
      throw this.#goOffline(
        new PartitionOfflineError(
          `log ${this.name} is offline: truncating to offset ${offset} failed: ${(err as Error).message}`,
          { cause: err },
        ),
      )
    }
  }

  #truncate(offset: number): void {
    this.#truncations++
    this.#sealedPending = -1
    this.#readHint = null
    const i = this.#segmentIndexFor(offset)
    let segment = this.#segments[i]!
    const { position, baseOffset: newEnd } = segment.findPosition(offset)
    for (const later of this.#segments.splice(i + 1)) later.delete()
    if (position === 0 && i > 0) {
      this.#segments.pop()!.delete()
      segment = this.#segments.at(-1)!
    } else {
      segment.truncateTo(position, newEnd)
      this.deps.dfs.fdatasyncSync(segment.fd)
    }
    segment.activate()
    fsyncDir(this.dir)
    if (this.#durableOffset > newEnd) this.#durableOffset = newEnd
    this.deps.lowerRecoveryPoint(this.name, newEnd)
    if (this.#logStartOffset > newEnd) this.#setLogStartOffset(newEnd)
    this.#waiters.rejectFrom(newEnd, new StorageError(`log ${this.name} was truncated to offset ${newEnd}`))
  }

  #setLogStartOffset(offset: number): void {
    writeFileAtomic(path.join(this.dir, LOG_START_OFFSET_FILE), JSON.stringify({ version: 1, logStartOffset: offset }))
    this.#logStartOffset = offset
  }

  /** Deletes the non-active segments that lie wholly below logStartOffset. */
  #deleteSegmentsBelowStart(): RetentionResult {
    return this.#deleteSegmentsBelow(this.#logStartOffset)
  }

  /** Deletes the non-active segments that lie wholly below `offset` (at most logStartOffset, or the start being set). */
  #deleteSegmentsBelow(offset: number): RetentionResult {
    let deletedSegments = 0
    let deletedBytes = 0
    while (this.#segments.length > 1 && this.#segments[0]!.nextOffset <= offset) {
      const segment = this.#segments.shift()!
      deletedBytes += segment.sizeBytes
      deletedSegments++
      segment.delete()
    }
    if (deletedSegments > 0) fsyncDir(this.dir)
    return { deletedSegments, deletedBytes, logStartOffset: this.#logStartOffset }
  }

  deleteRecordsBefore(offset: number): RetentionResult {
    this.#check()
    if (!Number.isSafeInteger(offset)) throw new InvalidArgumentError(`offset must be a safe integer, got ${offset}`)
    if (offset > this.logEndOffset)
      throw new OffsetOutOfRangeError(offset, this.#logStartOffset, this.logEndOffset, `log ${this.name}`)
    if (offset <= this.#logStartOffset) return this.#deleteSegmentsBelowStart()
    // The whole segments below the new start go first, then the start's own file is written: on a full disk that
    // write needs the space the deletion frees (before, deleteRecords could never free a full disk). A crash between
    // the two is safe: opening the log starts it at its first segment left, and the records from there to `offset`
    // are still whole (the call was never answered).
    const result = this.#deleteSegmentsBelow(offset)
    this.#logStartOffset = Math.max(this.#logStartOffset, this.#segments[0]!.baseOffset)
    this.#setLogStartOffset(Math.max(offset, this.#logStartOffset))
    return { ...result, logStartOffset: this.#logStartOffset }
  }

  applyRetention(nowMs: number): RetentionResult {
    this.#check()
    const { retentionMs, retentionBytes } = this.#config
    const candidates = this.#segments.slice(0, -1)
    let newStart = this.#logStartOffset
    let chosen = 0
    if (retentionMs >= 0) {
      while (chosen < candidates.length && candidates[chosen]!.maxTimestamp < nowMs - retentionMs) {
        newStart = Math.max(newStart, candidates[chosen]!.nextOffset)
        chosen++
      }
      // Every record of the active segment expired too (an idle topic): roll it and delete it, as Kafka does. Only
      // sealed segments were candidates before, so a topic that stopped receiving records kept its last segment,
      // expired records and all, for ever.
      const active = this.#segments.at(-1)!
      if (
        chosen === candidates.length &&
        active.sizeBytes > 0 &&
        active.nextOffset > this.#logStartOffset &&
        active.maxTimestamp < nowMs - retentionMs
      ) {
        this.#roll(this.deps.clock())
        newStart = Math.max(newStart, active.nextOffset)
        candidates.push(active)
        chosen++
      }
    }
    if (retentionBytes >= 0) {
      // Kafka's rule: a segment goes only if the log keeps at least retentionBytes without it. Deleting down to at
      // most retentionBytes instead left a partition with almost no history right after each roll whenever
      // retentionBytes was below the segment size (the default segment is 128 MiB).
      let size = this.sizeBytes
      for (let i = 0; i < chosen; i++) size -= candidates[i]!.sizeBytes
      while (chosen < candidates.length && size - candidates[chosen]!.sizeBytes >= retentionBytes) {
        size -= candidates[chosen]!.sizeBytes
        newStart = Math.max(newStart, candidates[chosen]!.nextOffset)
        chosen++
      }
    }
    if (newStart > this.#logStartOffset) this.#setLogStartOffset(newStart)
    return this.#deleteSegmentsBelowStart()
  }

  reconfigure(config: LogConfig): void {
    this.#check()
    const previous = this.#config
    this.#config = resolveLogConfig(config)
    if (previous.flush !== this.#config.flush || previous.flushIntervalMs !== this.#config.flushIntervalMs)
      this.#startTimer()
    if (this.#config.flush !== 'sync') {
      // waiters of a policy that no longer waits for fsync resolve now, as new calls would
      this.#waiters.resolveAll()
    }
  }

  // ---- lifecycle --------------------------------------------------------------------------------------------

  /** Fsyncs everything (any policy) and closes the files. Waiters the final sync covers resolve. */
  close(): void {
    if (this.#closed) return
    this.#stopTimer()
    this.#listeners.clear()
    this.#durableListeners.clear()
    if (this.#offlineError === null) {
      const active = this.#segments.at(-1)!
      try {
        active.releasePreallocated()
        this.deps.dfs.fdatasyncSync(active.fd)
        this.deps.onFdatasync()
        active.syncIndexes()
        this.#advanceDurable(this.logEndOffset)
      } catch (err) {
        this.#goOffline(
          new PartitionOfflineError(`log ${this.name} is offline: final fdatasync failed (${(err as Error).message})`, {
            cause: err,
          }),
        )
      }
    }
    this.#closed = true
    const closed = new ClosedError(`log ${this.name}`)
    this.#waiters.rejectAll(closed)
    for (const s of this.#segments) s.close()
  }

  /** Flushes the active segment's index files (checkpoint). */
  syncIndexes(): void {
    if (this.#offlineError === null && !this.#closed) this.#segments.at(-1)!.syncIndexes()
  }

  /** As syncIndexes, off the event loop. */
  async syncIndexesAsync(): Promise<void> {
    if (this.#offlineError === null && !this.#closed) await this.#segments.at(-1)!.syncIndexesAsync()
  }

  /** Bumped by every truncation: a checkpoint taken across one must not raise this log's recovery point. */
  get truncationCount(): number {
    return this.#truncations
  }
}

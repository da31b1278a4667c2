// An in-memory StorageApi/PartitionLogApi test double: same contract as the real engine (validation, offsets written
// into the batch, whole-batch reads, segments rolled by size, retention on whole non-active segments, onAppend), no
// files. Logs live in a process-wide map keyed by dataDir, so "reopening" a data dir sees what an earlier instance
// wrote — enough to test restart logic above storage. Test-only: excluded from the build.
import { CorruptRecordError, PartitionOfflineError, StorageError } from '../errors.js'
import type {
  AppendResult,
  LogConfig,
  PartitionLogApi,
  ReadOptions,
  ReadResult,
  RetentionResult,
  StorageApi,
  StorageOptions,
} from '../storage/api.js'
import { decodeRecords, setBaseOffset, validateBatch } from '../storage/record-batch.js'

interface StoredBatch {
  baseOffset: number
  lastOffset: number
  maxTimestamp: number
  bytes: Buffer
}

interface Segment {
  baseOffset: number
  sizeBytes: number
  batches: StoredBatch[]
}

export class MemoryPartitionLog implements PartitionLogApi {
  #segments: Segment[] = []
  #logStartOffset = 0
  #logEndOffset = 0
  #listeners = new Set<(logEndOffset: number) => void>()
  #durableListeners = new Set<(durableOffset: number) => void>()
  /** Set through `takeOffline` by tests: every call then fails as an offline partition's would. */
  offlineError: Error | null = null
  constructor(
    readonly name: string,
    public config: LogConfig,
  ) {}

  get logStartOffset(): number {
    return this.#logStartOffset
  }
  get logEndOffset(): number {
    return this.#logEndOffset
  }
  get sizeBytes(): number {
    return this.#segments.reduce((sum, s) => sum + s.sizeBytes, 0)
  }
  get segmentCount(): number {
    return Math.max(1, this.#segments.length)
  }

  #checkOnline(): void {
    if (this.offlineError !== null) throw this.offlineError
  }

  takeOffline(reason: string): void {
    this.offlineError = new PartitionOfflineError(`${this.name} is offline: ${reason}`)
  }

  append(batch: Buffer): AppendResult {
    this.#checkOnline()
    const header = validateBatch(batch)
    if (header.batchBytes !== batch.length)
      throw new CorruptRecordError(`${batch.length - header.batchBytes} bytes follow the batch`)
    const baseOffset = this.#logEndOffset
    setBaseOffset(batch, 0, baseOffset)
    const stored: StoredBatch = {
      baseOffset,
      lastOffset: baseOffset + header.lastOffsetDelta,
      maxTimestamp: header.timestampType === 'logAppend' ? Date.now() : header.maxTimestamp,
      bytes: Buffer.from(batch),
    }
    let active = this.#segments.at(-1)
    if (active === undefined || (active.sizeBytes > 0 && active.sizeBytes + batch.length > this.config.segmentBytes)) {
      active = { baseOffset, sizeBytes: 0, batches: [] }
      this.#segments.push(active)
    }
    const position = active.sizeBytes
    active.batches.push(stored)
    active.sizeBytes += batch.length
    this.#logEndOffset = stored.lastOffset + 1
    for (const listener of [...this.#listeners]) listener(this.#logEndOffset)
    for (const listener of [...this.#durableListeners]) listener(this.#logEndOffset)
    return {
      baseOffset,
      lastOffset: stored.lastOffset,
      timestamp: stored.maxTimestamp,
      position,
      logStartOffset: this.#logStartOffset,
    }
  }

  async waitDurable(_offset: number): Promise<void> {
    this.#checkOnline()
    await Promise.resolve()
  }

  #batches(): StoredBatch[] {
    return this.#segments.flatMap((s) => s.batches)
  }

  read(offset: number, maxBytes: number, options: ReadOptions = {}): ReadResult {
    const allocate = options.allocate
    this.#checkOnline()
    const parts: Buffer[] = []
    let bytes = 0
    for (const b of this.#batches()) {
      if (b.lastOffset < offset || b.lastOffset < this.#logStartOffset) continue
      if ((parts.length > 0 || options.atLeastOne === false) && bytes + b.bytes.length > maxBytes) break
      parts.push(b.bytes)
      bytes += b.bytes.length
    }
    const records = allocate === undefined || bytes === 0 ? Buffer.allocUnsafe(bytes) : allocate(bytes)
    let at = 0
    for (const part of parts) at += part.copy(records, at)
    return { records, logStartOffset: this.#logStartOffset, logEndOffset: this.#logEndOffset }
  }

  offsetForTimestamp(timestamp: number): number | null {
    this.#checkOnline()
    for (const b of this.#batches()) {
      if (b.maxTimestamp < timestamp || b.lastOffset < this.#logStartOffset) continue
      for (const r of decodeRecords(b.bytes)) {
        if (r.timestamp >= timestamp && r.offset >= this.#logStartOffset) return r.offset
      }
    }
    return null
  }

  truncateTo(offset: number): void {
    this.#checkOnline()
    for (const s of this.#segments) s.batches = s.batches.filter((b) => b.baseOffset < offset)
    this.#segments = this.#segments.filter((s, i) => i === 0 || s.batches.length > 0)
    for (const s of this.#segments) s.sizeBytes = s.batches.reduce((sum, b) => sum + b.bytes.length, 0)
    this.#logEndOffset = Math.min(this.#logEndOffset, Math.max(offset, this.#logStartOffset))
  }

  #deleteFront(keep: (s: Segment) => boolean): RetentionResult {
    let deletedSegments = 0
    let deletedBytes = 0
    while (this.#segments.length > 1 && !keep(this.#segments[0]!)) {
      const s = this.#segments.shift()!
      deletedSegments++
      deletedBytes += s.sizeBytes
      this.#logStartOffset = Math.max(this.#logStartOffset, this.#segments[0]!.baseOffset)
    }
    return { deletedSegments, deletedBytes, logStartOffset: this.#logStartOffset }
  }

  deleteRecordsBefore(offset: number): RetentionResult {
    this.#checkOnline()
    const result = this.#deleteFront((s) => (s.batches.at(-1)?.lastOffset ?? -1) >= offset)
    this.#logStartOffset = Math.max(this.#logStartOffset, Math.min(offset, this.#logEndOffset))
    return { ...result, logStartOffset: this.#logStartOffset }
  }

  applyRetention(nowMs: number): RetentionResult {
    this.#checkOnline()
    const { retentionMs, retentionBytes } = this.config
    let deletedSegments = 0
    let deletedBytes = 0
    if (retentionMs >= 0) {
      const r = this.#deleteFront((s) => Math.max(...s.batches.map((b) => b.maxTimestamp)) > nowMs - retentionMs)
      deletedSegments += r.deletedSegments
      deletedBytes += r.deletedBytes
    }
    if (retentionBytes >= 0) {
      const r = this.#deleteFront((s) => this.sizeBytes - s.sizeBytes < retentionBytes)
      deletedSegments += r.deletedSegments
      deletedBytes += r.deletedBytes
    }
    return { deletedSegments, deletedBytes, logStartOffset: this.#logStartOffset }
  }

  reconfigure(config: LogConfig): void {
    this.config = config
  }

  onAppend(listener: (logEndOffset: number) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Memory has no power cut to survive: everything appended counts as durable at once. */
  get durableOffset(): number {
    return this.#logEndOffset
  }

  onDurable(listener: (durableOffset: number) => void): () => void {
    this.#durableListeners.add(listener)
    return () => this.#durableListeners.delete(listener)
  }

  requestFlush(): void {}
}

const dataDirs = new Map<string, Map<string, MemoryPartitionLog>>()

export class MemoryStorage implements StorageApi {
  #closed = false
  readonly wasCleanShutdown = true
  readonly #logs: Map<string, MemoryPartitionLog>

  constructor(readonly dataDir: string) {
    let logs = dataDirs.get(dataDir)
    if (logs === undefined) {
      logs = new Map()
      dataDirs.set(dataDir, logs)
    }
    this.#logs = logs
  }

  log(name: string): MemoryPartitionLog | undefined {
    return this.#logs.get(name)
  }

  async openLog(name: string, config: LogConfig): Promise<PartitionLogApi> {
    if (this.#closed) throw new StorageError('storage is closed')
    await Promise.resolve()
    let log = this.#logs.get(name)
    if (log === undefined) {
      log = new MemoryPartitionLog(name, config)
      this.#logs.set(name, log)
    } else log.reconfigure(config)
    return log
  }

  async deleteLog(name: string): Promise<void> {
    await Promise.resolve()
    this.#logs.delete(name)
  }

  async checkpoint(): Promise<void> {
    await Promise.resolve()
  }

  async close(): Promise<void> {
    this.#closed = true
    await Promise.resolve()
  }
}

/** Same shape as the real `openStorage(dataDir, options)`. */
export async function openMemoryStorage(dataDir: string, _options: StorageOptions = {}): Promise<MemoryStorage> {
  await Promise.resolve()
  return new MemoryStorage(dataDir)
}

/** Forgets every log of a data dir (test cleanup). */
export function forgetMemoryDataDir(dataDir: string): void {
  dataDirs.delete(dataDir)
}

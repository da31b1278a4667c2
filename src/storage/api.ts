// The contract between the storage engine and the layers above it (topics, offsets, broker). Storage knows bytes,
// offsets and relative log names ("topics/orders/0"); nothing of topics, groups or sockets.
//
// Appends and reads are synchronous (one write(2)/read(2) against the page cache, no thread-pool hop); durability is
// asynchronous: `waitDurable(offset)` resolves once an fdatasync covers that offset under the log's flush policy.
// Every method of an offline log throws its PartitionOfflineError.

export type FlushPolicy = 'sync' | 'interval' | 'os'

export interface LogConfig {
  /** Roll the active segment when it would exceed this. @default 128 MiB */
  segmentBytes: number
  /** Roll the active segment when its first batch is older than this. @default 7 days */
  segmentMs: number
  /** One offset-index and time-index entry per this many log bytes. @default 4096 */
  indexIntervalBytes: number
  /** A full index rolls the segment. @default 10 MiB */
  indexBytesMax: number
  /** Delete whole segments whose newest record is older than this; -1 keeps forever. @default 7 days */
  retentionMs: number
  /** Delete oldest segments while the log is larger than this; -1 = no limit. @default -1 */
  retentionBytes: number
  /** @default 'sync' */
  flush: FlushPolicy
  /** For flush 'interval'. @default 1000 */
  flushIntervalMs: number
  /** Segments a log keeps at most; past it, size and age rolls are skipped (tests lower it). @default
   *  LIMITS.segmentsOpenMax */
  segmentsMax?: number
}

export interface AppendResult {
  baseOffset: number
  lastOffset: number
  /** The batch's maxTimestamp, or the log-append time when the batch asks for it. */
  timestamp: number
  /** Byte position of the batch inside its segment. */
  position: number
  logStartOffset: number
}

/**
 * Hands out a Buffer of exactly `bytes` bytes for a read to fill. A caller that reuses memory this way (the TCP server,
 * once a response is written) owns what it hands out: storage keeps no reference to it after `read` returns.
 */
export type ReadAllocator = (bytes: number) => Buffer

export interface ReadOptions {
  allocate?: ReadAllocator | undefined
  /** Return the first batch even when it is larger than maxBytes. @default true */
  atLeastOne?: boolean
}

export interface ReadResult {
  /** Whole batches, concatenated, starting with the batch that holds `offset`; empty at the log end. */
  records: Buffer
  logStartOffset: number
  logEndOffset: number
}

export interface RetentionResult {
  deletedSegments: number
  deletedBytes: number
  logStartOffset: number
}

export interface PartitionLogApi {
  readonly name: string
  readonly logStartOffset: number
  /** The offset the next appended record gets. */
  readonly logEndOffset: number
  /** Bytes of all segments. */
  readonly sizeBytes: number
  readonly segmentCount: number
  /** Null while healthy; the error every call throws once offline. */
  readonly offlineError: Error | null

  /**
   * Validates the batch (CRC, structure), writes `baseOffset = logEndOffset` into it (in place) and appends it with one
   * write. Throws CorruptRecordError for a bad batch and changes nothing on disk.
   */
  append(batch: Buffer): AppendResult
  /** Resolves once everything up to `offset` is durable under the flush policy ('interval'/'os' resolve at once). */
  waitDurable(offset: number): Promise<void>
  /**
   * Whole batches from the one holding `offset`, up to `maxBytes`, except that at least one batch is returned when
   * there is one (unless `options.atLeastOne` is false: then only batches that fit). The bytes are read into buffers
   * from `options.allocate` when given (the records may be a view of one), else fresh ones.
   */
  read(offset: number, maxBytes: number, options?: ReadOptions): ReadResult
  /** First offset whose record timestamp is >= `timestamp`, or null when none is. */
  offsetForTimestamp(timestamp: number): number | null
  /** Removes every record at or above `offset`. */
  truncateTo(offset: number): void
  /** Deletes whole segments below `offset` (never the active one) and advances logStartOffset to `offset`. */
  deleteRecordsBefore(offset: number): RetentionResult
  /** Time and size retention; never the active segment. */
  applyRetention(nowMs: number): RetentionResult
  /** Change retention/segment/flush settings at run time. */
  reconfigure(config: LogConfig): void
  /** Subscribes to appends (long-poll); returns an unsubscribe function. */
  onAppend(listener: (logEndOffset: number) => void): () => void
  /** Offsets below this are fdatasynced (a power cut cannot take them); at a batch boundary, <= logEndOffset. */
  readonly durableOffset: number
  /** Subscribes to advances of durableOffset (long-polls of readers that see durable records only). */
  onDurable(listener: (durableOffset: number) => void): () => void
  /** Asks for an fdatasync of what is appended, whatever the flush policy (a reader is waiting for it). */
  requestFlush(): void
}

export interface StorageOptions {
  /** Warnings and recovery reports (what was cut, what went offline). */
  logger?: StorageLogger
  /** Flush for 'interval' logs. @default 1000 */
  flushIntervalMs?: number
}

export interface StorageLogger {
  info(message: string, fields?: Record<string, unknown>): void
  warn(message: string, fields?: Record<string, unknown>): void
  error(message: string, fields?: Record<string, unknown>): void
}

export interface StorageApi {
  readonly dataDir: string
  /** False when the previous process did not close cleanly (recovery ran). */
  readonly wasCleanShutdown: boolean
  /** Opens (creating when absent, recovering when needed) the log under `<dataDir>/<name>`. */
  openLog(name: string, config: LogConfig): Promise<PartitionLogApi>
  /** Closes and removes a log's directory. */
  deleteLog(name: string): Promise<void>
  /** Flushes every log and writes the recovery-point checkpoint. */
  checkpoint(): Promise<void>
  /** Flush, checkpoint, write the clean-shutdown marker, release the lock. Idempotent. */
  close(): Promise<void>
}

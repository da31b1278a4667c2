// Every limit and default of Sluice in one place (DESIGN.md §10). Bounds end in `Max`; units come last in names.
// Relationships between limits are asserted at load so a bad edit fails at start-up, not under load.
import { assert } from '../util/assert.js'

export const KiB = 1024
export const MiB = 1024 * KiB
export const GiB = 1024 * MiB

/** RecordBatch v2 header bytes before the first record. */
export const BATCH_HEADER_BYTES = 61

export const LIMITS = Object.freeze({
  /** Largest record batch (and so largest record) a producer may send. */
  recordBytesMax: 1 * MiB,
  /** Largest wire frame; checked before any allocation. */
  frameBytesMax: 64 * MiB,
  /** Records in one batch. */
  batchRecordsMax: 1_000_000,
  /** Headers on one record. */
  recordHeadersMax: 1_000,
  /** Partitions of one topic. */
  partitionsMax: 10_000,
  /** Topic name length (Kafka's rule). */
  topicNameLengthMax: 249,
  /** Group id length. */
  groupIdLengthMax: 255,
  /** In-flight requests per connection. */
  inFlightRequestsMax: 64,
  /** Connections one server accepts at once. */
  connectionsMax: 1_024,
  /** Bytes one fetch may return. */
  fetchBytesMax: 32 * MiB,
  /** Long-poll wait of one fetch. */
  fetchWaitMsMax: 30_000,
  /** Messages one `eachBatch` call may carry (the consumer's `maxBatchMessages`). */
  batchMessagesMax: 1_000_000,
  /** How long a listOffsets with visibility 'durable' waits for the fsync of what is appended (then it answers the
   *  durable end as it stands). */
  listOffsetsDurableWaitMsMax: 30_000,
  /** Members of one group. */
  groupMembersMax: 1_000,
  /** Segments one partition may hold open as file handles. */
  segmentsOpenMax: 10_000,
  /** onAppend listeners (long-polls) one partition log holds at once. */
  appendListenersMax: 10_000,
  /** waitDurable() calls one partition log holds pending at once. */
  durableWaitersMax: 1_000_000,
  /** Pending sends a producer buffers before `send` waits. */
  producerBufferBytesMax: 64 * MiB,
  /** Batch buffers one producer keeps for reuse once their batches are answered: this many batchBytes' worth. */
  producerPooledBatchBuffersMax: 16,
  /** send()/sendBatch() calls one producer holds waiting for buffer space or topic metadata; more fail fast. */
  producerBlockedSendsMax: 1_000_000,
  /** Values (every array, map key and entry, string, number …) one message body may decode to: the count per byte
   *  is bounded by the frame already, but a 64 MiB array of empty maps is 67 M objects, several GB of heap. */
  msgpackValuesMax: 1_000_000,
  /** Consumer groups one broker holds (those with members or commits); a commit or join for a new one past it is
   *  refused. */
  groupsMax: 100_000,
  /** Metadata string on an offset commit. */
  commitMetadataBytesMax: 4 * KiB,
  /** Topics one broker holds (internal ones included). */
  topicsMax: 10_000,
  /** Partitions one fetch request names. */
  fetchPartitionsMax: 10_000,
  /** Fetches long-polling at once on one broker; past it a fetch at the log end answers empty at once. */
  fetchWaitersMax: 10_000,
  /** Idempotent producers whose sequence state one partition keeps (least recently used forgotten first). */
  producerStatesMax: 10_000,
  /** Log bytes per partition scanned at open to rebuild idempotent-producer state. */
  producerStateScanBytesMax: 32 * MiB,
})

export const DEFAULTS = Object.freeze({
  host: '127.0.0.1',
  port: 7171,
  dataDir: './data',
  segmentBytes: 128 * MiB,
  segmentMs: 7 * 24 * 3600 * 1000,
  indexIntervalBytes: 4096,
  /** Index file size cap; a full index rolls the segment. */
  indexBytesMax: 10 * MiB,
  retentionMs: 7 * 24 * 3600 * 1000,
  retentionBytes: -1,
  /** How far past the broker's clock a record's create time may be (Kafka 4's default); -1: no bound. */
  timestampAfterMaxMs: 3_600_000,
  retentionCheckIntervalMs: 60_000,
  flush: 'sync' as const,
  flushIntervalMs: 1_000,
  partitions: 1,
  sessionTimeoutMs: 10_000,
  heartbeatIntervalMs: 1_000,
  maxPollIntervalMs: 300_000,
  autoCommitIntervalMs: 5_000,
  /** 0: a batch leaves on the next turn of the event loop with the records sent in this one; under load records
   *  still gather while a partition's batches are in flight. A user's trial: an awaited send() took 6.3 ms at 5 (the
   *  linger), 0.34 ms at 0; 100 concurrent sends 15-16 k/s against 179-193 k/s. */
  lingerMs: 0,
  batchBytes: 1 * MiB,
  requestTimeoutMs: 30_000,
  fetchMaxBytes: 1 * MiB,
  fetchMaxWaitMs: 500,
  /** Messages one `eachBatch` call carries at most; a fetch's records beyond it go to the next calls. */
  maxBatchMessages: 8_192,
  idleTimeoutMs: 10 * 60_000,
  handshakeTimeoutMs: 10_000,
})

assert(DEFAULTS.batchBytes <= LIMITS.recordBytesMax, 'default batchBytes must fit recordBytesMax')
assert(LIMITS.recordBytesMax < LIMITS.frameBytesMax, 'a batch must fit in one frame')
assert(DEFAULTS.fetchMaxBytes <= LIMITS.fetchBytesMax, 'default fetch size must fit the fetch limit')
assert(LIMITS.fetchBytesMax < LIMITS.frameBytesMax, 'a fetch response must fit in one frame')
assert(DEFAULTS.heartbeatIntervalMs < DEFAULTS.sessionTimeoutMs, 'heartbeats must come faster than the session timeout')
assert(DEFAULTS.indexIntervalBytes > 0 && DEFAULTS.segmentBytes > BATCH_HEADER_BYTES, 'segment limits are sane')

// Every error class Sluice raises, in one catalogue. Operating errors are typed and carry a stable `code` (the wire
// carries the code; the client rebuilds the same class with `errorFromWire`). Programmer errors are assertions
// (util/assert.ts) and are never sent over the wire. `retriable` tells a caller whether the same request may succeed
// later without any change on its side.

export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'INVALID_CONFIG'
  | 'UNKNOWN_TOPIC'
  | 'TOPIC_EXISTS'
  | 'UNKNOWN_PARTITION'
  | 'OFFSET_OUT_OF_RANGE'
  | 'NO_COMMITTED_OFFSET'
  | 'CORRUPT_RECORD'
  | 'RECORD_TOO_LARGE'
  | 'INVALID_TIMESTAMP'
  | 'RECORD_DECODE'
  | 'STORAGE'
  | 'DISK_FULL'
  | 'PARTITION_OFFLINE'
  | 'DATA_DIR_LOCKED'
  | 'CLOSED'
  | 'TIMEOUT'
  | 'FRAME_TOO_LARGE'
  | 'PROTOCOL'
  | 'CONNECTION'
  | 'UNKNOWN_GROUP'
  | 'UNKNOWN_MEMBER'
  | 'FENCED_MEMBER_EPOCH'
  | 'NOT_OWNER'
  | 'REBALANCE_IN_PROGRESS'
  | 'GROUP_NOT_EMPTY'
  | 'DUPLICATE_SEQUENCE'
  | 'OUT_OF_ORDER_SEQUENCE'
  | 'INVALID_PRODUCER_EPOCH'
  | 'AUTHENTICATION'
  | 'NOT_AUTHENTICATED'
  | 'UNSUPPORTED_VERSION'
  | 'INTERNAL'

export abstract class SluiceError extends Error {
  abstract readonly code: ErrorCode
  abstract readonly retriable: boolean
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
  }
}

// ---- caller mistakes -------------------------------------------------------------------------------------------

export class InvalidArgumentError extends SluiceError {
  readonly code = 'INVALID_ARGUMENT'
  readonly retriable = false
}

/** Lists every problem found in a config object at once, not just the first. */
export class InvalidConfigError extends SluiceError {
  readonly code = 'INVALID_CONFIG'
  readonly retriable = false
  constructor(
    readonly problems: readonly string[],
    what = 'config',
  ) {
    super(`invalid ${what}: ${problems.join('; ')}`)
  }
}

export class RecordTooLargeError extends SluiceError {
  readonly code = 'RECORD_TOO_LARGE'
  readonly retriable = false
}

/** A batch's record timestamp lies further past the broker's clock than the topic's timestampAfterMaxMs allows. */
export class InvalidTimestampError extends SluiceError {
  readonly code = 'INVALID_TIMESTAMP'
  readonly retriable = false
}

/** A record's key or value that the consumer's (or replay's) codec could not decode; the codec's error is the cause.
 *  The record is intact on the log: seek past `offset` to go on without it, or read it with the 'buffer' codec. */
export class RecordDecodeError extends SluiceError {
  readonly code = 'RECORD_DECODE'
  readonly retriable = false
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly offset: number,
    readonly field: string,
    options?: ErrorOptions,
  ) {
    const reason = options?.cause instanceof Error ? options.cause.message : String(options?.cause ?? 'unknown')
    super(`the ${field} of ${topic}/${partition} at offset ${offset} could not be decoded: ${reason}`, options)
  }
}

export class UnsupportedVersionError extends SluiceError {
  readonly code = 'UNSUPPORTED_VERSION'
  readonly retriable = false
}

// ---- expected conditions ---------------------------------------------------------------------------------------

export class UnknownTopicError extends SluiceError {
  readonly code = 'UNKNOWN_TOPIC'
  readonly retriable = false
  constructor(readonly topic: string) {
    super(`unknown topic "${topic}"`)
  }
}

export class TopicExistsError extends SluiceError {
  readonly code = 'TOPIC_EXISTS'
  readonly retriable = false
  constructor(readonly topic: string) {
    super(`topic "${topic}" already exists`)
  }
}

export class UnknownPartitionError extends SluiceError {
  readonly code = 'UNKNOWN_PARTITION'
  readonly retriable = false
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly partitionCount: number,
  ) {
    super(`topic "${topic}" has no partition ${partition} (it has ${partitionCount})`)
  }
}

export class OffsetOutOfRangeError extends SluiceError {
  readonly code = 'OFFSET_OUT_OF_RANGE'
  readonly retriable = false
  /** The partition's topic and number: '' and -1 where only the storage log is known (an embedded log's own call). */
  readonly topic: string
  readonly partition: number
  constructor(
    readonly offset: number,
    readonly logStartOffset: number,
    readonly logEndOffset: number,
    where = 'log',
    of: { topic: string; partition: number } | null = null,
  ) {
    super(`offset ${offset} is outside ${where} [${logStartOffset}, ${logEndOffset}]`)
    this.topic = of?.topic ?? ''
    this.partition = of?.partition ?? -1
  }
}

/** A consumer with autoOffsetReset 'none' has no committed offset to start the partition from. */
export class NoCommittedOffsetError extends SluiceError {
  readonly code = 'NO_COMMITTED_OFFSET'
  readonly retriable = false
  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {
    super(
      `no committed offset for ${topic}/${partition} and autoOffsetReset is 'none': ` +
        'seek() to choose where to start, or set autoOffsetReset',
    )
  }
}

export class ClosedError extends SluiceError {
  readonly code = 'CLOSED'
  readonly retriable = false
  constructor(what: string) {
    super(`${what} is closed`)
  }
}

export class TimeoutError extends SluiceError {
  readonly code = 'TIMEOUT'
  readonly retriable = true
}

export class UnknownGroupError extends SluiceError {
  readonly code = 'UNKNOWN_GROUP'
  readonly retriable = false
  constructor(readonly groupId: string) {
    super(`unknown group "${groupId}"`)
  }
}

export class UnknownMemberError extends SluiceError {
  readonly code = 'UNKNOWN_MEMBER'
  readonly retriable = false
}

/** A request from a member epoch older than the coordinator's: the member must rejoin. */
export class FencedMemberEpochError extends SluiceError {
  readonly code = 'FENCED_MEMBER_EPOCH'
  readonly retriable = false
  /** A commit refused because an admin reset the partition's offset after the position was read (the member gets
   *  the new position with its next heartbeat; nothing is wrong with it). */
  readonly afterReset: boolean
  /** A static member whose groupInstanceId another process took over: it must stop, not rejoin. */
  readonly instanceReplaced: boolean
  constructor(message: string, options: { afterReset?: boolean; instanceReplaced?: boolean } = {}) {
    super(message)
    this.afterReset = options.afterReset === true
    this.instanceReplaced = options.instanceReplaced === true
  }
}

/** A commit or fetch for a partition the member does not own (anymore). */
export class NotOwnerError extends SluiceError {
  readonly code = 'NOT_OWNER'
  readonly retriable = false
}

export class RebalanceInProgressError extends SluiceError {
  readonly code = 'REBALANCE_IN_PROGRESS'
  readonly retriable = true
}

export class GroupNotEmptyError extends SluiceError {
  readonly code = 'GROUP_NOT_EMPTY'
  readonly retriable = false
}

export class DuplicateSequenceError extends SluiceError {
  readonly code = 'DUPLICATE_SEQUENCE'
  readonly retriable = false
}

export class OutOfOrderSequenceError extends SluiceError {
  readonly code = 'OUT_OF_ORDER_SEQUENCE'
  readonly retriable = false
  /** The partition has no record of this producer at all (a topic deleted and created again under its name, for
   *  one): the producer starts over under a new id rather than fail every later batch. */
  readonly producerUnknown: boolean
  constructor(message: string, options?: ErrorOptions & { producerUnknown?: boolean }) {
    super(message, options)
    this.producerUnknown = options?.producerUnknown ?? false
  }
}

export class InvalidProducerEpochError extends SluiceError {
  readonly code = 'INVALID_PRODUCER_EPOCH'
  readonly retriable = false
}

export class AuthenticationError extends SluiceError {
  readonly code = 'AUTHENTICATION'
  /** The broker was too busy to check the credentials (not that they were wrong): try again. */
  readonly busy: boolean
  /** False for refused credentials, true when busy. */
  readonly retriable: boolean
  constructor(message: string, options?: ErrorOptions & { busy?: boolean }) {
    super(message, options)
    this.busy = options?.busy ?? false
    this.retriable = this.busy
  }
}

export class NotAuthenticatedError extends SluiceError {
  readonly code = 'NOT_AUTHENTICATED'
  readonly retriable = false
}

// ---- environment -----------------------------------------------------------------------------------------------

/** A file-system failure; the fs error is the `cause`. */
export class StorageError extends SluiceError {
  readonly code: ErrorCode = 'STORAGE'
  readonly retriable: boolean
  constructor(message: string, options?: ErrorOptions & { retriable?: boolean }) {
    super(message, options)
    this.retriable = options?.retriable ?? false
  }
}

/** The disk is full (ENOSPC, EDQUOT): nothing of the request was kept, and the same request succeeds once space returns. */
export class DiskFullError extends StorageError {
  override readonly code: ErrorCode = 'DISK_FULL'
  constructor(message: string, options?: ErrorOptions) {
    super(message, { ...options, retriable: true })
  }
}

/** Bytes that fail a CRC or structure check. `file` and `position` say where, when known. */
export class CorruptRecordError extends SluiceError {
  readonly code = 'CORRUPT_RECORD'
  readonly retriable = false
  constructor(
    message: string,
    readonly file?: string,
    readonly position?: number,
    options?: ErrorOptions,
  ) {
    super(file === undefined ? message : `${message} (${file} at byte ${position ?? '?'})`, options)
  }
}

/** The partition refuses service until an operator repairs it (corruption below the synced length, failed fsync). */
export class PartitionOfflineError extends SluiceError {
  readonly code = 'PARTITION_OFFLINE'
  readonly retriable = false
}

export class DataDirLockedError extends SluiceError {
  readonly code = 'DATA_DIR_LOCKED'
  readonly retriable = false
  constructor(
    readonly dataDir: string,
    readonly holderPid: number,
    /** Where the holder runs when it is not this host's pid namespace, e.g. 'of another host or pid namespace (h)'. */
    holderWhere?: string,
  ) {
    super(
      holderPid === process.pid && holderWhere === undefined
        ? `data directory ${dataDir} is already open in this process (one Sluice.open per data dir: share it)`
        : `data directory ${dataDir} is in use by process ${holderPid}${holderWhere === undefined ? '' : ` ${holderWhere}`}; ` +
            'if a broker is running there, connect to it instead (Sluice.connect, or --broker host:port); ' +
            "if this directory is a copy of one that process uses, the copy's .lock came with it: remove that file",
    )
  }
}

export class FrameTooLargeError extends SluiceError {
  readonly code = 'FRAME_TOO_LARGE'
  readonly retriable = false
  constructor(
    readonly frameBytes: number,
    readonly frameBytesMax: number,
  ) {
    super(`frame of ${frameBytes} bytes exceeds frameBytesMax ${frameBytesMax}`)
  }
}

export class ProtocolError extends SluiceError {
  readonly code = 'PROTOCOL'
  readonly retriable = false
}

/** Retriable unless the cause cannot change by retrying (a certificate the client does not trust). */
export class ConnectionError extends SluiceError {
  readonly code = 'CONNECTION'
  readonly retriable: boolean
  constructor(message: string, options?: ErrorOptions & { retriable?: boolean }) {
    super(message, options)
    this.retriable = options?.retriable ?? true
  }
}

export class InternalError extends SluiceError {
  readonly code = 'INTERNAL'
  readonly retriable = false
}

// ---- wire ------------------------------------------------------------------------------------------------------

/** The fields of an error class beyond code and message (topic, partition, offset, groupId, problems, ...). */
export type WireErrorDetails = Record<string, string | number | boolean | string[]>

export interface WireError {
  code: ErrorCode
  message: string
  /** The class's own fields, so the client's error carries the same values (absent when it has none). */
  details?: WireErrorDetails
}

/** Own fields of an error that are not Error's or SluiceError's own: what its constructor was given. */
const NOT_DETAILS = new Set(['message', 'stack', 'cause', 'code', 'retriable', 'name'])
/** Details kept at most per error, entries of a list, and string lengths: an error is a message, not a payload. */
const DETAILS_MAX = 16
const DETAIL_LIST_MAX = 256
const DETAIL_STRING_MAX = 4096

function wireDetails(err: SluiceError): WireErrorDetails | undefined {
  let details: WireErrorDetails | undefined
  let kept = 0
  for (const [key, value] of Object.entries(err)) {
    if (NOT_DETAILS.has(key) || kept >= DETAILS_MAX) continue
    const ok =
      (typeof value === 'string' && value.length <= DETAIL_STRING_MAX) ||
      typeof value === 'number' ||
      typeof value === 'boolean' ||
      (Array.isArray(value) &&
        value.length <= DETAIL_LIST_MAX &&
        value.every((v) => typeof v === 'string' && v.length <= DETAIL_STRING_MAX))
    if (!ok) continue
    details ??= {}
    details[key] = Array.isArray(value) ? [...(value as string[])] : (value as string | number | boolean)
    kept++
  }
  return details
}

export function errorToWire(err: unknown): WireError {
  if (err instanceof SluiceError) {
    const details = wireDetails(err)
    return details === undefined
      ? { code: err.code, message: err.message }
      : { code: err.code, message: err.message, details }
  }
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) }
}

/** Rebuilds the typed class for a wire error, with the fields its details carry (values of the wrong type, as a
 *  peer might send, give the field's neutral value: '' or -1). */
export function errorFromWire(wire: WireError): SluiceError {
  const make = WIRE_CLASSES[wire.code] ?? WIRE_CLASSES.INTERNAL
  const d = wire.details
  return make(wire.message, typeof d === 'object' && d !== null && !Array.isArray(d) ? d : {})
}

function str(d: WireErrorDetails, key: string): string {
  const v = d[key]
  return typeof v === 'string' ? v : ''
}

function num(d: WireErrorDetails, key: string): number {
  const v = d[key]
  return typeof v === 'number' && Number.isFinite(v) ? v : -1
}

function strings(d: WireErrorDetails, key: string): string[] | null {
  const v = d[key]
  return Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string') ? v : null
}

function withMessage<T extends SluiceError>(err: T, message: string): T {
  err.message = message
  return err
}

const WIRE_CLASSES: Record<ErrorCode, (message: string, details: WireErrorDetails) => SluiceError> = {
  INVALID_ARGUMENT: (m) => new InvalidArgumentError(m),
  INVALID_CONFIG: (m, d) => withMessage(new InvalidConfigError(strings(d, 'problems') ?? [m]), m),
  UNKNOWN_TOPIC: (m, d) => withMessage(new UnknownTopicError(str(d, 'topic')), m),
  TOPIC_EXISTS: (m, d) => withMessage(new TopicExistsError(str(d, 'topic')), m),
  UNKNOWN_PARTITION: (m, d) =>
    withMessage(new UnknownPartitionError(str(d, 'topic'), num(d, 'partition'), num(d, 'partitionCount')), m),
  OFFSET_OUT_OF_RANGE: (m, d) =>
    withMessage(
      new OffsetOutOfRangeError(num(d, 'offset'), num(d, 'logStartOffset'), num(d, 'logEndOffset'), 'log', {
        topic: str(d, 'topic'),
        partition: num(d, 'partition'),
      }),
      m,
    ),
  NO_COMMITTED_OFFSET: (m, d) => withMessage(new NoCommittedOffsetError(str(d, 'topic'), num(d, 'partition')), m),
  CORRUPT_RECORD: (m) => new CorruptRecordError(m),
  RECORD_TOO_LARGE: (m) => new RecordTooLargeError(m),
  INVALID_TIMESTAMP: (m) => new InvalidTimestampError(m),
  RECORD_DECODE: (m, d) =>
    withMessage(new RecordDecodeError(str(d, 'topic'), num(d, 'partition'), num(d, 'offset'), str(d, 'field')), m),
  STORAGE: (m) => new StorageError(m),
  DISK_FULL: (m) => new DiskFullError(m),
  PARTITION_OFFLINE: (m) => new PartitionOfflineError(m),
  DATA_DIR_LOCKED: (m, d) => withMessage(new DataDirLockedError(str(d, 'dataDir'), num(d, 'holderPid')), m),
  CLOSED: (m) => withMessage(new ClosedError(''), m),
  TIMEOUT: (m) => new TimeoutError(m),
  FRAME_TOO_LARGE: (m, d) => withMessage(new FrameTooLargeError(num(d, 'frameBytes'), num(d, 'frameBytesMax')), m),
  PROTOCOL: (m) => new ProtocolError(m),
  CONNECTION: (m) => new ConnectionError(m),
  UNKNOWN_GROUP: (m, d) => withMessage(new UnknownGroupError(str(d, 'groupId')), m),
  UNKNOWN_MEMBER: (m) => new UnknownMemberError(m),
  FENCED_MEMBER_EPOCH: (m, d) =>
    new FencedMemberEpochError(m, { afterReset: d.afterReset === true, instanceReplaced: d.instanceReplaced === true }),
  NOT_OWNER: (m) => new NotOwnerError(m),
  REBALANCE_IN_PROGRESS: (m) => new RebalanceInProgressError(m),
  GROUP_NOT_EMPTY: (m) => new GroupNotEmptyError(m),
  DUPLICATE_SEQUENCE: (m) => new DuplicateSequenceError(m),
  OUT_OF_ORDER_SEQUENCE: (m, d) => new OutOfOrderSequenceError(m, { producerUnknown: d.producerUnknown === true }),
  INVALID_PRODUCER_EPOCH: (m) => new InvalidProducerEpochError(m),
  AUTHENTICATION: (m, d) => new AuthenticationError(m, { busy: d.busy === true }),
  NOT_AUTHENTICATED: (m) => new NotAuthenticatedError(m),
  UNSUPPORTED_VERSION: (m) => new UnsupportedVersionError(m),
  INTERNAL: (m) => new InternalError(m),
}

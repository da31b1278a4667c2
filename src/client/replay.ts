// Bounded reads without a group: `sl.replay({ topic, from, to, partitions })`. Both bounds are resolved per partition
// when replay() is called (so 'latest' means the log end at the time of the call and records appended later are not
// read), and the range is [from, to): `to` is exclusive in every form. Partitions are read one after the other, in
// ascending partition number, each in offset order (not merged by timestamp). Each fetched batch is CRC-checked.
// With visibility 'durable' the bounds are resolved as a durable reader sees the log: 'latest' is the log end as of
// the call once an fsync covers it (replay() asks for one, as a durable consumer's fetch does), every bound stops at
// that durable end, and the fetches return fsynced records only: nothing read can be taken by a power cut.
import { LIMITS } from '../config/limits.js'
import type { FetchResponse, FetchVisibility } from '../broker/api.js'
import { errorFromWire, InvalidArgumentError, OffsetOutOfRangeError, UnknownPartitionError } from '../errors.js'
import type { ErrorCode } from '../errors.js'
import { type Codec, type CodecOption, decodeMessageWith, resolveCodec } from './codecs.js'
import { type Message, MessageCursor } from './message-decoder.js'
import { DEFAULTS } from '../config/limits.js'
import type { Transport } from './transport.js'
import { checkKnownKeys, checkPartition, checkTopicName, toTimestamp } from './validate.js'

/** An offset (number), a point in time (Date), or a log bound. */
export type ReplayBound = number | Date | 'earliest' | 'latest'

const REPLAY_OPTION_KEYS = ['topic', 'from', 'to', 'partitions', 'valueCodec', 'keyCodec', 'maxBytes', 'visibility']

export interface ReplayOptions {
  topic: string
  /** First record read (inclusive). @default 'earliest' */
  from?: ReplayBound
  /** Where reading stops (exclusive); 'latest' = the log end when replay() was called. @default 'latest' */
  to?: ReplayBound
  /** @default every partition */
  partitions?: number[]
  /** @default 'buffer' */
  valueCodec?: CodecOption
  /** @default 'buffer' */
  keyCodec?: CodecOption
  /** Bytes per fetch. @default 1 MiB */
  maxBytes?: number
  /** 'durable': only records an fsync covered (see FetchVisibility); the bounds stop at the durable end.
   *  @default 'written' */
  visibility?: FetchVisibility
}

interface PartitionRange {
  partition: number
  from: number
  to: number
}

function checkBound(bound: unknown, what: string): void {
  if (bound === 'earliest' || bound === 'latest') return
  if (bound instanceof Date) {
    toTimestamp(bound, what)
    return
  }
  if (typeof bound === 'number' && Number.isSafeInteger(bound) && bound >= 0) return
  throw new InvalidArgumentError(
    `${what} must be an offset (integer >= 0), a Date, 'earliest' or 'latest', got ${String(bound)}`,
  )
}

/** -2 earliest, -1 latest, a timestamp, or null for a plain offset. */
function boundQuery(bound: ReplayBound): number | null {
  if (bound === 'earliest') return -2
  if (bound === 'latest') return -1
  if (bound instanceof Date) return bound.getTime()
  return null
}

/** `K` and `V`: what the key and value codecs give (`Decoded<C>`); Sluice.replay() infers them from its options. */
export class Replay<K = unknown, V = unknown> implements AsyncIterable<Message<K, V>> {
  readonly #transport: Transport
  readonly #topic: string
  readonly #ranges: Promise<PartitionRange[]>
  readonly #valueCodec: Codec
  readonly #keyCodec: Codec
  readonly #maxBytes: number
  readonly #visibility: FetchVisibility

  constructor(transport: Transport, options: ReplayOptions) {
    if (typeof options !== 'object' || options === null)
      throw new InvalidArgumentError('replay() needs { topic, from?, to? }')
    checkTopicName(options.topic)
    checkKnownKeys(options, REPLAY_OPTION_KEYS, 'replay options')
    const from = options.from ?? 'earliest'
    const to = options.to ?? 'latest'
    checkBound(from, 'from')
    checkBound(to, 'to')
    if (options.partitions !== undefined) {
      if (!Array.isArray(options.partitions)) throw new InvalidArgumentError('partitions must be an array of numbers')
      for (const p of options.partitions) checkPartition(p)
    }
    const valueCodec = resolveCodec(options.valueCodec, 'valueCodec')
    const keyCodec = resolveCodec(options.keyCodec, 'keyCodec')
    if (typeof valueCodec === 'string') throw new InvalidArgumentError(valueCodec)
    if (typeof keyCodec === 'string') throw new InvalidArgumentError(keyCodec)
    const maxBytes = options.maxBytes ?? DEFAULTS.fetchMaxBytes
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1 || maxBytes > LIMITS.fetchBytesMax)
      throw new InvalidArgumentError(
        `maxBytes must be an integer in [1, ${LIMITS.fetchBytesMax}], got ${String(maxBytes)}`,
      )
    const visibility = options.visibility ?? 'written'
    if (visibility !== 'written' && visibility !== 'durable')
      throw new InvalidArgumentError(`visibility must be 'written' or 'durable', got ${String(visibility)}`)
    this.#transport = transport
    this.#visibility = visibility
    this.#topic = options.topic
    this.#valueCodec = valueCodec
    this.#keyCodec = keyCodec
    this.#maxBytes = maxBytes
    this.#ranges = this.#resolve(from, to, options.partitions)
    this.#ranges.catch(() => undefined) // surfaced by the iterator
  }

  async #resolve(from: ReplayBound, to: ReplayBound, wanted?: number[]): Promise<PartitionRange[]> {
    const topic = this.#topic
    const description = await this.#transport.describeTopic(topic)
    const count = description.partitions.length
    const partitions =
      wanted === undefined ? description.partitions.map((p) => p.partition) : [...new Set(wanted)].sort((a, b) => a - b)
    for (const p of partitions) if (p >= count) throw new UnknownPartitionError(topic, p, count)
    const visibility = this.#visibility
    const listOffsets = async (timestamp: number): Promise<Map<number, number>> => {
      const { offsets } = await this.#transport.listOffsets({ topic, partitions, timestamp, visibility })
      return new Map(offsets.map((o) => [o.partition, o.offset]))
    }
    const lookup = async (bound: ReplayBound): Promise<Map<number, number>> => {
      const query = boundQuery(bound)
      return query === null ? new Map(partitions.map((p) => [p, bound as number])) : listOffsets(query)
    }
    // A durable reader's plain-offset `to` stops at the durable end too (the broker caps the looked-up bounds).
    const durableEnds = visibility === 'durable' && boundQuery(to) === null ? listOffsets(-1) : null
    const [starts, ends, capped] = await Promise.all([lookup(from), lookup(to), durableEnds])
    return partitions.map((partition) => ({
      partition,
      from: starts.get(partition) ?? 0,
      to: Math.min(ends.get(partition) ?? 0, capped?.get(partition) ?? Infinity),
    }))
  }

  [Symbol.asyncIterator](): AsyncIterator<Message<K, V>> {
    return new ReplayIterator<K, V>(
      this.#transport,
      this.#topic,
      this.#ranges,
      this.#maxBytes,
      this.#keyCodec,
      this.#valueCodec,
      this.#visibility,
    )
  }
}

/** The fetch issued ahead of need: which range, from which offset, and its answer to come. */
interface FetchAhead {
  rangeIndex: number
  offset: number
  response: Promise<FetchResponse>
}

/**
 * Decodes messages lazily from one fetched response at a time. As soon as a response arrives, the fetch after it is
 * sent (one ahead, never more), so over TCP the broker reads and sends the next bytes while these are decoded.
 */
class ReplayIterator<K, V> implements AsyncIterator<Message<K, V>> {
  #ranges: PartitionRange[] | null = null
  #rangeIndex = 0
  #offset = -1
  /** Where the records read of the current partition end (-1 before its first): a jump from there is a gap. */
  #readTo = -1
  #cursor: MessageCursor | null = null
  #ahead: FetchAhead | null = null
  #done = false

  constructor(
    private readonly transport: Transport,
    private readonly topic: string,
    private readonly rangesPromise: Promise<PartitionRange[]>,
    private readonly maxBytes: number,
    private readonly keyCodec: Codec,
    private readonly valueCodec: Codec,
    private readonly visibility: FetchVisibility,
  ) {}

  next(): Promise<IteratorResult<Message<K, V>>> {
    try {
      const message = this.#cursor?.next() ?? null
      if (message !== null) return Promise.resolve({ done: false, value: this.#decode(message) })
    } catch (err) {
      this.#done = true
      this.#ahead = null
      return Promise.reject(err instanceof Error ? err : new Error(String(err)))
    }
    return this.#refill()
  }

  async return(): Promise<IteratorResult<Message<K, V>>> {
    this.#done = true
    this.#cursor = null
    this.#ahead = null // its answer, when it comes, is dropped
    return { done: true, value: undefined }
  }

  /** The message with its key and value decoded by this replay's codecs: what K and V say they are. */
  #decode(message: Message): Message<K, V> {
    return decodeMessageWith(message, this.keyCodec, this.valueCodec) as Message<K, V>
  }

  async #refill(): Promise<IteratorResult<Message<K, V>>> {
    if (this.#ranges === null) this.#ranges = await this.rangesPromise
    this.#cursor = null
    // Each turn fetches once from the current range or moves to the next range; a fetch that yields nothing ends
    // its range, and every other one advances #offset, so this ends.
    while (!this.#done) {
      const range = this.#ranges[this.#rangeIndex]
      if (range === undefined) break
      if (this.#offset < 0) this.#offset = range.from
      if (this.#offset >= range.to || !(await this.#fetch(range))) {
        this.#rangeIndex++
        this.#offset = -1
        this.#readTo = -1
        continue
      }
      const cursor = this.#cursor as MessageCursor | null // set by #fetch
      const message = cursor?.next() ?? null
      if (message !== null) return { done: false, value: this.#decode(message) }
    }
    this.#done = true
    this.#ahead = null
    return { done: true, value: undefined }
  }

  #request(range: PartitionRange, offset: number): Promise<FetchResponse> {
    return this.transport.fetch({
      partitions: [{ topic: this.topic, partition: range.partition, offset }],
      maxBytes: this.maxBytes,
      maxWaitMs: 0,
      visibility: this.visibility,
    })
  }

  /** One fetch of `range` from the current offset (the one sent ahead when it matches); false when nothing more is
   *  there. */
  async #fetch(range: PartitionRange): Promise<boolean> {
    const ahead = this.#ahead
    this.#ahead = null
    const response =
      ahead !== null && ahead.rangeIndex === this.#rangeIndex && ahead.offset === this.#offset
        ? await ahead.response
        : await this.#request(range, this.#offset)
    if (this.#done) return false
    const pr = response.partitions[0]
    if (pr === undefined) return false
    if (pr.error !== null) {
      if (pr.error.code === 'OFFSET_OUT_OF_RANGE' && this.#offset < pr.logStartOffset) {
        // Retention (or deleteRecords) moved the log start past the next offset. Before this partition's first
        // record that is the documented start at the log start (the first offset read tells). After it, records
        // between would be skipped with nothing to show for it: the replay fails instead, naming them.
        if (this.#readTo >= 0) {
          throw new OffsetOutOfRangeError(
            this.#offset,
            pr.logStartOffset,
            pr.logEndOffset,
            `the log of ${this.topic}/${range.partition}: records ${this.#offset}-${pr.logStartOffset - 1} were ` +
              'deleted (retention or deleteRecords) while this replay read the partition',
            { topic: this.topic, partition: range.partition },
          )
        }
        this.#offset = pr.logStartOffset
        return true
      }
      throw errorFromWire({ ...pr.error, code: pr.error.code as ErrorCode })
    }
    const cursor = new MessageCursor(pr.records, this.topic, range.partition, this.#offset, range.to)
    if (cursor.nextOffset === this.#offset) return false // nothing more below `to` (truncated or deleted meanwhile)
    this.#cursor = cursor
    this.#offset = cursor.nextOffset
    this.#readTo = cursor.nextOffset
    if (this.#offset < range.to) {
      const next: FetchAhead = {
        rangeIndex: this.#rangeIndex,
        offset: this.#offset,
        response: this.#request(range, this.#offset),
      }
      next.response.catch(() => undefined) // a failure surfaces when (and if) this answer is used
      this.#ahead = next
    }
    return true
  }
}

// What a sendBatch() call resolves with: where each of its records landed, in the order given, held as three typed
// arrays rather than one object per record. Measured (200,000 x 100 B records, acks all, flush sync, embedded): an
// array of 200,000 metadata objects took 16% of the call (63-65 ms against 54-55 ms without), most of it the garbage
// collector copying objects that all survive until the caller drops them. A caller that wants objects asks for them:
// `at(i)`, iteration, `toArray()`; one that wants numbers reads them without allocating: `offsetOf(i)` and friends.
import { inspect } from 'node:util'

export interface RecordMetadata {
  topic: string
  partition: number
  /** -1 with acks 0. */
  offset: number
  /** The record's timestamp, or the broker's log-append time when the topic uses it. */
  timestamp: number
}

/** Entries util.inspect shows before "... N more". */
const INSPECT_ENTRIES_MAX = 10

export class SendBatchResult implements Iterable<RecordMetadata> {
  readonly #partitions: Int32Array
  readonly #offsets: Float64Array
  readonly #timestamps: Float64Array

  /** The producer fills the arrays (one slot per message) as acknowledgements arrive and hands them over once the
   *  last one has; they are not written after that. */
  constructor(
    readonly topic: string,
    partitions: Int32Array,
    offsets: Float64Array,
    timestamps: Float64Array,
  ) {
    if (partitions.length !== offsets.length || offsets.length !== timestamps.length)
      throw new RangeError('SendBatchResult: partitions, offsets and timestamps differ in length')
    this.#partitions = partitions
    this.#offsets = offsets
    this.#timestamps = timestamps
  }

  /** The number of messages the call sent. */
  get length(): number {
    return this.#offsets.length
  }

  /** The partition message `i` of the call went to. */
  partitionOf(i: number): number {
    return this.#partitions[this.#index(i)]!
  }

  /** The offset message `i` got (-1 with acks 0). */
  offsetOf(i: number): number {
    return this.#offsets[this.#index(i)]!
  }

  /** The timestamp stored with message `i` (its own, or the broker's log-append time). */
  timestampOf(i: number): number {
    return this.#timestamps[this.#index(i)]!
  }

  /** The metadata of message `i` as an object, or undefined outside the call; negative `i` counts from the end, as
   *  Array#at does. */
  at(i: number): RecordMetadata | undefined {
    const relative = Number.isNaN(i) ? 0 : Math.trunc(i) // Array#at's ToIntegerOrInfinity
    const k = relative < 0 ? relative + this.length : relative
    return k >= 0 && k < this.length ? this.#metadata(k) : undefined
  }

  *[Symbol.iterator](): Generator<RecordMetadata> {
    // One object per turn, n turns.
    for (let i = 0; i < this.length; i++) yield this.#metadata(i)
  }

  /** Every record's metadata as objects, in message order. */
  toArray(): RecordMetadata[] {
    const out = new Array<RecordMetadata>(this.length)
    for (let i = 0; i < out.length; i++) out[i] = this.#metadata(i)
    return out
  }

  toJSON(): RecordMetadata[] {
    return this.toArray()
  }

  [inspect.custom](_depth: number, options: object): string {
    const shown = Math.min(this.length, INSPECT_ENTRIES_MAX)
    const entries = Array.from({ length: shown }, (_, i) => this.#metadata(i))
    const more = this.length > shown ? ` ... ${this.length - shown} more` : ''
    return `SendBatchResult(${this.length}) ${inspect(entries, options)}${more}`
  }

  #metadata(i: number): RecordMetadata {
    return {
      topic: this.topic,
      partition: this.#partitions[i]!,
      offset: this.#offsets[i]!,
      timestamp: this.#timestamps[i]!,
    }
  }

  #index(i: number): number {
    if (!Number.isInteger(i) || i < 0 || i >= this.length)
      throw new RangeError(`message index ${String(i)} is outside this sendBatch call of ${this.length} messages`)
    return i
  }
}

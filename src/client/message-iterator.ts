// Pull-based delivery for `for await (const m of consumer)`. A message counts as processed (its partition's position
// moves past it) when the next one is asked for, so breaking out of the loop or throwing from its body leaves the
// message in hand uncommitted (at-least-once). While the response in hand has messages, next() resolves without
// waiting on anything; responses fetched under an older partition generation (seek, pause, revoke) are skipped.
import type { FetchedChunk } from './fetcher.js'
import type { Message } from './message-decoder.js'

export interface IteratorHooks {
  start(): Promise<void>
  take(): Promise<FetchedChunk[] | null>
  /** Applies the consumer's codecs. */
  deliver(m: Message): Message
  /** A message of `chunk` could not be decoded: stop its partition and queue the error. */
  failed(chunk: FetchedChunk, err: unknown): void
  polled(): void
  /** Errors for the iterator to throw, oldest first. */
  errors: Error[]
  closed(): boolean
}

/** Messages one partition of a fetch answer gets before the next partition of the same answer has a turn. */
export const FAIR_SLICE_MESSAGES = 64

export class MessageIterator implements AsyncIterator<Message> {
  #chunks: FetchedChunk[] = []
  #chunkIndex = 0
  /** Messages handed out from the current chunk since the last turn change. */
  #slice = 0
  /** The message handed out last (its chunk and offset), marked processed on the next call. */
  #pendingChunk: FetchedChunk | null = null
  #pendingOffset = -1
  #done = false
  #started = false
  /** Returned (break) or threw: the consumer may hand out a new iterator in its place. */
  #ended = false

  constructor(private readonly hooks: IteratorHooks) {}

  get ended(): boolean {
    return this.#ended
  }

  /** Served without an await while the current response has messages; otherwise waits for the next one. */
  next(): Promise<IteratorResult<Message>> {
    this.#ack()
    if (!this.#started || this.hooks.errors.length > 0 || this.#done) return this.#slow()
    try {
      const message = this.#nextBuffered()
      if (message !== null) return Promise.resolve({ done: false, value: message })
    } catch (err) {
      this.#ended = true
      return Promise.reject(err instanceof Error ? err : new Error(String(err)))
    }
    return this.#slow()
  }

  async #slow(): Promise<IteratorResult<Message>> {
    if (!this.#started) {
      await this.hooks.start()
      this.#started = true
    }
    for (;;) {
      const err = this.hooks.errors.shift()
      if (err !== undefined) {
        this.#ended = true
        throw err
      }
      if (this.#done || this.hooks.closed()) return { done: true, value: undefined }
      const message = this.#nextBuffered()
      if (message !== null) return { done: false, value: message }
      // A message that failed to decode queued its error: throw it rather than wait for data its partition, now
      // stopped, will not fetch.
      if (this.hooks.errors.length > 0) continue
      const next = await this.hooks.take()
      if (next === null) this.#done = true
      else {
        this.#chunks = next
        this.#chunkIndex = 0
        this.#slice = 0
      }
    }
  }

  /** The next deliverable message of the responses in hand, or null when they are used up (or one failed). */
  #nextBuffered(): Message | null {
    // Each turn hands out a message or drops a used-up chunk; cursors are finite.
    for (;;) {
      if (this.#chunks.length === 0) return null
      if (this.#chunkIndex >= this.#chunks.length) this.#chunkIndex = 0
      const chunk = this.#chunks[this.#chunkIndex]!
      let r: Message | null = null
      if (!isStale(chunk)) {
        try {
          r = chunk.cursor.next()
          if (r !== null && r.offset >= chunk.state.position) r = this.hooks.deliver(r)
        } catch (err) {
          // Corrupt data or a codec failure: the partition stops there and next() throws the error.
          this.hooks.failed(chunk, err)
          this.#dropChunk()
          return null
        }
      }
      if (r === null) {
        this.#dropChunk()
        continue
      }
      if (r.offset < chunk.state.position) continue
      this.hooks.polled()
      this.#pendingChunk = chunk
      this.#pendingOffset = r.offset
      // The partitions of one answer take turns, FAIR_SLICE_MESSAGES messages each, as in run().
      if (this.#chunks.length > 1 && ++this.#slice >= FAIR_SLICE_MESSAGES) {
        this.#slice = 0
        this.#chunkIndex++
      }
      return r
    }
  }

  #dropChunk(): void {
    this.#chunks.splice(this.#chunkIndex, 1)
    this.#slice = 0
  }

  async return(): Promise<IteratorResult<Message>> {
    this.#pendingChunk = null
    this.#done = true
    this.#ended = true
    return { done: true, value: undefined }
  }

  #ack(): void {
    const chunk = this.#pendingChunk
    if (chunk === null) return
    this.#pendingChunk = null
    chunk.state.handled(chunk.generation, this.#pendingOffset)
  }
}

export function isStale(chunk: FetchedChunk): boolean {
  const s = chunk.state
  return chunk.generation !== s.generation || s.removed || s.paused || s.stopped !== null
}

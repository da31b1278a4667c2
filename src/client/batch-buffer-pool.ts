// Full-size batch buffers kept for reuse by one producer. A producer that fills batches (sendBatch, or send() under
// load) otherwise allocates a fresh `batchBytes` buffer per batch: outside V8's heap, so each one costs first-touch
// page faults while records are copied in, and their churn triggers "external memory pressure" collections (measured:
// 1 KiB records, 50 MB per sendBatch, one mark-compact per call and ~8% of the main thread in GC). A buffer comes
// back only once the broker has answered for its batch (acks 1 or 'all'): by then neither the transport nor the
// broker holds it (storage writes a batch out and keeps no reference; a TCP frame is fully sent before its answer).
// Bounded: at most `keepMax` buffers are kept; the rest are left to the garbage collector.
import { assert } from '../util/assert.js'

export class BatchBufferPool {
  readonly #free: Buffer[] = []

  constructor(
    /** The size of every buffer this pool hands out and takes back. */
    readonly bufferBytes: number,
    readonly keepMax: number,
  ) {
    assert(Number.isSafeInteger(bufferBytes) && bufferBytes > 0, 'pool buffer size must be a positive integer')
    assert(Number.isSafeInteger(keepMax) && keepMax >= 0, 'pool keepMax must be a non-negative integer')
  }

  /** Buffers currently kept. */
  get size(): number {
    return this.#free.length
  }

  /** A buffer of `bufferBytes` (contents undefined). */
  take(): Buffer {
    return this.#free.pop() ?? Buffer.allocUnsafeSlow(this.bufferBytes)
  }

  /** Returns a buffer from `take()` that nothing references any more. */
  give(buf: Buffer): void {
    assert(buf.length === this.bufferBytes && buf.byteOffset === 0, 'a buffer the pool did not hand out')
    if (this.#free.length < this.keepMax) this.#free.push(buf)
  }

  /** Drops every kept buffer (the producer closed). */
  clear(): void {
    this.#free.length = 0
  }
}

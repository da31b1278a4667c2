// Batch buffers kept for reuse by one producer. A producer that fills batches (sendBatch, or send() under load)
// otherwise allocates a fresh buffer per batch: outside V8's heap, so each one costs first-touch page faults while
// records are copied in, and their churn makes V8 collect garbage far more often than the heap needs (measured: 1 KiB
// records, 50 MB per sendBatch, one mark-compact per call and ~8% of the main thread in GC; a 1,600 x 100 B sendBatch
// per millisecond over TCP, a ~220 KB buffer per call: a mark-compact every 50-70 ms with the client's main thread
// about 12% in GC). A buffer comes back only once the broker has answered for its batch (acks 1 or 'all'): by then
// neither the transport nor the broker holds it (storage writes a batch out and keeps no reference; a TCP frame is
// fully sent before its answer), or when its batch outgrows it before anything was sent.
//
// Sizes are powers of two from CLASS_BYTES_MIN, the largest cut to the batch capacity; smaller buffers are Node's
// (Buffer.allocUnsafe slices its shared pool below 4 KiB). Bounded: at most `freeBytesMax` bytes are kept; buffers
// given back beyond that are left to the garbage collector.
import { assert } from '../util/assert.js'

/** The smallest pooled size (unless the capacity is smaller: then only capacity-size buffers are pooled). */
export const CLASS_BYTES_MIN = 64 * 1024

export class BatchBufferPool {
  readonly #free = new Map<number, Buffer[]>()
  #freeBytes = 0

  constructor(
    /** The largest buffer a batch may have (the producer's batchBytes). */
    readonly capacityBytes: number,
    /** Bytes of free buffers kept at most. */
    readonly freeBytesMax: number,
  ) {
    assert(Number.isSafeInteger(capacityBytes) && capacityBytes > 0, 'pool capacity must be a positive integer')
    assert(Number.isSafeInteger(freeBytesMax) && freeBytesMax >= 0, 'pool freeBytesMax must be a non-negative integer')
  }

  /** Bytes held for reuse. */
  get freeBytes(): number {
    return this.#freeBytes
  }

  /** True when a buffer of `bytes` comes from the pool (it is at least the smallest class). */
  pools(bytes: number): boolean {
    return bytes >= Math.min(CLASS_BYTES_MIN, this.capacityBytes)
  }

  /** The size of the buffer take(bytes) returns: the class that holds `bytes`. */
  classBytes(bytes: number): number {
    assert(bytes <= this.capacityBytes, 'no batch buffer is larger than the capacity')
    let size = Math.min(CLASS_BYTES_MIN, this.capacityBytes)
    // Doubles from 64 KiB: at most 53 - 16 turns for any safe integer.
    while (size < bytes) size = Math.min(size * 2, this.capacityBytes)
    return size
  }

  /** A buffer of classBytes(bytes) (contents undefined), reused when one is free. */
  take(bytes: number): Buffer {
    const size = this.classBytes(bytes)
    const reused = this.#free.get(size)?.pop()
    if (reused !== undefined) {
      this.#freeBytes -= size
      return reused
    }
    return Buffer.allocUnsafeSlow(size)
  }

  /** Returns a buffer from `take()` that nothing references any more. */
  give(buf: Buffer): void {
    assert(
      buf.byteOffset === 0 && this.pools(buf.length) && buf.length === this.classBytes(buf.length),
      'a buffer the pool did not hand out',
    )
    if (this.#freeBytes + buf.length > this.freeBytesMax) return
    let list = this.#free.get(buf.length)
    if (list === undefined) this.#free.set(buf.length, (list = []))
    list.push(buf)
    this.#freeBytes += buf.length
  }

  /** Drops every kept buffer (the producer closed). */
  clear(): void {
    this.#free.clear()
    this.#freeBytes = 0
  }
}

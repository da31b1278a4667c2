// Free buffers kept for reuse by size class, bounded by bytes: the classes are powers of two from `minBytes`, the
// largest cut to `maxBytes`; a buffer given back joins its class's free list while the pool holds at most
// `freeBytesMax` in all, and is left to the garbage collector beyond that. A reused buffer is memory the process has
// touched already (no first-touch page faults) and one allocation V8 does not count against its heap's limit (see
// the TCP server's read buffers and the producer's batch buffers, which build on this).
import { assert } from './assert.js'

export class SizeClassPool {
  readonly #free = new Map<number, Buffer[]>()
  #freeBytes = 0

  constructor(
    readonly freeBytesMax: number,
    /** The smallest class (unless maxBytes is smaller: then maxBytes is the only class). */
    readonly minBytes: number,
    /** The largest class and the most a buffer may be asked for. */
    readonly maxBytes: number = Number.MAX_SAFE_INTEGER,
  ) {
    assert(Number.isSafeInteger(freeBytesMax) && freeBytesMax >= 0, 'freeBytesMax must be a non-negative integer')
    assert(Number.isSafeInteger(minBytes) && minBytes > 0, 'minBytes must be a positive integer')
    assert(Number.isSafeInteger(maxBytes) && maxBytes > 0, 'maxBytes must be a positive integer')
  }

  /** Bytes held for reuse. */
  get freeBytes(): number {
    return this.#freeBytes
  }

  /** True when a buffer of `bytes` is one the pool hands out (from the smallest class up to maxBytes); smaller ones
   *  are left to Node's allocator. */
  pools(bytes: number): boolean {
    return bytes >= Math.min(this.minBytes, this.maxBytes) && bytes <= this.maxBytes
  }

  /** The size of the buffer take(bytes) returns. */
  classBytes(bytes: number): number {
    assert(bytes <= this.maxBytes, 'no buffer of the pool is that large')
    let size = Math.min(this.minBytes, this.maxBytes)
    // Doubles from minBytes: at most 53 turns for any safe integer.
    while (size < bytes) size = Math.min(size * 2, this.maxBytes)
    return size
  }

  /** A whole class buffer of at least `bytes` (contents undefined; a free one when there is one). */
  take(bytes: number): Buffer {
    const size = this.classBytes(bytes)
    const reused = this.#free.get(size)?.pop()
    if (reused !== undefined) {
      this.#freeBytes -= size
      return reused
    }
    return Buffer.allocUnsafeSlow(size)
  }

  /** Takes back a buffer `take` returned that nothing refers to any more; kept while the pool has room. */
  give(buf: Buffer): void {
    assert(buf.byteOffset === 0 && this.pools(buf.length), 'a buffer the pool did not hand out')
    assert(buf.length === this.classBytes(buf.length), 'only whole class buffers come back to the pool')
    if (this.#freeBytes + buf.length > this.freeBytesMax) return
    let list = this.#free.get(buf.length)
    if (list === undefined) this.#free.set(buf.length, (list = []))
    list.push(buf)
    this.#freeBytes += buf.length
  }

  /** Drops every free buffer. */
  clear(): void {
    this.#free.clear()
    this.#freeBytes = 0
  }
}

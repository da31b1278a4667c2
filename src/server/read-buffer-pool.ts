// Buffers the TCP server reads fetch responses into, reused once a response has been written to its socket (and the
// buffers large produce requests are assembled in, reused once served: see Connection). A fetch
// reads up to maxBytes (1 MiB by default) from the page cache into memory the process has not touched before: on these
// VMs every fresh 4 KiB page then costs a fault, about 160 of them per MiB, and that took a 1 MiB fetch from about
// 0.2 ms to about 0.6 ms of the broker's time, longer than a consumer's decoding of the previous response, so the
// consumer waited. A buffer that goes back to the pool once the socket has it is already mapped.
//
// Sizes are powers of two from CLASS_BYTES_MIN up; smaller reads are plain allocations (Node's own pool serves them).
// Free buffers are kept up to `freeBytesMax` in all; beyond that a returned buffer is left to the GC. Nothing here is
// ever handed out twice at once: a lease owns what it took until release(), which may be called once.
import type { ReadAllocator } from '../storage/api.js'
import { assert } from '../util/assert.js'
import { SizeClassPool } from '../util/size-class-pool.js'

/** Reads smaller than this are not pooled. */
export const CLASS_BYTES_MIN = 64 * 1024

export class ReadBufferPool extends SizeClassPool {
  constructor(freeBytesMax: number) {
    super(freeBytesMax, CLASS_BYTES_MIN)
  }

  lease(): ReadBufferLease {
    return new ReadBufferLease(this)
  }
}

/** What one fetch reads into; everything it took goes back to the pool at release(). */
export class ReadBufferLease {
  readonly #pool: ReadBufferPool
  #taken: Buffer[] = []
  #released = false

  constructor(pool: ReadBufferPool) {
    this.#pool = pool
  }

  readonly allocate: ReadAllocator = (bytes: number): Buffer => {
    assert(!this.#released, 'a released lease cannot allocate')
    if (!this.#pool.pools(bytes)) return Buffer.allocUnsafe(bytes)
    const buf = this.#pool.take(bytes)
    this.#taken.push(buf)
    return buf.subarray(0, bytes)
  }

  /** Buffers taken and not yet given back. */
  get takenCount(): number {
    return this.#taken.length
  }

  /** Gives every buffer back: call once nothing refers to them any more (the response is written, or dropped). */
  release(): void {
    if (this.#released) return
    this.#released = true
    for (const buf of this.#taken) this.#pool.give(buf)
    this.#taken = []
  }
}

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
import { SizeClassPool } from '../util/size-class-pool.js'

/** The smallest pooled size (unless the capacity is smaller: then only capacity-size buffers are pooled). */
export const CLASS_BYTES_MIN = 64 * 1024

export class BatchBufferPool extends SizeClassPool {
  constructor(
    /** The largest buffer a batch may have (the producer's batchBytes). */
    readonly capacityBytes: number,
    freeBytesMax: number,
  ) {
    super(freeBytesMax, CLASS_BYTES_MIN, capacityBytes)
  }
}

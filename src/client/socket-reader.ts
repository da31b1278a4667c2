// Reads a plain TCP socket through node's `onread` instead of 'data' chunks, for the TCP transport: the bulk of a
// large frame (a fetch response) is read by the kernel straight into the buffer the frame is returned in, so its
// bytes are copied once (socket to frame) instead of twice (socket to chunks to frame), with no allocation per read;
// other reads land in one reused scratch buffer and are copied out. The frames come out of `decoder` exactly as if
// every byte had been pushed (FrameDecoder.readTarget keeps the frame limits and bounds what a peer can make it
// allocate). Measured on a 1 MiB fetch round trip over loopback: about 30% less time and CPU than 'data' events.
import type net from 'node:net'
import { FrameDecoder } from '../protocol/frame.js'

/** Socket reads that are not read in place land in this reused buffer and are copied out. */
const READ_SCRATCH_BYTES = 64 * 1024
/** A frame still missing at least this many bytes is read straight into its own buffer. */
const IN_PLACE_READ_BYTES_MIN = 16 * 1024

/** One per socket; pass `onread` to net.connect, then set `onBytes` to drain `decoder`. */
export class SocketReader {
  readonly decoder: FrameDecoder
  readonly #scratch = Buffer.allocUnsafe(READ_SCRATCH_BYTES)
  #target: Buffer | null = null
  /** Called after each read; the Link drains the decoder there. */
  onBytes: () => void = () => undefined

  constructor(frameBytesMax: number) {
    this.decoder = new FrameDecoder(frameBytesMax)
  }

  /** For net.connect({ onread }). Node asks for the next buffer right after each callback. */
  get onread(): net.OnReadOpts {
    return { buffer: () => this.#nextBuffer(), callback: (bytes, buf) => this.#received(bytes, buf) }
  }

  #nextBuffer(): Uint8Array {
    this.#target = this.decoder.readTarget(IN_PLACE_READ_BYTES_MIN)
    return this.#target ?? this.#scratch
  }

  #received(bytes: number, buf: Uint8Array): boolean {
    if (this.#target !== null && buf === this.#target) this.decoder.wrote(bytes)
    else this.decoder.push(Buffer.from(this.#scratch.subarray(0, bytes)))
    this.onBytes()
    return true
  }
}

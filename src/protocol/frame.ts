// Wire frames of the native protocol (DESIGN.md §8) and the streaming decoder that cuts a byte stream into them.
// A frame is a uint32 size prefix followed by `size` bytes: a 9-byte header, then the msgpack body.
//
// | off | field         | type   | notes                                             |
// |-----|---------------|--------|---------------------------------------------------|
// | 0   | size          | uint32 | bytes after this field (header + body)            |
// | 4   | apiKey        | uint16 | protocol/api-keys.ts                              |
// | 6   | apiVersion    | uint16 |                                                   |
// | 8   | correlationId | uint32 | echoed by the response                            |
// | 12  | flags         | uint8  | bit 0 response, bit 1 error (body = {code, msg})  |
// | 13  | body          | bytes  | msgpack (protocol/codec.ts)                       |
//
// The decoder checks `size` against its frameBytesMax before it keeps a single byte of the frame, keeps only the
// bytes actually received (a peer announcing 64 MiB and sending 10 costs 10), and holds at most one partial frame.
// A reader may also fill the rest of a large frame in place (`readTarget`/`wrote`, no copy from socket chunks); the
// frame's buffer is then allocated whole, but only once DIRECT_RECEIVED_FRACTION_MIN of it has arrived, so a peer
// still costs at most 16 times what it sent.
import { FrameTooLargeError, ProtocolError } from '../errors.js'
import { LIMITS } from '../config/limits.js'
import { assert } from '../util/assert.js'

export const SIZE_PREFIX_BYTES = 4
/** Header bytes after the size prefix. */
export const FRAME_HEADER_BYTES = 9
/** Bytes before the body: size prefix + header. */
export const FRAME_OVERHEAD_BYTES = SIZE_PREFIX_BYTES + FRAME_HEADER_BYTES

export const FLAG_RESPONSE = 0b01
export const FLAG_ERROR = 0b10
const FLAGS_KNOWN = FLAG_RESPONSE | FLAG_ERROR

export const UINT16_MAX = 0xffff
export const UINT32_MAX = 0xffff_ffff

const EMPTY = Buffer.alloc(0)
/** A frame's buffer is allocated whole for in-place reads only once this fraction of it has been received. */
const DIRECT_RECEIVED_FRACTION_MIN = 1 / 16

export interface FrameHeader {
  apiKey: number
  apiVersion: number
  correlationId: number
  flags: number
}

export interface Frame extends FrameHeader {
  /** The msgpack body; may be a view into a socket chunk (zero copy). */
  body: Buffer
  /** The buffer `allocateFrame` gave for this frame (the body is a view of it), for its owner to take back once
   *  nothing refers to the body any more; absent otherwise. */
  pooled?: Buffer
}

/** Where a frame that spans socket chunks is copied to: a buffer of at least `bytes`, or null for a fresh one.
 *  `apiKey`: the frame's, read before the copy. */
export type FrameAllocator = (bytes: number, apiKey: number) => Buffer | null

/** The 13 bytes before a body of `bodyBytes`; written separately so the body is never copied to prepend a header. */
export function encodeFrameHeader(header: FrameHeader, bodyBytes: number): Buffer {
  assert(Number.isInteger(header.apiKey) && header.apiKey >= 0 && header.apiKey <= UINT16_MAX, 'apiKey is a uint16')
  assert(
    Number.isInteger(header.apiVersion) && header.apiVersion >= 0 && header.apiVersion <= UINT16_MAX,
    'apiVersion is a uint16',
  )
  assert(
    Number.isInteger(header.correlationId) && header.correlationId >= 0 && header.correlationId <= UINT32_MAX,
    'correlationId is a uint32',
  )
  assert((header.flags & ~FLAGS_KNOWN) === 0, 'unknown frame flags')
  const buf = Buffer.allocUnsafe(FRAME_OVERHEAD_BYTES)
  buf.writeUInt32BE(FRAME_HEADER_BYTES + bodyBytes, 0)
  buf.writeUInt16BE(header.apiKey, 4)
  buf.writeUInt16BE(header.apiVersion, 6)
  buf.writeUInt32BE(header.correlationId, 8)
  buf.writeUInt8(header.flags, 12)
  return buf
}

/** One contiguous frame (header + body); for tests and tools. Sockets write header and body separately. */
export function encodeFrame(header: FrameHeader, body: Buffer): Buffer {
  return Buffer.concat([encodeFrameHeader(header, body.length), body])
}

/**
 * Cuts a byte stream into frames. `push(chunk)` hands it bytes of any size; `next()` returns the next whole frame or
 * null when more bytes are needed. It throws FrameTooLargeError / ProtocolError on a bad size prefix or flags; after a
 * throw the stream is unusable (the caller closes the connection).
 */
export class FrameDecoder {
  /** Chunks, oldest first, from `chunks[head]` at `chunkPosition` on; read chunks before `head` are dropped lazily. */
  private chunks: Buffer[] = []
  private head = 0
  private chunkPosition = 0
  private unreadBytes = 0
  /** Size of the frame being read, -1 before its prefix is complete. */
  private frameBytes = -1
  private failed: Error | null = null
  /** The frame being filled in place (readTarget/wrote): its whole buffer and how many bytes are in. */
  private direct: Buffer | null = null
  private directBytes = 0
  /** Set by a reader that reuses frame buffers (the server, for produce requests). */
  allocateFrame: FrameAllocator | null = null

  constructor(public frameBytesMax: number = LIMITS.frameBytesMax) {
    assert(frameBytesMax >= FRAME_HEADER_BYTES && frameBytesMax <= UINT32_MAX, 'frameBytesMax out of range')
  }

  /** Bytes received but not yet returned as frames. */
  get bufferedBytes(): number {
    return this.unreadBytes + this.directBytes
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return
    assert(this.direct === null || this.directBytes === this.direct.length, 'push() while a frame is filled in place')
    this.chunks.push(chunk)
    this.unreadBytes += chunk.length
  }

  /**
   * Where the next bytes of the stream may be read in place: the unfilled rest of the current frame's own buffer,
   * when its size prefix is known (call next() first), at least `minBytes` of it are still missing and enough of it
   * has arrived; else null (then read elsewhere and push()). After reading n bytes into it, call wrote(n).
   */
  readTarget(minBytes: number): Buffer | null {
    if (this.failed !== null) return null
    if (this.direct === null) {
      const frameBytes = this.frameBytes
      if (frameBytes < 0 || frameBytes - this.unreadBytes < minBytes) return null
      if (this.unreadBytes < frameBytes * DIRECT_RECEIVED_FRACTION_MIN) return null
      // Everything buffered belongs to this frame (it is not complete): move it to the front of the frame's buffer.
      const buf = Buffer.allocUnsafe(frameBytes)
      const have = this.unreadBytes
      if (have > 0) this.take(have).copy(buf, 0)
      this.direct = buf
      this.directBytes = have
    }
    return this.directBytes < this.direct.length ? this.direct.subarray(this.directBytes) : null
  }

  /** `bytes` were read into the buffer readTarget() returned. */
  wrote(bytes: number): void {
    assert(
      this.direct !== null && bytes >= 0 && this.directBytes + bytes <= this.direct.length,
      'wrote() past the frame',
    )
    this.directBytes += bytes
  }

  next(): Frame | null {
    if (this.failed !== null) throw this.failed
    try {
      return this.read()
    } catch (err) {
      this.failed = err as Error
      this.chunks = []
      this.head = 0
      this.unreadBytes = 0
      this.direct = null
      this.directBytes = 0
      throw err
    }
  }

  private read(): Frame | null {
    if (this.direct !== null) {
      if (this.directBytes < this.direct.length) return null
      const buf = this.direct
      this.direct = null
      this.directBytes = 0
      this.frameBytes = -1
      return parseFrame(buf)
    }
    if (this.frameBytes < 0) {
      if (this.unreadBytes < SIZE_PREFIX_BYTES) return null
      const size = this.take(SIZE_PREFIX_BYTES).readUInt32BE(0)
      if (size > this.frameBytesMax) throw new FrameTooLargeError(size, this.frameBytesMax)
      if (size < FRAME_HEADER_BYTES) {
        throw new ProtocolError(`frame size ${size} is smaller than the ${FRAME_HEADER_BYTES}-byte frame header`)
      }
      this.frameBytes = size
    }
    if (this.unreadBytes < this.frameBytes) return null
    const bytes = this.frameBytes
    const first = this.chunks[this.head]!
    if (this.allocateFrame !== null && first.length - this.chunkPosition < bytes) {
      // The frame spans chunks, so it is copied anyway: into the reader's buffer if it has one for this api.
      const pooled = this.allocateFrame(bytes, this.peekUInt16())
      if (pooled !== null) {
        assert(pooled.length >= bytes, 'a frame buffer holds the frame')
        const frame = parseFrame(this.take(bytes, pooled))
        this.frameBytes = -1
        frame.pooled = pooled
        return frame
      }
    }
    const buf = this.take(bytes)
    this.frameBytes = -1
    return parseFrame(buf)
  }

  /** The first two buffered bytes, big-endian (at least two are buffered). */
  private peekUInt16(): number {
    const first = this.chunks[this.head]!
    if (first.length - this.chunkPosition >= 2) return first.readUInt16BE(this.chunkPosition)
    return (first[this.chunkPosition]! << 8) | this.chunks[this.head + 1]![0]!
  }

  /** Removes `bytes` (all buffered) from the front; a view when they sit in one chunk, else one copy (into `into`
   *  when given). */
  private take(bytes: number, into: Buffer | null = null): Buffer {
    assert(bytes <= this.unreadBytes, 'take past the buffered bytes')
    this.unreadBytes -= bytes
    const first = this.chunks[this.head]
    assert(first !== undefined, 'a chunk is buffered')
    if (first.length - this.chunkPosition >= bytes) {
      const view = first.subarray(this.chunkPosition, this.chunkPosition + bytes)
      this.advance(bytes)
      return view
    }
    const out = into === null ? Buffer.allocUnsafe(bytes) : into.subarray(0, bytes)
    let filled = 0
    while (filled < bytes) {
      const chunk = this.chunks[this.head]
      assert(chunk !== undefined, 'a chunk is buffered')
      const n = Math.min(bytes - filled, chunk.length - this.chunkPosition)
      chunk.copy(out, filled, this.chunkPosition, this.chunkPosition + n)
      filled += n
      this.advance(n)
    }
    return out
  }

  private advance(bytes: number): void {
    this.chunkPosition += bytes
    const first = this.chunks[this.head]
    if (first !== undefined && this.chunkPosition === first.length) {
      this.chunks[this.head] = EMPTY
      this.head += 1
      this.chunkPosition = 0
      // Drop read chunks in one splice once they are half the array: O(1) amortised even for 1-byte chunks.
      if (this.head === this.chunks.length) {
        this.chunks = []
        this.head = 0
      } else if (this.head >= 64 && this.head * 2 >= this.chunks.length) {
        this.chunks = this.chunks.slice(this.head)
        this.head = 0
      }
    }
  }
}

/** `buf` holds exactly one frame without its size prefix. */
function parseFrame(buf: Buffer): Frame {
  const flags = buf.readUInt8(8)
  if ((flags & ~FLAGS_KNOWN) !== 0) throw new ProtocolError(`unknown frame flags 0x${flags.toString(16)}`)
  return {
    apiKey: buf.readUInt16BE(0),
    apiVersion: buf.readUInt16BE(2),
    correlationId: buf.readUInt32BE(4),
    flags,
    body: buf.subarray(FRAME_HEADER_BYTES),
  }
}

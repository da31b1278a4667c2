// Frame encoding and the streaming decoder: any chunking of a byte stream yields the same frames, bad size prefixes
// are refused before the frame's bytes are kept, and the decoder never holds more than what it was given.
import { describe, expect, test } from 'vitest'
import { FrameTooLargeError, ProtocolError } from '../errors.js'
import {
  encodeFrame,
  encodeFrameHeader,
  FLAG_ERROR,
  FLAG_RESPONSE,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  type Frame,
} from './frame.js'
import { Random } from '../testing/random.js'

/** Seeded so a failing run can be replayed. */
function random(seed: number): () => number {
  const random = new Random(seed)
  return () => random.next()
}

function makeFrames(rand: () => number, count: number): Frame[] {
  const frames: Frame[] = []
  for (let i = 0; i < count; i++) {
    const bodyBytes = rand() < 0.1 ? 0 : Math.floor(rand() * 3000)
    const body = Buffer.alloc(bodyBytes)
    for (let j = 0; j < bodyBytes; j++) body[j] = Math.floor(rand() * 256)
    frames.push({
      apiKey: Math.floor(rand() * 65536),
      apiVersion: Math.floor(rand() * 65536),
      correlationId: Math.floor(rand() * 2 ** 32),
      flags: [0, FLAG_RESPONSE, FLAG_RESPONSE | FLAG_ERROR][i % 3] as number,
      body,
    })
  }
  return frames
}

function decodeAll(decoder: FrameDecoder, chunks: Buffer[]): Frame[] {
  const out: Frame[] = []
  for (const chunk of chunks) {
    decoder.push(chunk)
    for (let f = decoder.next(); f !== null; f = decoder.next()) out.push({ ...f, body: Buffer.from(f.body) })
  }
  return out
}

function plain(frames: Frame[]) {
  return frames.map((f) => ({ ...f, body: f.body.toString('hex') }))
}

describe('FrameDecoder', () => {
  test('round trip: frames fed one byte at a time come out whole and in order', () => {
    const frames = makeFrames(random(1), 40)
    const stream = Buffer.concat(frames.map((f) => encodeFrame(f, f.body)))
    const bytes = [...stream].map((b) => Buffer.from([b]))
    const decoder = new FrameDecoder()
    expect(plain(decodeAll(decoder, bytes))).toEqual(plain(frames))
    expect(decoder.bufferedBytes).toBe(0)
  })

  test('round trip: any random chunking of the stream yields the same frames', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const rand = random(seed)
      const frames = makeFrames(rand, 30)
      const stream = Buffer.concat(frames.map((f) => encodeFrame(f, f.body)))
      const chunks: Buffer[] = []
      for (let pos = 0; pos < stream.length;) {
        const n = 1 + Math.floor(rand() * (rand() < 0.5 ? 16 : 8000))
        chunks.push(stream.subarray(pos, pos + n))
        pos += n
      }
      expect(plain(decodeAll(new FrameDecoder(), chunks)), `seed ${seed}`).toEqual(plain(frames))
    }
  })

  test('a frame held in one chunk is returned as a view, without a copy', () => {
    const body = Buffer.from('hello')
    const chunk = encodeFrame({ apiKey: 1, apiVersion: 0, correlationId: 7, flags: 0 }, body)
    const decoder = new FrameDecoder()
    decoder.push(chunk)
    const frame = decoder.next()
    expect(frame?.body.buffer).toBe(chunk.buffer)
    expect(frame?.body.toString()).toBe('hello')
  })

  test('a frame spanning chunks is assembled in the buffer allocateFrame gives for its api key (read across any split); null or one chunk: as before', () => {
    const pooledKey = 0x0106 // two different bytes: a misread of either shows
    const frames = [
      { apiKey: pooledKey, apiVersion: 1, correlationId: 1, flags: 0, body: Buffer.alloc(300, 1) },
      { apiKey: 7, apiVersion: 1, correlationId: 2, flags: 0, body: Buffer.alloc(300, 2) },
      { apiKey: pooledKey, apiVersion: 1, correlationId: 3, flags: 0, body: Buffer.alloc(5, 3) },
    ]
    const stream = Buffer.concat(frames.map((f) => encodeFrame(f, f.body)))
    for (let chunkBytes = 1; chunkBytes <= 400; chunkBytes += chunkBytes < 20 ? 1 : 37) {
      const decoder = new FrameDecoder()
      const asked: number[] = []
      const given: Buffer[] = []
      decoder.allocateFrame = (bytes, apiKey) => {
        asked.push(apiKey)
        if (apiKey !== pooledKey) return null
        const buf = Buffer.alloc(bytes + 10)
        given.push(buf)
        return buf
      }
      const out: Frame[] = []
      for (let pos = 0; pos < stream.length; pos += chunkBytes) {
        decoder.push(stream.subarray(pos, pos + chunkBytes))
        for (let f = decoder.next(); f !== null; f = decoder.next()) out.push(f)
      }
      const where = `chunks of ${chunkBytes}`
      expect(
        out.map((f) => [f.apiKey, f.correlationId, f.body.toString('hex')]),
        where,
      ).toEqual(frames.map((f) => [f.apiKey, f.correlationId, f.body.toString('hex')]))
      // asked only for the frames whose bytes after the size prefix span chunks, with their api key
      const spans: boolean[] = []
      for (let i = 0, start = 0; i < frames.length; i++) {
        const end = start + 4 + FRAME_HEADER_BYTES + frames[i]!.body.length
        spans.push(Math.floor((start + 4) / chunkBytes) !== Math.floor((end - 1) / chunkBytes))
        start = end
      }
      expect(asked, where).toEqual(frames.filter((_, i) => spans[i]).map((f) => f.apiKey))
      for (const f of out) {
        if (f.pooled === undefined) continue
        expect(f.apiKey, where).toBe(pooledKey)
        expect(given).toContain(f.pooled)
        expect(f.body.buffer, where).toBe(f.pooled.buffer)
      }
      // pooled exactly when it spans chunks and its api asks for it; otherwise a view of its chunk or a fresh copy
      expect(
        out.map((f) => f.pooled !== undefined),
        where,
      ).toEqual(frames.map((f, i) => spans[i]! && f.apiKey === pooledKey))
      expect(out.some((f) => f.pooled !== undefined)).toBe(spans[0]! || spans[2]!)
    }
  })

  test('a size above frameBytesMax is refused from the 4-byte prefix alone, before any body byte arrives', () => {
    const decoder = new FrameDecoder(1024)
    const prefix = Buffer.alloc(4)
    prefix.writeUInt32BE(0xffff_fff0)
    decoder.push(prefix)
    expect(() => decoder.next()).toThrow(FrameTooLargeError)
    expect(decoder.bufferedBytes).toBe(0)
    // A failed decoder stays failed: the stream has lost its framing.
    expect(() => decoder.next()).toThrow(FrameTooLargeError)
  })

  test('the largest allowed frame passes and one byte more is refused', () => {
    const max = 100
    const ok = encodeFrame(
      { apiKey: 0, apiVersion: 0, correlationId: 0, flags: 0 },
      Buffer.alloc(max - FRAME_HEADER_BYTES),
    )
    const decoder = new FrameDecoder(max)
    decoder.push(ok)
    expect(decoder.next()?.body.length).toBe(max - FRAME_HEADER_BYTES)
    const tooBig = encodeFrameHeader(
      { apiKey: 0, apiVersion: 0, correlationId: 0, flags: 0 },
      max - FRAME_HEADER_BYTES + 1,
    )
    decoder.push(tooBig)
    expect(() => decoder.next()).toThrow(/exceeds frameBytesMax 100/)
  })

  test('a size smaller than the frame header is a ProtocolError', () => {
    const decoder = new FrameDecoder()
    decoder.push(Buffer.from([0, 0, 0, FRAME_HEADER_BYTES - 1]))
    expect(() => decoder.next()).toThrow(ProtocolError)
  })

  test('unknown flag bits are a ProtocolError', () => {
    const frame = encodeFrame({ apiKey: 0, apiVersion: 0, correlationId: 0, flags: 0 }, Buffer.alloc(0))
    frame[12] = 0x80
    const decoder = new FrameDecoder()
    decoder.push(frame)
    expect(() => decoder.next()).toThrow(/unknown frame flags/)
  })

  test('a truncated frame stays pending: no frame, bytes held, complete once the rest arrives', () => {
    const frame = encodeFrame({ apiKey: 3, apiVersion: 1, correlationId: 9, flags: 0 }, Buffer.from('abcdef'))
    const decoder = new FrameDecoder()
    decoder.push(frame.subarray(0, frame.length - 2))
    expect(decoder.next()).toBeNull()
    expect(decoder.bufferedBytes).toBe(frame.length - 2 - 4)
    decoder.push(frame.subarray(frame.length - 2))
    expect(decoder.next()?.body.toString()).toBe('abcdef')
  })

  test('a large frame split into many 1-byte chunks decodes (no quadratic chunk bookkeeping)', () => {
    const body = Buffer.alloc(200_000, 7)
    const stream = encodeFrame({ apiKey: 1, apiVersion: 0, correlationId: 1, flags: 0 }, body)
    const decoder = new FrameDecoder()
    for (let i = 0; i < stream.length; i++) decoder.push(stream.subarray(i, i + 1))
    expect(decoder.next()?.body.equals(body)).toBe(true)
  })

  test('reading in place (readTarget/wrote) mixed with push() at random sizes yields the same frames, seed 7', () => {
    const rand = random(7)
    const frames = makeFrames(rand, 30)
    for (let i = 0; i < frames.length; i += 4) frames[i]!.body = Buffer.alloc(20_000 + Math.floor(rand() * 50_000), i)
    const stream = Buffer.concat(frames.map((f) => encodeFrame(f, f.body)))
    const decoder = new FrameDecoder()
    const out: Frame[] = []
    let position = 0
    let inPlace = 0
    // Each turn moves at least one byte of the stream into the decoder.
    while (position < stream.length) {
      const want = 1 + Math.floor(rand() * 9000)
      const target = decoder.readTarget(1024)
      if (target !== null) {
        const n = Math.min(want, target.length, stream.length - position)
        stream.copy(target, 0, position, position + n)
        decoder.wrote(n)
        inPlace += n
        position += n
      } else {
        const n = Math.min(want, stream.length - position)
        decoder.push(Buffer.from(stream.subarray(position, position + n)))
        position += n
      }
      for (let f = decoder.next(); f !== null; f = decoder.next()) out.push({ ...f, body: Buffer.from(f.body) })
    }
    expect(plain(out)).toEqual(plain(frames))
    expect(inPlace).toBeGreaterThan(stream.length / 2)
    expect(decoder.bufferedBytes).toBe(0)
  })

  test('a frame is read in place only once a sixteenth of it has arrived, and never past its end', () => {
    const body = Buffer.alloc(160_000, 3)
    const frame = encodeFrame({ apiKey: 1, apiVersion: 0, correlationId: 5, flags: FLAG_RESPONSE }, body)
    const decoder = new FrameDecoder()
    decoder.push(frame.subarray(0, 100))
    expect(decoder.next()).toBeNull()
    expect(decoder.readTarget(1)).toBeNull() // 87 of 160,009 bytes: allocating the frame now would cost 1,800x
    decoder.push(frame.subarray(100, 20_000))
    expect(decoder.next()).toBeNull()
    const target = decoder.readTarget(1)!
    expect(target.length).toBe(frame.length - 20_000)
    expect(decoder.bufferedBytes).toBe(20_000 - 4)
    expect(() => decoder.wrote(target.length + 1)).toThrow()
    frame.copy(target, 0, 20_000)
    decoder.wrote(target.length)
    const got = decoder.next()!
    expect(got.correlationId).toBe(5)
    expect(got.body.equals(body)).toBe(true)
    expect(decoder.readTarget(1)).toBeNull() // no frame pending
  })

  test('no in-place read is offered when less than minBytes of the frame is missing', () => {
    const frame = encodeFrame({ apiKey: 1, apiVersion: 0, correlationId: 1, flags: 0 }, Buffer.alloc(10_000))
    const decoder = new FrameDecoder()
    decoder.push(frame.subarray(0, 9_000))
    expect(decoder.next()).toBeNull()
    expect(decoder.readTarget(2_000)).toBeNull()
    expect(decoder.readTarget(500)).not.toBeNull()
  })
})

// The one msgpackr instance of the wire (DESIGN.md §8). Bodies are plain msgpack maps/arrays; a Buffer field (a
// produce batch, fetched records) travels as msgpack bin, so record batches cross the wire as raw bytes and decode as
// a view into the frame (never re-encoded record by record). `encodeBodyParts` goes one step further for large
// Buffers: they are not copied into the encoded body at all but handed to the socket as separate parts (writev), with
// only their bin header in the msgpack stream — the bytes on the wire are exactly what `encodeBody` would produce.
// No records/structures extension, no shared state between messages: every body decodes on its own. Decoding
// allocates at most about the body's size (checkMsgpackLengths refuses counts the bytes cannot hold, the frame decoder
// bounds the body); malformed bodies become a ProtocolError.
import { randomBytes } from 'node:crypto'
import { Packr } from 'msgpackr'
import { ProtocolError } from '../errors.js'
import { assert } from '../util/assert.js'
import { checkMsgpackLengths } from './msgpack-lengths.js'

const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  moreTypes: false,
  bundleStrings: false,
  int64AsType: 'number',
  // Dates would need a type on the wire; timestamps travel as epoch-millisecond numbers.
  useTimestamp32: false,
})

/** Buffers at least this large travel as their own part instead of being copied into the body. */
export const ZERO_COPY_BYTES_MIN = 4096
/** How deep encodeBodyParts looks for Buffers (bodies are shallow; deeper ones are simply copied). */
const ZERO_COPY_DEPTH_MAX = 6
const MARKER_BYTES = 16
/** A per-process random marker; a large Buffer is first encoded as this bin, then spliced out of the output. */
const MARKER = randomBytes(MARKER_BYTES)
const MARKER_BIN = Buffer.concat([Buffer.from([0xc4, MARKER_BYTES]), MARKER])

/** Encodes a body; `undefined` (a void result) travels as nil. */
export function encodeBody(value: unknown): Buffer {
  return packr.pack(value === undefined ? null : value)
}

/** Replaces large Buffers with the marker (copying containers, never mutating the caller's value). */
function extractBuffers(value: unknown, found: Buffer[], depth: number): unknown {
  if (Buffer.isBuffer(value)) {
    if (value.length < ZERO_COPY_BYTES_MIN) return value
    found.push(value)
    return MARKER
  }
  if (depth >= ZERO_COPY_DEPTH_MAX || typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) {
    let copy: unknown[] | null = null
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i]
      const replaced = extractBuffers(item, found, depth + 1)
      if (replaced !== item) (copy ??= value.slice())[i] = replaced
    }
    return copy ?? value
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return value
  let copy: Record<string, unknown> | null = null
  for (const [key, item] of Object.entries(value)) {
    const replaced = extractBuffers(item, found, depth + 1)
    if (replaced !== item) (copy ??= { ...(value as Record<string, unknown>) })[key] = replaced
  }
  return copy ?? value
}

function binHeader(bytes: number): Buffer {
  if (bytes <= 0xffff) return Buffer.from([0xc5, bytes >>> 8, bytes & 0xff])
  const header = Buffer.allocUnsafe(5)
  header[0] = 0xc6
  header.writeUInt32BE(bytes, 1)
  return header
}

/**
 * Encodes a body as parts to write in order; large Buffers are parts of their own (not copied). The concatenation
 * equals `encodeBody(value)` byte for byte.
 */
export function encodeBodyParts(value: unknown): Buffer[] {
  const found: Buffer[] = []
  const replaced = extractBuffers(value === undefined ? null : value, found, 0)
  const encoded = packr.pack(replaced)
  if (found.length === 0) return [encoded]
  const parts: Buffer[] = []
  let from = 0
  for (const buf of found) {
    // Markers appear in the output in traversal order (msgpackr writes keys and items in order).
    const at = encoded.indexOf(MARKER_BIN, from)
    assert(at >= 0, 'zero-copy marker not found in the encoded body')
    if (at > from) parts.push(encoded.subarray(from, at))
    parts.push(binHeader(buf.length), buf)
    from = at + MARKER_BIN.length
  }
  if (from < encoded.length) parts.push(encoded.subarray(from))
  return parts
}

/** Decodes exactly one msgpack value filling `body`; anything else is a ProtocolError. */
export function decodeBody(body: Buffer): unknown {
  if (body.length === 0) throw new ProtocolError('empty message body')
  // Before msgpackr allocates anything: no declared length may exceed the bytes that could hold it.
  checkMsgpackLengths(body)
  try {
    // unpack() reads one value and ignores trailing bytes; a body must hold exactly one value, so check the end.
    const values = packr.unpackMultiple(body) as unknown[]
    if (values.length !== 1) throw new ProtocolError(`message body holds ${values.length} values, expected 1`)
    return values[0]
  } catch (err) {
    if (err instanceof ProtocolError) throw err
    throw new ProtocolError(`malformed message body: ${(err as Error).message}`, { cause: err })
  }
}

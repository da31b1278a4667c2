// The one msgpackr instance of the wire (DESIGN.md §8). Bodies are plain msgpack maps/arrays; a Buffer field (a
// produce batch, fetched records) travels as msgpack bin, so record batches cross the wire as raw bytes, copied once
// into the frame and decoded as a view into it (never re-encoded record by record). No records/structures extension,
// no shared state between messages: every body decodes on its own. Decoding allocates at most about the body's size
// (the frame decoder already bounds that); malformed bodies become a ProtocolError.
import { Packr } from 'msgpackr'
import { ProtocolError } from '../errors.js'

const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  moreTypes: false,
  bundleStrings: false,
  int64AsType: 'number',
  // Dates would need a type on the wire; timestamps travel as epoch-millisecond numbers.
  useTimestamp32: false,
})

/** Encodes a body; `undefined` (a void result) travels as nil. */
export function encodeBody(value: unknown): Buffer {
  return packr.pack(value === undefined ? null : value)
}

/** Decodes exactly one msgpack value filling `body`; anything else is a ProtocolError. */
export function decodeBody(body: Buffer): unknown {
  if (body.length === 0) throw new ProtocolError('empty message body')
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

// A pre-flight walk over a msgpack body's headers, run before msgpackr decodes it. msgpackr allocates an array or map
// of the announced count before it reads a single element, so a 6-byte body announcing 2^25 elements costs hundreds of
// MB. Every element needs at least one byte, so a body is refused when the elements it still owes (pending + the new
// container's count) exceed the bytes left, and when a str/bin/ext length runs past the end. That bounds what decoding
// allocates by the body's size. The walk touches headers only (a bin is skipped in one step) and ends within
// body.length turns, because every turn consumes at least one byte.
import { LIMITS } from '../config/limits.js'
import { ProtocolError } from '../errors.js'

/** Bytes after the type byte that hold a length, and how the length counts, for the variable-size types. */
function readLength(body: Buffer, pos: number, width: 1 | 2 | 4): number {
  if (pos + width > body.length) throw new ProtocolError('malformed message body: a length runs past the end')
  return width === 1 ? body[pos]! : width === 2 ? body.readUInt16BE(pos) : body.readUInt32BE(pos)
}

/** Fixed payload bytes after the type byte, for types whose size does not depend on a length field. */
const FIXED_PAYLOAD_BYTES: Readonly<Record<number, number>> = {
  0xc0: 0,
  0xc2: 0,
  0xc3: 0, // nil, false, true
  0xca: 4,
  0xcb: 8, // float32, float64
  0xcc: 1,
  0xcd: 2,
  0xce: 4,
  0xcf: 8, // uint8..64
  0xd0: 1,
  0xd1: 2,
  0xd2: 4,
  0xd3: 8, // int8..64
  0xd4: 2,
  0xd5: 3,
  0xd6: 5,
  0xd7: 9,
  0xd8: 17, // fixext 1..16 (type byte + data)
}

/** Throws ProtocolError when a declared length in `body` cannot fit in the bytes that follow it, or when the body
 *  holds more than `valuesMax` values (what decoding would turn into objects, strings and numbers). */
export function checkMsgpackLengths(body: Buffer, valuesMax: number = LIMITS.msgpackValuesMax): void {
  let pos = 0
  let values = 0
  // Every value in the body is walked, not only the first: the decoder reads them all (unpackMultiple).
  let pending = 1
  while (pending > 0) {
    if (pos >= body.length) throw new ProtocolError('malformed message body: it ends before its last value')
    const type = body[pos++]!
    pending--
    if (++values > valuesMax)
      throw new ProtocolError(`message body holds more than ${valuesMax} values (msgpackValuesMax)`)
    let payloadBytes = 0
    let children = 0
    if (type <= 0x7f || type >= 0xe0)
      payloadBytes = 0 // fixint
    else if (type <= 0x8f)
      children = (type & 0x0f) * 2 // fixmap
    else if (type <= 0x9f)
      children = type & 0x0f // fixarray
    else if (type <= 0xbf)
      payloadBytes = type & 0x1f // fixstr
    else if (type in FIXED_PAYLOAD_BYTES) payloadBytes = FIXED_PAYLOAD_BYTES[type]!
    else {
      switch (type) {
        case 0xc4: // bin8
        case 0xd9: // str8
          payloadBytes = readLength(body, pos, 1)
          pos += 1
          break
        case 0xc5: // bin16
        case 0xda: // str16
          payloadBytes = readLength(body, pos, 2)
          pos += 2
          break
        case 0xc6: // bin32
        case 0xdb: // str32
          payloadBytes = readLength(body, pos, 4)
          pos += 4
          break
        case 0xc7: // ext8: length, type, data
          payloadBytes = readLength(body, pos, 1) + 1
          pos += 1
          break
        case 0xc8: // ext16
          payloadBytes = readLength(body, pos, 2) + 1
          pos += 2
          break
        case 0xc9: // ext32
          payloadBytes = readLength(body, pos, 4) + 1
          pos += 4
          break
        case 0xdc: // array16
          children = readLength(body, pos, 2)
          pos += 2
          break
        case 0xdd: // array32
          children = readLength(body, pos, 4)
          pos += 4
          break
        case 0xde: // map16
          children = readLength(body, pos, 2) * 2
          pos += 2
          break
        case 0xdf: // map32
          children = readLength(body, pos, 4) * 2
          pos += 4
          break
        default:
          throw new ProtocolError(`malformed message body: byte 0x${type.toString(16)} at ${pos - 1} is not msgpack`)
      }
    }
    const left = body.length - pos
    if (payloadBytes > left)
      throw new ProtocolError(
        `malformed message body: a value of ${payloadBytes} bytes runs past the ${left} bytes left`,
      )
    pending += children
    if (pending > left - payloadBytes)
      throw new ProtocolError(
        `malformed message body: ${pending} values are still owed but only ${left - payloadBytes} bytes are left`,
      )
    pos += payloadBytes
    if (pending === 0 && pos < body.length) pending = 1 // another top-level value follows
  }
}

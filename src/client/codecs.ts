// Key and value codecs: how the SDK turns user values into record bytes and back. 'buffer' (the default) passes
// Buffers through and encodes strings as UTF-8; 'string' is UTF-8 both ways; 'json' is JSON in UTF-8; 'msgpack' uses
// one shared msgpackr Packr (plain msgpack, no record extensions, so any msgpack reader can decode it). A null value
// is never given to a codec: null stays null (a tombstone) in both directions.
import { Packr } from 'msgpackr'
import { InvalidArgumentError, SluiceError } from '../errors.js'

export interface Codec {
  encode(value: unknown): Buffer
  decode(buf: Buffer): unknown
}

export type CodecName = 'buffer' | 'string' | 'json' | 'msgpack'
export type CodecOption = CodecName | Codec

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object'
    ? `an object (${(value as object).constructor?.name ?? 'Object'})`
    : `a ${typeof value}`
}

export const bufferCodec: Codec = Object.freeze({
  encode(value: unknown): Buffer {
    if (Buffer.isBuffer(value)) return value
    if (typeof value === 'string') return Buffer.from(value, 'utf8')
    if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength)
    throw new InvalidArgumentError(`the 'buffer' codec takes a Buffer, Uint8Array or string, got ${describe(value)}`)
  },
  decode(buf: Buffer): unknown {
    return buf
  },
})

export const stringCodec: Codec = Object.freeze({
  encode(value: unknown): Buffer {
    if (typeof value === 'string') return Buffer.from(value, 'utf8')
    if (Buffer.isBuffer(value)) return value
    throw new InvalidArgumentError(`the 'string' codec takes a string, got ${describe(value)}`)
  },
  decode(buf: Buffer): unknown {
    return buf.toString('utf8')
  },
})

export const jsonCodec: Codec = Object.freeze({
  encode(value: unknown): Buffer {
    const text = JSON.stringify(value)
    if (text === undefined) throw new InvalidArgumentError(`the 'json' codec cannot encode ${describe(value)}`)
    return Buffer.from(text, 'utf8')
  },
  decode(buf: Buffer): unknown {
    return JSON.parse(buf.toString('utf8'))
  },
})

const packr = new Packr({ useRecords: false })

export const msgpackCodec: Codec = Object.freeze({
  encode(value: unknown): Buffer {
    return packr.pack(value)
  },
  decode(buf: Buffer): unknown {
    return packr.unpack(buf)
  },
})

const NAMED: Record<CodecName, Codec> = {
  buffer: bufferCodec,
  string: stringCodec,
  json: jsonCodec,
  msgpack: msgpackCodec,
}

/** The codec for an option, or a problem string (config validation collects them). */
export function resolveCodec(option: unknown, what: string): Codec | string {
  if (option === undefined) return bufferCodec
  if (typeof option === 'string') {
    const codec = NAMED[option as CodecName]
    return codec ?? `${what} must be 'buffer', 'string', 'json', 'msgpack' or { encode, decode }, got '${option}'`
  }
  if (
    typeof option === 'object' &&
    option !== null &&
    typeof (option as Codec).encode === 'function' &&
    typeof (option as Codec).decode === 'function'
  )
    return option as Codec
  return `${what} must be 'buffer', 'string', 'json', 'msgpack' or { encode, decode }, got ${describe(option)}`
}

/** Encodes with a user codec and checks the result is bytes (a custom codec may return anything). */
export function encodeWith(codec: Codec, value: unknown, what: string): Buffer | null {
  if (value === null || value === undefined) return null
  let out: unknown
  try {
    out = codec.encode(value)
  } catch (err) {
    // A value the codec cannot encode (a circular object for 'json', a BigInt, ...) is the caller's input.
    if (err instanceof SluiceError) throw err
    throw new InvalidArgumentError(`${what} could not be encoded: ${(err as Error)?.message ?? String(err)}`, {
      cause: err,
    })
  }
  if (Buffer.isBuffer(out)) return out
  if (out instanceof Uint8Array) return Buffer.from(out.buffer, out.byteOffset, out.byteLength)
  throw new InvalidArgumentError(`${what} codec returned ${describe(out)}, not a Buffer`)
}

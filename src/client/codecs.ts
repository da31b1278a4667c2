// Key and value codecs: how the SDK turns user values into record bytes and back. 'buffer' (the default) passes
// Buffers through and encodes strings as UTF-8; 'string' is UTF-8 both ways; 'json' is JSON in UTF-8; 'msgpack' uses
// one shared msgpackr Packr (plain msgpack, no record extensions, so any msgpack reader can decode it). A null value
// is never given to a codec: null stays null (a tombstone) in both directions.
import { Packr } from 'msgpackr'
import { InvalidArgumentError, RecordDecodeError, SluiceError } from '../errors.js'

/** A key or value codec: `T` is what it decodes to, `E` what it takes to encode (a codec of your own can say, e.g.
 *  `Codec<Order>`). */
export interface Codec<T = unknown, E = T> {
  encode(value: E): Buffer
  decode(buf: Buffer): T
}

export type CodecName = 'buffer' | 'string' | 'json' | 'msgpack'
export type CodecOption = CodecName | Codec

/** What messages read with codec option `C` hold (null aside): a Buffer by default and for 'buffer', a string for
 *  'string', `T` for a `Codec<T>`, `unknown` for 'json' and 'msgpack' (any JSON or msgpack value). */
export type Decoded<C> = C extends undefined | 'buffer'
  ? Buffer
  : C extends 'string'
    ? string
    : C extends { decode(buf: Buffer): infer T }
      ? T
      : unknown

/** What codec option `C` takes to encode (null aside): 'buffer' (the default) a Buffer, Uint8Array or string,
 *  'string' a string or Buffer, a `Codec<T>` a `T`, 'json' and 'msgpack' anything they can encode. */
export type Encodable<C> = C extends undefined | 'buffer'
  ? Buffer | Uint8Array | string
  : C extends 'string'
    ? string | Buffer
    : C extends { encode(value: infer E): Buffer }
      ? E
      : unknown

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object'
    ? `an object (${(value as object).constructor?.name ?? 'Object'})`
    : `a ${typeof value}`
}

export const bufferCodec: Codec<Buffer, Buffer | Uint8Array | string> = Object.freeze({
  encode(value: unknown): Buffer {
    if (Buffer.isBuffer(value)) return value
    if (typeof value === 'string') return Buffer.from(value, 'utf8')
    if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength)
    throw new InvalidArgumentError(`the 'buffer' codec takes a Buffer, Uint8Array or string, got ${describe(value)}`)
  },
  decode(buf: Buffer): Buffer {
    return buf
  },
})

export const stringCodec: Codec<string, string | Buffer> = Object.freeze({
  encode(value: unknown): Buffer {
    if (typeof value === 'string') return Buffer.from(value, 'utf8')
    if (Buffer.isBuffer(value)) return value
    throw new InvalidArgumentError(`the 'string' codec takes a string, got ${describe(value)}`)
  },
  decode(buf: Buffer): string {
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

/** Decodes a fetched record's key and value in place with the codecs (keys and values arrive as Buffers; the default
 *  codec keeps them). A codec that throws gives a RecordDecodeError naming the record, with its error as the cause. */
export function decodeMessageWith<
  M extends { topic: string; partition: number; offset: number; key: unknown; value: unknown },
>(m: M, keyCodec: Codec, valueCodec: Codec): M {
  if (keyCodec !== bufferCodec && m.key !== null) m.key = decodeField(m, keyCodec, m.key as Buffer, 'key')
  if (valueCodec !== bufferCodec && m.value !== null) m.value = decodeField(m, valueCodec, m.value as Buffer, 'value')
  return m
}

function decodeField(
  m: { topic: string; partition: number; offset: number },
  codec: Codec,
  bytes: Buffer,
  field: string,
): unknown {
  try {
    return codec.decode(bytes)
  } catch (err) {
    throw new RecordDecodeError(m.topic, m.partition, m.offset, field, { cause: err })
  }
}

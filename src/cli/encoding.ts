// How the CLI writes and reads record bytes as text lines: utf8 as the text is, base64 and hex for any bytes (a binary
// key or value). `consume --encoding` writes them, `produce --encoding` reads them back, so the two round-trip.
import { InvalidArgumentError } from '../errors.js'
import { UsageError } from './context.js'

export const ENCODINGS = ['utf8', 'base64', 'hex'] as const
export type Encoding = (typeof ENCODINGS)[number]

/** The --encoding flag's value, checked (utf8 when absent). */
export function parseEncoding(flag: string | undefined): Encoding {
  if (flag === undefined) return 'utf8'
  if (!(ENCODINGS as readonly string[]).includes(flag))
    throw new UsageError(`--encoding must be one of ${ENCODINGS.join(', ')}, got "${flag}"`)
  return flag as Encoding
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const HEX = /^(?:[0-9a-fA-F]{2})*$/

/** `text` as bytes: the text itself for utf8; strictly decoded for base64 and hex (Buffer.from would skip bad
 *  characters silently), with an error naming `what` otherwise. */
export function textToBytes(text: string, encoding: Encoding, what: string): string | Buffer {
  if (encoding === 'utf8') return text
  if (!(encoding === 'hex' ? HEX : BASE64).test(text))
    throw new InvalidArgumentError(`${what} is not valid ${encoding}`)
  return Buffer.from(text, encoding)
}

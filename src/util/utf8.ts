// UTF-8 length and writes of short strings (record keys, header keys) without Node's Buffer.write argument handling,
// which costs ~100 ns per call against ~20 for a loop over a short ASCII string. Longer or non-ASCII strings take
// Node's own encoder, so the bytes are always exactly Buffer.from(s, 'utf8').
const FAST_CHARS_MAX = 32

/** Bytes of `s` in UTF-8. */
export function utf8Length(s: string): number {
  const n = s.length
  if (n > FAST_CHARS_MAX) return Buffer.byteLength(s, 'utf8')
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s, 'utf8')
  return n
}

/** Writes `s` as UTF-8 at `pos` (`bytes` = utf8Length(s), room already checked); returns the bytes written. */
export function writeUtf8(buf: Buffer, pos: number, s: string, bytes: number): number {
  const n = s.length
  if (bytes !== n || n > FAST_CHARS_MAX) return buf.write(s, pos, bytes, 'utf8')
  for (let i = 0; i < n; i++) buf[pos + i] = s.charCodeAt(i)
  return n
}

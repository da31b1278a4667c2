// CRC-32C (Castagnoli) over a byte range, returned unsigned. The one place that imports `crc-32/crc32c`, so a
// faster implementation can be swapped in after measuring. Known value: crc32c("123456789") = 0xE3069283.
import CRC32C from 'crc-32/crc32c.js'

export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length): number {
  const view = start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end)
  return CRC32C.buf(view, 0) >>> 0
}

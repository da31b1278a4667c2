// CRC-32C (Castagnoli) over a byte range, returned unsigned. The one place that computes it: buffers of at least
// NATIVE_MIN_BYTES go to the native `@node-rs/crc32` (~4-6 GB/s from 2 KiB up, measured), smaller ones to the
// pure-JS `crc-32/crc32c` (~1.5 GB/s, but no native-call overhead, so faster below the crossover). Measured crossover
// on these machines (2x AMD EPYC, Node 20): between 256 B and 512 B. If the native module does not load (missing
// prebuilt binary for the platform), every size uses crc-32. Known value: crc32c("123456789") = 0xE3069283.
import { createRequire } from 'node:module'
import CRC32C from 'crc-32/crc32c.js'

/** Buffers this size and larger use the native implementation when it is available. */
export const NATIVE_MIN_BYTES = 512

type NativeCrc32c = (input: Uint8Array, initialState?: number) => number

function loadNative(): NativeCrc32c | null {
  try {
    const mod = createRequire(import.meta.url)('@node-rs/crc32') as { crc32c?: unknown }
    const fn = mod.crc32c
    if (typeof fn !== 'function') return null
    const native = fn as NativeCrc32c
    // Guard against a broken binary: it must agree with the known vector before it is trusted.
    return native(Buffer.from('123456789')) >>> 0 === 0xe3069283 ? native : null
  } catch {
    return null
  }
}

const native = loadNative()

/** True when the native implementation loaded (exported for tests and benchmarks). */
export const crc32cNativeLoaded = native !== null

export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length): number {
  // A plain Uint8Array view: Buffer#subarray looks up its species constructor on every call, which costs more than
  // checksumming a small batch.
  const view =
    start === 0 && end === bytes.length
      ? bytes
      : start >= 0 && start <= end && end <= bytes.length
        ? new Uint8Array(bytes.buffer, bytes.byteOffset + start, end - start)
        : bytes.subarray(start, end) // what subarray's clamping makes of an odd range
  if (native !== null && view.length >= NATIVE_MIN_BYTES) return native(view) >>> 0
  return CRC32C.buf(view, 0) >>> 0
}

/** The pure-JS implementation at any size (for tests that the two paths agree). */
export function crc32cJs(bytes: Uint8Array, start = 0, end = bytes.length): number {
  return CRC32C.buf(bytes.subarray(start, end), 0) >>> 0
}

/** The native implementation at any size, or null when it did not load (for tests that the two paths agree). */
export function crc32cNative(bytes: Uint8Array, start = 0, end = bytes.length): number | null {
  return native === null ? null : native(bytes.subarray(start, end)) >>> 0
}

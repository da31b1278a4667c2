import { randomBytes } from 'node:crypto'
import { describe, expect, test } from 'vitest'
import { crc32c, crc32cJs, crc32cNative, crc32cNativeLoaded, NATIVE_MIN_BYTES } from './crc32c.js'

describe('crc32c', () => {
  test('known vector: crc32c("123456789") is 0xE3069283 on both paths and across the size threshold', () => {
    const vector = Buffer.from('123456789')
    expect(crc32c(vector)).toBe(0xe3069283)
    expect(crc32cJs(vector)).toBe(0xe3069283)
    if (crc32cNativeLoaded) expect(crc32cNative(vector)).toBe(0xe3069283)
    // The same bytes padded past the threshold, read through start/end, take the size-picked path.
    const padded = Buffer.alloc(NATIVE_MIN_BYTES * 2, 0x78)
    vector.copy(padded, 100)
    expect(crc32c(padded, 100, 109)).toBe(0xe3069283)
  })

  test('the native and pure-JS paths agree on random buffers of many sizes and offsets', () => {
    const seed = randomBytes(4).readUInt32LE(0)
    let state = seed || 1
    const rand = (n: number): number => {
      state ^= state << 13
      state ^= state >>> 17
      state ^= state << 5
      return (state >>> 0) % n
    }
    const pool = randomBytes(70_000)
    const sizes = [0, 1, 2, 3, 7, 8, 15, 16, 63, 255, 256, 511, 512, 513, 1023, 1024, 4095, 16_384, 65_536]
    for (let i = 0; i < 40; i++) sizes.push(rand(20_000))
    for (const size of sizes) {
      for (const start of [0, 1, 3, rand(pool.length - size)]) {
        const end = start + size
        const js = crc32cJs(pool, start, end)
        expect(crc32c(pool, start, end), `seed ${seed}, size ${size}, start ${start}`).toBe(js)
        expect(crc32c(pool.subarray(start, end)), `seed ${seed}, size ${size}, start ${start}`).toBe(js)
        if (crc32cNativeLoaded)
          expect(crc32cNative(pool, start, end), `seed ${seed}, size ${size}, start ${start}`).toBe(js)
      }
    }
  })
})

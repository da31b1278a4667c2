// The batch buffer pool hands out buffers by size class, keeps at most freeBytesMax given back, and refuses foreign buffers.
import { describe, expect, test } from 'vitest'
import { AssertionError } from '../util/assert.js'
import { BatchBufferPool, CLASS_BYTES_MIN } from './batch-buffer-pool.js'
import { BatchBuilder } from './batch-builder.js'

const KiB = 1024
const finish = {
  compression: 'none',
  producerId: -1,
  producerEpoch: -1,
  baseSequence: -1,
  batchBytesMax: 1 << 24,
} as const

describe('BatchBufferPool', () => {
  test('sizes are powers of two from 64 KiB, the largest cut to the capacity', () => {
    const pool = new BatchBufferPool(1000 * KiB, 0)
    expect(pool.pools(CLASS_BYTES_MIN - 1)).toBe(false)
    expect(pool.pools(CLASS_BYTES_MIN)).toBe(true)
    expect(pool.classBytes(64 * KiB)).toBe(64 * KiB)
    expect(pool.classBytes(64 * KiB + 1)).toBe(128 * KiB)
    expect(pool.classBytes(300 * KiB)).toBe(512 * KiB)
    expect(pool.classBytes(513 * KiB)).toBe(1000 * KiB)
    expect(() => pool.classBytes(1000 * KiB + 1)).toThrow(AssertionError)
    // a capacity below the smallest class: only capacity-size buffers are pooled
    const small = new BatchBufferPool(8 * KiB, 0)
    expect(small.pools(8 * KiB - 1)).toBe(false)
    expect(small.classBytes(8 * KiB)).toBe(8 * KiB)
  })

  test('a given-back buffer is handed out again for its class only; no more than freeBytesMax are kept', () => {
    const pool = new BatchBufferPool(1024 * KiB, 256 * KiB)
    const a = pool.take(100 * KiB)
    const b = pool.take(128 * KiB)
    const c = pool.take(65 * KiB)
    expect([a.length, b.length, c.length]).toEqual([128 * KiB, 128 * KiB, 128 * KiB])
    expect(new Set([a.buffer, b.buffer, c.buffer]).size).toBe(3)
    pool.give(a)
    pool.give(b)
    pool.give(c) // past 256 KiB: left to the GC
    expect(pool.freeBytes).toBe(256 * KiB)
    expect(pool.take(64 * KiB).length).toBe(64 * KiB) // another class: fresh
    const again = [pool.take(128 * KiB), pool.take(120 * KiB)]
    expect(again).toContain(a)
    expect(again).toContain(b)
    expect(pool.freeBytes).toBe(0)
    pool.give(again[0]!)
    pool.clear()
    expect(pool.freeBytes).toBe(0)
  })

  test('a buffer of no class, or a view into one, is refused as a programmer error', () => {
    const pool = new BatchBufferPool(1024 * KiB, 4096 * KiB)
    expect(() => pool.give(Buffer.alloc(32 * KiB))).toThrow(AssertionError)
    expect(() => pool.give(Buffer.alloc(100 * KiB))).toThrow(AssertionError)
    expect(() => pool.give(Buffer.alloc(256 * KiB).subarray(1, 128 * KiB + 1))).toThrow(AssertionError)
    expect(pool.freeBytes).toBe(0)
  })

  test('a builder takes pooled buffers for what it expects, gives back what it outgrows, and the rest on release', () => {
    const pool = new BatchBufferPool(1024 * KiB, 4096 * KiB)
    const value = Buffer.alloc(1000, 0x61)
    const small = new BatchBuilder(1024 * KiB, 0, pool)
    small.append(null, -1, value, value.length, 1, undefined)
    small.finish(finish)
    small.release()
    expect(pool.freeBytes).toBe(0) // its 4 KiB first buffer is Node's, not the pool's
    const expected = new BatchBuilder(1024 * KiB, 150 * KiB, pool)
    expected.append(null, -1, value, value.length, 1, undefined)
    const first = expected.finish(finish)
    expect(first.buffer.byteLength).toBe(256 * KiB)
    expected.release()
    expect(pool.freeBytes).toBe(256 * KiB)
    // the same class again: the same memory
    const next = new BatchBuilder(1024 * KiB, 200 * KiB, pool)
    next.append(null, -1, value, value.length, 2, undefined)
    expect(pool.freeBytes).toBe(0)
    // outgrowing it: the 256 KiB buffer goes back as the 512 KiB one is taken, with the records copied over
    for (let i = 0; i < 300; i++) next.append(null, -1, value, value.length, 2, undefined)
    expect(pool.freeBytes).toBe(256 * KiB)
    const grown = next.finish(finish)
    expect(grown.buffer.byteLength).toBe(512 * KiB)
    expect(grown.buffer).not.toBe(first.buffer)
    next.release()
    expect(pool.freeBytes).toBe(768 * KiB)
  })
})

// The batch buffer pool hands out buffers of one size, keeps at most keepMax given back, and refuses foreign buffers.
import { describe, expect, test } from 'vitest'
import { AssertionError } from '../util/assert.js'
import { BatchBufferPool } from './batch-buffer-pool.js'
import { BatchBuilder } from './batch-builder.js'

describe('BatchBufferPool', () => {
  test('a given-back buffer is handed out again; no more than keepMax are kept; clear drops them', () => {
    const pool = new BatchBufferPool(1024, 2)
    const a = pool.take()
    const b = pool.take()
    const c = pool.take()
    expect([a.length, b.length, c.length]).toEqual([1024, 1024, 1024])
    expect(new Set([a.buffer, b.buffer, c.buffer]).size).toBe(3)
    pool.give(a)
    pool.give(b)
    pool.give(c)
    expect(pool.size).toBe(2)
    const again = [pool.take(), pool.take()]
    expect(again).toContain(b)
    expect(again).toContain(a)
    expect(pool.size).toBe(0)
    pool.give(again[0]!)
    pool.clear()
    expect(pool.size).toBe(0)
  })

  test('a buffer of another size or a view into one is refused as a programmer error', () => {
    const pool = new BatchBufferPool(1024, 4)
    expect(() => pool.give(Buffer.alloc(512))).toThrow(AssertionError)
    expect(() => pool.give(Buffer.alloc(2048).subarray(1, 1025))).toThrow(AssertionError)
    expect(pool.size).toBe(0)
  })

  test('a builder takes only full-size buffers from the pool and gives them back on release', () => {
    const pool = new BatchBufferPool(8192, 4)
    const value = Buffer.alloc(1000, 0x61)
    const finish = {
      compression: 'none',
      producerId: -1,
      producerEpoch: -1,
      baseSequence: -1,
      batchBytesMax: 1 << 20,
    } as const
    const small = new BatchBuilder(8192, 0, pool)
    small.append(null, -1, value, value.length, 1, undefined)
    small.finish(finish)
    small.release()
    expect(pool.size).toBe(0) // its 4 KiB first buffer is not the pool's size
    const full = new BatchBuilder(8192, 8192, pool)
    for (let i = 0; i < 7; i++) full.append(null, -1, value, value.length, 1, undefined)
    const bytes = full.finish(finish)
    expect(bytes.buffer.byteLength).toBe(8192)
    full.release()
    expect(pool.size).toBe(1)
    const next = new BatchBuilder(8192, 8192, pool)
    next.append(null, -1, value, value.length, 2, undefined)
    expect(next.finish(finish).buffer).toBe(bytes.buffer)
    expect(pool.size).toBe(0)
  })
})

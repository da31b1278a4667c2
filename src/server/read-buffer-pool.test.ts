// The fetch read-buffer pool hands a buffer to one lease at a time, reuses it only after that lease is released, and
// keeps at most its bound of free bytes; small reads are not pooled.
import { describe, expect, test } from 'vitest'
import { CLASS_BYTES_MIN, ReadBufferPool } from './read-buffer-pool.js'

const KiB = 1024
const MiB = 1024 * KiB

describe('read buffer pool', () => {
  test('sizes round up to powers of two from 64 KiB', () => {
    const pool = new ReadBufferPool(0)
    const classBytes = (bytes: number): number => pool.classBytes(bytes)
    expect(classBytes(1)).toBe(CLASS_BYTES_MIN)
    expect(classBytes(64 * KiB)).toBe(64 * KiB)
    expect(classBytes(64 * KiB + 1)).toBe(128 * KiB)
    expect(classBytes(MiB)).toBe(MiB)
    expect(classBytes(MiB + 1)).toBe(2 * MiB)
    expect(classBytes(24 * MiB)).toBe(32 * MiB)
  })

  test('a released buffer is reused by the next lease; a held one never is', () => {
    const pool = new ReadBufferPool(8 * MiB)
    const first = pool.lease()
    const a = first.allocate(MiB)
    expect(a.length).toBe(MiB)
    const second = pool.lease()
    const b = second.allocate(MiB)
    expect(b.buffer).not.toBe(a.buffer) // first still holds its buffer
    first.release()
    expect(pool.freeBytes).toBe(MiB)
    const third = pool.lease()
    const c = third.allocate(700 * KiB) // same 1 MiB class
    expect(c.length).toBe(700 * KiB)
    expect(c.buffer).toBe(a.buffer)
    expect(pool.freeBytes).toBe(0)
    second.release()
    third.release()
    expect(pool.freeBytes).toBe(2 * MiB)
  })

  test('every buffer a lease took goes back at release, once; release twice gives nothing back twice', () => {
    const pool = new ReadBufferPool(8 * MiB)
    const lease = pool.lease()
    lease.allocate(100 * KiB)
    lease.allocate(MiB)
    lease.allocate(300 * KiB)
    expect(lease.takenCount).toBe(3)
    lease.release()
    expect(pool.freeBytes).toBe(128 * KiB + MiB + 512 * KiB)
    lease.release()
    expect(pool.freeBytes).toBe(128 * KiB + MiB + 512 * KiB)
    expect(() => lease.allocate(MiB)).toThrow(/released lease/)
  })

  test('reads under 64 KiB are plain allocations, not pooled', () => {
    const pool = new ReadBufferPool(8 * MiB)
    const lease = pool.lease()
    const small = lease.allocate(CLASS_BYTES_MIN - 1)
    expect(small.length).toBe(CLASS_BYTES_MIN - 1)
    expect(lease.takenCount).toBe(0)
    lease.release()
    expect(pool.freeBytes).toBe(0)
  })

  test('free bytes stay within the bound; 0 keeps nothing', () => {
    const pool = new ReadBufferPool(3 * MiB)
    const leases = Array.from({ length: 5 }, () => pool.lease())
    for (const l of leases) l.allocate(MiB)
    for (const l of leases) l.release()
    expect(pool.freeBytes).toBe(3 * MiB)
    const none = new ReadBufferPool(0)
    const l = none.lease()
    l.allocate(MiB)
    l.release()
    expect(none.freeBytes).toBe(0)
  })
})

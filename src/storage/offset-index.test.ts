// Unit tests of the in-memory offset index: lookups by binary search, truncation, byte round trips, and parse
// refusing files that are short, unordered or point past the log.
import { describe, expect, test } from 'vitest'
import { OffsetIndex } from './offset-index.js'

describe('OffsetIndex', () => {
  test('entryBefore finds the last entry whose batch ends before the target, growing past its initial capacity', () => {
    const index = new OffsetIndex(1)
    for (let i = 0; i < 100; i++) index.append(i * 10 + 9, i * 1000) // batch i holds relative offsets [10i, 10i + 9]
    expect(index.entryCount).toBe(100)
    expect(index.entryBefore(0)).toBe(-1)
    expect(index.entryBefore(9)).toBe(-1)
    expect(index.entryBefore(10)).toBe(0)
    expect(index.entryBefore(555)).toBe(54)
    expect(index.positionAt(index.entryBefore(555))).toBe(54_000)
    expect(index.entryBefore(1e9)).toBe(99)
  })

  test('truncateToPosition drops entries at or past the position; bytes round-trip through parse', () => {
    const index = new OffsetIndex()
    for (let i = 0; i < 10; i++) index.append(i * 2 + 1, i * 100)
    index.truncateToPosition(450)
    expect(index.entryCount).toBe(5)
    const parsed = OffsetIndex.parse(index.toBytes(), 1000)
    expect(parsed).toBeInstanceOf(OffsetIndex)
    expect((parsed as OffsetIndex).toBytes().equals(index.toBytes())).toBe(true)
  })

  test('parse refuses a short file, unordered entries and positions past the log', () => {
    const index = new OffsetIndex()
    index.append(5, 100)
    index.append(9, 200)
    const bytes = index.toBytes()
    expect(OffsetIndex.parse(bytes.subarray(0, 12), 1000)).toMatch(/multiple of 8/)
    expect(OffsetIndex.parse(Buffer.concat([bytes, OffsetIndex.entryBytes(3, 300)]), 1000)).toMatch(/not after/)
    expect(OffsetIndex.parse(Buffer.concat([bytes, OffsetIndex.entryBytes(12, 150)]), 1000)).toMatch(/not after/)
    expect(OffsetIndex.parse(bytes, 200)).toMatch(/past the log/)
    expect(OffsetIndex.parse(Buffer.alloc(0), 0)).toBeInstanceOf(OffsetIndex)
  })
})

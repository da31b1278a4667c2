// Unit tests of the in-memory time index: lookups of the last entry older than a timestamp, truncation, exact int64
// round trips, and parse refusing files that are short, non-monotonic or name offsets past the segment.
import { describe, expect, test } from 'vitest'
import { TimeIndex } from './time-index.js'

describe('TimeIndex', () => {
  test('lastRelativeOffsetBefore finds the last entry strictly older than the timestamp', () => {
    const index = new TimeIndex(1)
    for (let i = 0; i < 50; i++) index.append(1_700_000_000_000 + i * 100, i * 3)
    expect(index.lastRelativeOffsetBefore(1_700_000_000_000)).toBe(-1)
    expect(index.lastRelativeOffsetBefore(1_700_000_000_001)).toBe(0)
    expect(index.lastRelativeOffsetBefore(1_700_000_000_100)).toBe(0)
    expect(index.lastRelativeOffsetBefore(1_700_000_004_950)).toBe(49 * 3)
    expect(index.lastTimestamp).toBe(1_700_000_004_900)
  })

  test('truncation and a byte round trip keep int64 timestamps exact', () => {
    const index = new TimeIndex()
    index.append(-5, 0)
    index.append(2 ** 40 + 1, 4)
    index.append(2 ** 52, 9)
    index.truncateToRelativeOffset(9)
    expect(index.entryCount).toBe(2)
    const parsed = TimeIndex.parse(index.toBytes(), 10) as TimeIndex
    expect([parsed.timestampAt(0), parsed.timestampAt(1), parsed.relativeOffsetAt(1)]).toEqual([-5, 2 ** 40 + 1, 4])
  })

  test('parse refuses short files, non-monotonic timestamps and offsets past the segment', () => {
    const good = Buffer.concat([TimeIndex.entryBytes(10, 0), TimeIndex.entryBytes(20, 5)])
    expect(TimeIndex.parse(good.subarray(0, 13), 10)).toMatch(/multiple of 12/)
    expect(TimeIndex.parse(Buffer.concat([good, TimeIndex.entryBytes(15, 7)]), 10)).toMatch(/not after/)
    expect(TimeIndex.parse(good, 5)).toMatch(/past the segment/)
    expect(TimeIndex.parse(good, 6)).toBeInstanceOf(TimeIndex)
  })
})

// Unit tests of the pure segment scan: counts and index entries for valid bytes, the first bad batch found with its
// position, whether valid batches follow it, offsets that do not continue, and the IndexPolicy spacing rule.
import { describe, expect, test } from 'vitest'
import { makeBatch } from '../testing/storage-data.js'
import { POS, setBaseOffset } from '../storage/record-batch.js'
import { crc32c } from '../util/crc32c.js'
import { IndexPolicy, OFFSET_ENTRY, TIME_ENTRY, buildIndexes, scanSegment, verifySegmentBytes } from './segment-scan.js'

function segmentBytes(
  baseOffset: number,
  batches: number,
  recordsPerBatch = 2,
): { bytes: Buffer; positions: number[] } {
  const parts: Buffer[] = []
  const positions: number[] = []
  let offset = baseOffset
  let position = 0
  for (let i = 0; i < batches; i++) {
    const b = makeBatch(`v${i}`, recordsPerBatch, 1000 + i * 10)
    setBaseOffset(b, 0, offset)
    offset += recordsPerBatch
    positions.push(position)
    position += b.length
    parts.push(b)
  }
  return { bytes: Buffer.concat(parts), positions }
}

describe('scanSegment', () => {
  test('valid bytes: batch and record counts, next offset, max timestamp, no problem', () => {
    const { bytes } = segmentBytes(100, 10)
    const scan = verifySegmentBytes(bytes, 100)
    expect(scan).toMatchObject({
      batchCount: 10,
      recordCount: 20,
      nextOffset: 120,
      maxTimestamp: 1091,
      validBytes: bytes.length,
      problem: null,
    })
  })

  test('index entries follow the interval: keyed by the last offset, pointing at the batch start', () => {
    const { bytes, positions } = segmentBytes(0, 10)
    const batchBytes = positions[1]!
    const scan = buildIndexes(bytes, 0, batchBytes * 3)
    expect(Array.from(scan.offsetEntries)).toEqual([5, positions[2]!, 11, positions[5]!, 17, positions[8]!])
    expect(Array.from(scan.timeRelativeOffsets)).toEqual([5, 11, 17])
    expect(Array.from(scan.timeTimestamps)).toEqual([1021, 1051, 1081])
    expect(scan.bytesSinceEntry).toBe(batchBytes)
  })

  test('a corrupt batch in the middle is reported at its position with the valid batch that follows', () => {
    const { bytes, positions } = segmentBytes(0, 6)
    bytes[positions[2]! + 65]! ^= 0xff
    const scan = verifySegmentBytes(bytes, 0)
    expect(scan.validBytes).toBe(positions[2])
    expect(scan.nextOffset).toBe(4)
    expect(scan.problem).toMatchObject({
      position: positions[2],
      expectedOffset: 4,
      validBatchAfterPosition: positions[3],
    })
    expect(scan.problem!.message).toMatch(/CRC/)
  })

  test('log verify (verifySegmentBytes) also parses every record: a batch flagged gzip but not compressed is a problem', () => {
    const { bytes, positions } = segmentBytes(0, 4)
    const at = positions[2]!
    bytes.writeInt16BE(bytes.readInt16BE(at + POS.attributes) | 1, at + POS.attributes)
    bytes.writeUInt32BE(crc32c(bytes, at + POS.attributes, positions[3]!), at + POS.crc)
    // Recovery's scan checks CRC and structure only (what the broker refuses at append is not its concern).
    expect(scanSegment(bytes, 0).problem).toBeNull()
    const scan = verifySegmentBytes(bytes, 0)
    expect(scan.problem).toMatchObject({ position: at, validBatchAfterPosition: positions[3] })
    expect(scan.problem!.message).toMatch(/gzip records section does not decompress/)
  })

  test('a torn last batch is a problem with nothing valid after it', () => {
    const { bytes, positions } = segmentBytes(0, 4)
    const scan = verifySegmentBytes(bytes.subarray(0, bytes.length - 7), 0)
    expect(scan.problem).toMatchObject({ position: positions[3], validBatchAfterPosition: -1 })
    expect(scan.batchCount).toBe(3)
  })

  test('offsets that do not continue from the base offset are a problem', () => {
    const { bytes } = segmentBytes(50, 3)
    expect(scanSegment(bytes, 40).problem).toMatchObject({
      position: 0,
      message: 'batch starts at offset 50, expected 40',
    })
  })
})

describe('IndexPolicy', () => {
  test('an entry once intervalBytes accumulate; a time entry only when the max timestamp grew', () => {
    const policy = new IndexPolicy(100)
    expect(policy.onBatch(60, 10)).toBe(0)
    expect(policy.onBatch(60, 5)).toBe(OFFSET_ENTRY | TIME_ENTRY)
    expect(policy.onBatch(100, 7)).toBe(OFFSET_ENTRY) // max still 10
    expect(policy.onBatch(100, 11)).toBe(OFFSET_ENTRY | TIME_ENTRY)
    expect(policy.maxTimestamp).toBe(11)
  })
})

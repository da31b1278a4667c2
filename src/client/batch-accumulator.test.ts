// The accumulator closes a batch when the next record would pass batchBytes, when lingerMs has passed, or on
// closeAll; records keep their append order within a partition's batches.
import { afterEach, describe, expect, test, vi } from 'vitest'
import { BATCH_HEADER_BYTES } from '../config/limits.js'
import { BatchAccumulator, OpenBatch, type PartitionQueue, type PendingRequest } from './batch-accumulator.js'

const request: PendingRequest = { resolve: () => {}, reject: () => {}, results: null, remaining: 1, settled: false }
const record = (i: number) => ({ key: null, value: Buffer.from(String(i)), timestamp: i })

afterEach(() => {
  vi.useRealTimers()
})

describe('BatchAccumulator', () => {
  test('a batch closes when the next record would pass batchBytes; order is kept across batches', () => {
    const closed: number[] = []
    const acc = new BatchAccumulator(BATCH_HEADER_BYTES + 100, 60_000, (q) => closed.push(q.ready.length))
    const q = acc.queue('t', 0)
    for (let i = 0; i < 10; i++) acc.append(q, record(i), 30, request, 0)
    // 3 records of 30 bytes fit in 100; the 4th opens a new batch
    expect(q.ready.map((b) => b.records.length)).toEqual([3, 3, 3])
    expect(q.current?.records.length).toBe(1)
    expect(closed).toEqual([1, 2, 3])
    acc.closeAll()
    expect(q.ready.flatMap((b) => b.records.map((r) => r.timestamp))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(q.ready.every((b) => b.recordBytes === b.records.length * 30)).toBe(true)
  })

  test('with no open batch, records join the newest closed batch still waiting for dispatch, up to batchBytes', () => {
    const acc = new BatchAccumulator(BATCH_HEADER_BYTES + 100, 60_000, () => {})
    const q = acc.queue('t', 0)
    acc.append(q, record(0), 30, request, 0)
    acc.close(q) // closed but not dispatched: the in-flight window is full
    for (let i = 1; i < 6; i++) acc.append(q, record(i), 30, request, 0)
    // 0,1,2 fill the waiting batch; 3 opens a new one, which takes 4 and 5
    expect(q.ready.map((b) => b.records.map((r) => r.timestamp))).toEqual([[0, 1, 2]])
    expect(q.ready[0]!.recordCount).toBe(3)
    expect(q.ready[0]!.recordBytes).toBe(90)
    expect(q.current?.records.map((r) => r.timestamp)).toEqual([3, 4, 5])
    q.ready.shift() // dispatched: later records no longer join it
    acc.close(q)
    acc.append(q, record(6), 30, request, 0)
    expect(q.ready.map((b) => b.records.map((r) => r.timestamp))).toEqual([[3, 4, 5]])
    expect(q.current?.records.map((r) => r.timestamp)).toEqual([6])
    acc.stopTimers()
  })

  test('a batch closes once lingerMs has passed since it opened, not before', () => {
    vi.useFakeTimers()
    const closedQueues: PartitionQueue[] = []
    const acc = new BatchAccumulator(1 << 20, 50, (q) => closedQueues.push(q))
    const q = acc.queue('t', 1)
    acc.append(q, record(1), 10, request, 0)
    vi.advanceTimersByTime(49)
    acc.append(q, record(2), 10, request, 0)
    expect(closedQueues).toHaveLength(0)
    vi.advanceTimersByTime(1)
    expect(closedQueues).toEqual([q])
    expect(q.ready[0]!.records).toHaveLength(2)
    expect(q.current).toBeNull()
  })

  test('queues are per topic and partition', () => {
    const acc = new BatchAccumulator(1 << 20, 5, () => {})
    expect(acc.queue('a', 0)).toBe(acc.queue('a', 0))
    expect(acc.queue('a', 0)).not.toBe(acc.queue('a', 1))
    expect(acc.queue('a', 0)).not.toBe(acc.queue('b', 0))
    expect([...acc.all()]).toHaveLength(3)
    acc.stopTimers()
  })

  test('release() drops the records of an encoded batch but keeps its record count and every timestamp', () => {
    for (const timestamps of [
      [5, 5, 5],
      [7, 3, 9, 3],
    ]) {
      const batch = new OpenBatch()
      for (const t of timestamps) {
        batch.records.push({ key: null, value: null, timestamp: t })
        batch.recordCount++
      }
      batch.release()
      expect(batch.records).toHaveLength(0)
      expect(batch.recordCount).toBe(timestamps.length)
      expect(timestamps.map((_, i) => batch.timestampOf(i))).toEqual(timestamps)
    }
  })
})

// The accumulator closes a batch when the next record would pass batchBytes, when lingerMs has passed, or on
// closeAll; records keep their append order within a partition's batches, a closed batch still waiting for
// dispatch takes later records while they fit, and a run of one call's records is taken under the same limits.
import { afterEach, describe, expect, test, vi } from 'vitest'
import { BATCH_HEADER_BYTES } from '../config/limits.js'
import { decodeRecords } from '../storage/record-batch.js'
import { BatchAccumulator, type OpenBatch, type PartitionQueue, type PendingRequest } from './batch-accumulator.js'
import { PreparedRecords } from './prepared-records.js'

const request: PendingRequest = { resolve: () => {}, reject: () => {}, results: null, remaining: 1, settled: false }

/** Appends record `i` (value = String(i), timestamp i) with an estimated size of `bytes`. */
function add(acc: BatchAccumulator, q: PartitionQueue, i: number, bytes: number): void {
  const value = Buffer.from(String(i))
  acc.append(q, null, -1, value, value.length, i, undefined, bytes, request, 0)
}

/** The timestamps of a batch's records, read back from its finished bytes. */
function timestamps(batch: OpenBatch | null | undefined): number[] {
  if (batch === null || batch === undefined) return []
  const bytes = batch.builder.finish({
    compression: 'none',
    producerId: -1,
    producerEpoch: -1,
    baseSequence: -1,
    batchBytesMax: 1 << 20,
  })
  return decodeRecords(bytes).map((r) => r.timestamp)
}

afterEach(() => {
  vi.useRealTimers()
})

/** `count` prepared records: value String(i), timestamp i, estimated size `bytes` each. */
function prepared(count: number, bytes: number): PreparedRecords {
  const records = new PreparedRecords(count)
  for (let i = 0; i < count; i++) {
    const value = Buffer.from(String(i))
    records.values[i] = value
    records.keyBytes[i] = -1
    records.valueBytes[i] = value.length
    records.timestamps[i] = i
    records.bytes[i] = bytes
  }
  return records
}

describe('BatchAccumulator', () => {
  test('appendRun takes records into the open batch while each fits it, the step and the buffer, as append would', () => {
    const results = { partitions: new Int32Array(0), offsets: new Float64Array(0), timestamps: new Float64Array(0) }
    const call = { ...request, results } as unknown as PendingRequest
    const acc = new BatchAccumulator(BATCH_HEADER_BYTES + 100, 60_000, () => {})
    const q = acc.queue('t', 0)
    const records = prepared(40, 30)
    expect(acc.appendRun(q, records, null, 0, 40, Infinity, Infinity, call)).toBe(0) // no open batch: append() opens one
    acc.append(q, null, -1, records.values[0]!, records.valueBytes[0]!, 0, undefined, 30, call, 0)
    // the batch holds 100 bytes of records: 3 of 30 in all, so the run takes 2
    expect(acc.appendRun(q, records, null, 1, 40, Infinity, Infinity, call)).toBe(2)
    expect(acc.runBytes).toBe(60)
    expect(q.current!.bytes).toBe(BATCH_HEADER_BYTES + 90)
    expect(acc.appendRun(q, records, null, 3, 40, Infinity, Infinity, call)).toBe(0) // the next does not fit
    acc.close(q)
    const first = q.ready.shift()! // sent
    expect(timestamps(first)).toEqual([0, 1, 2])
    expect([first.runFirstSlots, first.runCounts, first.slots]).toEqual([[0], [3], null]) // one run, slots 0..2
    // the step: a record is taken while the run's bytes before it are under stepLeft (1: the first only, though the
    // batch has room for two)
    acc.append(q, null, -1, records.values[3]!, records.valueBytes[3]!, 3, undefined, 30, call, 3)
    expect(acc.appendRun(q, records, null, 4, 40, 1, Infinity, call)).toBe(1)
    // the buffer: a record is taken only if its end is within bufferLeft (10: none)
    acc.close(q)
    const dispatched = q.ready.splice(0) // sent: a new record opens a batch instead of joining this one
    acc.append(q, null, -1, records.values[5]!, records.valueBytes[5]!, 5, undefined, 30, call, 5)
    expect(acc.appendRun(q, records, null, 6, 40, Infinity, 10, call)).toBe(0)
    expect(acc.appendRun(q, records, null, 6, 7, Infinity, Infinity, call)).toBe(1) // and never past `to`
    acc.close(q)
    dispatched.push(...q.ready.splice(0))
    expect(dispatched.map((b) => timestamps(b))).toEqual([
      [3, 4],
      [5, 6],
    ])
  })

  test('a batch closes when the next record would pass batchBytes; order is kept across batches', () => {
    const closed: number[] = []
    const acc = new BatchAccumulator(BATCH_HEADER_BYTES + 100, 60_000, (q) => {
      closed.push(q.ready.length)
    })
    const q = acc.queue('t', 0)
    // 3 records of 30 bytes fit in 100; the 4th opens a new batch. Each closed batch is taken (dispatched) at once.
    const dispatched: OpenBatch[] = []
    for (let i = 0; i < 10; i++) {
      add(acc, q, i, 30)
      dispatched.push(...q.ready.splice(0))
    }
    expect(dispatched.map((b) => b.recordCount)).toEqual([3, 3, 3])
    expect(q.current?.recordCount).toBe(1)
    expect(closed).toEqual([1, 1, 1])
    acc.closeAll()
    dispatched.push(...q.ready.splice(0))
    expect(dispatched.flatMap((b) => timestamps(b))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(dispatched.every((b) => b.recordBytes === b.recordCount * 30)).toBe(true)
  })

  test('with no open batch, records join the newest closed batch still waiting for dispatch, up to batchBytes', () => {
    const acc = new BatchAccumulator(BATCH_HEADER_BYTES + 100, 60_000, () => {})
    const q = acc.queue('t', 0)
    add(acc, q, 0, 30)
    acc.close(q) // closed but not dispatched: the in-flight window is full
    for (let i = 1; i < 6; i++) add(acc, q, i, 30)
    // 0,1,2 fill the waiting batch; 3 opens a new one, which takes 4 and 5
    expect(q.ready).toHaveLength(1)
    expect(q.ready[0]!.recordCount).toBe(3)
    expect(q.ready[0]!.recordBytes).toBe(90)
    expect(timestamps(q.current)).toEqual([3, 4, 5])
    expect(timestamps(q.ready.shift())).toEqual([0, 1, 2]) // dispatched: later records no longer join it
    acc.close(q)
    add(acc, q, 6, 30)
    expect(q.ready.map((b) => timestamps(b))).toEqual([[3, 4, 5]])
    expect(timestamps(q.current)).toEqual([6])
    acc.stopTimers()
  })

  test('a batch closes once lingerMs has passed since it opened, not before', () => {
    vi.useFakeTimers()
    const closedQueues: PartitionQueue[] = []
    const acc = new BatchAccumulator(1 << 20, 50, (q) => closedQueues.push(q))
    const q = acc.queue('t', 1)
    add(acc, q, 1, 10)
    vi.advanceTimersByTime(49)
    add(acc, q, 2, 10)
    expect(closedQueues).toHaveLength(0)
    vi.advanceTimersByTime(1)
    expect(closedQueues).toEqual([q])
    expect(q.ready[0]!.recordCount).toBe(2)
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
})

// Unit tests of the reliability checker on hand-made histories: a valid history counts nothing, and each anomaly it
// exists to find is counted (and only that one) when planted.
import { describe, expect, test } from 'vitest'
import { checkHistory, type CheckerCounts, type HistoryOp, type PartitionRead, NO_ANOMALIES } from './checker.js'

/** invoke + ok for each [partition, value, offset]. */
function acked(client: number, sends: Array<[number, string, number]>): HistoryOp[] {
  return sends.flatMap(([partition, value, offset]) => [
    { client, type: 'invoke' as const, partition, value },
    { client, type: 'ok' as const, partition, value, offset },
  ])
}

function read(partition: number, values: string[], logStartOffset = 0): PartitionRead {
  return { partition, logStartOffset, records: values.map((value, i) => ({ offset: logStartOffset + i, value })) }
}

/** Counts that are non-zero. */
function nonZero(counts: CheckerCounts): Partial<CheckerCounts> {
  return Object.fromEntries(Object.entries(counts).filter(([, n]) => n !== 0))
}

function poll(client: number, partition: number, offset: number, value: string): HistoryOp {
  return { client, type: 'ok', f: 'poll', partition, offset, value }
}

const base = acked(0, [
  [0, 'a', 0],
  [0, 'b', 1],
  [1, 'c', 0],
])
const baseReads = [read(0, ['a', 'b']), read(1, ['c'])]

describe('checker', () => {
  test('a valid history with every acknowledged value at its offset counts no anomaly', () => {
    const report = checkHistory(base, baseReads)
    expect(report.counts).toEqual(NO_ANOMALIES)
    expect(report.anomalies).toBe(0)
    expect(report.sends).toEqual({ invoked: 3, ok: 3, fail: 0, info: 0, pending: 0 })
    expect(report.recordsRead).toBe(3)
  })

  test('an info send may be read once or not at all; an unfinished invoke counts as pending', () => {
    const history: HistoryOp[] = [
      ...base,
      { client: 1, type: 'invoke', partition: 0, value: 'x' },
      { client: 1, type: 'info', partition: 0, value: 'x', error: 'TIMEOUT' },
      { client: 1, type: 'invoke', partition: 0, value: 'y' },
      { client: 1, type: 'info', partition: 0, value: 'y', error: 'CONNECTION' },
      { client: 2, type: 'invoke', partition: 1, value: 'z' },
    ]
    const report = checkHistory(history, [read(0, ['a', 'b', 'x']), read(1, ['c', 'z'])])
    expect(report.anomalies).toBe(0)
    expect(report.sends).toEqual({ invoked: 6, ok: 3, fail: 0, info: 2, pending: 1 })
  })

  test('an acknowledged value missing from its offset is lost', () => {
    const report = checkHistory(base, [read(0, ['a']), read(1, ['c'])])
    expect(nonZero(report.counts)).toEqual({ lost: 1 })
    expect(report.examples[0]).toContain('b acknowledged at 0:1')
  })

  test('an acknowledged value read at another offset is lost (and leaves a gap where it belonged)', () => {
    const reads: PartitionRead[] = [
      {
        partition: 0,
        logStartOffset: 0,
        records: [
          { offset: 0, value: 'a' },
          { offset: 2, value: 'b' },
        ],
      },
      read(1, ['c']),
    ]
    expect(nonZero(checkHistory(base, reads).counts)).toEqual({ lost: 1, gaps: 1 })
  })

  test('one offset read with two values is an offset conflict', () => {
    const reads: PartitionRead[] = [
      {
        partition: 0,
        logStartOffset: 0,
        records: [
          { offset: 0, value: 'a' },
          { offset: 1, value: 'b' },
          { offset: 1, value: 'q' },
        ],
      },
      read(1, ['c']),
    ]
    const history = [...base, { client: 3, type: 'invoke' as const, partition: 0, value: 'q' }]
    expect(nonZero(checkHistory(history, reads).counts)).toEqual({ offsetConflicts: 1 })
  })

  test('two acknowledgements of one offset with different values are an offset conflict', () => {
    const history = [...base, ...acked(1, [[1, 'd', 0]])]
    const report = checkHistory(history, baseReads)
    // d is also lost: offset 0 of partition 1 holds c
    expect(nonZero(report.counts)).toEqual({ offsetConflicts: 1, lost: 1 })
  })

  test('a value read twice is a duplicate with the idempotent producer, and not counted without it', () => {
    const reads = [read(0, ['a', 'b', 'b']), read(1, ['c'])]
    expect(nonZero(checkHistory(base, reads).counts)).toEqual({ duplicates: 1 })
    expect(nonZero(checkHistory(base, reads, { idempotent: false }).counts)).toEqual({})
  })

  test('an info send read twice is a duplicate', () => {
    const history: HistoryOp[] = [
      ...base,
      { client: 1, type: 'invoke', partition: 1, value: 'x' },
      { client: 1, type: 'info', partition: 1, value: 'x', error: 'CONNECTION' },
    ]
    expect(nonZero(checkHistory(history, [read(0, ['a', 'b']), read(1, ['c', 'x', 'x'])]).counts)).toEqual({
      duplicates: 1,
    })
  })

  test('a failed send whose value is read is an aborted read', () => {
    const history: HistoryOp[] = [
      ...base,
      { client: 1, type: 'invoke', partition: 0, value: 'f' },
      { client: 1, type: 'fail', partition: 0, value: 'f', error: 'INVALID_ARGUMENT' },
    ]
    expect(nonZero(checkHistory(history, [read(0, ['a', 'b', 'f']), read(1, ['c'])]).counts)).toEqual({
      abortedReads: 1,
    })
    expect(checkHistory(history, baseReads).anomalies).toBe(0)
  })

  test('missing offsets between the log start and the last record read are gaps, one per offset', () => {
    const history = acked(0, [
      [0, 'a', 5],
      [0, 'b', 8],
    ])
    const reads: PartitionRead[] = [
      {
        partition: 0,
        logStartOffset: 4,
        records: [
          { offset: 5, value: 'a' },
          { offset: 8, value: 'b' },
        ],
      },
    ]
    // 4 (the log start itself), 6 and 7
    expect(nonZero(checkHistory(history, reads).counts)).toEqual({ gaps: 3 })
  })

  test("a client's acknowledged offsets that go backwards or repeat on a partition are non-monotonic", () => {
    const history = acked(0, [
      [0, 'a', 1],
      [0, 'b', 0],
      [1, 'c', 0],
    ])
    expect(nonZero(checkHistory(history, [read(0, ['b', 'a']), read(1, ['c'])]).counts)).toEqual({
      nonMonotonicAcks: 1,
    })
    // another client's acks interleave freely
    const two = [...acked(0, [[0, 'a', 1]]), ...acked(1, [[0, 'b', 0]])]
    expect(checkHistory(two, [read(0, ['b', 'a'])]).anomalies).toBe(0)
  })

  test('a value read that was never sent is unknown', () => {
    expect(nonZero(checkHistory(base, [read(0, ['a', 'b', 'ghost']), read(1, ['c'])]).counts)).toEqual({
      unknownValues: 1,
    })
  })

  test('a malformed history (value sent twice, completion without invoke, ok without offset) is refused', () => {
    expect(() => checkHistory([...base, ...acked(1, [[0, 'a', 2]])], baseReads)).toThrow(/invoked twice/)
    expect(() => checkHistory([{ client: 0, type: 'ok', partition: 0, value: 'a', offset: 0 }], [])).toThrow(
      /no pending invoke/,
    )
    expect(() =>
      checkHistory(
        [
          { client: 0, type: 'invoke', partition: 0, value: 'a' },
          { client: 0, type: 'ok', partition: 0, value: 'a' },
        ],
        [],
      ),
    ).toThrow(/no offset/)
  })

  test('a consumer that delivers every offset in order, and resumes anywhere after an assign, counts nothing', () => {
    const history: HistoryOp[] = [
      ...base,
      poll(5, 0, 0, 'a'),
      poll(5, 0, 1, 'b'),
      { client: 5, type: 'ok', f: 'assign', partition: 0 },
      poll(5, 0, 0, 'a'),
      { client: 5, type: 'ok', f: 'commit', partition: 0, offset: 1 },
      poll(5, 1, 0, 'c'),
    ]
    expect(checkHistory(history, baseReads, { committed: [{ partition: 0, offset: 2 }] }).anomalies).toBe(0)
  })

  test('a consumer position that skips an offset or goes back without an assign is counted', () => {
    const reads = [read(0, ['a', 'b', 'x']), read(1, ['c'])]
    const history: HistoryOp[] = [
      ...base,
      { client: 1, type: 'invoke', partition: 0, value: 'x' },
      { client: 1, type: 'info', partition: 0, value: 'x', error: 'TIMEOUT' },
      poll(5, 0, 0, 'a'),
      poll(5, 0, 2, 'x'),
      poll(5, 0, 1, 'b'),
    ]
    expect(nonZero(checkHistory(history, reads).counts)).toEqual({ consumerSkips: 1, consumerBackwards: 1 })
  })

  test('a consumer delivered a value the log does not hold at that offset: an offset conflict', () => {
    const history: HistoryOp[] = [...base, poll(5, 0, 1, 'a')]
    expect(nonZero(checkHistory(history, baseReads).counts)).toEqual({ offsetConflicts: 1 })
  })

  test('a committed offset after the restart older than the last acknowledged commit is stale', () => {
    const history: HistoryOp[] = [
      ...base,
      { client: 5, type: 'ok', f: 'commit', partition: 0, offset: 1 },
      { client: 5, type: 'ok', f: 'commit', partition: 0, offset: 2 },
      { client: 5, type: 'ok', f: 'commit', partition: 1, offset: 1 },
    ]
    const committed = [
      { partition: 0, offset: 1 },
      { partition: 1, offset: 1 },
    ]
    expect(nonZero(checkHistory(history, baseReads, { committed }).counts)).toEqual({ staleCommits: 1 })
    // a partition with no commit at all after the restart is stale too
    expect(nonZero(checkHistory(history, baseReads, { committed: [{ partition: 0, offset: 2 }] }).counts)).toEqual({
      staleCommits: 1,
    })
  })

  test('a commit lowered to a recovered log end is not stale where the record it covered was lost; lower is', () => {
    // Committed 2 on partition 0; a crash took 'b' (offset 1), the broker lowered the commit to the log end (1), and
    // a later record 'y' took offset 1.
    const history: HistoryOp[] = [
      ...base,
      { client: 5, type: 'ok', f: 'commit', partition: 0, offset: 2 },
      ...acked(1, [[0, 'y', 1]]),
    ]
    const reads = [read(0, ['a', 'y']), read(1, ['c'])]
    const counts = checkHistory(history, reads, { committed: [{ partition: 0, offset: 1 }] }).counts
    expect(nonZero(counts)).toEqual({ lost: 1, offsetConflicts: 1 })
    // Lowered past a record that survived (offset 0 still holds 'a'): stale.
    expect(checkHistory(history, reads, { committed: [{ partition: 0, offset: 0 }] }).counts.staleCommits).toBe(1)
  })
})

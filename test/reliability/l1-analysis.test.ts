// The L1 analysis rules on hand-made runs: each anomaly planted must be found, and what the rules allow (a stale
// report of a killed or removed member, a redelivery above the last commit) must not be counted.
import { describe, expect, test } from 'vitest'
import {
  duplicatesOutsideWindow,
  lagRecoveries,
  ownershipIntervals,
  ownershipOverlaps,
  type LagSample,
  type OwnershipEvent,
  type SessionEnds,
} from './l1-analysis.js'

const ends = (over: Partial<SessionEnds> = {}): SessionEnds => ({
  deaths: new Map(),
  removals: new Map(),
  brokerKills: [],
  endOfRun: 10_000,
  ...over,
})
const ev = (
  member: number,
  t: number,
  kind: OwnershipEvent['kind'],
  partitions: number[],
  memberId = `m${member}`,
) => ({
  member,
  t,
  kind,
  memberId,
  partitions,
})

describe('L1 ownership rule', () => {
  test('a hand-over where the old owner revoked before the new one was assigned is no overlap', () => {
    const iv = ownershipIntervals(
      [ev(0, 100, 'assign', [1]), ev(0, 500, 'revoke', [1]), ev(1, 500, 'assign', [1])],
      ends(),
    )
    expect(ownershipOverlaps(iv)).toEqual([])
  })

  test('two live members holding one partition at once are counted, with the overlap length', () => {
    const iv = ownershipIntervals(
      [ev(0, 100, 'assign', [1, 2]), ev(1, 400, 'assign', [1]), ev(0, 700, 'revoke', [1])],
      ends(),
    )
    expect(ownershipOverlaps(iv)).toEqual([{ partition: 1, members: [0, 1], ms: 300 }])
  })

  test("a SIGKILLed member's last report is stale from its death on", () => {
    const events = [ev(0, 100, 'assign', [3]), ev(1, 4_000, 'assign', [3])]
    expect(ownershipOverlaps(ownershipIntervals(events, ends({ deaths: new Map([[0, 1_000]]) })))).toEqual([])
    // Without the death the same reports are a double owner.
    expect(ownershipOverlaps(ownershipIntervals(events, ends()))).toHaveLength(1)
  })

  test('a member removed by the coordinator (session over) owns nothing after the removal, even before it notices', () => {
    const events = [ev(0, 100, 'assign', [3]), ev(1, 3_200, 'assign', [3]), ev(0, 3_500, 'lost', [3])]
    const removed = ownershipIntervals(events, ends({ removals: new Map([['m0', 3_100]]) }))
    expect(ownershipOverlaps(removed)).toEqual([])
    expect(removed.find((i) => i.member === 0)?.endedBy).toBe('removal')
    // A removal of another member id does not end this one.
    expect(ownershipOverlaps(ownershipIntervals(events, ends({ removals: new Map([['mX', 3_100]]) })))).toHaveLength(1)
  })

  test('a broker kill ends every session; an assignment after the restart starts a new one', () => {
    const events = [ev(0, 100, 'assign', [5]), ev(1, 2_500, 'assign', [5]), ev(0, 2_600, 'lost', [5])]
    const iv = ownershipIntervals(events, ends({ brokerKills: [2_000] }))
    expect(ownershipOverlaps(iv)).toEqual([])
    // The new owner's interval is not cut by the kill before it.
    expect(iv.find((i) => i.member === 1)).toMatchObject({ start: 2_500, end: 10_000, endedBy: 'end-of-run' })
  })
})

describe('L1 duplicate window', () => {
  const acks = [
    { partition: 0, offset: 50, t: 1_000 },
    { partition: 0, offset: 80, t: 2_000 },
  ]

  test('a redelivery at or above the last commit acknowledged before the take-over is inside the window', () => {
    expect(duplicatesOutsideWindow([{ member: 1, partition: 0, offset: 80, ownedSince: 2_500 }], acks)).toEqual([])
    // A commit acknowledged after the take-over does not count against it.
    expect(duplicatesOutsideWindow([{ member: 1, partition: 0, offset: 60, ownedSince: 1_500 }], acks)).toEqual([])
  })

  test('a redelivery below an acknowledged commit is counted', () => {
    const out = duplicatesOutsideWindow([{ member: 1, partition: 0, offset: 79, ownedSince: 2_500 }], acks)
    expect(out).toEqual([{ member: 1, partition: 0, offset: 79, ownedSince: 2_500, committedBefore: 80 }])
  })
})

describe('L1 lag recovery', () => {
  const sample = (t: number, lag: number, settled: boolean, ids: string[]): LagSample => ({
    t,
    lag,
    partitionLagMax: lag,
    settled,
    memberIds: new Set(ids),
  })

  test('recovered at the first settled sample under the bound that has the replacement in the group', () => {
    const samples = [
      sample(900, 100, true, ['a', 'b']),
      sample(1_100, 1_500, false, ['a', 'b']),
      sample(2_100, 400, true, ['a', 'b']), // settled but the replacement has not joined: not yet
      sample(3_100, 1_200, true, ['a', 'c']), // joined, lag still too high
      sample(4_100, 300, true, ['a', 'c']),
    ]
    const [r] = lagRecoveries([{ kind: 'member-kill', t: 1_000, member: 2 }], samples, () => new Set(['c']), 1_000)
    expect(r).toEqual({ kind: 'member-kill', t: 1_000, recoveredMs: 3_100, lagMax: 1_500 })
  })

  test('never recovered in the samples is reported as null', () => {
    const [r] = lagRecoveries([{ kind: 'broker-kill', t: 0 }], [sample(500, 5_000, true, [])], () => new Set(), 1_000)
    expect(r?.recoveredMs).toBeNull()
  })
})

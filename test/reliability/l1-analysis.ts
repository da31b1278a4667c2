// The checks of the L1 load-and-churn test that need the whole run: partitions owned by two live members at once,
// duplicate deliveries outside the uncommitted window, and lag recovery after each disruption. Pure functions over
// what the parent recorded, so each rule can be read (and tested) on its own.
//
// Ownership rule. A member process owns a partition from its `assign` report (made before any record of it is
// delivered) until the first of: its `revoke` report (made after the partition was released and committed), its
// `lost` report, its death (the parent's SIGKILL or its exit), the coordinator removing its member id (the broker's
// `group member removed` log line: its session is over, even if the process has not noticed yet), and the next broker
// kill (membership lives in the broker's memory only, so every session ends there). A SIGKILLed or stalled member's
// last report is stale past that point; ownership is counted only while the session was alive. Two intervals of one
// partition overlapping by any millisecond count as a double owner. All times are one machine's clock (Date.now() in
// every process, the broker's log `time`).

export interface OwnershipEvent {
  member: number
  t: number
  kind: 'assign' | 'revoke' | 'lost'
  memberId: string
  partitions: number[]
}

export interface OwnershipInterval {
  member: number
  memberId: string
  partition: number
  start: number
  end: number
  /** What ended it: the member's own report, or the session rule. */
  endedBy: 'report' | 'death' | 'removal' | 'broker-kill' | 'end-of-run'
}

export interface SessionEnds {
  /** Member process → when it died (SIGKILL sent or exit seen); absent while alive at the end. */
  deaths: ReadonlyMap<number, number>
  /** Member id → when the coordinator removed it. */
  removals: ReadonlyMap<string, number>
  /** Broker SIGKILL times, ascending. */
  brokerKills: readonly number[]
  /** End of the observation (open intervals close here). */
  endOfRun: number
}

/** Builds each member's ownership intervals from its reports (in report order) and clips them by the session rule. */
export function ownershipIntervals(events: readonly OwnershipEvent[], ends: SessionEnds): OwnershipInterval[] {
  const out: OwnershipInterval[] = []
  const open = new Map<string, OwnershipInterval>()
  const close = (iv: OwnershipInterval, at: number, endedBy: 'report' | 'end-of-run'): void => {
    const candidates: Array<[number, OwnershipInterval['endedBy']]> = [[at, endedBy]]
    const death = ends.deaths.get(iv.member)
    if (death !== undefined) candidates.push([death, 'death'])
    const removed = ends.removals.get(iv.memberId)
    if (removed !== undefined && removed >= iv.start) candidates.push([removed, 'removal'])
    const kill = ends.brokerKills.find((k) => k >= iv.start)
    if (kill !== undefined) candidates.push([kill, 'broker-kill'])
    candidates.sort((a, b) => a[0] - b[0])
    const [end, by] = candidates[0]!
    out.push({ ...iv, end: Math.max(iv.start, end), endedBy: by })
  }
  for (const e of events) {
    for (const partition of e.partitions) {
      const key = `${e.member}:${partition}`
      const current = open.get(key)
      if (e.kind === 'assign') {
        if (current !== undefined) close(current, e.t, 'report') // re-assigned without a report of the loss: ends here
        open.set(key, {
          member: e.member,
          memberId: e.memberId,
          partition,
          start: e.t,
          end: Infinity,
          endedBy: 'report',
        })
      } else if (current !== undefined) {
        close(current, e.t, 'report')
        open.delete(key)
      }
    }
  }
  for (const iv of open.values()) close(iv, ends.endOfRun, 'end-of-run')
  return out
}

export interface Overlap {
  partition: number
  members: [number, number]
  ms: number
}

/** Pairs of intervals of one partition, held by two different member processes, that overlap in time. */
export function ownershipOverlaps(intervals: readonly OwnershipInterval[]): Overlap[] {
  const byPartition = new Map<number, OwnershipInterval[]>()
  for (const iv of intervals) {
    if (iv.end <= iv.start) continue
    const list = byPartition.get(iv.partition) ?? []
    list.push(iv)
    byPartition.set(iv.partition, list)
  }
  const overlaps: Overlap[] = []
  for (const [partition, list] of byPartition) {
    list.sort((a, b) => a.start - b.start)
    for (let i = 0; i < list.length; i++)
      for (let j = i + 1; j < list.length && list[j]!.start < list[i]!.end; j++) {
        const a = list[i]!
        const b = list[j]!
        if (a.member === b.member) continue
        overlaps.push({ partition, members: [a.member, b.member], ms: Math.min(a.end, b.end) - b.start })
      }
  }
  return overlaps
}

export interface CommitAck {
  partition: number
  offset: number
  /** The offset was committed (acknowledged, durable) at or before this time. */
  t: number
}

export interface Redelivery {
  member: number
  partition: number
  offset: number
  /** Start of the delivering member's ownership of the partition: the disruption that caused the redelivery is
   *  before it. */
  ownedSince: number
}

export interface WindowViolation extends Redelivery {
  committedBefore: number
}

/**
 * Redeliveries below the last commit acknowledged for their partition before the delivering member took the
 * partition over: a record already committed was delivered again (outside the uncommitted window).
 */
export function duplicatesOutsideWindow(
  redeliveries: readonly Redelivery[],
  acks: readonly CommitAck[],
): WindowViolation[] {
  const byPartition = new Map<number, CommitAck[]>()
  for (const a of acks) {
    const list = byPartition.get(a.partition) ?? []
    list.push(a)
    byPartition.set(a.partition, list)
  }
  const out: WindowViolation[] = []
  for (const r of redeliveries) {
    let committedBefore = -1
    for (const a of byPartition.get(r.partition) ?? [])
      if (a.t < r.ownedSince) committedBefore = Math.max(committedBefore, a.offset)
    if (r.offset < committedBefore) out.push({ ...r, committedBefore })
  }
  return out
}

export interface LagSample {
  t: number
  /** Sum over the partitions of log end − committed offset. */
  lag: number
  /** The largest lag of one partition. */
  partitionLagMax: number
  /** Every partition assigned, and the group's members are exactly the live member processes' current ids. */
  settled: boolean
  memberIds: ReadonlySet<string>
}

export interface Disruption {
  kind: 'member-kill' | 'member-rejoin' | 'broker-kill'
  t: number
  /** Member disruptions: the member process that must be back in the group (the replacement, or the one rejoining). */
  member?: number
}

export interface Recovery {
  kind: Disruption['kind']
  t: number
  /** ms from the disruption to the first settled sample with lag under the bound; null: never in the samples. */
  recoveredMs: number | null
  /** Largest sampled lag between the disruption and its recovery (or the end of the samples). */
  lagMax: number
}

/**
 * For each disruption, the first sample at or after it where the group has settled (with the disrupted member's new
 * member id, first reported after the disruption, among its members) and the lag is below `lagBound`.
 */
export function lagRecoveries(
  disruptions: readonly Disruption[],
  samples: readonly LagSample[],
  memberIdsSince: (member: number, since: number) => ReadonlySet<string>,
  lagBound: number,
): Recovery[] {
  return disruptions.map((d) => {
    let lagMax = 0
    const fresh = d.member === undefined ? null : memberIdsSince(d.member, d.t)
    for (const s of samples) {
      if (s.t < d.t) continue
      lagMax = Math.max(lagMax, s.lag)
      const back = fresh === null || [...fresh].some((id) => s.memberIds.has(id))
      if (s.settled && back && s.lag < lagBound) return { kind: d.kind, t: d.t, recoveredMs: s.t - d.t, lagMax }
    }
    return { kind: d.kind, t: d.t, recoveredMs: null, lagMax }
  })
}

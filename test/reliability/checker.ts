// The history checker of the reliability tests: given a history of produce operations (each value unique) and a final
// read of every partition from its log start, it counts every anomaly a log store must never show. A send is `ok`
// (acknowledged at `offset`), `fail` (refused before anything was appended: its value must never be read) or `info`
// (outcome unknown: a timeout or a lost connection; its value may be read, at most once). An `invoke` that never
// completed counts as `info`. Consumers add `ok` ops of three more functions (`f`): `poll` (a message delivered at
// `offset` with `value`), `assign` (the partition was (re)assigned, revoked or sought: its position may jump), and
// `commit` (a commit of `offset` acknowledged). The checker only counts; the tests assert that every count is 0.

export type OpType = 'invoke' | 'ok' | 'fail' | 'info'
/** What the operation did; absent means `send`. */
export type OpFunction = 'send' | 'poll' | 'assign' | 'commit'

export interface HistoryOp {
  /** Which logical client (producer or consumer) ran the operation. */
  client: number
  type: OpType
  f?: OpFunction
  partition: number
  /** Unique across the sends of the whole history. */
  value?: string
  /** The acknowledged offset (send ok), the delivered offset (poll), the committed offset (commit). */
  offset?: number
  /** Error code or message (fail/info). */
  error?: string
}

export interface ReadRecord {
  offset: number
  value: string
}

export interface PartitionRead {
  partition: number
  logStartOffset: number
  /** Records in the order the reader got them. */
  records: ReadRecord[]
}

export interface CheckerCounts {
  /** Offsets holding two different values (in the read, in two acknowledgements, or delivered to a consumer). */
  offsetConflicts: number
  /** `ok` sends whose value is not at the acknowledged offset. */
  lost: number
  /** Extra copies of a value in the read (meaningful with the idempotent producer). */
  duplicates: number
  /** `fail`ed sends whose value was read. */
  abortedReads: number
  /** Offsets missing between the log start and the last offset read, per partition. */
  gaps: number
  /** Acknowledged offsets of one client on one partition that do not increase strictly in send order. */
  nonMonotonicAcks: number
  /** Values read that no operation ever sent. */
  unknownValues: number
  /** A consumer delivered an offset past the next one, with no assign/seek in between. */
  consumerSkips: number
  /** A consumer delivered an offset at or below one it had delivered, with no assign/seek in between. */
  consumerBackwards: number
  /** Committed offsets read after the last restart that are older than the last acknowledged commit. */
  staleCommits: number
}

export interface CheckerReport {
  counts: CheckerCounts
  /** Sum of all counts: 0 means the history is valid. */
  anomalies: number
  sends: { invoked: number; ok: number; fail: number; info: number; pending: number }
  recordsRead: number
  /** The first few anomalies in words (at most EXAMPLES_MAX). */
  examples: string[]
}

export interface CheckerOptions {
  /** Count duplicates (a value read twice): true for the idempotent producer. @default true */
  idempotent?: boolean
  /** Committed offsets of the consumers' group read after the last restart. @default none (not checked) */
  committed?: ReadonlyArray<{ partition: number; offset: number }>
}

const EXAMPLES_MAX = 20

interface Send {
  client: number
  partition: number
  value: string
  invokeIndex: number
  outcome: 'ok' | 'fail' | 'info' | 'pending'
  offset: number
}

/** Pairs each completion with its invoke (same client, same value). Throws on a malformed history. */
function collectSends(history: readonly HistoryOp[]): Map<string, Send> {
  const sends = new Map<string, Send>()
  history.forEach((op, index) => {
    if (op.f !== undefined && op.f !== 'send') return
    if (op.value === undefined) throw new Error(`history: a send by client ${op.client} has no value`)
    if (op.type === 'invoke') {
      if (sends.has(op.value)) throw new Error(`history: value ${op.value} is invoked twice (values must be unique)`)
      sends.set(op.value, {
        client: op.client,
        partition: op.partition,
        value: op.value,
        invokeIndex: index,
        outcome: 'pending',
        offset: -1,
      })
      return
    }
    const send = sends.get(op.value)
    if (send === undefined || send.client !== op.client || send.outcome !== 'pending')
      throw new Error(`history: ${op.type} of ${op.value} by client ${op.client} has no pending invoke`)
    send.outcome = op.type
    if (op.type === 'ok') {
      if (op.offset === undefined || !Number.isSafeInteger(op.offset) || op.offset < 0)
        throw new Error(`history: ok of ${op.value} has no offset`)
      send.offset = op.offset
    }
  })
  return sends
}

/** Every count at 0: what a passing run's `report.counts` equals. */
export const NO_ANOMALIES: Readonly<CheckerCounts> = Object.freeze({
  offsetConflicts: 0,
  lost: 0,
  duplicates: 0,
  abortedReads: 0,
  gaps: 0,
  nonMonotonicAcks: 0,
  unknownValues: 0,
  consumerSkips: 0,
  consumerBackwards: 0,
  staleCommits: 0,
})

export function checkHistory(
  history: readonly HistoryOp[],
  reads: readonly PartitionRead[],
  options: CheckerOptions = {},
): CheckerReport {
  const idempotent = options.idempotent ?? true
  const counts: CheckerCounts = { ...NO_ANOMALIES }
  const examples: string[] = []
  const note = (kind: keyof CheckerCounts, text: string): void => {
    counts[kind]++
    if (examples.length < EXAMPLES_MAX) examples.push(`${kind}: ${text}`)
  }
  const sends = collectSends(history)

  // What the read holds: value per (partition, offset), and where each value was read.
  const atOffset = new Map<number, Map<number, string>>()
  const readAt = new Map<string, Array<{ partition: number; offset: number }>>()
  let recordsRead = 0
  for (const read of reads) {
    const offsets = new Map<number, string>()
    atOffset.set(read.partition, offsets)
    for (const r of read.records) {
      recordsRead++
      const before = offsets.get(r.offset)
      if (before !== undefined && before !== r.value)
        note('offsetConflicts', `partition ${read.partition} offset ${r.offset} read as ${before} and ${r.value}`)
      if (before === undefined) offsets.set(r.offset, r.value)
      let places = readAt.get(r.value)
      if (places === undefined) readAt.set(r.value, (places = []))
      if (!places.some((p) => p.partition === read.partition && p.offset === r.offset))
        places.push({ partition: read.partition, offset: r.offset })
    }
    // Gaps: every offset from the log start to the last one read must be present.
    let last = read.logStartOffset - 1
    for (const o of offsets.keys()) last = Math.max(last, o)
    for (let o = read.logStartOffset; o <= last; o++)
      if (!offsets.has(o)) note('gaps', `partition ${read.partition} has no record at offset ${o} (last ${last})`)
  }

  // Two acknowledgements of one offset with different values.
  const ackedAt = new Map<string, string>()
  for (const s of sends.values()) {
    if (s.outcome !== 'ok') continue
    const key = `${s.partition}:${s.offset}`
    const other = ackedAt.get(key)
    if (other !== undefined)
      note('offsetConflicts', `partition ${s.partition} offset ${s.offset} acknowledged for ${other} and ${s.value}`)
    else ackedAt.set(key, s.value)
  }

  for (const s of sends.values()) {
    const places = readAt.get(s.value) ?? []
    if (s.outcome === 'ok') {
      const found = atOffset.get(s.partition)?.get(s.offset)
      if (found !== s.value)
        note('lost', `${s.value} acknowledged at ${s.partition}:${s.offset} but read ${found ?? 'nothing'} there`)
    }
    if (s.outcome === 'fail' && places.length > 0)
      note('abortedReads', `${s.value} failed but was read at ${places[0]!.partition}:${places[0]!.offset}`)
    if (idempotent)
      for (let i = 1; i < places.length; i++)
        note('duplicates', `${s.value} read at ${places.map((p) => `${p.partition}:${p.offset}`).join(', ')}`)
  }
  for (const value of readAt.keys()) if (!sends.has(value)) note('unknownValues', `${value} was read but never sent`)

  // Per client and partition, acknowledged offsets in send (invoke) order must increase strictly.
  const lastAck = new Map<string, Send>()
  const acked = [...sends.values()].filter((s) => s.outcome === 'ok').sort((a, b) => a.invokeIndex - b.invokeIndex)
  for (const s of acked) {
    const key = `${s.client}:${s.partition}`
    const prev = lastAck.get(key)
    if (prev !== undefined && s.offset <= prev.offset)
      note(
        'nonMonotonicAcks',
        `client ${s.client} partition ${s.partition}: ${s.value} acked at ${s.offset} after ${prev.value} at ${prev.offset}`,
      )
    lastAck.set(key, s)
  }

  checkConsumers(history, atOffset, options.committed, note)

  const tally = { invoked: sends.size, ok: 0, fail: 0, info: 0, pending: 0 }
  for (const s of sends.values()) tally[s.outcome]++
  const anomalies = Object.values(counts).reduce((a, b) => a + b, 0)
  return { counts, anomalies, sends: tally, recordsRead, examples }
}

/** Consumer positions (skips, going back) and commits (what was delivered, what survived the restarts). */
function checkConsumers(
  history: readonly HistoryOp[],
  atOffset: ReadonlyMap<number, ReadonlyMap<number, string>>,
  committed: CheckerOptions['committed'],
  note: (kind: keyof CheckerCounts, text: string) => void,
): void {
  const lastDelivered = new Map<string, number>()
  const lastCommit = new Map<number, number>()
  /** Per partition, offset → the value acknowledged there first (a lost offset may be acknowledged again later). */
  const ackedAt = new Map<number, Map<number, string>>()
  for (const op of history) {
    if (
      op.type === 'ok' &&
      (op.f === undefined || op.f === 'send') &&
      op.offset !== undefined &&
      op.value !== undefined
    ) {
      let byOffset = ackedAt.get(op.partition)
      if (byOffset === undefined) ackedAt.set(op.partition, (byOffset = new Map()))
      if (!byOffset.has(op.offset)) byOffset.set(op.offset, op.value)
    }
    if (op.type !== 'ok' || op.f === undefined || op.f === 'send') continue
    const key = `${op.client}:${op.partition}`
    if (op.f === 'assign') lastDelivered.delete(key)
    else if (op.f === 'commit') {
      if (op.offset !== undefined) lastCommit.set(op.partition, Math.max(lastCommit.get(op.partition) ?? 0, op.offset))
    } else {
      const offset = op.offset ?? -1
      const stored = atOffset.get(op.partition)?.get(offset)
      if (stored !== undefined && stored !== op.value)
        note(
          'offsetConflicts',
          `consumer ${op.client} got ${op.value} at ${op.partition}:${offset}, the log has ${stored}`,
        )
      const prev = lastDelivered.get(key)
      if (prev !== undefined && offset > prev + 1)
        note('consumerSkips', `consumer ${op.client} partition ${op.partition} went from ${prev} to ${offset}`)
      if (prev !== undefined && offset <= prev)
        note('consumerBackwards', `consumer ${op.client} partition ${op.partition} went from ${prev} back to ${offset}`)
      lastDelivered.set(key, offset)
    }
  }
  if (committed === undefined) return
  const after = new Map(committed.map((c) => [c.partition, c.offset]))
  for (const [partition, offset] of lastCommit) {
    const now = after.get(partition) ?? -1
    // A commit may come back lower only where the log lost what it covered (flush interval or os, a power cut): the
    // broker lowers a commit past the recovered log end to that end, so the records that next take those offsets are
    // not skipped. Then the record first acknowledged at the lowered offset is no longer there.
    const first = now >= 0 ? ackedAt.get(partition)?.get(now) : undefined
    const lowered = first !== undefined && atOffset.get(partition)?.get(now) !== first
    if (now < offset && !lowered)
      note('staleCommits', `partition ${partition}: committed ${now} after the restart, ${offset} was acknowledged`)
  }
}

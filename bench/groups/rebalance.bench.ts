// Question (issue #4): how long from a member joining (or leaving) a group until every partition flows again, do the
// partitions that do not move keep flowing meanwhile, and what consume throughput do 1 and 3 members get?
// Target: a rebalance completes within 2 × heartbeatIntervalMs (200 ms here), and unmoved partitions never stop.
// Envelope: join: the new member's first heartbeat (≈ 0 ms, in-process) changes the target; each old member learns of
// its revocation at its next heartbeat (≤ 100 ms), commits and heartbeats at once, and the joiner receives the freed
// partitions at its next heartbeat (≤ 100 ms) ⇒ worst ≈ 200 ms + one fetch round trip (~1 ms), median ~100 ms.
// Leave: the leaver revokes, commits and leaves in one heartbeat; the survivors learn at their next heartbeat
// (≤ 100 ms) ⇒ ≤ ~100 ms + a fetch. Unmoved partitions: delivery gaps should equal the produce cadence (5 ms) plus
// a fetch, the same as with no rebalance (the baseline, measured in the same run). Throughput: everything runs on one
// event loop, so 3 members can only match 1 member, not triple it: ~1-3M records/s of 100 B, minus the join.
// Rebalance times are single events, so they are taken with performance.now() per repetition (median and max over
// REPS); throughput uses tinybench.
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'
import { Bench } from 'tinybench'
import { silentLogger } from '../../src/broker/logger.js'
import type { TopicPartition } from '../../src/client/client-config.js'
import type { Consumer } from '../../src/client/consumer.js'
import { Sluice } from '../../src/sluice.js'

const PARTITIONS = 6
const HEARTBEAT_MS = 100
const SESSION_MS = 3000
const REPS = 10
const PRODUCE_EVERY_MS = 5
const STEADY_MS = 400
const ROUND_TIMEOUT_MS = 5000
const THROUGHPUT_RECORDS = 300_000
const VALUE_BYTES = 100

type Row = Record<string, string | number>

interface Member {
  id: number
  consumer: Consumer
}

/** Everything the handlers and listeners of the rebalance phase record, all times from performance.now(). */
class Tracker {
  /** partition → members that own it (per onAssign/onRevoke). */
  readonly owners = Array.from({ length: PARTITIONS }, () => new Set<number>())
  /** partition → number of ownership changes since the round started. */
  readonly moves = new Map<number, number>()
  lastOwnershipChange = 0
  overlaps = 0
  duplicates = 0
  readonly maxOffset = new Array<number>(PARTITIONS).fill(-1)
  readonly lastDelivery = new Array<number>(PARTITIONS).fill(0)
  readonly maxGap = new Array<number>(PARTITIONS).fill(0)
  /** `${member}:${partition}` → time of the first delivery of a record produced at or after roundStart. */
  readonly firstFresh = new Map<string, number>()
  roundStart = Infinity

  startRound(t0: number): void {
    this.roundStart = t0
    this.moves.clear()
    this.firstFresh.clear()
    this.maxGap.fill(0)
  }

  assigned(member: number, partitions: number[]): void {
    const now = performance.now()
    for (const p of partitions) {
      if (this.owners[p]!.size > 0) this.overlaps++
      this.owners[p]!.add(member)
      this.moves.set(p, (this.moves.get(p) ?? 0) + 1)
    }
    this.lastOwnershipChange = now
  }

  revoked(member: number, partitions: number[]): void {
    for (const p of partitions) {
      this.owners[p]!.delete(member)
      this.moves.set(p, (this.moves.get(p) ?? 0) + 1)
    }
    this.lastOwnershipChange = performance.now()
  }

  delivered(member: number, partition: number, offset: number, producedAt: number): void {
    const now = performance.now()
    if (offset <= this.maxOffset[partition]!) this.duplicates++
    else this.maxOffset[partition] = offset
    const last = this.lastDelivery[partition]!
    if (last > 0 && now - last > this.maxGap[partition]!) this.maxGap[partition] = now - last
    this.lastDelivery[partition] = now
    if (producedAt >= this.roundStart) {
      const k = `${member}:${partition}`
      if (!this.firstFresh.has(k)) this.firstFresh.set(k, now)
    }
  }

  /** Settled: each partition has exactly one owner among `members`, evenly spread; flowing: every partition has
   *  delivered a fresh record through that owner. Returns the completion time, or null while not there yet. */
  done(members: readonly Member[]): { settledAt: number; flowingAt: number } | null {
    const perMember = new Map<number, number>(members.map((m) => [m.id, 0]))
    let flowingAt = 0
    for (let p = 0; p < PARTITIONS; p++) {
      const owners = this.owners[p]!
      if (owners.size !== 1) return null
      const owner = owners.values().next().value as number
      if (!perMember.has(owner)) return null
      perMember.set(owner, perMember.get(owner)! + 1)
      const fresh = this.firstFresh.get(`${owner}:${p}`)
      if (fresh === undefined) return null
      flowingAt = Math.max(flowingAt, fresh)
    }
    const share = PARTITIONS / members.length
    for (const n of perMember.values()) if (Math.abs(n - share) >= 1) return null
    return { settledAt: this.lastOwnershipChange, flowingAt: Math.max(flowingAt, this.lastOwnershipChange) }
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

function round1(x: number): number {
  return Math.round(x * 10) / 10
}

function summary(name: string, xs: number[], unit: 'ms' | 'gap'): Row {
  const med = median(xs)
  const max = Math.max(...xs)
  return {
    name,
    reps: xs.length,
    medianMs: round1(med),
    maxMs: round1(max),
    medianXHeartbeat: unit === 'ms' ? round1(med / HEARTBEAT_MS) : '',
    maxXHeartbeat: unit === 'ms' ? round1(max / HEARTBEAT_MS) : '',
  }
}

async function waitFor<T>(check: () => T | null, what: string): Promise<T> {
  const deadline = performance.now() + ROUND_TIMEOUT_MS
  for (;;) {
    const r = check()
    if (r !== null) return r
    if (performance.now() > deadline) throw new Error(`timed out after ${ROUND_TIMEOUT_MS} ms waiting for ${what}`)
    await sleep(2)
  }
}

/** Rejects when `work` takes longer than ROUND_TIMEOUT_MS, so a stuck group fails the run instead of hanging it. */
async function within<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${ROUND_TIMEOUT_MS} ms waiting for ${what}`)),
      ROUND_TIMEOUT_MS,
    )
  })
  try {
    return await Promise.race([work, timeout])
  } finally {
    clearTimeout(timer)
  }
}

async function rebalanceRows(sl: Sluice, live: Set<Consumer>): Promise<Row[]> {
  const topic = 'rebalance'
  await sl.admin().createTopic(topic, { partitions: PARTITIONS, flush: 'os' })
  const t = new Tracker()
  const groupId = 'rebalance-group'
  let nextId = 0
  const members: Member[] = []

  const addMember = async (): Promise<Member> => {
    const id = nextId++
    const consumer = sl.consumer({
      groupId,
      autoOffsetReset: 'earliest',
      heartbeatIntervalMs: HEARTBEAT_MS,
      sessionTimeoutMs: SESSION_MS,
      onAssign: (tps) =>
        t.assigned(
          id,
          tps.map((tp) => tp.partition),
        ),
      onRevoke: (tps) =>
        t.revoked(
          id,
          tps.map((tp) => tp.partition),
        ),
    })
    live.add(consumer)
    await consumer.subscribe([topic])
    await consumer.run({
      eachMessage: ({ partition, message }) =>
        t.delivered(id, partition, message.offset, (message.value as Buffer).readDoubleLE(0)),
    })
    const m = { id, consumer }
    members.push(m)
    return m
  }

  // Continuous producer: one 100 B record per partition every PRODUCE_EVERY_MS, stamped with its send time.
  const producer = sl.producer({ acks: 1, lingerMs: 0 })
  let producing = true
  const produceLoop = (async () => {
    while (producing) {
      const now = performance.now()
      const batch = Array.from({ length: PARTITIONS }, (_, partition) => {
        const value = Buffer.alloc(VALUE_BYTES, 0x61)
        value.writeDoubleLE(now, 0)
        return { partition, value }
      })
      await producer.sendBatch(topic, batch)
      await sleep(PRODUCE_EVERY_MS)
    }
  })()

  const join: number[] = []
  const joinSettle: number[] = []
  const leave: number[] = []
  const leaveSettle: number[] = []
  const closeCall: number[] = []
  const baselineGap: number[] = []
  const unmovedGap: number[] = []
  let unmovedCount = 0
  try {
    await addMember()
    await addMember()
    t.startRound(performance.now())
    await waitFor(() => t.done(members), 'the first 2 members to settle')

    const steadyGap = async (): Promise<void> => {
      await sleep(STEADY_MS / 4) // let catch-up reads after the last round drain before measuring
      t.maxGap.fill(0)
      await sleep(STEADY_MS)
      baselineGap.push(Math.max(...t.maxGap))
    }
    /** Max delivery gap over partitions with no ownership change in the round, including the gap to `end`. */
    const unmoved = (end: number): void => {
      for (let p = 0; p < PARTITIONS; p++) {
        if (t.moves.has(p)) continue
        unmovedCount++
        unmovedGap.push(Math.max(t.maxGap[p]!, end - t.lastDelivery[p]!))
      }
    }

    // The loop's sleeps are multiples of the heartbeat interval, which would phase-lock each event to the members'
    // heartbeat timers and make every repetition hit the same phase; a random delay spreads the phases.
    const jitter = (): Promise<void> => sleep(Math.random() * HEARTBEAT_MS)
    for (let rep = 0; rep < REPS; rep++) {
      // (a) join: 2 → 3 members.
      await steadyGap()
      await jitter()
      const t0 = performance.now()
      t.startRound(t0)
      await addMember()
      const j = await waitFor(() => t.done(members), 'the join to settle')
      join.push(j.flowingAt - t0)
      joinSettle.push(j.settledAt - t0)
      unmoved(j.flowingAt)
      // (b) leave: the longest-lived of the 3 closes gracefully, 3 → 2.
      await steadyGap()
      const leaver = members.shift()!
      await jitter()
      const t1 = performance.now()
      t.startRound(t1)
      await leaver.consumer.close()
      closeCall.push(performance.now() - t1)
      live.delete(leaver.consumer)
      const r = await waitFor(() => t.done(members), 'the leave to settle')
      leave.push(r.flowingAt - t1)
      leaveSettle.push(r.settledAt - t1)
      unmoved(r.flowingAt)
    }
  } finally {
    producing = false
    await produceLoop.catch(() => undefined)
    await producer.close()
  }
  return [
    summary('join (2→3): every partition flowing', join, 'ms'),
    summary('join (2→3): assignment settled', joinSettle, 'ms'),
    summary('leave (3→2): every partition flowing', leave, 'ms'),
    summary('leave (3→2): assignment settled', leaveSettle, 'ms'),
    summary('leave (3→2): close() call', closeCall, 'ms'),
    summary(`max delivery gap, no rebalance (${STEADY_MS} ms windows)`, baselineGap, 'gap'),
    summary(
      `max delivery gap, unmoved partitions during rebalance (${unmovedCount} partition-rounds)`,
      unmovedGap,
      'gap',
    ),
    { name: 'partitions owned by two members at once (count)', count: t.overlaps },
    { name: 'records delivered twice in the rebalance phase (count)', count: t.duplicates },
  ]
}

/** Period (ms per iteration) of a finished tinybench task; rethrows the task's error. */
function periodOf(bench: Bench): number {
  const result = bench.tasks[0]!.result as { state: string; error?: Error; period?: number }
  if (result.state === 'errored') throw result.error ?? new Error('benchmark task failed')
  return result.period ?? NaN
}

async function throughputRows(sl: Sluice, live: Set<Consumer>): Promise<Row[]> {
  const topic = 'throughput'
  await sl.admin().createTopic(topic, { partitions: PARTITIONS, flush: 'os' })
  const producer = sl.producer({ acks: 1 })
  const value = Buffer.alloc(VALUE_BYTES, 0x61)
  for (let i = 0; i < THROUGHPUT_RECORDS; i += 50_000)
    await producer.sendBatch(
      topic,
      Array.from({ length: Math.min(50_000, THROUGHPUT_RECORDS - i) }, (_, j) => ({
        partition: (i + j) % PARTITIONS,
        value,
      })),
    )
  await producer.close()

  let group = 0
  let count = 0
  let finish: () => void = () => undefined
  const eachMessage = (): void => {
    if (++count === THROUGHPUT_RECORDS) finish()
  }
  let consumers: Consumer[] = []
  /** Starts `n` members of a fresh group; with `paused`, each pauses what it is given before any delivery. */
  const start = async (n: number, paused: boolean): Promise<{ all: Promise<void> }> => {
    const groupId = `throughput-${group++}`
    count = 0
    const all = new Promise<void>((resolve) => (finish = resolve))
    consumers = []
    await Promise.all(
      Array.from({ length: n }, async () => {
        const c: Consumer = sl.consumer({
          groupId,
          autoOffsetReset: 'earliest',
          heartbeatIntervalMs: HEARTBEAT_MS,
          sessionTimeoutMs: SESSION_MS,
          // onAssign runs before the fetch loop gets a turn, so nothing is delivered from a paused partition.
          ...(paused ? { onAssign: (tps: TopicPartition[]) => c.pause(tps) } : {}),
        })
        consumers.push(c)
        live.add(c)
        await c.subscribe([topic])
        await c.run({ eachMessage })
      }),
    )
    return { all }
  }
  const stop = async (): Promise<void> => {
    await Promise.all(consumers.map((c) => c.close()))
    for (const c of consumers) live.delete(c)
  }

  const rows: Row[] = []
  for (const n of [1, 3]) {
    // Cold: a fresh group joins and reads everything; with 3 members the first one to join starts alone and the
    // partitions move while records flow, so this includes the join and one rebalance.
    const cold = new Bench({ iterations: 5, time: 0, warmupIterations: 1, warmupTime: 0 })
    cold.add(`consume ${THROUGHPUT_RECORDS / 1000}k × ${VALUE_BYTES} B, ${n} member(s), from join`, async () => {
      try {
        await within((await start(n, false)).all, 'the cold group to read everything')
      } finally {
        await stop()
      }
    })
    await cold.run()
    rows.push({ name: cold.tasks[0]!.name, recordsPerSec: Math.round((THROUGHPUT_RECORDS * 1000) / periodOf(cold)) })

    // Settled: the members join paused, the assignment settles (each owns PARTITIONS / n), then all resume at once;
    // only the resume-to-last-record time is measured.
    let all: Promise<void> = Promise.resolve()
    const settled = new Bench({ iterations: 5, time: 0, warmupIterations: 1, warmupTime: 0 })
    settled.add(
      `consume ${THROUGHPUT_RECORDS / 1000}k × ${VALUE_BYTES} B, ${n} member(s), settled group`,
      async () => {
        for (const c of consumers) c.resume([{ topic }])
        await within(all, 'the settled group to read everything')
      },
      {
        beforeEach: async () => {
          all = (await start(n, true)).all
          await waitFor(
            () =>
              consumers.every((c) => c.assignment().length === PARTITIONS / n && c.paused().length === PARTITIONS / n)
                ? true
                : null,
            'the throughput group to settle',
          )
        },
        afterEach: stop,
      },
    )
    await settled.run()
    rows.push({
      name: settled.tasks[0]!.name,
      recordsPerSec: Math.round((THROUGHPUT_RECORDS * 1000) / periodOf(settled)),
    })
  }
  return rows
}

export async function run(): Promise<Row[]> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-bench-rebalance-'))
  const live = new Set<Consumer>()
  let sl: Sluice | null = null
  try {
    sl = await Sluice.open({ dataDir: dir }, { logger: silentLogger })
    const rows = await rebalanceRows(sl, live)
    rows.push(...(await throughputRows(sl, live)))
    return rows
  } finally {
    await Promise.allSettled([...live].map((c) => c.close()))
    await sl?.close().catch(() => undefined)
    await fs.rm(dir, { recursive: true, force: true })
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await run()
  console.log(`node ${process.version}, ${os.cpus().length}x ${os.cpus()[0]?.model ?? '?'}`)
  console.table(rows)
}

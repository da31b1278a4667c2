// Question: end-to-end latency (producer.send → the consumer's eachMessage) over TCP with acks 'all' and flush
// 'sync', at a fixed 20,000 records/s, at 50,000 records/s and at 50% of the maximum rate measured first in the same
// run (a short saturating run: the same producer and consumer flat out), for 100 B: p50, p99, p99.9; and at 20,000/s
// for a consumer with visibility 'durable' (it sees a record only after its fsync). The broker runs
// in its own process (`sluice serve`); producer and consumer share this process, so both ends read the same clock.
// Cold and warm are reported apart: the first row runs at 20,000/s while both processes are new, when V8 is still
// compiling their hot paths (in the client ~50 optimizing compilations a second for the first three seconds, on
// helper threads that take the two vCPUs from the main threads), and doubles as the warm-up of the rows after it,
// which measure the steady state a long-running broker and application are in.
// Envelope: a record waits for linger (0 here: the batch leaves on the next turn of the event loop), one loopback
// round trip (~50 µs), its append (~10 µs) and the consumer's long-poll wake-up (~0.1 ms) ⇒ p50 ≈ 0.2-0.4 ms. A consumer
// with the default visibility sees a record once it is written, so the fsync (≈ 0.2-2 ms on this disk, one per group
// commit) is on the ack's path only, and on the durable consumer's. The tail is whatever keeps a main thread from
// a CPU for a millisecond or two: two vCPUs carry both main threads, the fsync threads and V8's helper threads.
// Latency is a distribution of single events, not a repeated task, so this file samples hrtime itself (tinybench
// measures throughput elsewhere).
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import type { FetchVisibility } from '../../src/broker/api.js'
import { Sluice } from '../../src/sluice.js'
import { startServeChild, stopServeChild } from '../../scripts/serve-child.js'

const RATES_PER_SEC = [20_000, 50_000] as const
const WARMUP_MS = 1_000
const MEASURE_MS = 4_000
const VALUE_BYTES = 100
/** Sends per scheduler tick at most, so a late tick cannot flood the producer. */
const TICK_SENDS_MAX = 1_000
/** Sends without an acknowledgement at most; past it the sender skips ticks (then the rate is not held: see `sent`). */
const UNACKED_MAX = 10_000
const SATURATE_MS = 1_500
/** Unacknowledged sends at most during the saturating run: past this the producer waits for its acks. */
const SATURATE_PENDING_MAX = 10_000
const SATURATE_CHUNK = 500

export interface LatencyRow {
  name: string
  ratePerSec: number
  sent: number
  received: number
  p50Ms: number
  p99Ms: number
  p999Ms: number
  maxMs: number
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

/**
 * Records/s that one producer (acks 'all', lingerMs 0, one send() per record) and one consumer sustain together flat
 * out for SATURATE_MS: the smaller of the acknowledged rate and the received rate.
 */
async function measureMaxRate(
  sl: Sluice,
  topic: string,
): Promise<{ ratePerSec: number; sent: number; received: number }> {
  await sl.admin().createTopic(topic, { partitions: 1, flush: 'sync' })
  let received = 0
  let lastReceivedAt = 0
  const consumer = sl.consumer({ maxWaitMs: 100 })
  await consumer.assign([{ topic, partition: 0, offset: 0 }])
  await consumer.run({
    eachBatch: ({ batch }) => {
      received += batch.messages.length
      lastReceivedAt = performance.now()
    },
  })
  const producer = sl.producer({ acks: 'all', lingerMs: 0 })
  const start = performance.now()
  let sent = 0
  const pending: Array<Promise<unknown>> = []
  while (performance.now() - start < SATURATE_MS) {
    for (let n = 0; n < SATURATE_CHUNK; n++, sent++) {
      const value = Buffer.alloc(VALUE_BYTES)
      value.writeDoubleLE(performance.now(), 0)
      pending.push(producer.send(topic, { key: null, value }))
    }
    if (pending.length >= SATURATE_PENDING_MAX) await Promise.all(pending.splice(0))
    else await new Promise((resolve) => setImmediate(resolve))
  }
  await Promise.all(pending)
  const ackedMs = performance.now() - start
  const deadline = Date.now() + 10_000
  while (received < sent && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5))
  await producer.close()
  await consumer.close()
  if (received === 0) throw new Error(`saturating run: the consumer received none of ${sent} records`)
  const receivedMs = lastReceivedAt - start
  const ratePerSec = Math.floor(Math.min((sent * 1000) / ackedMs, (received * 1000) / receivedMs))
  return { ratePerSec, sent, received }
}

async function measure(
  sl: Sluice,
  topic: string,
  ratePerSec: number,
  label = '',
  visibility: FetchVisibility = 'written',
): Promise<LatencyRow> {
  await sl.admin().createTopic(topic, { partitions: 1, flush: 'sync' })
  const expected = Math.ceil((ratePerSec * (WARMUP_MS + MEASURE_MS)) / 1000)
  const latencies = new Float64Array(expected)
  let received = 0
  let measured = 0
  const start = performance.now()
  const consumer = sl.consumer({ maxWaitMs: 100, visibility })
  await consumer.assign([{ topic, partition: 0, offset: 0 }])
  await consumer.run({
    eachBatch: ({ batch }) => {
      const now = performance.now()
      for (const m of batch.messages) {
        received++
        const sentAt = (m.value as Buffer).readDoubleLE(0)
        if (sentAt - start >= WARMUP_MS && measured < latencies.length) latencies[measured++] = now - sentAt
      }
    },
  })
  const producer = sl.producer({ acks: 'all', lingerMs: 0 })
  let sent = 0
  // Sends are counted, not kept: holding every pending promise (as an earlier version did, up to 10,000) made this
  // process's GC promote them and pause, which showed up in the very tail being measured.
  let unacked = 0
  let failure: unknown = null
  const acked = (): void => {
    unacked--
  }
  const failed = (err: unknown): void => {
    unacked--
    failure ??= err
  }
  while (sent < expected) {
    const due = Math.min(expected, Math.floor(((performance.now() - start) * ratePerSec) / 1000))
    for (let n = 0; sent < due && n < TICK_SENDS_MAX && unacked < UNACKED_MAX; n++, sent++) {
      const value = Buffer.alloc(VALUE_BYTES)
      value.writeDoubleLE(performance.now(), 0)
      unacked++
      producer.send(topic, { key: null, value }).then(acked, failed)
    }
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
  const deadline = Date.now() + 10_000
  while ((unacked > 0 || received < sent) && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 10))
  if (failure !== null) throw failure
  await producer.close()
  await consumer.close()
  const sorted = latencies.subarray(0, measured).sort()
  const round = (x: number): number => Math.round(x * 100) / 100
  return {
    name: `send → eachBatch, ${VALUE_BYTES} B, acks all, flush sync, ${ratePerSec.toLocaleString('en')} rec/s${label}`,
    ratePerSec,
    sent,
    received,
    p50Ms: round(percentile(sorted, 0.5)),
    p99Ms: round(percentile(sorted, 0.99)),
    p999Ms: round(percentile(sorted, 0.999)),
    maxMs: round(sorted[sorted.length - 1] ?? NaN),
  }
}

export async function run(): Promise<LatencyRow[]> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-bench-latency-'))
  const broker = await startServeChild(path.join(dir, 'data'))
  const rows: LatencyRow[] = []
  try {
    const sl = await Sluice.connect({ brokers: [broker.address] })
    try {
      // Cold: the broker and this process were started just before. It also warms both up for the rows after it.
      rows.push(await measure(sl, 'latency-cold', RATES_PER_SEC[0], ', cold (processes started 1-5 s before)'))
      for (const rate of RATES_PER_SEC) rows.push(await measure(sl, `latency-${rate}`, rate))
      // The same at 20,000/s for a consumer that sees fsynced records only: the price of no phantom reads.
      rows.push(await measure(sl, 'latency-durable', RATES_PER_SEC[0], ", consumer visibility 'durable'", 'durable'))
      const max = await measureMaxRate(sl, 'latency-max')
      rows.push({
        name: `saturating run: max rate, ${VALUE_BYTES} B, acks all, flush sync`,
        ratePerSec: max.ratePerSec,
        sent: max.sent,
        received: max.received,
        p50Ms: NaN,
        p99Ms: NaN,
        p999Ms: NaN,
        maxMs: NaN,
      })
      const half = Math.floor(max.ratePerSec / 2)
      rows.push(await measure(sl, 'latency-half-max', half, ' (50% of max)'))
    } finally {
      await sl.close()
    }
  } finally {
    await stopServeChild(broker, 'SIGTERM')
    await fs.rm(dir, { recursive: true, force: true })
  }
  return rows
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.table(await run())

// Question: the resident set size of a `sluice serve` broker under sustained load: 4 producers (one connection each,
// acks 'all', sendBatch of 100 × 1 KiB, 4 calls in flight each) into a 6-partition topic with the default flush
// ('sync'), while a 2-member consumer group reads it all, for 20 s (`SLUICE_BENCH_RSS_SECONDS` to change). VmRSS of the
// child, from /proc/<pid>/status every 250 ms: median and max under load, and idle before it. Target ≤ 256 MiB.
// Envelope: node + tsx + the broker's modules at idle ≈ 60-90 MiB. In flight: 16 produce requests × ~105 KB ≈ 1.7 MB,
// fetch responses 2 × maxBytes (≤ 1 MiB each by default), socket buffers a few MB; indexes of a few 128 MiB segments
// are small. So ≈ 100-150 MiB if the broker holds no per-record objects; V8's heap growth between GCs may add tens of
// MiB. Anything near 256 MiB means buffers are retained (request bodies, unacked batches, fetch caches).
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { Sluice } from '../../src/sluice.js'
import { startServeChild, stopServeChild } from '../../scripts/serve-child.js'

const MIB = 2 ** 20
const LOAD_SECONDS = Number(process.env.SLUICE_BENCH_RSS_SECONDS ?? '20')
const SAMPLE_MS = 250
const IDLE_SAMPLE_MS = 2_000
const SAMPLES_MAX = 3_600_000 / SAMPLE_MS
const TOPIC = 'rss'
const PARTITIONS = 6
const PRODUCERS = 4
const IN_FLIGHT = 4
const CONSUMERS = 2
const RECORDS_PER_BATCH = 100
const VALUE_BYTES = 1024
const START_TIMEOUT_MS = 60_000
const DRAIN_TIMEOUT_MS = 30_000

export interface RssRow {
  name: string
  samples: number
  idleMiB: number
  medianMiB: number
  maxMiB: number
  producedRecords: number
  consumedRecords: number
  producedMBps: number
}

/** VmRSS of `pid` in bytes, or NaN if the process is gone. */
async function readRss(pid: number): Promise<number> {
  try {
    const status = await fs.readFile(`/proc/${pid}/status`, 'utf8')
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)
    return m === null ? NaN : Number(m[1]) * 1024
  } catch {
    return NaN
  }
}

/** Samples RSS every SAMPLE_MS until stop() is called; returns the samples in bytes. */
function sampleRss(pid: number): { stop(): Promise<number[]> } {
  const samples: number[] = []
  let running = true
  const loop = (async () => {
    // Bounded by the caller's stop(); the cap is a backstop (an hour of samples).
    for (let i = 0; running && i < SAMPLES_MAX; i++) {
      const rss = await readRss(pid)
      if (!Number.isNaN(rss)) samples.push(rss)
      await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS))
    }
  })()
  return {
    async stop() {
      running = false
      await loop
      return samples
    },
  }
}

function median(xs: number[]): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

const toMiB = (bytes: number): number => Math.round((bytes / MIB) * 10) / 10

async function load(address: string, pid: number): Promise<RssRow> {
  const clients: Sluice[] = []
  try {
    for (let i = 0; i < PRODUCERS + CONSUMERS; i++) clients.push(await Sluice.connect({ brokers: [address] }))
    await clients[0]!.admin().createTopic(TOPIC, { partitions: PARTITIONS })
    const idle = await sampleRss(pid)
    await new Promise((resolve) => setTimeout(resolve, IDLE_SAMPLE_MS))
    const idleSamples = await idle.stop()

    let consumed = 0
    const consumers = clients.slice(PRODUCERS).map((sl) => sl.consumer({ groupId: 'rss-bench', maxWaitMs: 100 }))
    for (const c of consumers) {
      await c.subscribe([TOPIC])
      await c.run({
        eachBatch: ({ batch }) => {
          consumed += batch.messages.length
        },
      })
    }

    const value = Buffer.alloc(VALUE_BYTES, 0x62)
    const batch = Array.from({ length: RECORDS_PER_BATCH }, () => ({ key: null, value }))
    const sampler = sampleRss(pid)
    const start = performance.now()
    const end = start + LOAD_SECONDS * 1000
    let produced = 0
    const producers = clients.slice(0, PRODUCERS).map((sl) => sl.producer({ acks: 'all', lingerMs: 0 }))
    try {
      const lane = async (producer: (typeof producers)[number]): Promise<void> => {
        while (performance.now() < end) {
          await producer.sendBatch(TOPIC, batch)
          produced += RECORDS_PER_BATCH
        }
      }
      await Promise.all(producers.flatMap((p) => Array.from({ length: IN_FLIGHT }, () => lane(p))))
    } finally {
      await Promise.all(producers.map((p) => p.close()))
    }
    const elapsedSec = (performance.now() - start) / 1000
    const drainDeadline = Date.now() + DRAIN_TIMEOUT_MS
    while (consumed < produced && Date.now() < drainDeadline) await new Promise((resolve) => setTimeout(resolve, 50))
    const samples = await sampler.stop()
    await Promise.all(consumers.map((c) => c.close()))
    return {
      name: `broker VmRSS, ${PRODUCERS} producers × ${IN_FLIGHT} in flight, acks all, flush sync, ${CONSUMERS}-member group, ${LOAD_SECONDS} s`,
      samples: samples.length,
      idleMiB: toMiB(median(idleSamples)),
      medianMiB: toMiB(median(samples)),
      maxMiB: toMiB(Math.max(...samples)),
      producedRecords: produced,
      consumedRecords: consumed,
      producedMBps: Math.round((produced * VALUE_BYTES) / 1e6 / elapsedSec),
    }
  } finally {
    await Promise.all(clients.map((sl) => sl.close()))
  }
}

export async function run(): Promise<RssRow[]> {
  if (!(LOAD_SECONDS > 0))
    throw new Error(`SLUICE_BENCH_RSS_SECONDS must be > 0, got ${process.env.SLUICE_BENCH_RSS_SECONDS}`)
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-bench-rss-'))
  try {
    const broker = await startServeChild(path.join(dir, 'data'), START_TIMEOUT_MS)
    try {
      return [await load(broker.address, broker.child.pid!)]
    } finally {
      await stopServeChild(broker, 'SIGTERM')
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true })
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.table(await run())

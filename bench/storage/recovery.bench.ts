// Question: how long does a `sluice serve` broker take to serve again after `kill -9` with SIZE bytes in its data dir
// (1 KiB values, 6 partitions, topic flush 'os'): from spawn to "listening", and from spawn to the first successful
// fetch of the newest record of every partition; and the same after a clean shutdown (SIGTERM) for comparison.
// Default SIZE is 1 GiB so `npm run bench` stays short; `SLUICE_BENCH_RECOVERY_GIB=4` runs the tracker's case
// (target: serving again in ≤ 2 s with 4 GiB).
// Envelope: node + tsx start ≈ 0.3-0.5 s before any Sluice code runs. A clean restart trusts every segment below the
// recovery-point checkpoint and only loads their indexes (a few MB at 4 GiB) ⇒ ≈ 0.5-1 s. After a kill, segments at
// or past the last checkpointed recovery point are re-validated batch by batch (CRC over every byte): with the default
// 128 MiB segments and a recent checkpoint that is ≤ 6 × 128 MiB at ~1-2 GB/s from the page cache ⇒ +0.4-0.8 s; with
// flush 'os' the durable offset may lag far behind, and a re-scan of all 4 GiB (~2 cores, ~1-1.5 GB/s) is ≈ 3-4 s,
// over the 2 s target. Either way the page cache is warm here (same boot), so this is the best case for the disk.
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { Sluice } from '../../src/sluice.js'
import { startServeChild, stopServeChild } from '../../scripts/serve-child.js'

const GIB = 2 ** 30
const SIZE_GIB = Number(process.env.SLUICE_BENCH_RECOVERY_GIB ?? '1')
const TOPIC = 'recovery'
const PARTITIONS = 6
const VALUE_BYTES = 1024
const RECORDS_PER_BATCH = 500
const IN_FLIGHT = 8
/** Check the data dir's size every this many batches (a walk of a few hundred files). */
const SIZE_CHECK_EVERY = 64
const FILL_TIMEOUT_MS = 15 * 60_000
const START_TIMEOUT_MS = 120_000
const FETCH_TIMEOUT_MS = 120_000

export interface RecoveryRow {
  name: string
  dataGiB: number
  toListeningMs: number
  toNewestFetchedMs: number
}

/** Bytes under `dir` while the broker runs: a file or directory removed between listing and stat (a checkpoint's
 *  temporary file renamed away, a segment deleted by retention) counts as nothing. */
async function dirBytes(dir: string, depth = 0): Promise<number> {
  if (depth > 6) return 0
  let total = 0
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(ignoreMissing([]))
  for (const entry of entries) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) total += await dirBytes(full, depth + 1)
    else if (entry.isFile()) total += (await fs.stat(full).catch(ignoreMissing({ size: 0 }))).size
  }
  return total
}

function ignoreMissing<T>(fallback: T): (err: NodeJS.ErrnoException) => T {
  return (err) => {
    if (err.code === 'ENOENT') return fallback
    throw err
  }
}

/** Fills the topic until the data dir holds `targetBytes`; returns the newest offset of each partition. */
async function fill(address: string, dataDir: string, targetBytes: number): Promise<number[]> {
  const sl = await Sluice.connect({ brokers: [address] })
  const newest = new Array<number>(PARTITIONS).fill(-1)
  try {
    await sl.admin().createTopic(TOPIC, { partitions: PARTITIONS, flush: 'os' })
    const producer = sl.producer({ acks: 'all', lingerMs: 0 })
    const value = Buffer.alloc(VALUE_BYTES, 0x61)
    const batches = Array.from({ length: PARTITIONS }, (_, partition) =>
      Array.from({ length: RECORDS_PER_BATCH }, (_, i) => ({ key: null, value, partition, timestamp: i })),
    )
    const deadline = Date.now() + FILL_TIMEOUT_MS
    let sent = 0
    let full = false
    try {
      while (!full) {
        if (Date.now() > deadline) throw new Error(`fill did not reach ${targetBytes} bytes in ${FILL_TIMEOUT_MS} ms`)
        const round: Array<Promise<void>> = []
        for (let n = 0; n < IN_FLIGHT; n++, sent++) {
          round.push(
            producer.sendBatch(TOPIC, batches[sent % PARTITIONS]!).then((metas) => {
              for (const m of metas) if (m.offset > newest[m.partition]!) newest[m.partition] = m.offset
            }),
          )
        }
        await Promise.all(round)
        if (sent % SIZE_CHECK_EVERY < IN_FLIGHT) full = (await dirBytes(dataDir)) >= targetBytes
      }
    } finally {
      await producer.close()
    }
  } finally {
    await sl.close()
  }
  return newest
}

/** Spawns the broker on `dataDir` and times "listening" and the fetch of each partition's newest record. */
async function timeRestart(name: string, dataDir: string, newest: number[], bytes: number): Promise<RecoveryRow> {
  const broker = await startServeChild(dataDir, START_TIMEOUT_MS)
  try {
    const sl = await Sluice.connect({ brokers: [broker.address] })
    try {
      const consumer = sl.consumer({ maxWaitMs: 100 })
      const missing = new Set(newest.map((_, p) => p))
      let allFetched: () => void = () => {}
      const fetched = new Promise<void>((res) => (allFetched = res))
      await consumer.assign(newest.map((offset, partition) => ({ topic: TOPIC, partition, offset })))
      await consumer.run({
        eachBatch: ({ batch }) => {
          for (const m of batch.messages) if (m.offset === newest[batch.partition]) missing.delete(batch.partition)
          if (missing.size === 0) allFetched()
        },
      })
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_, rej) => {
        timer = setTimeout(
          () => rej(new Error(`newest records not fetched in ${FETCH_TIMEOUT_MS} ms`)),
          FETCH_TIMEOUT_MS,
        )
      })
      try {
        await Promise.race([fetched, timeout])
      } finally {
        clearTimeout(timer)
      }
      const fetchedAt = performance.now()
      await consumer.close()
      return {
        name,
        dataGiB: Math.round((bytes / GIB) * 100) / 100,
        toListeningMs: Math.round(broker.listeningAt - broker.spawnedAt),
        toNewestFetchedMs: Math.round(fetchedAt - broker.spawnedAt),
      }
    } finally {
      await sl.close()
    }
  } finally {
    await stopServeChild(broker, 'SIGTERM')
  }
}

export async function run(): Promise<RecoveryRow[]> {
  if (!(SIZE_GIB > 0))
    throw new Error(`SLUICE_BENCH_RECOVERY_GIB must be > 0, got ${process.env.SLUICE_BENCH_RECOVERY_GIB}`)
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-bench-recovery-'))
  const dataDir = path.join(dir, 'data')
  const rows: RecoveryRow[] = []
  try {
    const first = await startServeChild(dataDir, START_TIMEOUT_MS)
    let newest: number[]
    try {
      newest = await fill(first.address, dataDir, SIZE_GIB * GIB)
    } finally {
      await stopServeChild(first, 'SIGKILL')
    }
    const bytes = await dirBytes(dataDir)
    rows.push(await timeRestart(`restart after kill -9, ${PARTITIONS} partitions, 1 KiB`, dataDir, newest, bytes))
    // timeRestart stops with SIGTERM, so this restart opens a cleanly closed data dir.
    rows.push(await timeRestart(`restart after clean shutdown (SIGTERM)`, dataDir, newest, await dirBytes(dataDir)))
  } finally {
    await fs.rm(dir, { recursive: true, force: true })
  }
  return rows
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.table(await run())

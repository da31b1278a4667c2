// The power-cut harness of D3 (flush sync) and D4 (flush interval): an embedded broker (Sluice.open) runs on a data
// dir under the simulated power-cut fs (src/testing/power-cut-fs.ts); idempotent producers (acks all) send to a small-
// segment topic while the power is cut, either from a timer a random delay after the cycle's first acknowledgement or
// in the middle of a random fs call (armed cut: inside a roll, a checkpoint, a recovery), with or without a torn tail.
// The dead instance is closed on the frozen disk (nothing it does reaches the disk), and a new one opens the same dir.
// Two readers fetch while the power is on, one with visibility 'written' and one 'durable'; every record they saw is
// looked for in the final read at the offset where it was seen (a missing one is a phantom read: a cut took it).
// In-process, not a child process per cycle: a cycle costs 50-150 ms instead of about 0.9 s (a D1 kill cycle: a tsx
// process start, recovery and a reconnect), so 200 cuts fit in CI.
import fs from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { SluiceError } from '../../src/errors.js'
import { decodeRecords, iterateBatches } from '../../src/storage/record-batch.js'
import { Sluice } from '../../src/sluice.js'
import type { StorageLogger } from '../../src/storage/api.js'
import { openStorage } from '../../src/storage/storage.js'
import { PowerCutFs, type CutReport } from '../../src/testing/power-cut-fs.js'
import { Random } from '../../src/testing/random.js'
import type { PartitionRead } from './checker.js'
import { readPartitions } from './read-back.js'
import { HistoryRecorder } from './history.js'

export const TOPIC = 'power'
export const GROUP = 'power-group'
/** The committer's client id in the history (producers' ids are cycle * CLIENTS + c). */
const COMMITTER = -1
const COMMIT_EVERY_MS = 10
export const PARTITIONS = 3
const CLIENTS = 4
const PRODUCERS = 2
/** Sends each client keeps outstanding. */
const CLIENT_IN_FLIGHT_MAX = 4
/** Small segments so rolls (seal, create, dir fsync) and checkpoints happen inside the cut window. */
export const SEGMENT_BYTES = 16 * 1024
const CHECKPOINT_INTERVAL_MS = 100
/** An armed cut lands within this many modeled fs calls of the arming (often inside the next open's recovery). */
const ARMED_CALLS_MAX = 600
const FIRST_ACK_WAIT_MS_MAX = 15_000
const SETTLE_MS_MAX = 15_000
/** Callback fdatasyncs (group commit, interval flush) take 0..this many ms, so appends pile up behind them. */
const FSYNC_LATENCY_MS_MAX = 3
const LAG_PROBE_MS = 5
const PRE_APPEND_CODES = new Set(['INVALID_ARGUMENT', 'INVALID_CONFIG', 'RECORD_TOO_LARGE', 'UNKNOWN_TOPIC'])

export interface PowerCutRunOptions {
  seed: number
  cycles: number
  /** Where the data dir and the history file go (the caller removes it). */
  dir: string
  flush: 'sync' | 'interval'
  flushIntervalMs: number
  /** A timer cut lands 0..this many ms after the cycle's first acknowledgement. */
  cutDelayMsMax: number
}

export interface AckRecord {
  cycle: number
  partition: number
  offset: number
  /** performance.now() when the producer's promise resolved. */
  atMs: number
}

export interface PowerCutResult {
  history: HistoryRecorder
  reads: PartitionRead[]
  /** The group's committed offsets read after the last restart. */
  committed: Array<{ partition: number; offset: number }>
  /** Every acknowledged value. */
  acks: Map<string, AckRecord>
  /** performance.now() of each cycle's cut. */
  cutAtMs: number[]
  /** Per cycle, per partition: when the last log fsync that completed before the cut started (-1: none). */
  lastSyncStartMs: number[][]
  figures: {
    cycles: number
    timerCuts: number
    armedCuts: number
    cutsDuringOpen: number
    tornTailCuts: number
    cutsAfterAck: number
    unsettled: number
    /** Simple (memberless) offset commits acknowledged; they go to __consumer_offsets, flush sync. */
    commits: number
    fsCalls: { writes: number; fileSyncs: number; dirSyncs: number; creates: number; removes: number; renames: number }
    cut: CutReport
    /** commitLowerings: opens at which the group's commits past a recovered log end were lowered to it. */
    recovery: { tornTailsCut: number; indexesRebuilt: number; commitLowerings: number }
    /** Errors the broker logged while the disk was up (a cut makes the dead instance log plenty: not counted). */
    /** Committed offsets found past their partition's log end right after a reopen (must be 0: the broker lowers
     *  them at open, or a group resuming there would skip the records that next take those offsets). */
    commitsPastLogEnd: number
    errorsWhileUp: number
    errorExamples: string[]
    /** The longest a LAG_PROBE_MS timer fired late while the broker ran (event-loop stalls stretch every window). */
    eventLoopLagMsMax: number
    /** Records each reader (fetch visibility 'written' and 'durable') saw while the power was on. */
    recordsSeen: { written: number; durable: number }
    /** Of those, records the final read does not hold at the offset where they were seen (a power cut took them):
     *  expected for 'written' readers, never for 'durable' ones. */
    phantomReads: { written: number; durable: number }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export async function runPowerCuts(options: PowerCutRunOptions): Promise<PowerCutResult> {
  const rng = new Random(options.seed)
  const dataDir = path.join(options.dir, 'data')
  fs.mkdirSync(dataDir)
  const history = new HistoryRecorder(path.join(options.dir, 'history.jsonl'))
  const acks = new Map<string, AckRecord>()
  const cutAtMs: number[] = []
  const lastSyncStartMs: number[][] = []
  const figures: PowerCutResult['figures'] = {
    cycles: options.cycles,
    timerCuts: 0,
    armedCuts: 0,
    cutsDuringOpen: 0,
    tornTailCuts: 0,
    cutsAfterAck: 0,
    unsettled: 0,
    commits: 0,
    fsCalls: { writes: 0, fileSyncs: 0, dirSyncs: 0, creates: 0, removes: 0, renames: 0 },
    cut: {
      filesRolledBack: 0,
      bytesDropped: 0,
      tornBytesKept: 0,
      junkBytesAdded: 0,
      overwritesUndone: 0,
      createsReverted: 0,
      unlinksReverted: 0,
      renamesReverted: 0,
    },
    recovery: { tornTailsCut: 0, indexesRebuilt: 0, commitLowerings: 0 },
    commitsPastLogEnd: 0,
    errorsWhileUp: 0,
    errorExamples: [],
    eventLoopLagMsMax: 0,
    recordsSeen: { written: 0, durable: 0 },
    phantomReads: { written: 0, durable: 0 },
  }
  /** What the readers saw: `partition:offset` → the values seen there (a reused offset may show two). */
  const seen = { written: new Map<string, Set<string>>(), durable: new Map<string, Set<string>>() }
  /** Where each reader goes on from, per partition (clamped to the log end at each open). */
  const readFrom = { written: [0, 0, 0], durable: [0, 0, 0] }
  const layer = PowerCutFs.install(dataDir)
  const latencyRng = new Random(options.seed ^ 0x5eed)
  layer.fsyncLatencyMs = () => (latencyRng.bool() ? 0 : latencyRng.int(1, FSYNC_LATENCY_MS_MAX))
  const logger: StorageLogger = {
    info: (message) => {
      if (message === 'rebuilt segment indexes') figures.recovery.indexesRebuilt++
    },
    warn: (message) => {
      if (message === 'cut a torn tail from a segment') figures.recovery.tornTailsCut++
      if (message.startsWith('committed offsets past the log end lowered')) figures.recovery.commitLowerings++
    },
    error: (message, fields) => {
      if (layer.frozen) return
      figures.errorsWhileUp++
      if (figures.errorExamples.length < 5) figures.errorExamples.push(`${message} ${JSON.stringify(fields ?? {})}`)
    },
  }
  /** Per partition: one past the highest acknowledged offset so far (what the committer commits next). */
  const nextCommit = Array.from({ length: PARTITIONS }, () => 0)
  const lastCommitted = Array.from({ length: PARTITIONS }, () => 0)
  const syncStart = Array.from({ length: PARTITIONS }, () => -1)
  const partitionDirs = Array.from({ length: PARTITIONS }, (_, p) => path.join(dataDir, 'topics', TOPIC, String(p)))
  layer.onFileSync = (file, startedAtMs) => {
    if (!file.endsWith('.log')) return
    const p = partitionDirs.indexOf(path.dirname(file))
    if (p >= 0 && startedAtMs > syncStart[p]!) syncStart[p] = startedAtMs
  }
  const open = () =>
    Sluice.open(
      {
        dataDir,
        logger,
        flush: options.flush,
        flushIntervalMs: options.flushIntervalMs,
        segmentBytes: SEGMENT_BYTES,
      },
      { openStorage: (dir, o) => openStorage(dir, { ...o, checkpointIntervalMs: CHECKPOINT_INTERVAL_MS }) },
    )
  const recordCut = (cycle: number, report: CutReport | null, torn: boolean): void => {
    cutAtMs[cycle] = layer.lastCutAtMs
    lastSyncStartMs[cycle] = [...syncStart]
    if (torn) figures.tornTailCuts++
    if (report !== null) for (const k of Object.keys(report) as Array<keyof CutReport>) figures.cut[k] += report[k]
  }

  let lastProbe = performance.now()
  const lagProbe = setInterval(() => {
    const now = performance.now()
    figures.eventLoopLagMsMax = Math.max(figures.eventLoopLagMsMax, Math.round(now - lastProbe - LAG_PROBE_MS))
    lastProbe = now
  }, LAG_PROBE_MS)
  try {
    for (let cycle = 0; cycle < options.cycles; cycle++) {
      const torn = rng.bool(0.5)
      const cutOptions = { tornTail: torn, random: rng }
      const armed = rng.bool(0.5)
      if (armed) layer.armCut(rng.int(1, ARMED_CALLS_MAX), cutOptions)
      syncStart.fill(-1)
      let sl: Sluice | null = null
      try {
        sl = await open()
        if (!(await sl.admin().listTopics()).includes(TOPIC))
          await sl.admin().createTopic(TOPIC, {
            partitions: PARTITIONS,
            flush: options.flush,
            flushIntervalMs: options.flushIntervalMs,
            segmentBytes: SEGMENT_BYTES,
          })
      } catch (err) {
        if (!layer.frozen) throw err // recovery itself failed: a defect
        // Cut after the open (creating the topic): that instance still holds the data dir's lock until closed.
        const opened: Sluice | null = sl
        if (opened !== null) await Promise.race([opened.close().catch(() => undefined), sleep(SETTLE_MS_MAX)])
        figures.cutsDuringOpen++
        figures.armedCuts++
        recordCut(cycle, layer.lastCut, torn)
        layer.resume()
        continue
      }
      const instance = sl
      try {
        const described = (await instance.admin().describeTopic(TOPIC)).partitions
        const ends = described.map((p) => p.logEndOffset)
        // Offline after a recovery with the disk up is a defect (its end reads -1, unknown).
        for (const p of described)
          if (p.offline !== null && !layer.frozen) {
            figures.errorsWhileUp++
            if (figures.errorExamples.length < 5)
              figures.errorExamples.push(`${TOPIC}/${p.partition} offline after recovery: ${p.offline}`)
          }
        const now = await instance.transport.fetchOffsets({
          groupId: GROUP,
          partitions: [{ topic: TOPIC, partitions: ends.map((_, p) => p) }],
        })
        for (const c of now) if (ends[c.partition]! >= 0 && c.offset > ends[c.partition]!) figures.commitsPastLogEnd++
      } catch (err) {
        if (!layer.frozen) throw err // an armed cut may land inside these reads
      }
      let stopping = false
      const readers = (['written', 'durable'] as const).map((visibility) =>
        (async () => {
          const from = readFrom[visibility]
          try {
            const ends = (await instance.admin().describeTopic(TOPIC)).partitions.map((p) => p.logEndOffset)
            // An offline partition's end is unknown (-1): its reading position stays as it is.
            for (let p = 0; p < PARTITIONS; p++) if (ends[p]! >= 0) from[p] = Math.min(from[p]!, ends[p]!)
          } catch {
            return // an armed cut
          }
          // Bounded: stops at the cut.
          while (!stopping && !layer.frozen) {
            let res
            try {
              res = await instance.transport.fetch({
                partitions: from.map((offset, partition) => ({ topic: TOPIC, partition, offset })),
                maxBytes: 1 << 20,
                maxWaitMs: 20,
                visibility,
              })
            } catch {
              return // the cut closed the instance
            }
            let progressed = false
            for (const pr of res.partitions) {
              if (pr.error !== null) {
                if (layer.frozen) continue
                // A partition failing while the disk is up is a defect: reported like a broker error.
                figures.errorsWhileUp++
                if (figures.errorExamples.length < 5)
                  figures.errorExamples.push(`${visibility} fetch of ${TOPIC}/${pr.partition}: ${pr.error.message}`)
                continue
              }
              for (const { position, header } of iterateBatches(pr.records))
                for (const r of decodeRecords(pr.records, position, from[pr.partition]!, header)) {
                  const key = `${pr.partition}:${r.offset}`
                  let values = seen[visibility].get(key)
                  if (values === undefined) seen[visibility].set(key, (values = new Set()))
                  values.add(r.value?.toString() ?? '')
                  from[pr.partition] = r.offset + 1
                  progressed = true
                }
            }
            // The embedded transport answers without a turn of the event loop: a fetch that brings nothing new
            // (an error, or bytes below `from`) would otherwise spin here and starve the timers, the cut's included.
            if (!progressed) await sleep(1)
          }
        })(),
      )
      let cycleAcks = 0
      const outstanding = new Set<Promise<void>>()
      const producers = Array.from({ length: PRODUCERS }, () =>
        instance.producer({ acks: 'all', idempotent: true, lingerMs: 1, retries: 2, retryBackoffMs: 5 }),
      )
      const send = (client: number, n: number): Promise<void> => {
        const partition = rng.int(0, PARTITIONS - 1)
        const value = `c${client}-${n}`
        history.invoke(client, partition, value)
        return producers[client % PRODUCERS]!.send(TOPIC, { value, partition }).then(
          (meta) => {
            cycleAcks++
            acks.set(value, { cycle, partition, offset: meta.offset, atMs: performance.now() })
            nextCommit[partition] = Math.max(nextCommit[partition]!, meta.offset + 1)
            history.ok(client, partition, value, meta.offset)
          },
          (err: unknown) => {
            const code = err instanceof SluiceError ? err.code : String(err)
            if (PRE_APPEND_CODES.has(code) && !layer.frozen) history.fail(client, partition, value, code)
            else history.info(client, partition, value, code)
          },
        )
      }
      const runClient = async (client: number): Promise<void> => {
        const mine = new Set<Promise<void>>()
        // Bounded: stops at the cut; each turn waits for one of at most CLIENT_IN_FLIGHT_MAX sends.
        for (let n = 0; !stopping && !layer.frozen; n++) {
          const p: Promise<void> = send(client, n).finally(() => {
            mine.delete(p)
            outstanding.delete(p)
          })
          mine.add(p)
          outstanding.add(p)
          if (mine.size >= CLIENT_IN_FLIGHT_MAX) await Promise.race(mine)
          // Sends that settle at once (a producer failing fast) would otherwise loop without a turn of the event loop.
          if (n % CLIENT_IN_FLIGHT_MAX === CLIENT_IN_FLIGHT_MAX - 1)
            await new Promise((resolve) => setImmediate(resolve))
        }
      }
      const clients = Array.from({ length: CLIENTS }, (_, c) => runClient(cycle * CLIENTS + c))
      const committer = (async () => {
        // Bounded: stops at the cut.
        while (!stopping && !layer.frozen) {
          await sleep(COMMIT_EVERY_MS)
          const offsets = nextCommit
            .map((offset, partition) => ({ topic: TOPIC, partition, offset }))
            .filter((o) => o.offset > lastCommitted[o.partition]!)
          if (offsets.length === 0) continue
          try {
            await instance.transport.commitOffsets({ groupId: GROUP, memberId: '', memberEpoch: -1, offsets })
          } catch {
            continue // the cut: unknown whether it is durable, so not in the history
          }
          for (const o of offsets) {
            lastCommitted[o.partition] = o.offset
            history.commit(COMMITTER, o.partition, o.offset)
            figures.commits++
          }
        }
      })()
      const deadline = performance.now() + FIRST_ACK_WAIT_MS_MAX
      // Bounded by the deadline.
      while (cycleAcks === 0 && !layer.frozen && figures.errorsWhileUp === 0 && performance.now() < deadline)
        await sleep(1)
      if (cycleAcks > 0) figures.cutsAfterAck++
      const delayEnd = performance.now() + rng.int(0, options.cutDelayMsMax)
      // Bounded by delayEnd; an armed cut may land meanwhile.
      while (!layer.frozen && performance.now() < delayEnd) await sleep(1)
      if (layer.frozen) figures.armedCuts++
      else {
        layer.cut(cutOptions)
        figures.timerCuts++
      }
      recordCut(cycle, layer.lastCut, torn)
      stopping = true
      // The dead instance: closed on the frozen disk so its timers stop and the data-dir lock is released in memory.
      await Promise.race([instance.close().catch(() => undefined), sleep(SETTLE_MS_MAX)])
      await Promise.race([Promise.all([...clients, committer, ...readers]), sleep(SETTLE_MS_MAX)])
      await Promise.race([Promise.allSettled([...outstanding]), sleep(SETTLE_MS_MAX)])
      figures.unsettled += outstanding.size
      layer.resume()
      if (figures.errorsWhileUp > 0) break // a defect: stop here, the caller reports the examples
    }
    const sl = await open()
    try {
      const reads = await readPartitions(sl, TOPIC, PARTITIONS)
      const final = new Map<string, string>()
      for (const read of reads) for (const r of read.records) final.set(`${read.partition}:${r.offset}`, r.value)
      for (const visibility of ['written', 'durable'] as const)
        for (const [key, values] of seen[visibility])
          for (const value of values) {
            figures.recordsSeen[visibility]++
            if (final.get(key) !== value) figures.phantomReads[visibility]++
          }
      const committed = (
        await sl.transport.fetchOffsets({ groupId: GROUP, partitions: [{ topic: TOPIC, partitions: [0, 1, 2] }] })
      ).map((c) => ({ partition: c.partition, offset: c.offset }))
      for (const k of Object.keys(figures.fsCalls) as Array<keyof PowerCutResult['figures']['fsCalls']>)
        figures.fsCalls[k] = layer.stats[k]
      history.flush()
      return { history, reads, committed, acks, cutAtMs, lastSyncStartMs, figures }
    } finally {
      await sl.close()
    }
  } finally {
    clearInterval(lagProbe)
    history.flush()
    layer.uninstall()
  }
}

/** A long run is split into data dirs of at most this many cycles: each open re-reads every segment's indexes, so one
 * ever-growing dir would make cycle k cost O(k). Each part is checked on its own. */
export const CYCLES_PER_DATA_DIR_MAX = 500

/** Adds the numbers of `from` into `into` (recursively); keys in `maxKeys` keep the larger value instead. */
export function mergeFigures(into: Record<string, unknown>, from: Record<string, unknown>, maxKeys: Set<string>): void {
  for (const [key, value] of Object.entries(from)) {
    const current = into[key]
    if (typeof value === 'number')
      into[key] = typeof current === 'number' ? (maxKeys.has(key) ? Math.max(current, value) : current + value) : value
    else if (Array.isArray(value)) into[key] = [...((current as unknown[] | undefined) ?? []), ...value]
    else if (typeof value === 'object' && value !== null) {
      if (typeof current !== 'object' || current === null) into[key] = {}
      mergeFigures(into[key] as Record<string, unknown>, value as Record<string, unknown>, maxKeys)
    } else into[key] = value
  }
}

// D2: D1 with failpoints. The broker (`sluice serve` as a child process) kills itself with SIGKILL at a named point of
// a durability protocol (src/storage/failpoints.ts): a batch written but not fsynced, fsynced but not acked, a roll
// before its directory fsync, an index entry write, an atomic small-file write between its temp file's fsync and the
// rename, and recovery itself (which needs an unclean state: every start here follows a kill). Each restart arms one
// point, round-robin, at a seeded random hit number, through its environment; a child whose point has not fired within
// FIRE_WAIT_MS is killed anyway and the cycle counts as not hit. Producers and a committing group consumer run as in
// D1; the history, a final read after one clean restart and the committed offsets go to the checker (every count 0),
// and every point must have fired at least `trials(20, 200)` times (read from the fsynced failpoint log).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { Sluice } from '../../src/sluice.js'
import { FAILPOINT_LOG_ENV, FAILPOINT_NAMES, FAILPOINTS_ENV, type FailpointName } from '../../src/storage/failpoints.js'
import { Random } from '../../src/testing/random.js'
import { killServe, serveArgs, startServe, type ServeChild } from '../cli-helpers.js'
import { checkHistory, NO_ANOMALIES } from './checker.js'
import { compileSluice, startCompiledServe } from './compiled-serve.js'
import { HistoryRecorder } from './history.js'
import { reportFigures, runSeed, SOAK, testTimeoutMs, trials } from './settings.js'
import { readAllPartitions } from './read-back.js'
import { committedOffsets, CRASH_WORKLOAD, restartingClientOptions, sleep, TcpWorkload } from './tcp-workload.js'

const TOPIC = 'd2'
const GROUP = 'd2-group'
const PARTITIONS = CRASH_WORKLOAD.partitions
/** Small segments: each partition rolls several times a second, and each roll is followed by a recovery-point checkpoint. */
const SEGMENT_BYTES = 8 * 1024
/** The armed hit is drawn from [1, max]: small enough that the point fires within about half a second of traffic. */
const HIT_NUMBER_MAX: Record<FailpointName, number> = {
  'write-fsync': 40,
  'fsync-ack': 15,
  'roll-dirsync': 2,
  'index-write': 5,
  'checkpoint-rename': 2,
  recovery: 2,
}
/** A child whose failpoint has not fired this long after it listens is killed (the cycle counts as not hit). */
const FIRE_WAIT_MS = 5_000
/** A point that misses this many times in a row is dead (its call was moved or removed): the run stops and fails. */
const MISSES_IN_A_ROW_MAX = 4
const SETTLE_MS_MAX = 60_000
/** Children live for a fraction of a second: clients retry the connection fast. */
const RECONNECT_BACKOFF_MS_MAX = 50
/** Children not yet exited: killed after the file even when a test times out and its own cleanup never runs. */
const liveChildren = new Set<ServeChild>()
afterAll(() => {
  for (const c of liveChildren) c.child.kill('SIGKILL')
})

const zeroPerPoint = (): Record<FailpointName, number> =>
  Object.fromEntries(FAILPOINT_NAMES.map((n) => [n, 0])) as Record<FailpointName, number>

/** Lines of the failpoint log per point (`name hitNumber pid`). */
function firedCounts(logFile: string): Record<FailpointName, number> {
  const counts = zeroPerPoint()
  if (!fs.existsSync(logFile)) return counts
  for (const line of fs.readFileSync(logFile, 'utf8').split('\n')) {
    const name = line.split(' ')[0] as FailpointName
    if (name in counts) counts[name]++
  }
  return counts
}

test('D2: a mistyped failpoint name makes the broker refuse to start instead of running unarmed', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-d2-typo-'))
  try {
    const started = startServe(serveArgs(path.join(dir, 'data'), 0), { [FAILPOINTS_ENV]: 'write-fsinc:2' })
    const outcome = await started.then(
      async (server) => {
        await killServe(server)
        return 'listening'
      },
      (err: Error) => err.message,
    )
    expect(outcome).toContain('unknown failpoint "write-fsinc"')
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test(
  'D2: SIGKILL at every storage failpoint (and during recovery) loses no acknowledged record or commit',
  async () => {
    const seed = runSeed('D2')
    const rng = new Random(seed)
    const target = trials(20, 200)
    const cyclesMax = target * FAILPOINT_NAMES.length * 2
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `sluice-d2-${seed}-`))
    const dataDir = path.join(dir, 'data')
    const failpointLog = path.join(dir, 'failpoints.log')
    const history = new HistoryRecorder(path.join(dir, 'history.jsonl'))
    const started = Date.now()
    // ~100 restarts: each child runs the sources transpiled once, which starts 2-3x faster than through tsx.
    const mainJs = compileSluice(path.join(dir, 'build'))
    const serve = async (port: number, env: Record<string, string> = {}): Promise<ServeChild> => {
      const child = await startCompiledServe(mainJs, serveArgs(dataDir, port), env)
      liveChildren.add(child)
      void child.exited.then(() => liveChildren.delete(child))
      return child
    }
    let server: ServeChild | null = await serve(0)
    const port = server.port
    const address = server.address
    const sl = await Sluice.connect(restartingClientOptions(address, RECONNECT_BACKOFF_MS_MAX))
    const consumerSl = await Sluice.connect(restartingClientOptions(address, RECONNECT_BACKOFF_MS_MAX))
    let workload: TcpWorkload | null = null
    let passed = false
    try {
      await sl.admin().createTopic(TOPIC, { partitions: PARTITIONS, flush: 'sync', segmentBytes: SEGMENT_BYTES })
      const w = await TcpWorkload.start(sl, consumerSl, {
        topic: TOPIC,
        group: GROUP,
        ...CRASH_WORKLOAD,
        rng,
        history,
      })
      workload = w

      // The unarmed first broker dies once traffic flows; from then on every start is armed and follows a kill.
      while (w.acks === 0 && Date.now() - started < SETTLE_MS_MAX) await sleep(5)
      await killServe(server)
      server = null
      const armed = zeroPerPoint()
      let fired = firedCounts(failpointLog)
      let cycles = 0
      let diedBeforeListening = 0
      let cyclesWithAcks = 0
      let startMs = 0
      const listened = zeroPerPoint()
      const servedMs = zeroPerPoint()
      const otherExits: string[] = []
      let turn = 0
      const below = (): FailpointName[] => FAILPOINT_NAMES.filter((n) => fired[n] < target)
      const missesInARow = zeroPerPoint()
      // Bounded by cyclesMax; round-robin over the points that have not fired `target` times yet.
      while (
        cycles < cyclesMax &&
        below().length > 0 &&
        Math.max(...Object.values(missesInARow)) < MISSES_IN_A_ROW_MAX
      ) {
        const pending = below()
        const point = pending[turn++ % pending.length]!
        const hitNumber = rng.int(1, HIT_NUMBER_MAX[point])
        armed[point]++
        cycles++
        const env = { [FAILPOINTS_ENV]: `${point}:${hitNumber}`, [FAILPOINT_LOG_ENV]: failpointLog }
        const ackedBefore = w.acks
        const startedAt = Date.now()
        const child = await serve(port, env).catch((err: Error) => {
          // a failpoint during startup (recovery) is the SIGKILL; any other early exit is a crash
          if (!err.message.startsWith('serve exited (SIGKILL)')) otherExits.push(`${point}:${hitNumber} ${err.message}`)
          return null
        })
        startMs += Date.now() - startedAt
        if (child === null) diedBeforeListening++
        else {
          const listeningAt = Date.now()
          const exit = await Promise.race([child.exited, sleep(FIRE_WAIT_MS).then(() => null)])
          listened[point]++
          servedMs[point] += Date.now() - listeningAt
          if (exit !== null && exit !== 'SIGKILL') otherExits.push(`${point}:${hitNumber} exited ${exit}`)
          await killServe(child)
        }
        if (w.acks > ackedBefore) cyclesWithAcks++
        const firedBefore = fired[point]
        fired = firedCounts(failpointLog)
        missesInARow[point] = fired[point] > firedBefore ? 0 : missesInARow[point] + 1
      }
      // The last start is unarmed: it recovers from the last failpoint and serves until the clients settle.
      server = await serve(port)
      const { unsettled } = await w.stop(SETTLE_MS_MAX)

      // One clean restart (SIGTERM: flush, checkpoint, clean-shutdown marker), then the final read and the commits.
      server.child.kill('SIGTERM')
      const cleanExit = await Promise.race([server.exited, sleep(SETTLE_MS_MAX).then(() => 'no exit')])
      await killServe(server)
      server = await serve(port)
      const reads = await readAllPartitions(address, TOPIC, PARTITIONS)
      const reader = await Sluice.connect(restartingClientOptions(address))
      const committed = await committedOffsets(reader, GROUP, TOPIC, PARTITIONS).finally(() => reader.close())
      history.flush()
      const report = checkHistory(history.ops, reads, { committed })
      const polls = history.ops.filter((op) => op.f === 'poll').length
      const notHit = Object.fromEntries(FAILPOINT_NAMES.map((n) => [n, armed[n] - fired[n]]))
      reportFigures('D2', {
        seed,
        soak: SOAK,
        target,
        cycles,
        fired,
        notHit,
        diedBeforeListening,
        cyclesWithAcks,
        meanStartMs: Math.round(startMs / cycles),
        // mean ms from a child's listening line to its death, per point (recovery fires before listening)
        meanMsToFire: Object.fromEntries(
          FAILPOINT_NAMES.filter((n) => listened[n] > 0).map((n) => [n, Math.round(servedMs[n] / listened[n])]),
        ),
        otherExits: otherExits.length,
        ...report.sends,
        recordsRead: report.recordsRead,
        unsettled,
        polls,
        commits: w.commits,
        commitErrors: w.commitErrors,
        ...report.counts,
        seconds: Math.round((Date.now() - started) / 1000),
      })
      if (report.anomalies > 0) console.log(`[reliability] D2 anomalies:\n  ${report.examples.join('\n  ')}`)
      if (otherExits.length > 0) console.log(`[reliability] D2 unexpected exits:\n  ${otherExits.join('\n  ')}`)
      expect(report.counts).toEqual(NO_ANOMALIES)
      expect(unsettled).toBe(0)
      // Every armed child died by its own SIGKILL or ours, never by a crash of its own; the clean stop exited 0.
      expect(otherExits).toEqual([])
      expect(cleanExit).toBe(0)
      for (const name of FAILPOINT_NAMES) expect(fired[name], name).toBeGreaterThanOrEqual(target)
      // The run really exercised the broker between the kills: acks, deliveries and commits happened.
      expect(report.sends.ok).toBeGreaterThan(report.sends.info)
      expect(polls).toBeGreaterThan(0)
      expect(w.commits).toBeGreaterThan(0)
      passed = true
    } finally {
      workload?.abandon()
      await sl.close().catch(() => undefined)
      await consumerSl.close().catch(() => undefined)
      if (server !== null) await killServe(server)
      history.flush()
      if (passed) fs.rmSync(dir, { recursive: true, force: true })
      else console.log(`[reliability] D2 failed (seed ${seed}); history, failpoint log and data kept in ${dir}`)
    }
  },
  testTimeoutMs(300_000),
)

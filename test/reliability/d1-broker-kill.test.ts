// D1: the broker (`sluice serve` as a child process) is killed with SIGKILL at random moments while idempotent
// producers (acks all, topic flush sync) send over TCP and a group consumer consumes and commits, then restarted on the
// same port and data dir, for N cycles. The history of every send, delivery and acknowledged commit, a final read of
// every partition and of the group's committed offsets after the last restart go to the checker: every count must be
// 0 (nothing acknowledged lost, no duplicate, no gap, no conflict, no consumer skip, no commit gone back). The seed is
// printed; on failure the history file and the data dir are kept and their paths printed.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { expect, test } from 'vitest'
import { Sluice } from '../../src/sluice.js'
import { Random } from '../../src/testing/random.js'
import { killServe, serveArgs, startServe } from '../cli-helpers.js'
import { checkHistory, NO_ANOMALIES } from './checker.js'
import { HistoryRecorder } from './history.js'
import { reportFigures, runSeed, SOAK, testTimeoutMs, trials } from './settings.js'
import { readAllPartitions } from './read-back.js'
import { committedOffsets, CRASH_WORKLOAD, restartingClientOptions, sleep, TcpWorkload } from './tcp-workload.js'

const TOPIC = 'd1'
const GROUP = 'd1-group'
const PARTITIONS = CRASH_WORKLOAD.partitions
/** The kill lands this many ms (random in range) after the restarted broker acknowledged its first send. */
const KILL_DELAY_MS_MAX = 400
const SETTLE_MS_MAX = 60_000

test(
  'D1: SIGKILL of the broker during idempotent produce and group consume loses no acknowledged record or commit',
  async () => {
    const seed = runSeed('D1')
    const rng = new Random(seed)
    const cycles = trials(50, 1_000)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `sluice-d1-${seed}-`))
    const dataDir = path.join(dir, 'data')
    const history = new HistoryRecorder(path.join(dir, 'history.jsonl'))
    let server = await startServe(serveArgs(dataDir, 0))
    const port = server.port
    const address = server.address
    const sl = await Sluice.connect(restartingClientOptions(address))
    const consumerSl = await Sluice.connect(restartingClientOptions(address))
    let workload: TcpWorkload | null = null
    let passed = false
    try {
      await sl.admin().createTopic(TOPIC, { partitions: PARTITIONS, flush: 'sync' })
      const w = await TcpWorkload.start(sl, consumerSl, {
        topic: TOPIC,
        group: GROUP,
        ...CRASH_WORKLOAD,
        rng,
        history,
      })
      workload = w

      let killsAfterAck = 0
      for (let cycle = 0; cycle < cycles; cycle++) {
        const ackedBefore = w.acks
        const deadline = Date.now() + 20_000
        while (w.acks === ackedBefore && Date.now() < deadline) await sleep(5)
        if (w.acks > ackedBefore) killsAfterAck++
        await sleep(rng.int(0, KILL_DELAY_MS_MAX))
        await killServe(server)
        server = await startServe(serveArgs(dataDir, port))
      }
      const { unsettled } = await w.stop(SETTLE_MS_MAX)

      // The last restart, then a fresh reader reads every partition and the group's committed offsets.
      await killServe(server)
      server = await startServe(serveArgs(dataDir, port))
      const reads = await readAllPartitions(address, TOPIC, PARTITIONS)
      const reader = await Sluice.connect(restartingClientOptions(address))
      const committed = await committedOffsets(reader, GROUP, TOPIC, PARTITIONS).finally(() => reader.close())
      history.flush()
      const report = checkHistory(history.ops, reads, { committed })
      const polls = history.ops.filter((op) => op.f === 'poll').length
      reportFigures('D1', {
        seed,
        soak: SOAK,
        cycles,
        killsAfterAck,
        ...report.sends,
        recordsRead: report.recordsRead,
        unsettled,
        polls,
        commits: w.commits,
        commitErrors: w.commitErrors,
        ...report.counts,
      })
      if (report.anomalies > 0) console.log(`[reliability] D1 anomalies:\n  ${report.examples.join('\n  ')}`)
      expect(report.counts).toEqual(NO_ANOMALIES)
      expect(unsettled).toBe(0)
      // The run really exercised the broker: every cycle saw progress, most sends were acknowledged, the consumer
      // consumed and committed.
      expect(killsAfterAck).toBe(cycles)
      expect(report.sends.ok).toBeGreaterThan(report.sends.info)
      expect(polls).toBeGreaterThan(0)
      expect(w.commits).toBeGreaterThan(0)
      passed = true
    } finally {
      workload?.abandon()
      await sl.close().catch(() => undefined)
      await consumerSl.close().catch(() => undefined)
      await killServe(server)
      history.flush()
      if (passed) fs.rmSync(dir, { recursive: true, force: true })
      else console.log(`[reliability] D1 failed (seed ${seed}); history and data kept in ${dir}`)
    }
  },
  testTimeoutMs(300_000),
)

// D3: simulated power cuts (src/testing/power-cut-fs.ts: only fsynced bytes and directory entries of fsynced
// directories survive, sometimes with a torn tail) during idempotent produce (acks all) to a flush-sync topic with 16 KiB
// segments and simple offset commits, cut from a timer or inside a random fs call, then reopened on the same data dir,
// for N cycles, while two readers fetch with visibility 'written' and 'durable'. The history, a final read and the
// committed offsets go to the checker: with flush sync no acknowledged record or commit may be lost, and every other
// count is 0; the durable reader saw no record a cut then took. The seed is printed; on failure the history and data
// dir are kept and their paths printed.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { expect, test } from 'vitest'
import { openStorage } from '../../src/storage/storage.js'
import { PowerCutFs } from '../../src/testing/power-cut-fs.js'
import { logConfig, makeBatch, readAll } from '../../src/testing/storage-data.js'
import { checkHistory, NO_ANOMALIES } from './checker.js'
import { CYCLES_PER_DATA_DIR_MAX, mergeFigures, runPowerCuts } from './power-cut-harness.js'
import { reportFigures, runSeed, SOAK, testTimeoutMs, trials } from './settings.js'

const MAX_KEYS = new Set(['eventLoopLagMsMax'])

test(
  'D3: power cuts during produce with flush sync lose no acknowledged record and recovery always succeeds',
  async () => {
    const seed = runSeed('D3')
    const cycles = trials(200, 5_000)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `sluice-d3-${seed}-`))
    let passed = false
    const started = Date.now()
    const total: Record<string, unknown> = {}
    try {
      // Bounded: one turn per data dir of at most CYCLES_PER_DATA_DIR_MAX cycles.
      for (let part = 0; part * CYCLES_PER_DATA_DIR_MAX < cycles; part++) {
        const partDir = path.join(dir, `part-${part}`)
        fs.mkdirSync(partDir)
        const run = await runPowerCuts({
          seed: seed + part,
          cycles: Math.min(CYCLES_PER_DATA_DIR_MAX, cycles - part * CYCLES_PER_DATA_DIR_MAX),
          dir: partDir,
          flush: 'sync',
          flushIntervalMs: 1000,
          cutDelayMsMax: 60,
        })
        const report = checkHistory(run.history.ops, run.reads, { committed: run.committed })
        if (report.anomalies > 0)
          console.log(`[reliability] D3 anomalies (part ${part}):\n  ${report.examples.join('\n  ')}`)
        mergeFigures(
          total,
          { ...run.figures, ...report.sends, recordsRead: report.recordsRead, ...report.counts },
          MAX_KEYS,
        )
        expect(report.counts).toEqual(NO_ANOMALIES)
        expect(run.figures.errorExamples).toEqual([])
        expect(run.figures.unsettled).toBe(0)
        expect(run.figures.commitsPastLogEnd).toBe(0)
        expect(run.figures.phantomReads.durable).toBe(0)
        fs.rmSync(partDir, { recursive: true, force: true })
      }
      reportFigures('D3', { seed, soak: SOAK, ...total, seconds: Math.round((Date.now() - started) / 100) / 10 })
      // The run really cut while records were being acknowledged, both ways, with torn tails, and commits went on.
      const t = total as { cutsAfterAck: number; timerCuts: number; armedCuts: number; ok: number; commits: number }
      expect(t.cutsAfterAck).toBeGreaterThan(cycles / 4)
      expect(t.timerCuts).toBeGreaterThan(0)
      expect(t.armedCuts).toBeGreaterThan(0)
      expect((total.cut as { bytesDropped: number }).bytesDropped).toBeGreaterThan(0)
      expect(t.ok).toBeGreaterThan(cycles)
      expect(t.commits).toBeGreaterThan(0)
      // Readers of written records saw records the cuts then took; readers of durable records never did (above).
      expect((total.phantomReads as { written: number }).written).toBeGreaterThan(0)
      passed = true
    } finally {
      if (passed) fs.rmSync(dir, { recursive: true, force: true })
      else console.log(`[reliability] D3 failed (seed ${seed}); history and data kept in ${dir}`)
    }
  },
  testTimeoutMs(240_000),
)

test('D3 regression: a new log (and the directories above it) survives a power cut once an append is acknowledged', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-d3-dirs-'))
  const dataDir = path.join(dir, 'data')
  const layer = PowerCutFs.install(dataDir)
  try {
    const storage = await openStorage(dataDir)
    const log = await storage.openLog('topics/t/0', logConfig())
    const appended = log.append(makeBatch('v', 3))
    await log.waitDurable(appended.lastOffset)
    layer.cut()
    await storage.close().catch(() => undefined) // the dead instance, on the frozen disk
    layer.resume()
    const reopened = await openStorage(dataDir)
    try {
      const again = await reopened.openLog('topics/t/0', logConfig())
      expect(readAll(again).map((r) => r.value)).toEqual(['v-0', 'v-1', 'v-2'])
    } finally {
      await reopened.close()
    }
  } finally {
    layer.uninstall()
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

// Model-based test: thousands of seeded random operations (append, read, timestamp lookup, rolls by size and time,
// retention, deleteRecordsBefore, truncateTo, close/reopen and crash/reopen) against PartitionLog and against a plain
// in-memory array of batches; every observable answer must match the model. The seed is printed on failure (replay
// with SEED=<n>).
import fs from 'node:fs'
import path from 'node:path'
import { expect } from 'vitest'
import { Random, testSeed } from '../testing/random.js'
import { decodeAll, logConfig, readAll, tmpTest as test } from '../testing/storage-fixtures.js'
import type { LogConfig } from './api.js'
import type { PartitionLog } from './partition-log.js'
import { encodeRecordBatch } from './record-batch.js'
import { openStorage, type Storage } from './storage.js'

interface ModelRecord {
  offset: number
  value: string
  timestamp: number
}

interface ModelBatch {
  base: number
  records: ModelRecord[]
}

const OPERATIONS = 2000

test('random operations agree with an in-memory model', async ({ tmpDir }) => {
  const seed = testSeed()
  const random = new Random(seed)
  let now = 1_700_000_000_000
  let config: LogConfig = logConfig({ segmentBytes: 700, indexIntervalBytes: 128, segmentMs: 60_000 })
  let dataDir = path.join(tmpDir, 'data')
  let storage: Storage = await openStorage(dataDir, { clock: () => now })
  let log: PartitionLog = await storage.openLog('topics/m/0', config)
  let batches: ModelBatch[] = []
  let logStart = 0
  let logEnd = 0
  let timestamp = now
  let step = 0
  let op = ''

  const modelRecords = (): ModelRecord[] => batches.flatMap((b) => b.records).filter((r) => r.offset >= logStart)
  const checkAll = (): void => {
    expect(log.logEndOffset).toBe(logEnd)
    expect(log.logStartOffset).toBe(logStart)
    expect(readAll(log, logStart, random.int(1, 2000))).toEqual(modelRecords())
  }
  const reopen = async (crash: boolean): Promise<void> => {
    if (crash) {
      const copy = path.join(tmpDir, `crash-${step}`)
      fs.cpSync(dataDir, copy, { recursive: true, filter: (src) => path.basename(src) !== '.lock' })
      await storage.close()
      fs.rmSync(dataDir, { recursive: true })
      dataDir = copy
    } else await storage.close()
    storage = await openStorage(dataDir, { clock: () => now })
    log = await storage.openLog('topics/m/0', config)
    expect(log.offlineError).toBeNull()
  }

  try {
    for (step = 0; step < OPERATIONS; step++) {
      const dice = random.next()
      now += random.int(0, 2_000)
      if (dice < 0.45) {
        op = 'append'
        const count = random.int(1, 5)
        const records: ModelRecord[] = []
        for (let i = 0; i < count; i++) {
          timestamp += random.int(-50, 200) // mostly increasing, sometimes not
          records.push({ offset: logEnd + i, value: `r${logEnd + i}-${'x'.repeat(random.int(0, 120))}`, timestamp })
        }
        const batch = encodeRecordBatch(
          records.map((r) => ({ key: null, value: Buffer.from(r.value), timestamp: r.timestamp })),
        )
        const result = log.append(batch)
        expect(result.baseOffset).toBe(logEnd)
        if (random.bool(0.1)) await log.waitDurable(result.lastOffset)
        batches.push({ base: logEnd, records })
        logEnd += count
      } else if (dice < 0.7) {
        op = 'read'
        const offset = random.int(logStart, logEnd)
        const got = decodeAll(log.read(offset, random.int(0, 1500)).records, offset)
        const expected = modelRecords().filter((r) => r.offset >= offset)
        if (offset === logEnd) expect(got).toEqual([])
        else {
          expect(got.length).toBeGreaterThan(0)
          expect(got).toEqual(expected.slice(0, got.length))
        }
      } else if (dice < 0.8) {
        op = 'offsetForTimestamp'
        const t = timestamp + random.int(-3_000, 300)
        const expected = modelRecords().find((r) => r.timestamp >= t)?.offset ?? null
        expect(log.offsetForTimestamp(t)).toBe(expected)
      } else if (dice < 0.85) {
        op = 'reconfigure'
        config = logConfig({
          segmentBytes: random.pick([300, 700, 2000]),
          indexIntervalBytes: random.pick([1, 128, 1000]),
          segmentMs: random.pick([5_000, 60_000]),
          retentionBytes: random.pick([-1, -1, 1500, 5000]),
          retentionMs: random.pick([-1, -1, 60_000]),
        })
        log.reconfigure(config)
      } else if (dice < 0.9) {
        op = 'applyRetention'
        const before = log.logStartOffset
        const result = log.applyRetention(now)
        expect(result.logStartOffset).toBeGreaterThanOrEqual(before)
        // A segment boundary, or the log end once every record expired (the active segment goes too).
        expect(
          batches.some((b) => b.base === result.logStartOffset) ||
            result.logStartOffset === before ||
            result.logStartOffset === logEnd,
        ).toBe(true)
        logStart = result.logStartOffset
      } else if (dice < 0.93) {
        op = 'deleteRecordsBefore'
        const target = random.int(logStart, logEnd)
        expect(log.deleteRecordsBefore(target).logStartOffset).toBe(Math.max(target, logStart))
        logStart = Math.max(target, logStart)
      } else if (dice < 0.97) {
        op = 'truncateTo'
        const target = random.int(logStart, logEnd)
        log.truncateTo(target)
        const holder = batches.find((b) => b.base <= target && target < b.base + b.records.length)
        if (holder !== undefined) {
          logEnd = holder.base
          batches = batches.filter((b) => b.base < logEnd)
          logStart = Math.min(logStart, logEnd)
        }
      } else if (dice < 0.988) {
        op = 'close/reopen'
        await reopen(false)
        checkAll()
      } else {
        op = 'crash/reopen'
        await reopen(true)
        checkAll()
      }
      expect(log.logEndOffset).toBe(logEnd)
    }
    checkAll()
  } catch (err) {
    console.error(`model test failed: SEED=${seed} at step ${step} (${op})`)
    throw err
  } finally {
    await storage.close()
  }
})

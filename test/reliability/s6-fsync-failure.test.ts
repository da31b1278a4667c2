// S6: fsync failure. Through the storage engine's DurabilityFs seam, exactly one fdatasync (the k-th, k random; async
// group-commit round or the sync one of a segment roll) fails with EIO while appends with flush 'sync' are in flight;
// the calls after it would succeed, so an engine that retried the fsync and then acknowledged would be caught. After
// the failure no append may be acknowledged, the partition must be offline, and every waiter must settle. Reopened
// with a healthy disk, every acknowledged record is still there. The same is checked through the broker's produce.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { openBroker } from '../../src/broker/broker.js'
import { silentLogger } from '../../src/broker/logger.js'
import { PartitionOfflineError, SluiceError } from '../../src/errors.js'
import type { DurabilityFs } from '../../src/storage/segment.js'
import { openStorage, type Storage, type StorageOptions } from '../../src/storage/storage.js'
import { encodeRecordBatch } from '../../src/storage/record-batch.js'
import { Random } from '../../src/testing/random.js'
import { logConfig, readAll } from '../../src/testing/storage-data.js'
import { reportFigures, runSeed, testTimeoutMs, trials } from './settings.js'

const APPENDS = 120
const IN_FLIGHT_MAX = 8

let root = ''
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-s6-'))
}, testTimeoutMs(120_000))
afterAll(() => {
  if (root !== '') fs.rmSync(root, { recursive: true, force: true })
}, testTimeoutMs(120_000))

function eio(): NodeJS.ErrnoException {
  return Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO', errno: -5, syscall: 'fdatasync' })
}

/**
 * A DurabilityFs whose `failAt`-th call (counting both kinds) fails; the others succeed without touching the disk
 * (what an fsync makes durable is not under test here, only what the engine does when one fails).
 */
function injector(
  failAt: number,
): DurabilityFs & { calls: number; failedAt: number; failedInRoll: boolean; onFail: () => void } {
  const d = {
    calls: 0,
    failedAt: -1,
    failedInRoll: false,
    onFail: () => {},
    fdatasync(): Promise<void> {
      if (++d.calls === failAt) {
        d.failedAt = d.calls
        d.onFail()
        return new Promise((_, reject) => setImmediate(() => reject(eio())))
      }
      return new Promise((resolve) => setImmediate(resolve))
    },
    fdatasyncSync(): void {
      if (++d.calls === failAt) {
        d.failedAt = d.calls
        d.failedInRoll = true
        d.onFail()
        throw eio()
      }
    },
  }
  return d
}

const batchOf = (i: number): Buffer =>
  encodeRecordBatch([{ key: null, value: Buffer.from(`value-${i}-${'x'.repeat(i % 50)}`), timestamp: 1_000 + i }])

test(
  'S6: after a failed fdatasync no append is acknowledged, the log is offline, and acknowledged data survives',
  async () => {
    const seed = runSeed('S6')
    const rng = new Random(seed)
    const count = trials(40, 1_000)
    const totals = {
      trials: count,
      failuresInjected: 0,
      failedInRoll: 0,
      acksBefore: 0,
      acksAfterFailure: 0,
      unsettled: 0,
      notOffline: 0,
      ackedLost: 0,
    }
    for (let trial = 0; trial < count; trial++) {
      const dir = path.join(root, `storage-${trial}`)
      const dfs = injector(rng.int(1, 10))
      const storage = await openStorage(dir, { durabilityFs: dfs })
      const log = await storage.openLog('topics/s6/0', logConfig({ segmentBytes: rng.pick([1024, 4096, 65536]) }))
      let failed = false
      let durableAtFailure = -1
      dfs.onFail = () => {
        failed = true
        durableAtFailure = log.durableOffset
      }
      const acked: Array<{ offset: number; value: string }> = []
      const pending = new Set<Promise<void>>()
      let offlineSeen = false
      for (let i = 0; i < APPENDS && !offlineSeen; i++) {
        let result
        try {
          result = log.append(batchOf(i))
        } catch (err) {
          if (!(err instanceof PartitionOfflineError)) throw err
          offlineSeen = true
          break
        }
        const offset = result.lastOffset
        const p: Promise<void> = log.waitDurable(offset).then(
          () => {
            if (failed && offset >= durableAtFailure) totals.acksAfterFailure++
            else totals.acksBefore++
            acked.push({ offset, value: `value-${i}-${'x'.repeat(i % 50)}` })
          },
          () => undefined,
        )
        const tracked: Promise<void> = p.finally(() => pending.delete(tracked))
        pending.add(tracked)
        if (pending.size >= IN_FLIGHT_MAX) await Promise.race(pending)
      }
      await Promise.race([Promise.all(pending), new Promise((r) => setTimeout(r, 5_000))])
      totals.unsettled += pending.size
      if (dfs.failedAt > 0) {
        totals.failuresInjected++
        if (dfs.failedInRoll) totals.failedInRoll++
        if (log.offlineError === null) totals.notOffline++
        await expect(log.waitDurable(0)).rejects.toBeInstanceOf(SluiceError)
      }
      await storage.close().catch(() => undefined)
      // A healthy disk again: every acknowledged record is there.
      const reopened = await openStorage(dir)
      const again = await reopened.openLog('topics/s6/0', logConfig())
      const values = new Map(readAll(again).map((r) => [r.offset, r.value]))
      for (const a of acked) if (values.get(a.offset) !== a.value) totals.ackedLost++
      await reopened.close()
      fs.rmSync(dir, { recursive: true, force: true })
    }
    reportFigures('S6 storage', { seed, ...totals })
    expect(totals.acksAfterFailure).toBe(0)
    expect(totals.unsettled).toBe(0)
    expect(totals.notOffline).toBe(0)
    expect(totals.ackedLost).toBe(0)
    expect(totals.failuresInjected).toBeGreaterThan(count / 2)
  },
  testTimeoutMs(120_000),
)

test(
  'S6: through the broker, no produce with acks all is acknowledged after the failed fsync and later ones get PARTITION_OFFLINE',
  async () => {
    const seed = runSeed('S6 broker')
    const rng = new Random(seed)
    const count = trials(8, 200)
    const totals = {
      trials: count,
      failuresInjected: 0,
      acksAfterFailure: 0,
      unsettled: 0,
      offlineErrors: 0,
      otherErrors: [] as string[],
    }
    for (let trial = 0; trial < count; trial++) {
      const dataDir = path.join(root, `broker-${trial}`)
      const dfs = injector(rng.int(2, 10))
      let failed = false
      let durableAtFailure = -1
      let storage: Storage | null = null
      dfs.onFail = () => {
        failed = true
        const name = storage?.logNames().find((n) => n.includes('s6'))
        durableAtFailure = name === undefined ? 0 : (storage?.getLog(name)?.durableOffset ?? 0)
      }
      const broker = await openBroker(
        { dataDir },
        {
          logger: silentLogger,
          openGroupCoordinator: null,
          openStorage: async (dir: string, options: StorageOptions) => {
            storage = await openStorage(dir, { ...options, durabilityFs: dfs })
            return storage
          },
        },
      )
      await broker.createTopic({ name: 's6', partitions: 1 })
      const pending = new Set<Promise<void>>()
      for (let i = 0; i < 200 && !failed; i++) {
        const p: Promise<void> = broker.produce({ topic: 's6', partition: 0, acks: 'all', batch: batchOf(i) }).then(
          (res) => {
            if (failed && res.baseOffset >= durableAtFailure) totals.acksAfterFailure++
          },
          (err: unknown) => {
            if (err instanceof SluiceError && (err.code === 'PARTITION_OFFLINE' || err.code === 'STORAGE')) return
            totals.otherErrors.push(err instanceof Error ? err.message : String(err))
          },
        )
        const tracked: Promise<void> = p.finally(() => pending.delete(tracked))
        pending.add(tracked)
        if (pending.size >= IN_FLIGHT_MAX) await Promise.race(pending)
      }
      await Promise.race([Promise.all(pending), new Promise((r) => setTimeout(r, 5_000))])
      totals.unsettled += pending.size
      if (failed) {
        totals.failuresInjected++
        try {
          await broker.produce({ topic: 's6', partition: 0, acks: 'all', batch: batchOf(999) })
        } catch (err) {
          if (err instanceof SluiceError && err.code === 'PARTITION_OFFLINE') totals.offlineErrors++
          else totals.otherErrors.push(err instanceof Error ? err.message : String(err))
        }
      }
      await broker.close().catch(() => undefined)
      fs.rmSync(dataDir, { recursive: true, force: true })
    }
    reportFigures('S6 broker', { seed, ...totals })
    expect(totals.acksAfterFailure).toBe(0)
    expect(totals.unsettled).toBe(0)
    expect(totals.otherErrors).toEqual([])
    expect(totals.offlineErrors).toBe(totals.failuresInjected)
    expect(totals.failuresInjected).toBeGreaterThan(count / 2)
  },
  testTimeoutMs(120_000),
)

// S5: disk full. Produce (acks all, flush sync) through the broker until the disk is full, then check: every produce
// after that fails with a typed SluiceError within 1 s (no hang), no acknowledged record is lost (reopened and read
// back), and once space returns the partition either takes produces again or refuses them with PARTITION_OFFLINE.
// Two disks: (1) the storage engine's test-only `appendWriteFs` seam, a simulated capacity that writes what fits and
// then fails with ENOSPC (always runs, any user, any CI); (2) a real 4 MiB tmpfs, grown with a remount when space
// returns (runs only where `mount -t tmpfs` works, i.e. as root; it reports "tmpfs unavailable" otherwise).
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { openBroker } from '../../src/broker/broker.js'
import { createMemoryLogger, silentLogger } from '../../src/broker/logger.js'
import { SluiceError } from '../../src/errors.js'
import { encodeRecordBatch } from '../../src/storage/record-batch.js'
import { appendWriteFs } from '../../src/storage/segment.js'
import { openStorage } from '../../src/storage/storage.js'
import { Random } from '../../src/testing/random.js'
import { logConfig, readAll } from '../../src/testing/storage-data.js'
import { reportFigures, runSeed, testTimeoutMs, trials } from './settings.js'

const DEADLINE_MS = 1_000
const realWrite = appendWriteFs.writeSync

let root = ''
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-s5-'))
}, testTimeoutMs(60_000))
afterAll(() => {
  appendWriteFs.writeSync = realWrite
  if (root !== '') fs.rmSync(root, { recursive: true, force: true })
}, testTimeoutMs(60_000))

function enospc(): NodeJS.ErrnoException {
  return Object.assign(new Error('ENOSPC: no space left on device, write'), {
    code: 'ENOSPC',
    errno: -28,
    syscall: 'write',
  })
}

const valueOf = (trial: number, i: number, size: number): string => `t${trial}-v${i}-` + 'x'.repeat(size)
const batchOf = (value: string): Buffer =>
  encodeRecordBatch([{ key: null, value: Buffer.from(value), timestamp: 1_000 }])

type Outcome = { ok: true; offset: number; ms: number } | { ok: false; code: string; typed: boolean; ms: number }

interface Totals {
  trials: number
  acked: number
  fullErrors: number
  codes: Record<string, number>
  untyped: number
  overDeadline: number
  slowestFailMs: number
  ackedLost: number
  resumed: number
  offlineAfter: number
  otherAfter: string[]
}

function newTotals(count: number): Totals {
  return {
    trials: count,
    acked: 0,
    fullErrors: 0,
    codes: {},
    untyped: 0,
    overDeadline: 0,
    slowestFailMs: 0,
    ackedLost: 0,
    resumed: 0,
    offlineAfter: 0,
    otherAfter: [],
  }
}

/** One produce with acks all, raced against 2 × the deadline so a hang is counted, not waited for. */
async function produceTimed(
  broker: Awaited<ReturnType<typeof openBroker>>,
  topic: string,
  value: string,
): Promise<Outcome> {
  const start = performance.now()
  const hang = new Promise<Outcome>((resolve) =>
    setTimeout(() => resolve({ ok: false, code: 'HANG', typed: false, ms: 2 * DEADLINE_MS }), 2 * DEADLINE_MS),
  )
  const produced = broker.produce({ topic, partition: 0, acks: 'all', batch: batchOf(value) }).then(
    (res): Outcome => ({ ok: true, offset: res.baseOffset, ms: performance.now() - start }),
    (err: unknown): Outcome => ({
      ok: false,
      code: err instanceof SluiceError ? err.code : String((err as Error)?.message ?? err),
      typed: err instanceof SluiceError,
      ms: performance.now() - start,
    }),
  )
  return Promise.race([produced, hang])
}

/**
 * Fills a disk through `broker`, then calls `freeSpace` and produces once more; returns the acknowledged records.
 * `fullAt` tells when to stop filling (the first failure); a few more produces check the error stays fast and typed.
 */
async function fillThenFree(
  broker: Awaited<ReturnType<typeof openBroker>>,
  trial: number,
  rng: Random,
  totals: Totals,
  freeSpace: () => void,
  maxProduces: number,
): Promise<Map<number, string>> {
  const acked = new Map<number, string>()
  let failures = 0
  let i = 0
  for (; i < maxProduces && failures < 4; i++) {
    const value = valueOf(trial, i, rng.int(100, 4_000))
    const out = await produceTimed(broker, 's5', value)
    if (out.ok) {
      if (failures > 0) continue // a smaller record may still fit: fine, it is acknowledged and checked
      acked.set(out.offset, value)
      continue
    }
    failures++
    totals.fullErrors++
    totals.codes[out.code] = (totals.codes[out.code] ?? 0) + 1
    if (!out.typed) totals.untyped++
    if (out.ms > DEADLINE_MS) totals.overDeadline++
    totals.slowestFailMs = Math.max(totals.slowestFailMs, Math.round(out.ms * 10) / 10)
  }
  expect(failures, `trial ${trial}: the disk never filled`).toBeGreaterThan(0)
  totals.acked += acked.size
  freeSpace()
  const value = valueOf(trial, i + 1, 100)
  const after = await produceTimed(broker, 's5', value)
  if (after.ok) {
    totals.resumed++
    acked.set(after.offset, value)
    totals.acked++
  } else if (after.code === 'PARTITION_OFFLINE') totals.offlineAfter++
  else totals.otherAfter.push(after.code)
  return acked
}

async function countLost(dataDir: string, acked: Map<number, string>): Promise<number> {
  const storage = await openStorage(dataDir)
  try {
    const log = await storage.openLog('topics/s5/0', logConfig())
    const values = new Map(readAll(log).map((r) => [r.offset, r.value]))
    let lost = 0
    for (const [offset, value] of acked) if (values.get(offset) !== value) lost++
    return lost
  } finally {
    await storage.close()
  }
}

test(
  'S5: disk full through the append-write seam: typed error within 1 s, no acknowledged loss, produce resumes',
  async () => {
    const seed = runSeed('S5 seam')
    const rng = new Random(seed)
    const count = trials(12, 300)
    const totals = newTotals(count)
    let diskFullLogged = 0
    try {
      for (let trial = 0; trial < count; trial++) {
        const dataDir = path.join(root, `seam-${trial}`)
        // The simulated disk: `capacity` bytes for appends; a write that does not fit writes what fits, then ENOSPC.
        let capacity = rng.int(20_000, 200_000)
        let used = 0
        appendWriteFs.writeSync = (fd, buf, offset, length, position) => {
          const room = capacity - used
          if (room <= 0) throw enospc()
          const n = realWrite(fd, buf, offset, Math.min(length, room), position)
          used += n
          return n
        }
        const logger = createMemoryLogger()
        const broker = await openBroker({ dataDir }, { logger, openGroupCoordinator: null })
        await broker.createTopic({
          name: 's5',
          partitions: 1,
          config: { segmentBytes: rng.pick([16 * 1024, 64 * 1024, 1024 * 1024]) },
        })
        const acked = await fillThenFree(
          broker,
          trial,
          rng,
          totals,
          () => {
            capacity = Number.MAX_SAFE_INTEGER
          },
          1_000,
        )
        await broker.close()
        // The operator hears of it too (before, refusals reached only the clients).
        if (logger.entries.some((e) => e.level === 'error' && e.msg === 'disk full: writes refused')) diskFullLogged++
        appendWriteFs.writeSync = realWrite
        totals.ackedLost += await countLost(dataDir, acked)
        fs.rmSync(dataDir, { recursive: true, force: true })
      }
    } finally {
      appendWriteFs.writeSync = realWrite
    }
    reportFigures('S5 seam', { seed, ...totals })
    // Every refusal is the retriable DISK_FULL, so producers back off and retry instead of failing the send.
    expect(Object.keys(totals.codes)).toEqual(['DISK_FULL'])
    expect(totals.untyped).toBe(0)
    expect(totals.overDeadline).toBe(0)
    expect(totals.ackedLost).toBe(0)
    expect(totals.otherAfter).toEqual([])
    expect(totals.resumed).toBe(count)
    expect(diskFullLogged).toBe(count)
  },
  testTimeoutMs(60_000),
)

function tryMountTmpfs(dir: string, size: string): boolean {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

test(
  'S5: a real full tmpfs: typed error within 1 s, no acknowledged loss; after a remount with space, resumes or offline',
  async () => {
    const seed = runSeed('S5 tmpfs')
    const rng = new Random(seed)
    const count = trials(4, 50)
    const mountPoint = path.join(root, 'tmpfs')
    fs.mkdirSync(mountPoint)
    if (!tryMountTmpfs(mountPoint, '4m')) {
      reportFigures('S5 tmpfs', { seed, tmpfs: 'unavailable (not root or mount refused); the seam test covers S5' })
      return
    }
    const totals = { ...newTotals(count), segmentBytes: [] as number[] }
    try {
      for (let trial = 0; trial < count; trial++) {
        if (trial > 0) execFileSync('mount', ['-o', 'remount,size=4m', mountPoint])
        const dataDir = path.join(mountPoint, `d${trial}`)
        const broker = await openBroker({ dataDir }, { logger: silentLogger, openGroupCoordinator: null })
        // Half the trials roll segments while filling (the roll itself may be what hits ENOSPC).
        const segmentBytes = trial % 2 === 0 ? 8 * 1024 * 1024 : rng.pick([64 * 1024, 256 * 1024])
        totals.segmentBytes.push(segmentBytes)
        await broker.createTopic({ name: 's5', partitions: 1, config: { segmentBytes } })
        const acked = await fillThenFree(
          broker,
          trial,
          rng,
          totals,
          () => execFileSync('mount', ['-o', 'remount,size=64m', mountPoint]),
          5_000,
        )
        await broker.close().catch(() => undefined)
        totals.ackedLost += await countLost(dataDir, acked)
        fs.rmSync(dataDir, { recursive: true, force: true })
      }
    } finally {
      execFileSync('umount', [mountPoint])
    }
    reportFigures('S5 tmpfs', { seed, ...totals })
    expect(totals.untyped).toBe(0)
    expect(totals.overDeadline).toBe(0)
    expect(totals.ackedLost).toBe(0)
    expect(totals.otherAfter).toEqual([])
    expect(totals.resumed + totals.offlineAfter).toBe(count)
  },
  testTimeoutMs(60_000),
)

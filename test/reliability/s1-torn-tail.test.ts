// S1: torn tails. A copy of the prepared log is put in a crash state (no clean-shutdown marker, recovery point at or
// below the active segment's base) and its active segment is cut at a random byte, sometimes followed by zeros or
// garbage (a tail the file system extended but never filled). On reopen the log must be online and end exactly at the
// last whole batch before the cut, serve every record below that byte-identical, and take appends at that offset.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { encodeRecordBatch } from '../../src/storage/record-batch.js'
import { Random } from '../../src/testing/random.js'
import {
  closeTrial,
  copyPrepared,
  openTrial,
  prepareLog,
  readAndCompare,
  segmentLogFile,
  setCrashState,
  skipFsyncs,
  type Reference,
} from './prepared-log.js'
import { reportFigures, runSeed, testTimeoutMs, trials } from './settings.js'

let root = ''
let ref: Reference
let seed = 0
let restoreFsyncs = (): void => {}

beforeAll(async () => {
  restoreFsyncs = skipFsyncs()
  seed = runSeed('S1')
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-s1-'))
  ref = await prepareLog(root, seed)
}, testTimeoutMs(120_000))
afterAll(() => {
  restoreFsyncs()
  if (root !== '') fs.rmSync(root, { recursive: true, force: true })
}, testTimeoutMs(120_000))

const TAILS = ['none', 'zeros', 'garbage'] as const

test(
  'S1: a torn tail at any byte of the active segment recovers to the last whole batch before it',
  async () => {
    const rng = new Random(seed)
    const count = trials(10_000, 50_000)
    const trialDir = path.join(root, 'trial')
    const activeBase = ref.segmentBases.at(-1)!
    const activeBatches = ref.batches.filter((b) => b.segmentBase === activeBase)
    const activeBytes = activeBatches.reduce((n, b) => n + b.bytes.length, 0)
    const boundaries = ref.batches.filter((b) => b.lastOffset < activeBase).map((b) => b.lastOffset + 1)
    const failures: string[] = []
    let batchesCut = 0
    let bytesCut = 0
    for (let trial = 0; trial < count; trial++) {
      copyPrepared(ref, trialDir)
      const recoveryPoint = rng.pick([0, activeBase, rng.pick([0, ...boundaries])])
      setCrashState(trialDir, recoveryPoint)
      const file = segmentLogFile(trialDir, activeBase)
      const cutAt = rng.int(0, activeBytes - 1)
      const tail = rng.pick(TAILS)
      fs.truncateSync(file, cutAt)
      if (tail === 'zeros') fs.appendFileSync(file, Buffer.alloc(rng.int(1, 300)))
      if (tail === 'garbage') fs.appendFileSync(file, rng.bytes(rng.int(1, 300)))
      // A batch survives when its bytes are still whole: cut past its end, or (rarely) cut inside its trailing zero
      // bytes and made whole again by a zero-filled tail.
      const damaged = fs.readFileSync(file)
      const firstBroken = activeBatches.findIndex(
        (b) => !damaged.subarray(b.position, b.position + b.bytes.length).equals(b.bytes),
      )
      const kept = firstBroken < 0 ? activeBatches : activeBatches.slice(0, firstBroken)
      const expectedEnd = kept.length > 0 ? kept.at(-1)!.lastOffset + 1 : activeBase
      batchesCut += activeBatches.length - kept.length
      bytesCut += fs.statSync(file).size - (kept.length > 0 ? kept.at(-1)!.position + kept.at(-1)!.bytes.length : 0)
      const what = `trial ${trial} (recovery point ${recoveryPoint}, cut at byte ${cutAt}, tail ${tail})`
      const t = await openTrial(trialDir)
      try {
        if (t.log.offlineError !== null) {
          failures.push(`${what}: offline: ${t.log.offlineError.message}`)
          continue
        }
        if (t.log.logEndOffset !== expectedEnd)
          failures.push(`${what}: logEndOffset ${t.log.logEndOffset}, want ${expectedEnd}`)
        const served = readAndCompare(t.log, ref)
        if (served.storageError !== null || served.clientRejectedBatches > 0 || served.corruptServed > 0)
          failures.push(`${what}: read ${JSON.stringify({ ...served, servedOffsets: served.servedOffsets.size })}`)
        else if (served.servedOffsets.size !== expectedEnd)
          failures.push(`${what}: served ${served.servedOffsets.size} of ${expectedEnd} records`)
        const appended = t.log.append(
          encodeRecordBatch([{ key: null, value: Buffer.from('after'), timestamp: 2_000_000_000 }]),
        )
        if (appended.baseOffset !== expectedEnd)
          failures.push(`${what}: next append at ${appended.baseOffset}, want ${expectedEnd}`)
        await t.log.waitDurable(appended.lastOffset)
      } finally {
        await closeTrial(t)
      }
    }
    reportFigures('S1', { seed, trials: count, failures: failures.length, batchesCut, bytesCut })
    expect(failures.slice(0, 10)).toEqual([])
  },
  testTimeoutMs(120_000),
)

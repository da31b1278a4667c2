// S2: single-bit flips in sealed and active segments. A copy of the prepared log gets one flipped bit at a random byte
// of a random segment, and is opened after a clean shutdown or a crash (recovery point 0 or the active segment's
// base). The flip must be detected — the log opens offline, a read takes it offline, the reader's CRC check refuses
// the batch, or recovery cuts it as a torn tail — no record that passed every check may differ from what was
// written, and no valid batch other than the flipped one may be truncated.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
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
  seed = runSeed('S2')
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-s2-'))
  ref = await prepareLog(root, seed)
}, testTimeoutMs(120_000))
afterAll(() => {
  restoreFsyncs()
  if (root !== '') fs.rmSync(root, { recursive: true, force: true })
}, testTimeoutMs(120_000))

/** The batch-header field a byte offset inside a batch falls in. */
function fieldAt(offsetInBatch: number): string {
  if (offsetInBatch < 8) return 'baseOffset'
  if (offsetInBatch < 12) return 'batchLength'
  if (offsetInBatch < 16) return 'partitionLeaderEpoch'
  if (offsetInBatch < 17) return 'magic'
  if (offsetInBatch < 21) return 'crc'
  if (offsetInBatch < 61) return 'header (CRC-covered)'
  return 'records'
}

type Outcome = 'openOffline' | 'readOffline' | 'clientRejected' | 'cutAsTornTail' | 'undetected'

test(
  'S2: every single-bit flip in a segment is detected, serves no corrupted record, and truncates no valid batch',
  async () => {
    const rng = new Random(seed)
    const count = trials(10_000, 50_000)
    const trialDir = path.join(root, 'trial')
    const activeBase = ref.segmentBases.at(-1)!
    const sizes = ref.segmentBases.map((base) =>
      ref.batches.filter((b) => b.segmentBase === base).reduce((n, b) => n + b.bytes.length, 0),
    )
    const sealedBytes = sizes.slice(0, -1).reduce((a, b) => a + b, 0)
    const outcomes: Record<Outcome, number> = {
      openOffline: 0,
      readOffline: 0,
      clientRejected: 0,
      cutAsTornTail: 0,
      undetected: 0,
    }
    const undetectedByField: Record<string, number> = {}
    const where = { sealed: 0, active: 0 }
    let corruptServed = 0
    let silentlyMissing = 0
    let validTruncated = 0
    const failures: string[] = []
    for (let trial = 0; trial < count; trial++) {
      copyPrepared(ref, trialDir)
      const crash = rng.bool()
      const recoveryPoint = rng.pick([0, activeBase])
      if (crash) setCrashState(trialDir, recoveryPoint)
      // Half the flips go to the active segment (the one recovery re-validates), half to the sealed ones by size.
      let s = 0
      let byte: number
      if (rng.bool()) {
        s = sizes.length - 1
        byte = rng.int(0, sizes[s]! - 1)
      } else {
        byte = rng.int(0, sealedBytes - 1)
        while (byte >= sizes[s]!) byte -= sizes[s++]!
      }
      const segmentBase = ref.segmentBases[s]!
      const batch = ref.batches.find(
        (b) => b.segmentBase === segmentBase && byte >= b.position && byte < b.position + b.bytes.length,
      )!
      const bit = rng.int(0, 7)
      const file = segmentLogFile(trialDir, segmentBase)
      const fd = fs.openSync(file, 'r+')
      const one = Buffer.alloc(1)
      fs.readSync(fd, one, 0, 1, byte)
      one[0]! ^= 1 << bit
      fs.writeSync(fd, one, 0, 1, byte)
      fs.closeSync(fd)
      where[segmentBase === activeBase ? 'active' : 'sealed']++
      const field = fieldAt(byte - batch.position)
      const what = `trial ${trial} (${crash ? `crash, recovery point ${recoveryPoint}` : 'clean'}; segment ${segmentBase} byte ${byte} bit ${bit}, ${field} of batch ${batch.baseOffset})`
      const t = await openTrial(trialDir)
      try {
        let outcome: Outcome
        if (t.log.offlineError !== null) outcome = 'openOffline'
        else {
          const served = readAndCompare(t.log, ref)
          corruptServed += served.corruptServed
          if (served.corruptServed > 0) failures.push(`${what}: ${served.corruptServed} corrupted records served`)
          const end = t.log.logEndOffset
          if (end < ref.logEndOffset && end < batch.baseOffset) {
            validTruncated++
            failures.push(`${what}: log cut to ${end}, below the flipped batch ${batch.baseOffset}`)
          }
          if (end < ref.logEndOffset && batch.lastOffset + 1 < ref.logEndOffset) {
            validTruncated++
            failures.push(`${what}: log cut to ${end}, valid batches after the flipped one lost`)
          }
          if (served.storageError !== null) outcome = 'readOffline'
          else if (served.clientRejectedBatches > 0) outcome = 'clientRejected'
          else if (end === batch.baseOffset && end < ref.logEndOffset) outcome = 'cutAsTornTail'
          else outcome = 'undetected'
          // Nothing was refused, so every record below the log end must have been served.
          const expected = Math.min(end, ref.logEndOffset) - t.log.logStartOffset
          if (outcome === 'undetected' && served.servedOffsets.size < expected) {
            silentlyMissing += expected - served.servedOffsets.size
            failures.push(`${what}: ${expected - served.servedOffsets.size} records silently not served`)
          }
        }
        outcomes[outcome]++
        if (outcome === 'undetected') undetectedByField[field] = (undetectedByField[field] ?? 0) + 1
      } finally {
        await closeTrial(t)
      }
    }
    const detected = count - outcomes.undetected
    reportFigures('S2', {
      seed,
      flips: count,
      ...where,
      detected,
      detectedPercent: Math.round((detected / count) * 10_000) / 100,
      ...outcomes,
      undetectedByField,
      corruptServed,
      silentlyMissing,
      validTruncated,
    })
    expect(failures.slice(0, 10)).toEqual([])
    expect(corruptServed).toBe(0)
    expect(silentlyMissing).toBe(0)
    expect(validTruncated).toBe(0)
    // Every flip is caught, partitionLeaderEpoch's too (outside the CRC like baseOffset: the log stamps it on append
    // and checks it on every read).
    expect(undetectedByField).toEqual({})
    expect(outcomes.undetected).toBe(0)
  },
  testTimeoutMs(120_000),
)

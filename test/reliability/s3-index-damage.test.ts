// S3: index damage. Indexes are caches of the log: in a copy of the prepared log one offset or time index file is
// deleted, truncated (anywhere, also mid-entry), replaced by garbage, or given entries that point past the end of the
// segment; the copy is opened after a clean shutdown or a crash. The log must open online and every read by offset
// and by timestamp must return exactly what the undamaged log returns.
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
  segmentLogFile,
  setCrashState,
  skipFsyncs,
  type Reference,
} from './prepared-log.js'
import { reportFigures, runSeed, testTimeoutMs, trials } from './settings.js'

const READ_BYTES = 1024
const SAMPLES = 30

let root = ''
let ref: Reference
let seed = 0
let restoreFsyncs = (): void => {}
/** What the undamaged log returns: bytes of read(offset, READ_BYTES), and offsetForTimestamp(ts). */
const refReads = new Map<number, Buffer>()
const refTimes = new Map<number, number | null>()

beforeAll(async () => {
  restoreFsyncs = skipFsyncs()
  seed = runSeed('S3')
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-s3-'))
  ref = await prepareLog(root, seed)
  const dir = path.join(root, 'reference')
  copyPrepared(ref, dir)
  const t = await openTrial(dir)
  for (let o = 0; o < ref.logEndOffset; o++) refReads.set(o, t.log.read(o, READ_BYTES).records)
  for (const r of ref.records.values()) {
    for (const ts of [r.timestamp - 1, r.timestamp, r.timestamp + 1])
      if (!refTimes.has(ts)) refTimes.set(ts, t.log.offsetForTimestamp(ts))
  }
  refTimes.set(0, t.log.offsetForTimestamp(0))
  refTimes.set(Number.MAX_SAFE_INTEGER, t.log.offsetForTimestamp(Number.MAX_SAFE_INTEGER))
  await closeTrial(t)
}, testTimeoutMs(120_000))
afterAll(() => {
  restoreFsyncs()
  if (root !== '') fs.rmSync(root, { recursive: true, force: true })
}, testTimeoutMs(120_000))

const DAMAGES = ['deleted', 'truncated', 'garbage', 'pastEof'] as const
type Damage = (typeof DAMAGES)[number]

function damage(file: string, kind: Damage, isTimeIndex: boolean, segmentBytes: number, rng: Random): void {
  const size = fs.statSync(file).size
  if (kind === 'deleted') fs.rmSync(file)
  else if (kind === 'truncated') fs.truncateSync(file, rng.int(0, Math.max(0, size - 1)))
  else if (kind === 'garbage') fs.writeFileSync(file, rng.bytes(rng.bool() ? size : rng.int(1, 200)))
  else {
    const entries: Buffer[] = []
    for (let i = rng.int(1, 3); i > 0; i--) {
      const e = Buffer.alloc(isTimeIndex ? 12 : 8)
      if (isTimeIndex) {
        e.writeBigInt64BE(BigInt(2_000_000_000 + rng.int(0, 1000)), 0)
        e.writeInt32BE(rng.int(1000, 100_000), 8)
      } else {
        e.writeInt32BE(rng.int(1000, 100_000), 0)
        e.writeInt32BE(segmentBytes + rng.int(1, 10_000), 4)
      }
      entries.push(e)
    }
    fs.appendFileSync(file, Buffer.concat(entries))
  }
}

test(
  'S3: a damaged offset or time index is rebuilt and every read stays byte-identical',
  async () => {
    const rng = new Random(seed)
    const count = trials(1_000, 10_000)
    const trialDir = path.join(root, 'trial')
    const activeBase = ref.segmentBases.at(-1)!
    const offsets = [...refReads.keys()]
    const timestamps = [...refTimes.keys()]
    const byKind: Record<string, number> = {}
    let readsCompared = 0
    let timeLookupsCompared = 0
    const failures: string[] = []
    for (let trial = 0; trial < count; trial++) {
      copyPrepared(ref, trialDir)
      const crash = rng.bool()
      if (crash) setCrashState(trialDir, rng.pick([0, activeBase, ref.logEndOffset]))
      const segmentBase = rng.pick(ref.segmentBases)
      const isTimeIndex = rng.bool()
      const kind = rng.pick(DAMAGES)
      const file = segmentLogFile(trialDir, segmentBase, isTimeIndex ? '.timeindex' : '.index')
      damage(file, kind, isTimeIndex, fs.statSync(segmentLogFile(trialDir, segmentBase)).size, rng)
      const label = `${kind} ${isTimeIndex ? 'timeindex' : 'index'} (${segmentBase === activeBase ? 'active' : 'sealed'})`
      byKind[label] = (byKind[label] ?? 0) + 1
      const what = `trial ${trial} (${crash ? 'crash' : 'clean'}; ${label} of segment ${segmentBase})`
      const t = await openTrial(trialDir)
      try {
        if (t.log.offlineError !== null) {
          failures.push(`${what}: offline: ${t.log.offlineError.message}`)
          continue
        }
        if (t.log.logEndOffset !== ref.logEndOffset) failures.push(`${what}: logEndOffset ${t.log.logEndOffset}`)
        for (let i = 0; i < SAMPLES; i++) {
          const o = rng.pick(offsets)
          let got: Buffer | string
          try {
            got = t.log.read(o, READ_BYTES).records
          } catch (err) {
            got = (err as Error).message
          }
          readsCompared++
          if (typeof got === 'string' || !got.equals(refReads.get(o)!)) {
            failures.push(`${what}: read(${o}) differs: ${typeof got === 'string' ? got : `${got.length} bytes`}`)
            break
          }
        }
        for (let i = 0; i < SAMPLES; i++) {
          const ts = rng.pick(timestamps)
          let got: number | null | string
          try {
            got = t.log.offsetForTimestamp(ts)
          } catch (err) {
            got = (err as Error).message
          }
          timeLookupsCompared++
          if (got !== refTimes.get(ts)) {
            failures.push(`${what}: offsetForTimestamp(${ts}) = ${got}, want ${refTimes.get(ts)}`)
            break
          }
        }
      } finally {
        await closeTrial(t)
      }
    }
    reportFigures('S3', { seed, trials: count, failures: failures.length, readsCompared, timeLookupsCompared, byKind })
    expect(failures.slice(0, 10)).toEqual([])
  },
  testTimeoutMs(120_000),
)

// A prepared partition log for the storage fault trials (S1 torn tails, S2 bit flips, S3 index damage): one log of a
// few sealed segments and an active one is written once, closed cleanly, and each trial works on a fresh copy of it.
// The reference (every batch's bytes, segment and position; every record's value and timestamp) is what the copy
// held before it was damaged, so a trial can tell exactly what recovery kept, cut, or served wrongly.
import fs from 'node:fs'
import path from 'node:path'
import { vi } from 'vitest'
import type { LogConfig } from '../../src/storage/api.js'
import { CorruptRecordError, PartitionOfflineError, SluiceError } from '../../src/errors.js'
import { decodeRecords, encodeRecordBatch, readBatchHeader, validateBatch } from '../../src/storage/record-batch.js'
import { openStorage, type Storage } from '../../src/storage/storage.js'
import type { PartitionLog } from '../../src/storage/partition-log.js'
import { captureLogger, type CapturedLog } from '../../src/testing/storage-data.js'
import { Random } from '../../src/testing/random.js'

export const LOG_NAME = 'topics/t/0'
export const LOG_CONFIG: LogConfig = Object.freeze({
  segmentBytes: 4096,
  segmentMs: 365 * 24 * 3600 * 1000,
  indexIntervalBytes: 256,
  indexBytesMax: 1024 * 1024,
  retentionMs: -1,
  retentionBytes: -1,
  flush: 'sync' as const,
  flushIntervalMs: 1000,
})
const BATCHES = 60

export interface RefBatch {
  baseOffset: number
  lastOffset: number
  /** Base offset of the segment holding it. */
  segmentBase: number
  position: number
  bytes: Buffer
}

export interface RefRecord {
  value: string
  timestamp: number
}

export interface Reference {
  batches: RefBatch[]
  /** Record by offset. */
  records: Map<number, RefRecord>
  segmentBases: number[]
  logEndOffset: number
  /** The prepared data dir (clean shutdown); copy it, never touch it. */
  dataDir: string
  /** Every file of the prepared data dir (relative path, bytes): copies are written from memory. */
  files: Array<{ file: string; bytes: Buffer }>
}

function snapshot(dir: string, prefix = ''): Array<{ file: string; bytes: Buffer }> {
  const out: Array<{ file: string; bytes: Buffer }> = []
  for (const entry of fs.readdirSync(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = path.join(prefix, entry.name)
    if (entry.isDirectory()) out.push(...snapshot(dir, rel))
    else out.push({ file: rel, bytes: fs.readFileSync(path.join(dir, rel)) })
  }
  return out
}

export function segmentLogFile(dataDir: string, base: number, ext = '.log'): string {
  return path.join(dataDir, ...LOG_NAME.split('/'), String(base).padStart(20, '0') + ext)
}

/**
 * Makes fsync/fdatasync no-ops until the returned function is called. These trials damage bytes on disk directly and
 * test what recovery makes of them; durability (what an fsync covers) is D1's and S6's subject, and thousands of real
 * fsyncs per run would cost minutes.
 */
export function skipFsyncs(): () => void {
  const spies = [
    vi.spyOn(fs, 'fsyncSync').mockImplementation(() => undefined),
    vi.spyOn(fs, 'fdatasyncSync').mockImplementation(() => undefined),
    vi
      .spyOn(fs, 'fdatasync')
      .mockImplementation(((_fd: number, callback: (err: null) => void) =>
        process.nextTick(callback, null)) as unknown as typeof fs.fdatasync),
  ]
  return () => {
    for (const spy of spies) spy.mockRestore()
  }
}

/** Writes the prepared log under `root/prepared` (batches of 1-6 records, 8-80 byte values, rising timestamps). */
export async function prepareLog(root: string, seed: number): Promise<Reference> {
  const dataDir = path.join(root, 'prepared')
  const rng = new Random(seed)
  const storage = await openStorage(dataDir)
  const log = await storage.openLog(LOG_NAME, LOG_CONFIG)
  const batches: RefBatch[] = []
  const records = new Map<number, RefRecord>()
  let timestamp = 1_000_000
  for (let b = 0; b < BATCHES; b++) {
    const count = rng.int(1, 6)
    const input = Array.from({ length: count }, (_, i) => {
      timestamp += rng.int(1, 20)
      const value = `b${b}r${i}-${rng.bytes(rng.int(4, 40)).toString('hex')}`
      return { key: Buffer.from(`k${b}`), value: Buffer.from(value), timestamp }
    })
    const bytes = encodeRecordBatch(input)
    const result = log.append(bytes)
    await log.waitDurable(result.lastOffset)
    const segmentBase = log.segmentBaseOffsets.at(-1)!
    batches.push({
      baseOffset: result.baseOffset,
      lastOffset: result.lastOffset,
      segmentBase,
      position: result.position,
      bytes: Buffer.from(bytes),
    })
    input.forEach((r, i) => records.set(result.baseOffset + i, { value: r.value.toString(), timestamp: r.timestamp }))
  }
  const segmentBases = log.segmentBaseOffsets
  const logEndOffset = log.logEndOffset
  await storage.close()
  return { batches, records, segmentBases, logEndOffset, dataDir, files: snapshot(dataDir) }
}

/**
 * Makes `trialDir` an exact copy of the prepared data dir: extra files are removed, files that differ are rewritten in
 * place. Creating files, and truncating them to zero (ext4 then flushes them on close), is what costs most here; a
 * trial changes only a few files, so most are just read and compared.
 */
export function copyPrepared(ref: Reference, trialDir: string): void {
  const wanted = new Set(ref.files.map((f) => f.file))
  const removeExtras = (prefix: string): void => {
    for (const entry of fs.readdirSync(path.join(trialDir, prefix), { withFileTypes: true })) {
      const rel = path.join(prefix, entry.name)
      if (entry.isDirectory()) removeExtras(rel)
      else if (!wanted.has(rel)) fs.rmSync(path.join(trialDir, rel), { force: true })
    }
  }
  if (fs.existsSync(trialDir)) removeExtras('')
  for (const { file, bytes } of ref.files) {
    const target = path.join(trialDir, file)
    try {
      if (fs.readFileSync(target).equals(bytes)) continue
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      fs.mkdirSync(path.dirname(target), { recursive: true })
    }
    writeInPlace(target, bytes)
  }
}

/** Writes `bytes` as the whole content of `file` without truncating it to zero first. */
function writeInPlace(file: string, bytes: Buffer): void {
  let fd: number
  try {
    fd = fs.openSync(file, 'r+')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    fd = fs.openSync(file, 'w')
  }
  try {
    fs.writeSync(fd, bytes, 0, bytes.length, 0)
    fs.ftruncateSync(fd, bytes.length)
  } finally {
    fs.closeSync(fd)
  }
}

/** Makes the copy look like a crash: no clean-shutdown marker, the recovery point at `recoveryPoint`. */
export function setCrashState(trialDir: string, recoveryPoint: number): void {
  fs.rmSync(path.join(trialDir, '.clean-shutdown'), { force: true })
  writeInPlace(
    path.join(trialDir, 'checkpoints', 'recovery-point'),
    Buffer.from(JSON.stringify({ version: 1, logs: { [LOG_NAME]: recoveryPoint } })),
  )
}

export interface OpenedTrial {
  storage: Storage
  log: PartitionLog
  logger: CapturedLog
}

export async function openTrial(trialDir: string): Promise<OpenedTrial> {
  const logger = captureLogger()
  const storage = await openStorage(trialDir, { logger })
  const log = await storage.openLog(LOG_NAME, LOG_CONFIG)
  return { storage, log, logger }
}

export interface ServedRead {
  /** The log threw (offline, corrupt) while reading; reading stopped there. */
  storageError: string | null
  /** Batches the reader's own CRC/structure check refused. */
  clientRejectedBatches: number
  /** Records that passed every check but differ from the reference (wrong value, timestamp or offset). */
  corruptServed: number
  /** Offsets served correctly. */
  servedOffsets: Set<number>
  /** Batches served byte-identical to the reference. */
  identicalBatches: number
}

const READ_TURNS_MAX = 10_000

/**
 * Reads the whole log as a consumer would (each batch CRC-checked and decoded) and compares what passed with the
 * reference. A batch the reader refuses is skipped by its position (the reader moves to the next batch).
 */
export function readAndCompare(log: PartitionLog, ref: Reference, maxBytes = 64 * 1024): ServedRead {
  const out: ServedRead = {
    storageError: null,
    clientRejectedBatches: 0,
    corruptServed: 0,
    servedOffsets: new Set(),
    identicalBatches: 0,
  }
  const refByBase = new Map(ref.batches.map((b) => [b.baseOffset, b]))
  let offset = log.logStartOffset
  for (let turn = 0; turn < READ_TURNS_MAX && offset < log.logEndOffset; turn++) {
    let records: Buffer
    try {
      records = log.read(offset, maxBytes).records
    } catch (err) {
      out.storageError = err instanceof SluiceError ? `${err.code}: ${err.message}` : String(err)
      if (!(err instanceof PartitionOfflineError || err instanceof CorruptRecordError)) throw err
      return out
    }
    if (records.length === 0) break
    let position = 0
    let next = offset
    // Each turn moves past one batch (its length field is at least a header's worth, or the read stops).
    while (position + 61 <= records.length) {
      const h = readBatchHeader(records, position)
      const batchBytes = h.batchBytes
      if (h.batchLength < 49 || position + batchBytes > records.length) {
        out.clientRejectedBatches++
        next = nextOffsetAfter(ref, next)
        break
      }
      try {
        validateBatch(records, position, position + batchBytes)
        const refBatch = refByBase.get(h.baseOffset)
        if (refBatch !== undefined && refBatch.bytes.equals(records.subarray(position, position + batchBytes)))
          out.identicalBatches++
        for (const r of decodeRecords(records, position, offset, h)) {
          const want = ref.records.get(r.offset)
          if (
            want === undefined ||
            r.value?.toString() !== want.value ||
            r.timestamp !== want.timestamp ||
            out.servedOffsets.has(r.offset)
          )
            out.corruptServed++
          else out.servedOffsets.add(r.offset)
        }
        next = Math.max(next, h.lastOffset + 1)
      } catch (err) {
        if (!(err instanceof SluiceError)) throw err
        out.clientRejectedBatches++
        // A consumer stops at a refused batch; the trial skips it by where the reference says the next one starts.
        next = nextOffsetAfter(ref, next)
        break
      }
      position += batchBytes
    }
    if (next <= offset) break
    offset = next
  }
  return out
}

function nextOffsetAfter(ref: Reference, offset: number): number {
  for (const b of ref.batches) if (b.lastOffset >= offset) return b.lastOffset + 1
  return ref.logEndOffset
}

export async function closeTrial(t: OpenedTrial): Promise<void> {
  await t.storage.close().catch(() => undefined)
}

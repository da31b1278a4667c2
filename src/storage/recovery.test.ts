// Recovery at open: torn tails cut at every byte of the last batch, garbage tails, corruption that must never be cut
// (followed by valid batches, in a sealed segment, below the recovery point) taking the log offline with file and byte
// position, and damaged index files rebuilt with byte-identical reads. A "crash" is a copy of the data dir taken while
// the Storage is open (the lock file left out): exactly what a killed process leaves in the page cache.
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, onTestFinished } from 'vitest'
import { PartitionOfflineError } from '../errors.js'
import { Random } from '../testing/random.js'
import { captureLogger, logConfig, makeBatch, readAll, tmpTest as test } from '../testing/storage-fixtures.js'
import type { LogConfig } from './api.js'
import { WorkerPool } from '../workers/pool.js'
import { iterateBatches } from './record-batch.js'
import { openStorage } from './storage.js'
import { verifyDataDir, verifyLogDir } from './verify.js'

function crashCopy(from: string, to: string): void {
  fs.cpSync(from, to, { recursive: true, filter: (src) => path.basename(src) !== '.lock' })
}

const SEG0 = '00000000000000000000.log'

/** Where the batches of a segment file end: a crash copy of a flush 'sync' log keeps the zeros written ahead of them. */
function batchesEnd(bytes: Buffer): number {
  let position = 0
  // Each turn moves past one batch (>= 61 bytes).
  while (position + 12 <= bytes.length) {
    const length = bytes.readInt32BE(position + 8)
    if (length <= 0 || position + 12 + length > bytes.length) break
    position += 12 + length
  }
  return position
}

async function openOne(dir: string, name: string, config: LogConfig, recoveryPoolBytesMin?: number) {
  const logger = captureLogger()
  const storage = await openStorage(
    dir,
    recoveryPoolBytesMin === undefined ? { logger } : { logger, recoveryPoolBytesMin },
  )
  const log = await storage.openLog(name, config)
  return { storage, log, logger }
}

describe('torn tails', () => {
  test('a last batch cut at every byte position recovers to the previous batch, and appends continue', async ({
    tmpDir,
  }) => {
    const config = logConfig({ segmentBytes: 1 << 20, indexIntervalBytes: 64 })
    const src = path.join(tmpDir, 'src')
    const { storage, log } = await openOne(src, 'l', config)
    for (let i = 0; i < 5; i++) log.append(makeBatch(`v${i}`, 2))
    await storage.checkpoint() // recovery point 10
    const last = makeBatch('last', 1)
    log.append(last)
    const crashed = path.join(tmpDir, 'crashed')
    crashCopy(src, crashed)
    await storage.close()
    const crashedBytes = fs.readFileSync(path.join(crashed, 'l', SEG0))
    const full = crashedBytes.subarray(0, batchesEnd(crashedBytes))
    expect(crashedBytes.length).toBeGreaterThan(full.length) // zeros written ahead (flush 'sync')
    const lastStart = full.length - last.length
    const expected = Array.from({ length: 10 }, (_, i) => `v${i >> 1}-${i & 1}`)
    // Two disks: one keeps the write up to `cut` and nothing after (the file ends there, as an append-only file would);
    // the other keeps the zeros written ahead after it (what a preallocated log leaves).
    for (const zerosAfter of [false, true])
      for (let cut = lastStart; cut < full.length; cut++) {
        const dir = path.join(tmpDir, `cut-${cut}-${zerosAfter}`)
        fs.cpSync(crashed, dir, { recursive: true })
        const file = path.join(dir, 'l', SEG0)
        if (zerosAfter) fs.writeFileSync(file, Buffer.concat([full.subarray(0, cut), Buffer.alloc(4096)]))
        else fs.truncateSync(file, cut)
        const fileBytes = fs.statSync(file).size
        // the bytes the cut lost were zeros anyway (the batch's last bytes can be): the batch is whole, CRC and all
        const whole = zerosAfter && full.subarray(cut).every((b) => b === 0)
        const kept = whole ? [...expected, 'last-0'] : expected
        const reopened = await openOne(dir, 'l', config)
        expect(reopened.log.offlineError, `cut at ${cut}`).toBeNull()
        expect(reopened.log.logEndOffset, `cut at ${cut}`).toBe(kept.length)
        expect(readAll(reopened.log).map((r) => r.value)).toEqual(kept)
        const warning = reopened.logger.entries.find((e) => e.level === 'warn' && e.message.includes('torn tail'))
        // the batch's first bytes are its baseOffset's high bytes, zeros: a tail of only those is zeros written ahead
        if (!whole && full.subarray(lastStart, cut).some((b) => b !== 0))
          expect(warning?.fields, `cut at ${cut}`).toMatchObject({
            file,
            position: lastStart,
            bytes: fileBytes - lastStart,
          })
        else expect(warning, `cut at ${cut}`).toBeUndefined()
        expect(reopened.log.append(makeBatch('next')).baseOffset).toBe(kept.length)
        await reopened.storage.close()
        for (const name of fs.readdirSync(path.join(dir, 'l')).filter((n) => n.endsWith('.log'))) {
          const bytes = fs.readFileSync(path.join(dir, 'l', name))
          expect(batchesEnd(bytes), `${name} after a close, cut at ${cut}`).toBe(bytes.length) // no zeros left
        }
        if (cut === lastStart + 1 || cut === full.length - 1) {
          const again = await openOne(dir, 'l', config)
          expect(readAll(again.log).map((r) => r.value)).toEqual([...kept, 'next-0'])
          await again.storage.close()
        }
        fs.rmSync(dir, { recursive: true })
      }
  })

  test('a garbage tail past the recovery point is cut and logged with file, position and bytes', async ({ tmpDir }) => {
    const config = logConfig({ segmentBytes: 1 << 20 })
    const src = path.join(tmpDir, 'src')
    const { storage, log } = await openOne(src, 'l', config)
    for (let i = 0; i < 4; i++) log.append(makeBatch(`v${i}`))
    const crashed = path.join(tmpDir, 'crashed')
    crashCopy(src, crashed)
    await storage.close()
    const file = path.join(crashed, 'l', SEG0)
    const size = batchesEnd(fs.readFileSync(file))
    const fd = fs.openSync(file, 'r+')
    fs.writeSync(fd, new Random(7).bytes(1000), 0, 1000, size) // over the zeros written ahead, and past them
    fs.closeSync(fd)
    const fileBytes = fs.statSync(file).size
    const reopened = await openOne(crashed, 'l', config)
    expect(reopened.log.logEndOffset).toBe(4)
    expect(
      reopened.logger.entries.find((e) => e.level === 'warn' && e.message.includes('torn tail'))?.fields,
    ).toMatchObject({
      file,
      position: size,
      bytes: fileBytes - size,
    })
    expect(fs.statSync(file).size).toBe(size)
    await reopened.storage.close()
  })
})

describe('zeros where a batch was, valid batches after them', () => {
  /** A crash copy of log 'l' with eight batches of two records, the first three below the recovery point (6). */
  async function eightBatchesCrashed(tmpDir: string) {
    const config = logConfig({ segmentBytes: 1 << 20 })
    const src = path.join(tmpDir, 'src')
    const { storage, log } = await openOne(src, 'l', config)
    for (let i = 0; i < 3; i++) log.append(makeBatch(`v${i}`, 2, Date.now()))
    await storage.checkpoint() // recovery point 6
    for (let i = 3; i < 8; i++) log.append(makeBatch(`v${i}`, 2, Date.now()))
    const crashed = path.join(tmpDir, 'crashed')
    crashCopy(src, crashed)
    await storage.close()
    const file = path.join(crashed, 'l', SEG0)
    const bytes = fs.readFileSync(file)
    return { config, crashed, file, bytes, batches: [...iterateBatches(bytes.subarray(0, batchesEnd(bytes)))] }
  }

  test('past the recovery point: a batch whose start never reached the disk is cut with what follows, and logged', async ({
    tmpDir,
  }) => {
    const { config, crashed, bytes, batches } = await eightBatchesCrashed(tmpDir)
    const gap = batches[4]! // offsets 8-9; batches 5-7, written after it, reached the disk
    // The whole batch lost; or only its first 40 bytes (its write went over zeros written ahead, which was lost, and
    // past the old end of the file, which was kept: what D4 met); or only its first 9 (batchLength whole, baseOffset 0).
    for (const lost of [gap.header.batchBytes, 40, 9]) {
      const dir = path.join(tmpDir, `lost-${lost}`)
      fs.cpSync(crashed, dir, { recursive: true })
      const target = path.join(dir, 'l', SEG0)
      const damaged = Buffer.from(bytes)
      damaged.fill(0, gap.position, gap.position + lost)
      fs.writeFileSync(target, damaged)
      const report = await verifyLogDir(path.join(dir, 'l'))
      expect(report.problems).toEqual([expect.objectContaining({ file: target, position: gap.position })])
      expect(report.problems[0]!.message).toContain(
        `starts with zeros, before a valid batch at byte ${batches[5]!.position}`,
      )
      const reopened = await openOne(dir, 'l', config)
      expect(reopened.log.offlineError, `lost ${lost}`).toBeNull()
      expect(reopened.log.logEndOffset).toBe(8)
      expect(readAll(reopened.log).map((r) => r.value)).toEqual([0, 1, 2, 3].flatMap((i) => [`v${i}-0`, `v${i}-1`]))
      const warning = reopened.logger.entries.find((e) => e.level === 'warn' && e.message.includes('torn tail'))
      expect(warning?.fields).toMatchObject({ file: target, position: gap.position })
      expect(String(warning?.fields?.['reason'])).toContain(
        `a batch never written, before a batch at byte ${batches[5]!.position}`,
      )
      reopened.log.append(makeBatch('after', 1, Date.now())) // appends go on at offset 8
      expect(reopened.log.logEndOffset).toBe(9)
      await reopened.storage.close()
    }
  })

  test('below the recovery point, or damage other than a zero start: offline, nothing cut', async ({ tmpDir }) => {
    const { config, crashed, bytes, batches } = await eightBatchesCrashed(tmpDir)
    const zero = (b: Buffer, i: number): void => {
      b.fill(0, batches[i]!.position, batches[i]!.position + batches[i]!.header.batchBytes)
    }
    const cases: Array<[string, number, (b: Buffer) => void]> = [
      ['zeros below the recovery point', 1, (b) => zero(b, 1)],
      ['garbage past it', 4, (b) => b.fill(7, batches[4]!.position, batches[5]!.position)],
      // batchLength 0 under an intact baseOffset: written bytes, damaged (a lost write leaves its start zero)
      ['batchLength zeroed past it', 4, (b) => b.fill(0, batches[4]!.position + 8, batches[4]!.position + 12)],
    ]
    for (const [what, victim, damage] of cases) {
      const dir = path.join(tmpDir, what.replaceAll(' ', '-'))
      fs.cpSync(crashed, dir, { recursive: true })
      const damaged = Buffer.from(bytes)
      damage(damaged)
      const target = path.join(dir, 'l', SEG0)
      fs.writeFileSync(target, damaged)
      const reopened = await openOne(dir, 'l', config)
      expect(reopened.log.offlineError, what).toBeInstanceOf(PartitionOfflineError)
      expect(reopened.log.offlineError!.message, what).toContain(`at byte ${batches[victim]!.position}`)
      await reopened.storage.close()
      expect(fs.readFileSync(target).equals(damaged), what).toBe(true)
    }
  })
})

describe('zeros where an indexed batch was', () => {
  test('an index entry pointing into zeros (its batch never reached the disk) is not believed: cut past the recovery point, offline below it', async ({
    tmpDir,
  }) => {
    // indexIntervalBytes 1: every batch has an index entry, the last one included
    const config = logConfig({ segmentBytes: 1 << 20, indexIntervalBytes: 1 })
    for (const checkpointed of [false, true]) {
      const src = path.join(tmpDir, `src-${checkpointed}`)
      const { storage, log } = await openOne(src, 'l', config)
      for (let i = 0; i < 5; i++) log.append(makeBatch(`v${i}`, 2, Date.now()))
      if (checkpointed) await storage.checkpoint() // recovery point 10: the segment is trusted, its tail only walked
      const crashed = path.join(tmpDir, `crashed-${checkpointed}`)
      crashCopy(src, crashed)
      await storage.close()
      const file = path.join(crashed, 'l', SEG0)
      const bytes = fs.readFileSync(file)
      const last = [...iterateBatches(bytes.subarray(0, batchesEnd(bytes)))].at(-1)!
      bytes.fill(0, last.position) // the last batch's write was lost; its index entry was not
      fs.writeFileSync(file, bytes)
      const reopened = await openOne(crashed, 'l', config)
      if (checkpointed) {
        // the checkpoint says offset 9 was fsynced: lost acknowledged records are reported, not served or hidden
        expect(reopened.log.offlineError!.message).toContain('recovery point 10')
        await reopened.storage.close()
        continue
      }
      expect(reopened.log.offlineError).toBeNull()
      expect(reopened.log.logEndOffset).toBe(8)
      expect(readAll(reopened.log).map((r) => r.value)).toEqual(
        ['v0', 'v1', 'v2', 'v3'].flatMap((v) => [`${v}-0`, `${v}-1`]),
      )
      expect(reopened.log.append(makeBatch('next', 1, Date.now())).baseOffset).toBe(8)
      await reopened.storage.close()
      const again = await openOne(crashed, 'l', config)
      expect(
        readAll(again.log)
          .map((r) => r.value)
          .slice(-2),
      ).toEqual(['v3-1', 'next-0'])
      await again.storage.close()
    }
  })
})

describe('recovery point after truncation', () => {
  test('a truncation lowers the recovery point, so a later torn tail is cut instead of taking the log offline', async ({
    tmpDir,
  }) => {
    const config = logConfig({ segmentBytes: 1 << 20, flush: 'os' })
    const src = path.join(tmpDir, 'src')
    const { storage, log } = await openOne(src, 'l', config)
    for (let i = 0; i < 10; i++) log.append(makeBatch(`v${i}`))
    await storage.checkpoint() // recovery point 10
    log.truncateTo(5)
    for (let i = 0; i < 3; i++) log.append(makeBatch(`w${i}`)) // offsets 5..7, never fsynced ('os')
    const crashed = path.join(tmpDir, 'crashed')
    crashCopy(src, crashed)
    await storage.close()
    const file = path.join(crashed, 'l', SEG0)
    fs.truncateSync(file, fs.statSync(file).size - 3)
    const reopened = await openOne(crashed, 'l', config)
    expect(reopened.log.offlineError).toBeNull()
    expect(readAll(reopened.log).map((r) => r.value)).toEqual(['v0-0', 'v1-0', 'v2-0', 'v3-0', 'v4-0', 'w0-0', 'w1-0'])
    await reopened.storage.close()
  })
})

describe('recovery on the worker pool', () => {
  test('large segments re-validated in a worker thread recover like in-thread ones: torn tail cut, corruption offline', async ({
    tmpDir,
  }) => {
    const config = logConfig({ segmentBytes: 1 << 20, indexIntervalBytes: 100 })
    const src = path.join(tmpDir, 'src')
    const { storage, log } = await openOne(src, 'l', config)
    const other = await storage.openLog('m', config)
    for (let i = 0; i < 30; i++) {
      log.append(makeBatch(`v${i}`, 2))
      other.append(makeBatch(`w${i}`, 2))
    }
    const reads = readAll(log)
    const crashed = path.join(tmpDir, 'crashed')
    crashCopy(src, crashed)
    await storage.close()
    const torn = path.join(crashed, 'l', SEG0)
    fs.truncateSync(torn, batchesEnd(fs.readFileSync(torn)) - 20)
    const bad = path.join(crashed, 'm', SEG0)
    const bytes = fs.readFileSync(bad)
    const batches = [...iterateBatches(bytes.subarray(0, batchesEnd(bytes)))]
    bytes[batches[5]!.position + 80]! ^= 4
    fs.writeFileSync(bad, bytes)
    const pooled = await openOne(crashed, 'l', config, 0) // every segment goes to the pool
    expect(pooled.log.offlineError).toBeNull()
    expect(readAll(pooled.log)).toEqual(reads.slice(0, -2))
    expect(pooled.log.read(10, 300).records.length).toBeGreaterThan(0)
    const m = await pooled.storage.openLog('m', config)
    expect(m.offlineError!.message).toContain(`${bad} at byte ${batches[5]!.position}`)
    expect(pooled.log.append(makeBatch('next')).baseOffset).toBe(58)
    await pooled.storage.close()
  })
})

describe('corruption that is never truncated', () => {
  test('a log that ends before its recovery point (fsynced batches gone) opens offline; nothing is cut', async ({
    tmpDir,
  }) => {
    const config = logConfig({ segmentBytes: 1 << 20 })
    const src = path.join(tmpDir, 'src')
    const { storage, log } = await openOne(src, 'l', config)
    for (let i = 0; i < 6; i++) log.append(makeBatch(`v${i}`, 2, Date.now()))
    await storage.checkpoint() // recovery point 12
    const crashed = path.join(tmpDir, 'crashed')
    crashCopy(src, crashed)
    await storage.close()
    const file = path.join(crashed, 'l', SEG0)
    const bytes = fs.readFileSync(file)
    const batches = [...iterateBatches(bytes.subarray(0, batchesEnd(bytes)))]
    // the disk lost the last two batches: once as a shorter file, once as zeros where they were
    for (const asZeros of [false, true]) {
      const dir = path.join(tmpDir, `lost-${asZeros}`)
      fs.cpSync(crashed, dir, { recursive: true })
      const lost = path.join(dir, 'l', SEG0)
      const cut = batches[4]!.position
      if (asZeros) fs.writeFileSync(lost, Buffer.concat([bytes.subarray(0, cut), Buffer.alloc(bytes.length - cut)]))
      else fs.truncateSync(lost, cut)
      const before = fs.readFileSync(lost)
      const reopened = await openOne(dir, 'l', config)
      const err = reopened.log.offlineError
      expect(err, `as zeros: ${asZeros}`).toBeInstanceOf(PartitionOfflineError)
      expect(err!.message).toContain(lost)
      expect(err!.message).toContain('recovery point 12')
      await reopened.storage.close()
      expect(fs.readFileSync(lost).equals(before)).toBe(true)
    }
  })

  test('a bad batch followed by valid batches takes the log offline naming file and position; other logs serve', async ({
    tmpDir,
  }) => {
    const config = logConfig({ segmentBytes: 1 << 20 })
    const src = path.join(tmpDir, 'src')
    const { storage, log } = await openOne(src, 'l', config)
    const other = await storage.openLog('other', config)
    other.append(makeBatch('o'))
    for (let i = 0; i < 6; i++) log.append(makeBatch(`v${i}`, 2))
    const crashed = path.join(tmpDir, 'crashed')
    crashCopy(src, crashed) // no checkpoint: recovery point 0, everything re-validated
    await storage.close()
    const file = path.join(crashed, 'l', SEG0)
    const bytes = fs.readFileSync(file)
    const batches = [...iterateBatches(bytes.subarray(0, batchesEnd(bytes)))]
    const victim = batches[3]!
    bytes[victim.position + 70]! ^= 0x01 // a bit inside a record of batch 3
    fs.writeFileSync(file, bytes)
    const before = fs.readFileSync(file)
    const reopened = await openOne(crashed, 'l', config)
    const err = reopened.log.offlineError
    expect(err).toBeInstanceOf(PartitionOfflineError)
    expect(err!.message).toContain(file)
    expect(err!.message).toContain(`at byte ${victim.position}`)
    expect(() => reopened.log.read(0, 100)).toThrow(PartitionOfflineError)
    expect(() => reopened.log.append(makeBatch('x'))).toThrow(PartitionOfflineError)
    expect(fs.readFileSync(file).equals(before)).toBe(true) // nothing truncated
    const otherLog = await reopened.storage.openLog('other', config)
    expect(readAll(otherLog).map((r) => r.value)).toEqual(['o-0'])
    await reopened.storage.close()
    const report = await verifyLogDir(path.join(crashed, 'l'))
    expect(report.ok).toBe(false)
    expect(report.problems).toEqual([expect.objectContaining({ file, position: victim.position })])
    expect(report.problems[0]!.message).toContain('a valid batch follows')
  })

  test('bit flips in a sealed segment are detected with file and position; the log is offline; verify agrees', async ({
    tmpDir,
  }) => {
    const config = logConfig({ segmentBytes: 400 })
    const src = path.join(tmpDir, 'src')
    const { storage, log } = await openOne(src, 'l', config)
    for (let i = 0; i < 20; i++) log.append(makeBatch(`v${i}`, 2))
    const crashed = path.join(tmpDir, 'crashed')
    crashCopy(src, crashed)
    await storage.close()
    const sealed = path.join(crashed, 'l', SEG0)
    const original = fs.readFileSync(sealed)
    const batches = [...iterateBatches(original)]
    const random = new Random(11)
    const pool = new WorkerPool()
    onTestFinished(() => pool.close())
    for (let trial = 0; trial < 8; trial++) {
      const dir = path.join(tmpDir, `flip-${trial}`)
      fs.cpSync(crashed, dir, { recursive: true })
      const file = path.join(dir, 'l', SEG0)
      const flipped = Buffer.from(original)
      // any byte but partitionLeaderEpoch (12..15), which is outside the CRC by design and not used
      const holder = random.pick(batches)
      let within = random.int(0, holder.header.batchBytes - 5)
      if (within >= 12) within += 4
      const at = holder.position + within
      flipped[at]! ^= 1 << random.int(0, 7)
      fs.writeFileSync(file, flipped)
      const reopened = await openOne(dir, 'l', config)
      const err = reopened.log.offlineError
      expect(err, `flip at ${at}`).toBeInstanceOf(PartitionOfflineError)
      expect(err!.message).toContain(file)
      expect(err!.message).toContain(`at byte ${holder.position}`)
      expect(() => reopened.log.read(0, 1 << 20)).toThrow(PartitionOfflineError)
      await reopened.storage.close()
      const [report] = await verifyDataDir(dir, { pool })
      expect(report!.problems[0]).toMatchObject({ file, position: holder.position })
      fs.rmSync(dir, { recursive: true })
    }
  })

  test('a damaged baseOffset (outside the CRC) in a trusted segment is caught when read: offline, nothing served', async ({
    tmpDir,
  }) => {
    const config = logConfig({ segmentBytes: 400 })
    const { storage, log } = await openOne(tmpDir, 'l', config)
    for (let i = 0; i < 20; i++) log.append(makeBatch(`v${i}`, 2))
    await storage.close() // clean: every segment is trusted at the next open, nothing re-validated
    const file = path.join(tmpDir, 'l', SEG0)
    const bytes = fs.readFileSync(file)
    const victim = [...iterateBatches(bytes)][0]! // below every index entry: no open-time check walks over it
    bytes[victim.position + 7]! ^= 0x08 // baseOffset's low byte
    fs.writeFileSync(file, bytes)
    const reopened = await openOne(tmpDir, 'l', config)
    expect(reopened.log.offlineError).toBeNull()
    expect(() => reopened.log.read(0, 1 << 20)).toThrow(PartitionOfflineError)
    expect(reopened.log.offlineError!.message).toContain(`${file} at byte ${victim.position}`)
    expect(() => reopened.log.read(0, 10)).toThrow(PartitionOfflineError)
    await reopened.storage.close()
  })

  test('the sign bit of the last batch lastOffsetDelta flipped in a trusted segment never moves the log end', async ({
    tmpDir,
  }) => {
    // S2 found it (seed 1075307718): the open-time header walk took nextOffset from the flipped header, and the log
    // opened with its end at -2147483448. The walk now refuses a header that disagrees with itself.
    const config = logConfig({ segmentBytes: 1 << 20, indexIntervalBytes: 1 << 20 })
    const { storage, log } = await openOne(tmpDir, 'l', config)
    for (let i = 0; i < 4; i++) log.append(makeBatch(`v${i}`, 2))
    await storage.close() // clean: nothing re-validated with the CRC at the next open
    const file = path.join(tmpDir, 'l', SEG0)
    const bytes = fs.readFileSync(file)
    const last = [...iterateBatches(bytes)].at(-1)!
    bytes[last.position + 23]! ^= 0x80 // lastOffsetDelta's sign bit (CRC-covered)
    fs.writeFileSync(file, bytes)
    const reopened = await openOne(tmpDir, 'l', config)
    const end = reopened.log.offlineError === null ? reopened.log.logEndOffset : null
    // Offline, or the flipped batch cut (it is the tail): never an end below 6 or above 8.
    if (end !== null) {
      expect(end).toBeGreaterThanOrEqual(6)
      expect(end).toBeLessThanOrEqual(8)
      expect(readAll(reopened.log).map((r) => r.value)).toEqual(
        Array.from({ length: end }, (_, i) => `v${i >> 1}-${i & 1}`),
      )
    }
    await reopened.storage.close()
  })

  test('bytes missing below the recovery point (fsynced data lost) are not cut: the log goes offline', async ({
    tmpDir,
  }) => {
    const config = logConfig({ segmentBytes: 1 << 20 })
    const { storage, log } = await openOne(tmpDir, 'l', config)
    for (let i = 0; i < 5; i++) log.append(makeBatch(`v${i}`))
    await storage.close() // recovery point 5
    const file = path.join(tmpDir, 'l', SEG0)
    const size = fs.statSync(file).size
    fs.truncateSync(file, size - 10)
    fs.rmSync(path.join(tmpDir, '.clean-shutdown'))
    const reopened = await openOne(tmpDir, 'l', config)
    expect(reopened.log.offlineError).toBeInstanceOf(PartitionOfflineError)
    expect(reopened.log.offlineError!.message).toContain('below the recovery point')
    expect(fs.statSync(file).size).toBe(size - 10)
    await reopened.storage.close()
  })
})

describe('index files are caches', () => {
  test('deleted, truncated, garbled and past-EOF indexes are rebuilt and every read stays byte-identical', async ({
    tmpDir,
  }) => {
    const config = logConfig({ segmentBytes: 600, indexIntervalBytes: 100 })
    const { storage, log } = await openOne(tmpDir, 'l', config)
    for (let i = 0; i < 40; i++) log.append(makeBatch(`v${i}`, 2, 5_000 + i * 10))
    const end = log.logEndOffset
    const reads = Array.from({ length: end }, (_, o) => log.read(o, 250).records)
    const times = Array.from({ length: 50 }, (_, i) => 4_990 + i * 9)
    const answers = times.map((t) => log.offsetForTimestamp(t))
    const bases = log.segmentBaseOffsets
    expect(bases.length).toBeGreaterThanOrEqual(5)
    await storage.close()
    const dir = path.join(tmpDir, 'l')
    const name = (base: number, ext: string) => path.join(dir, String(base).padStart(20, '0') + ext)
    const random = new Random(3)
    fs.rmSync(name(bases[0]!, '.index'))
    fs.rmSync(name(bases[0]!, '.timeindex'))
    fs.truncateSync(name(bases[1]!, '.index'), 5)
    fs.truncateSync(name(bases[1]!, '.timeindex'), 13)
    fs.writeFileSync(name(bases[2]!, '.index'), random.bytes(64))
    fs.writeFileSync(name(bases[2]!, '.timeindex'), random.bytes(48))
    const pastEof = Buffer.alloc(8)
    pastEof.writeInt32BE(1_000_000, 0)
    pastEof.writeInt32BE(1_000_000, 4)
    fs.appendFileSync(name(bases[3]!, '.index'), pastEof)
    const active = bases.at(-1)!
    const unordered = fs.readFileSync(name(active, '.timeindex'))
    fs.writeFileSync(name(active, '.timeindex'), Buffer.concat([unordered, unordered.subarray(0, 12)]))
    const reopened = await openOne(tmpDir, 'l', config)
    expect(reopened.log.offlineError).toBeNull()
    for (let o = 0; o < end; o++) expect(reopened.log.read(o, 250).records.equals(reads[o]!), `offset ${o}`).toBe(true)
    expect(times.map((t) => reopened.log.offsetForTimestamp(t))).toEqual(answers)
    expect(reopened.logger.entries.filter((e) => e.message.includes('rebuilt')).length).toBeGreaterThanOrEqual(4)
    await reopened.storage.close()
    const report = await verifyLogDir(dir)
    expect(report.ok).toBe(true)
    expect(report.segments.flatMap((s) => s.indexProblems)).toEqual([])
  })
})

// Unit tests of PartitionLog through a real Storage on a temp dir: offsets, whole-batch reads across segments, rolls,
// zeros written ahead, timestamps, truncation, deleteRecordsBefore, retention, listeners and bad input that must leave
// the files unchanged.
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, vi } from 'vitest'
import { LIMITS } from '../config/limits.js'
import {
  CorruptRecordError,
  DiskFullError,
  InvalidArgumentError,
  InvalidConfigError,
  OffsetOutOfRangeError,
  RecordTooLargeError,
  UnsupportedVersionError,
} from '../errors.js'
import {
  captureLogger,
  decodeAll,
  logConfig,
  makeBatch,
  readAll,
  tmpTest as test,
} from '../testing/storage-fixtures.js'
import { crc32c } from '../util/crc32c.js'
import { POS, encodeRecordBatch, iterateBatches, readBatchHeader } from './record-batch.js'
import { lastOffsetOf } from './partition-log.js'
import {
  appendWriteFs,
  INDEX_WRITE_ENTRIES,
  PREALLOCATE_CHUNK_MAX,
  PREALLOCATE_CHUNK_MIN,
  PREALLOCATE_SYNC_BYTES_MAX,
} from './segment.js'
import { openStorage } from './storage.js'
import { dumpSegment, verifyLogDir } from './verify.js'

/** Resolves once `done()` holds; fails after about two seconds. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
  expect(done()).toBe(true)
}

function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  const visit = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name)
      if (e.isDirectory()) visit(full)
      else out[path.relative(dir, full)] = fs.readFileSync(full).toString('base64')
    }
  }
  visit(dir)
  return out
}

describe('append and read', () => {
  test('appends get consecutive offsets and reads return them as whole batches, also after reopen', async ({
    tmpDir,
  }) => {
    const storage = await openStorage(tmpDir)
    const log = await storage.openLog('topics/t/0', logConfig())
    const r1 = log.append(makeBatch('a', 3))
    const r2 = log.append(makeBatch('b', 2))
    expect([r1.baseOffset, r1.lastOffset, r2.baseOffset, r2.lastOffset]).toEqual([0, 2, 3, 4])
    expect(r2.position).toBeGreaterThan(r1.position)
    expect(log.logEndOffset).toBe(5)
    expect(readAll(log).map((r) => r.value)).toEqual(['a-0', 'a-1', 'a-2', 'b-0', 'b-1'])
    await storage.close()
    const again = await openStorage(tmpDir)
    const log2 = await again.openLog('topics/t/0', logConfig())
    expect(log2.logEndOffset).toBe(5)
    expect(log2.append(makeBatch('c')).baseOffset).toBe(5)
    expect(readAll(log2).map((r) => r.offset)).toEqual([0, 1, 2, 3, 4, 5])
    await again.close()
  })

  test('read starts with the batch holding the offset, returns at least one batch, and respects maxBytes', async ({
    tmpDir,
  }) => {
    const storage = await openStorage(tmpDir)
    const log = await storage.openLog('l', logConfig({ segmentBytes: 1 << 20 }))
    const sizes: number[] = []
    for (let i = 0; i < 20; i++) {
      const b = makeBatch(`v${i}`, 2)
      sizes.push(b.length)
      log.append(b)
    }
    const mid = log.read(7, 1) // offset 7 is the second record of batch 3; maxBytes smaller than a batch
    const batches = [...iterateBatches(mid.records)]
    expect(batches.map((b) => b.header.baseOffset)).toEqual([6])
    const three = log.read(6, sizes[3]! + sizes[4]! + sizes[5]! + 10)
    expect([...iterateBatches(three.records)].map((b) => b.header.baseOffset)).toEqual([6, 8, 10])
    expect(log.read(40, 100).records.length).toBe(0)
    expect(() => log.read(41, 100)).toThrow(OffsetOutOfRangeError)
    expect(() => log.read(-1, 100)).toThrow(OffsetOutOfRangeError)
    await storage.close()
  })

  test('reads span segments and return fresh memory that later appends do not change', async ({ tmpDir }) => {
    const storage = await openStorage(tmpDir)
    const log = await storage.openLog('l', logConfig({ segmentBytes: 300 }))
    for (let i = 0; i < 30; i++) log.append(makeBatch(`x${i}`, 2))
    expect(log.segmentCount).toBeGreaterThan(5)
    const all = log.read(0, 1 << 20)
    const copy = Buffer.from(all.records)
    expect(decodeAll(all.records).map((r) => r.offset)).toEqual(Array.from({ length: 60 }, (_, i) => i))
    for (let i = 0; i < 10; i++) log.append(makeBatch(`y${i}`))
    log.truncateTo(30)
    expect(all.records.equals(copy)).toBe(true)
    await storage.close()
  })

  test('rolls on segmentBytes, on segmentMs, and on a full index', async ({ tmpDir }) => {
    let now = 1_000_000
    const storage = await openStorage(tmpDir, { clock: () => now })
    const bySize = await storage.openLog('size', logConfig({ segmentBytes: 200 }))
    const batchBytes = makeBatch('x').length
    for (let i = 0; i < 6; i++) bySize.append(makeBatch('x'))
    expect(bySize.segmentCount).toBe(Math.ceil(6 / Math.floor(200 / batchBytes)))
    const byTime = await storage.openLog('time', logConfig({ segmentBytes: 1 << 20, segmentMs: 1000 }))
    byTime.append(makeBatch('a'))
    byTime.append(makeBatch('b'))
    expect(byTime.segmentCount).toBe(1)
    now += 1000
    byTime.append(makeBatch('c'))
    expect(byTime.segmentCount).toBe(2)
    const byIndex = await storage.openLog(
      'index',
      logConfig({ segmentBytes: 1 << 20, indexIntervalBytes: 1, indexBytesMax: 24 }),
    )
    for (let i = 0; i < 5; i++) byIndex.append(makeBatch('i', 1, 1000 + i))
    expect(byIndex.segmentCount).toBe(3) // each batch adds a 12-byte time entry: two fill indexBytesMax 24
    expect(readAll(byIndex).map((r) => r.offset)).toEqual([0, 1, 2, 3, 4])
    await storage.close()
  })

  test('a log-append-time batch gets the append time as its timestamp with a valid CRC', async ({ tmpDir }) => {
    const storage = await openStorage(tmpDir, { clock: () => 5_000_000 })
    const log = await storage.openLog('l', logConfig())
    const batch = encodeRecordBatch([{ key: null, value: Buffer.from('v'), timestamp: 1 }], {
      timestampType: 'logAppend',
    })
    expect(log.append(batch).timestamp).toBe(5_000_000)
    expect(decodeAll(log.read(0, 1000).records)[0]!.timestamp).toBe(5_000_000)
    await storage.close()
  })

  test('onAppend listeners hear the new logEndOffset until they unsubscribe', async ({ tmpDir }) => {
    const storage = await openStorage(tmpDir)
    const log = await storage.openLog('l', logConfig())
    const heard: number[] = []
    const off = log.onAppend((end) => heard.push(end))
    log.onAppend(() => {
      throw new Error('a throwing listener does not break appends')
    })
    log.append(makeBatch('a', 2))
    log.append(makeBatch('b'))
    off()
    log.append(makeBatch('c'))
    expect(heard).toEqual([2, 3])
    await storage.close()
  })

  test('durableOffset moves to a batch boundary after each fsync, and onDurable listeners hear it', async ({
    tmpDir,
  }) => {
    const storage = await openStorage(tmpDir)
    const log = await storage.openLog('l', logConfig({ flush: 'os' }))
    const heard: number[] = []
    const off = log.onDurable((durable) => heard.push(durable))
    // A flush 'os' log fsyncs its appends only while someone listens for durability (a waiting reader).
    log.append(makeBatch('a', 2))
    log.append(makeBatch('b', 3))
    await until(() => log.durableOffset === 5)
    expect(heard).toEqual([5]) // one group-commit round covered both batches
    off()
    log.append(makeBatch('c'))
    await new Promise((resolve) => setTimeout(resolve, 30))
    expect(log.durableOffset).toBe(5) // nobody listens: written, not fsynced
    log.requestFlush()
    await until(() => log.durableOffset === 6)
    expect(heard).toEqual([5])
    const sync = await storage.openLog('s', logConfig({ flush: 'sync' }))
    sync.append(makeBatch('d'))
    await until(() => sync.durableOffset === 1) // flush 'sync' logs fsync every append
    await storage.close()
  })
})

describe('lastOffsetOf (the read hint)', () => {
  test('finds the last offset of whole batches, and answers null for framing a flipped bit broke, never looping', () => {
    const batch = (baseOffset: number, records: number) =>
      encodeRecordBatch(
        Array.from({ length: records }, () => ({ key: null, value: Buffer.from('v'), timestamp: 1 })),
        { baseOffset },
      )
    const three = Buffer.concat([batch(10, 2), batch(12, 3), batch(15, 1)])
    expect(lastOffsetOf(three)).toBe(15)
    const second = batch(10, 2).length // where the second batch starts
    for (const length of [-12, 0, 48, three.length]) {
      const broken = Buffer.from(three)
      broken.writeInt32BE(length, second + POS.batchLength) // -12 kept the old walk in place forever
      expect(lastOffsetOf(broken), `length ${length}`).toBeNull()
    }
    expect(lastOffsetOf(Buffer.alloc(0))).toBeNull()
  })
})

describe('bad input', () => {
  test('bad CRC, bad magic, length past the buffer, trailing bytes, too large, a non-batch: typed error, files unchanged', async ({
    tmpDir,
  }) => {
    const storage = await openStorage(tmpDir)
    const log = await storage.openLog('l', logConfig())
    log.append(makeBatch('ok'))
    await storage.checkpoint()
    const before = snapshot(path.join(tmpDir, 'l'))
    const badCrc = makeBatch('x')
    badCrc[badCrc.length - 1]! ^= 1
    const badMagic = makeBatch('x')
    badMagic[POS.magic] = 0
    const pastEnd = makeBatch('x')
    pastEnd.writeInt32BE(pastEnd.length + 100, POS.batchLength)
    const trailing = Buffer.concat([makeBatch('x'), Buffer.from([1, 2, 3])])
    const tooLarge = encodeRecordBatch([{ key: null, value: Buffer.alloc(LIMITS.recordBytesMax), timestamp: 1 }], {
      batchBytesMax: LIMITS.recordBytesMax * 2,
    })
    const transactional = makeBatch('x')
    transactional.writeInt16BE(0x10, POS.attributes)
    transactional.writeUInt32BE(crc32c(transactional, POS.attributes), POS.crc)
    expect(() => log.append(badCrc)).toThrow(CorruptRecordError)
    expect(() => log.append(badMagic)).toThrow(CorruptRecordError)
    expect(() => log.append(pastEnd)).toThrow(CorruptRecordError)
    expect(() => log.append(trailing)).toThrow(CorruptRecordError)
    expect(() => log.append(tooLarge)).toThrow(RecordTooLargeError)
    expect(() => log.append(Buffer.from('not a batch'))).toThrow(CorruptRecordError)
    expect(() => log.append(transactional)).toThrow(UnsupportedVersionError)
    expect(() => log.append('text' as unknown as Buffer)).toThrow(InvalidArgumentError)
    expect(snapshot(path.join(tmpDir, 'l'))).toEqual(before)
    expect(log.logEndOffset).toBe(1)
    expect(log.append(makeBatch('next')).baseOffset).toBe(1)
    await storage.close()
  })

  test('a bad log config lists every problem', async ({ tmpDir }) => {
    const storage = await openStorage(tmpDir)
    const err = await storage
      .openLog('l', logConfig({ segmentBytes: 10, flush: 'never' as 'os', retentionMs: -5 }))
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InvalidConfigError)
    expect((err as InvalidConfigError).problems).toHaveLength(3)
    await storage.close()
  })
})

describe('timestamps', () => {
  test('offsetForTimestamp finds the first record at or after a time, across segments', async ({ tmpDir }) => {
    const storage = await openStorage(tmpDir)
    const log = await storage.openLog('l', logConfig({ segmentBytes: 500, indexIntervalBytes: 100 }))
    for (let i = 0; i < 40; i++) log.append(makeBatch(`v${i}`, 3, 10_000 + i * 10)) // records at 10000 + 10i + {0,1,2}
    expect(log.segmentCount).toBeGreaterThan(3)
    expect(log.offsetForTimestamp(0)).toBe(0)
    expect(log.offsetForTimestamp(10_000)).toBe(0)
    expect(log.offsetForTimestamp(10_001)).toBe(1)
    expect(log.offsetForTimestamp(10_003)).toBe(3)
    expect(log.offsetForTimestamp(10_252)).toBe(77)
    expect(log.offsetForTimestamp(10_392)).toBe(119)
    expect(log.offsetForTimestamp(10_393)).toBeNull()
    for (let t = 9_990; t < 10_400; t += 7) {
      const expected = t <= 10_392 ? readAll(log).find((r) => r.timestamp >= t)!.offset : null
      expect(log.offsetForTimestamp(t), `timestamp ${t}`).toBe(expected)
    }
    await storage.close()
  })
})

describe('zeros written ahead (preallocation)', () => {
  const logBytes = (dir: string, name: string): number[] =>
    fs
      .readdirSync(path.join(dir, name))
      .filter((f) => f.endsWith('.log'))
      .sort()
      .map((f) => fs.statSync(path.join(dir, name, f)).size)

  test('a flush sync log keeps 64 KiB to 1 MiB of zeros ahead of its batches, reads never see them, a roll and a close cut them; flush os writes none', async ({
    tmpDir,
  }) => {
    const storage = await openStorage(tmpDir)
    const sync = await storage.openLog('sync', logConfig({ segmentBytes: 4 << 20 }))
    const os = await storage.openLog('os', logConfig({ segmentBytes: 4 << 20, flush: 'os' }))
    const value = 'v'.repeat(16 * 1024)
    let logical = 0
    let fileBytes = 0
    let grew = 0
    // 400 appends of ~16 KiB: past the 1 MiB chunk and across one roll at 4 MiB
    for (let i = 0; i < 400; i++) {
      const batch = makeBatch(`${i}-${value}`)
      const r = sync.append(batch)
      os.append(makeBatch(`${i}-${value}`))
      logical = r.position + batch.length
      const [file] = logBytes(tmpDir, 'sync').slice(-1)
      if (file! !== fileBytes) grew++
      fileBytes = file!
      const ahead = fileBytes - logical
      expect(ahead, `append ${i}`).toBeGreaterThanOrEqual(0)
      expect(ahead, `append ${i}`).toBeLessThanOrEqual(PREALLOCATE_CHUNK_MAX)
      if (logical < PREALLOCATE_CHUNK_MIN) expect(ahead).toBeGreaterThanOrEqual(PREALLOCATE_CHUNK_MIN - logical)
      expect(logBytes(tmpDir, 'os').reduce((a, b) => a + b)).toBe(os.sizeBytes)
    }
    // the file grew (its size a journal commit at the next fsync) 14 times in 400 appends: 64 KiB doubling to 1 MiB
    // steps, twice over (one roll)
    expect(grew).toBeLessThanOrEqual(16)
    expect(sync.segmentCount).toBe(2)
    const sizes = logBytes(tmpDir, 'sync')
    expect(sizes[0]).toBeLessThanOrEqual(4 << 20) // the sealed segment holds its batches only
    expect(sizes[0]! + logical).toBe(sync.sizeBytes)
    const records = readAll(sync)
    expect(records.length).toBe(400)
    expect(records.every((r, i) => r.value === `${i}-${value}-0`)).toBe(true)
    expect(sync.read(400, 1 << 20).records.length).toBe(0) // nothing past the end
    await storage.close()
    expect(logBytes(tmpDir, 'sync')[1]).toBe(logical)
  })

  test('zeros are written ahead only while each fsync covers at most PREALLOCATE_SYNC_BYTES_MAX bytes', async ({
    tmpDir,
  }) => {
    const storage = await openStorage(tmpDir)
    const log = await storage.openLog('l', logConfig({ segmentBytes: 16 << 20 }))
    const file = path.join(tmpDir, 'l', '00000000000000000000.log')
    const value = 'v'.repeat(16 * 1024)
    let n = 0
    const append = (): void => {
      log.append(makeBatch(`${n++}-${value}`, 1, Date.now()))
    }
    const ahead = (): number => fs.statSync(file).size - log.sizeBytes
    append()
    expect(ahead()).toBeGreaterThan(0) // no fsync yet: zeros ahead
    await log.waitDurable(n - 1)
    // one fsync covering more than the bound: once the zeros are used up, the file grows by batches only
    while (log.sizeBytes <= PREALLOCATE_SYNC_BYTES_MAX + PREALLOCATE_CHUNK_MAX) append()
    await log.waitDurable(n - 1)
    for (let i = 0; ahead() > 0; i++) {
      expect(i).toBeLessThan(200)
      append()
    }
    for (let i = 0; i < 10; i++) {
      append()
      expect(ahead()).toBe(0)
    }
    // small fsyncs again: zeros ahead again
    await log.waitDurable(n - 1)
    append()
    await log.waitDurable(n - 1)
    append()
    expect(ahead()).toBeGreaterThan(0)
    expect(readAll(log).length).toBe(n)
    await storage.close()
  })

  test('a log copied while open (a crash) reopens over its zeros: no warning, no data cut, appends continue; verify and dump agree', async ({
    tmpDir,
  }) => {
    const src = path.join(tmpDir, 'src')
    const storage = await openStorage(src)
    const log = await storage.openLog('l', logConfig({ segmentBytes: 1 << 20 }))
    // timestamps of now: a segment reopened counts its age from its first batch (1970 would roll it at once)
    for (let i = 0; i < 10; i++) log.append(makeBatch(`v${i}`, 3, Date.now()))
    await log.waitDurable(29)
    const logical = log.sizeBytes
    // not checkpointed: the segment is re-validated (in this thread, then on the worker pool, which reads the whole
    // file, zeros included); checkpointed: it is trusted and only its tail walked
    for (const [checkpointed, poolBytesMin] of [
      [false, undefined],
      [false, 0],
      [true, undefined],
    ] as const) {
      if (checkpointed) await storage.checkpoint()
      const crashed = path.join(tmpDir, `crashed-${checkpointed}-${poolBytesMin}`)
      fs.cpSync(src, crashed, { recursive: true, filter: (f) => path.basename(f) !== '.lock' })
      const file = path.join(crashed, 'l', '00000000000000000000.log')
      expect(fs.statSync(file).size).toBeGreaterThan(logical)
      const report = await verifyLogDir(path.join(crashed, 'l'))
      expect(report.ok).toBe(true)
      expect(report.segments[0]).toMatchObject({ validBytes: logical, records: 30 })
      expect(report.segments[0]!.preallocatedBytes).toBe(fs.statSync(file).size - logical)
      let dumped = 0
      for await (const b of dumpSegment(file)) dumped += b.recordCount
      expect(dumped).toBe(30)
      const logger = captureLogger()
      const reopened = await openStorage(
        crashed,
        poolBytesMin === undefined ? { logger } : { logger, recoveryPoolBytesMin: poolBytesMin },
      )
      const again = await reopened.openLog('l', logConfig({ segmentBytes: 1 << 20 }))
      expect(again.logEndOffset).toBe(30)
      expect(again.sizeBytes).toBe(logical)
      const unclean = 'previous run did not close cleanly; logs are re-validated past their recovery point'
      expect(logger.entries.filter((e) => e.level !== 'debug' && e.message !== unclean)).toEqual([])
      expect(again.append(makeBatch('next', 1, Date.now())).position).toBe(logical)
      expect(
        readAll(again)
          .map((r) => r.value)
          .slice(-2),
      ).toEqual(['v9-2', 'next-0'])
      await reopened.close()
      expect(fs.statSync(file).size).toBe(logical + makeBatch('next').length)
    }
    await storage.close()
  })

  test('index entries reach their files INDEX_WRITE_ENTRIES at a time and at every checkpoint and close; a crash losing the rest reopens with every offset and time found', async ({
    tmpDir,
  }) => {
    const src = path.join(tmpDir, 'src')
    const storage = await openStorage(src)
    const config = logConfig({ indexIntervalBytes: 1, segmentBytes: 1 << 20 })
    const log = await storage.openLog('l', config)
    const indexFile = path.join(src, 'l', '00000000000000000000.index')
    const timeFile = path.join(src, 'l', '00000000000000000000.timeindex')
    const entries = (file: string, entryBytes: number): number => fs.statSync(file).size / entryBytes
    const t0 = Date.now() // a segment reopened counts its age from its first batch: 1970 would roll it at once
    let n = 0
    const append = (count: number): void => {
      // every batch gets an offset entry (interval 1 byte) and a time entry (timestamps grow)
      for (let i = 0; i < count; i++, n++) log.append(makeBatch(`v${n}`, 2, t0 + 2 * n))
    }
    append(INDEX_WRITE_ENTRIES - 1)
    expect([entries(indexFile, 8), entries(timeFile, 12)]).toEqual([0, 0]) // one write(2) per entry before
    append(1)
    expect([entries(indexFile, 8), entries(timeFile, 12)]).toEqual([INDEX_WRITE_ENTRIES, INDEX_WRITE_ENTRIES])
    append(10)
    await storage.checkpoint()
    expect(entries(indexFile, 8)).toBe(INDEX_WRITE_ENTRIES + 10)
    append(20)
    await log.waitDurable(2 * n - 1)
    expect(entries(indexFile, 8)).toBe(INDEX_WRITE_ENTRIES + 10)
    // a crash now: the last 20 entries are in memory only
    const crashed = path.join(tmpDir, 'crashed')
    fs.cpSync(src, crashed, { recursive: true, filter: (f) => path.basename(f) !== '.lock' })
    const logger = captureLogger()
    const reopened = await openStorage(crashed, { logger })
    const again = await reopened.openLog('l', config)
    expect(again.logEndOffset).toBe(2 * n)
    const unclean = 'previous run did not close cleanly; logs are re-validated past their recovery point'
    expect(logger.entries.filter((e) => e.level !== 'debug' && e.message !== unclean)).toEqual([])
    for (let offset = 0; offset < 2 * n; offset += 7) {
      const first = readAll(again, offset, 1)[0]!
      expect(first.offset).toBe(offset)
      expect(first.value).toBe(`v${Math.floor(offset / 2)}-${offset % 2}`) // two records a batch
    }
    for (let k = 0; k < 2 * n; k += 9) expect(again.offsetForTimestamp(t0 + k)).toBe(k) // record k's time is t0 + k
    expect(again.append(makeBatch('next', 1, t0 + 2 * n)).baseOffset).toBe(2 * n)
    await reopened.close()
    // a close writes what is pending: the original's files hold every entry
    await storage.close()
    expect([entries(indexFile, 8), entries(timeFile, 12)]).toEqual([n, n])
  })

  test('a zero write that fails (a full disk) leaves no zeros and no error: the batch is appended, the segment stops preallocating', async ({
    tmpDir,
  }) => {
    const storage = await openStorage(tmpDir)
    const log = await storage.openLog('l', logConfig({ segmentBytes: 1 << 20 }))
    const realWrite = appendWriteFs.writeSync
    let zeroWrites = 0
    appendWriteFs.writeSync = (fd, buf, offset, length, position) => {
      if (buf.length === PREALLOCATE_CHUNK_MAX && buf.every((b) => b === 0)) {
        zeroWrites++
        if (zeroWrites === 2) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })
        return realWrite(fd, buf, offset, Math.min(length, 1000), position) // partial writes: the loop goes on
      }
      return realWrite(fd, buf, offset, length, position)
    }
    try {
      const batch = makeBatch('a')
      expect(() => log.append(batch)).not.toThrow()
      expect(zeroWrites).toBe(2)
      const file = path.join(tmpDir, 'l', '00000000000000000000.log')
      expect(fs.statSync(file).size).toBe(batch.length)
      for (let i = 0; i < 5; i++) log.append(makeBatch(`b${i}`))
      expect(zeroWrites).toBe(2)
      expect(fs.statSync(file).size).toBe(log.sizeBytes)
      expect(readAll(log).map((r) => r.value)).toEqual(['a-0', 'b0-0', 'b1-0', 'b2-0', 'b3-0', 'b4-0'])
    } finally {
      appendWriteFs.writeSync = realWrite
    }
    await storage.close()
  })
})

describe('truncation and deletion', () => {
  test('truncateTo cuts at whole batches, across segments, and appends continue from there', async ({ tmpDir }) => {
    const storage = await openStorage(tmpDir)
    const log = await storage.openLog('l', logConfig({ segmentBytes: 300 }))
    for (let i = 0; i < 20; i++) log.append(makeBatch(`v${i}`, 2))
    log.truncateTo(31) // inside the batch [30, 31]: the whole batch goes
    expect(log.logEndOffset).toBe(30)
    log.truncateTo(10) // a batch boundary, earlier segment
    expect(log.logEndOffset).toBe(10)
    expect(readAll(log).map((r) => r.value)).toEqual(Array.from({ length: 10 }, (_, i) => `v${i >> 1}-${i & 1}`))
    expect(log.append(makeBatch('after')).baseOffset).toBe(10)
    await storage.close()
    const again = await openStorage(tmpDir)
    const log2 = await again.openLog('l', logConfig({ segmentBytes: 300 }))
    expect(readAll(log2).map((r) => r.offset)).toEqual(Array.from({ length: 11 }, (_, i) => i))
    await again.close()
  })

  test('deleteRecordsBefore advances logStartOffset (persisted) and deletes whole segments below it', async ({
    tmpDir,
  }) => {
    const storage = await openStorage(tmpDir)
    const log = await storage.openLog('l', logConfig({ segmentBytes: 300 }))
    for (let i = 0; i < 20; i++) log.append(makeBatch(`v${i}`, 2))
    const segments = log.segmentCount
    const result = log.deleteRecordsBefore(25)
    expect(result.logStartOffset).toBe(25)
    expect(result.deletedSegments).toBeGreaterThan(0)
    expect(log.segmentCount).toBe(segments - result.deletedSegments)
    expect(() => log.read(24, 100)).toThrow(OffsetOutOfRangeError)
    expect(decodeAll(log.read(25, 100).records, 25)[0]!.offset).toBe(25)
    expect(() => log.deleteRecordsBefore(41)).toThrow(OffsetOutOfRangeError)
    await storage.close()
    const again = await openStorage(tmpDir)
    const log2 = await again.openLog('l', logConfig({ segmentBytes: 300 }))
    expect(log2.logStartOffset).toBe(25)
    expect(log2.deleteRecordsBefore(40).logStartOffset).toBe(40)
    expect(log2.segmentCount).toBe(1)
    expect(log2.append(makeBatch('z')).baseOffset).toBe(40)
    await again.close()
  })
})

describe('deleteRecordsBefore on a full disk', () => {
  test('frees whole segments before writing the new start, so it works on a full disk; what cannot be freed is a DiskFullError', async ({
    tmpDir,
  }) => {
    const storage = await openStorage(tmpDir)
    const log = await storage.openLog('l', logConfig({ segmentBytes: 300 }))
    for (let i = 0; i < 20; i++) log.append(makeBatch(`v${i}`, 2))
    const first = path.join(tmpDir, 'l', '00000000000000000000.log')
    expect(fs.existsSync(first)).toBe(true)
    // A disk that is full until the first segment is gone: writing the log-start-offset file fails while it exists.
    const realWrite = fs.writeFileSync
    const full = (): void => {
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
    }
    const spy = vi.spyOn(fs, 'writeFileSync').mockImplementation(((...args: Parameters<typeof realWrite>) => {
      if (fs.existsSync(first)) full()
      return realWrite(...args)
    }) as typeof realWrite)
    try {
      // Before, the start's file was written first: a raw ENOSPC, nothing freed, producing stuck until more space.
      const result = log.deleteRecordsBefore(25)
      expect(result.logStartOffset).toBe(25)
      expect(result.deletedSegments).toBeGreaterThan(0)
      expect(decodeAll(log.read(25, 100).records, 25)[0]!.offset).toBe(25)
      // Nothing left to free below 27 (inside the active segment's range or its predecessor): typed and retriable.
      spy.mockImplementation(full as never)
      let err: unknown = null
      try {
        log.deleteRecordsBefore(39)
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(DiskFullError)
      expect(err).toMatchObject({ retriable: true })
      expect(log.logStartOffset).toBeGreaterThanOrEqual(25)
      expect(log.logStartOffset).toBeLessThanOrEqual(39)
      expect(decodeAll(log.read(log.logStartOffset, 100).records, log.logStartOffset)[0]!.offset).toBe(
        log.logStartOffset,
      )
    } finally {
      spy.mockRestore()
    }
    await storage.close()
    const again = await openStorage(tmpDir)
    const log2 = await again.openLog('l', logConfig({ segmentBytes: 300 }))
    expect(log2.logStartOffset).toBeGreaterThanOrEqual(25)
    expect(log2.logEndOffset).toBe(40)
    await again.close()
  })
})

describe('segmentsMax', () => {
  test('at the segment cap the active segment grows past segmentBytes instead of refusing appends; said once', async ({
    tmpDir,
  }) => {
    const logger = captureLogger()
    const storage = await openStorage(tmpDir, { logger })
    const log = await storage.openLog('l', logConfig({ segmentBytes: 300, segmentsMax: 3 }))
    // Before: once the cap was reached every append failed with a (retriable) StorageError, for good.
    for (let i = 0; i < 30; i++) expect(log.append(makeBatch(`v${i}`, 1)).baseOffset).toBe(i)
    expect(log.segmentCount).toBe(3)
    expect(readAll(log).map((r) => r.offset)).toEqual(Array.from({ length: 30 }, (_, i) => i))
    expect(logger.entries.filter((e) => /segmentsOpenMax/.test(e.message))).toHaveLength(1)
    // Retention brings the count under the cap: rolls happen again.
    log.deleteRecordsBefore(log.segmentBaseOffsets[2]!)
    expect(log.segmentCount).toBe(1)
    log.append(makeBatch('after', 1))
    for (let i = 0; i < 10; i++) log.append(makeBatch(`w${i}`, 1))
    expect(log.segmentCount).toBe(3)
    await storage.close()
  })
})

describe('opening a log on a full disk', () => {
  test('after a crash, a log whose index files cannot be rewritten (ENOSPC) opens with its records, not offline', async ({
    tmpDir,
  }) => {
    const storage = await openStorage(tmpDir)
    const log = await storage.openLog('l', logConfig({ flush: 'interval', segmentBytes: 1000 }))
    for (let i = 0; i < 30; i++) log.append(makeBatch(`v${i}`, 1))
    // a crash: the files as a killed process leaves them
    const crashed = `${tmpDir}-crashed`
    fs.cpSync(tmpDir, crashed, { recursive: true, filter: (src) => path.basename(src) !== '.lock' })
    await storage.close()
    const realOpen = fs.openSync
    const realWrite = fs.writeSync
    const indexFds = new Set<number>()
    const openSpy = vi.spyOn(fs, 'openSync').mockImplementation(((
      file: fs.PathLike,
      flags?: fs.OpenMode,
      mode?: fs.Mode,
    ) => {
      const fd = realOpen(file, flags as fs.OpenMode, mode)
      if (flags === 'w' && /\.(time)?index$/.test(String(file))) indexFds.add(fd)
      return fd
    }) as typeof fs.openSync)
    const writeSpy = vi.spyOn(fs, 'writeSync').mockImplementation(((fd: number, ...rest: unknown[]) => {
      if (indexFds.has(fd)) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
      return (realWrite as (...a: unknown[]) => number)(fd, ...rest)
    }) as typeof fs.writeSync)
    try {
      const again = await openStorage(crashed)
      // Before: "opening log l failed: ENOSPC", the partition offline and its records unreadable until space returned.
      const log2 = await again.openLog('l', logConfig({ flush: 'interval', segmentBytes: 1000 }))
      expect(indexFds.size).toBeGreaterThan(0)
      expect(readAll(log2).map((r) => r.offset)).toEqual(Array.from({ length: 30 }, (_, i) => i))
      writeSpy.mockRestore()
      openSpy.mockRestore()
      expect(log2.append(makeBatch('after', 1)).baseOffset).toBe(30)
      await again.close()
      const third = await openStorage(crashed)
      expect(readAll(await third.openLog('l', logConfig({ flush: 'interval', segmentBytes: 1000 }))).length).toBe(31)
      await third.close()
    } finally {
      writeSpy.mockRestore()
      openSpy.mockRestore()
      fs.rmSync(crashed, { recursive: true, force: true })
    }
  })
})

describe('retention', () => {
  test('time retention deletes the segments whose newest record is older than retentionMs, the active one included once all expired', async ({
    tmpDir,
  }) => {
    const storage = await openStorage(tmpDir)
    const log = await storage.openLog('l', logConfig({ segmentBytes: 300, retentionMs: 1000 }))
    for (let i = 0; i < 20; i++) log.append(makeBatch(`v${i}`, 1, 10_000 + i * 100))
    const bases = log.segmentBaseOffsets
    const records = readAll(log)
    const now = 10_000 + 1000 + 900 + 1 // records with timestamp < 10_901 are expired
    const result = log.applyRetention(now)
    const expectedStart = bases.find((base, i) => {
      const end = bases[i + 1] ?? Infinity
      const newest = Math.max(...records.filter((r) => r.offset >= base && r.offset < end).map((r) => r.timestamp))
      return i === bases.length - 1 || newest >= now - 1000
    })
    expect(result.logStartOffset).toBe(expectedStart)
    expect(log.logStartOffset).toBe(expectedStart)
    expect(result.deletedSegments).toBe(bases.indexOf(expectedStart!))
    // Once every record has expired, the active segment goes too (rolled first, as Kafka does): before, an idle
    // topic kept its last segment, expired records and all, for ever.
    const everything = log.applyRetention(1e12)
    expect(everything.logStartOffset).toBe(20)
    expect(log.logEndOffset).toBe(20)
    expect(log.segmentCount).toBe(1)
    expect(log.sizeBytes).toBe(0)
    expect(readAll(log)).toEqual([])
    expect(log.append(makeBatch('after', 1, 10_000)).baseOffset).toBe(20)
    await storage.close()
    const reopened = await openStorage(tmpDir)
    const again = await reopened.openLog('l', logConfig({ segmentBytes: 300, retentionMs: 1000 }))
    expect([again.logStartOffset, again.logEndOffset]).toEqual([20, 21])
    expect(again.applyRetention(1e12).logStartOffset).toBe(21)
    await reopened.close()
  })

  test('size retention deletes the oldest segments only while at least retentionBytes stay (as Kafka)', async ({
    tmpDir,
  }) => {
    const storage = await openStorage(tmpDir)
    const log = await storage.openLog('l', logConfig({ segmentBytes: 300 }))
    for (let i = 0; i < 20; i++) log.append(makeBatch(`v${i}`))
    const size = log.sizeBytes
    const retentionBytes = Math.floor(size / 2)
    log.reconfigure(logConfig({ segmentBytes: 300, retentionBytes }))
    const oldest = log.segmentCount
    const result = log.applyRetention(Date.now())
    expect(result.deletedBytes).toBeGreaterThan(0)
    expect(log.sizeBytes + result.deletedBytes).toBe(size)
    // At least retentionBytes are kept, and less than one more segment: the next oldest would have taken it below.
    expect(log.sizeBytes).toBeGreaterThanOrEqual(retentionBytes)
    expect(log.sizeBytes).toBeLessThan(retentionBytes + 300 + 200)
    expect(log.segmentCount).toBeLessThan(oldest)
    expect(readAll(log)[0]!.offset).toBe(log.logStartOffset)
    // A limit below one segment keeps the newest segments holding at least that much, never less.
    log.reconfigure(logConfig({ segmentBytes: 300, retentionBytes: 100 }))
    log.applyRetention(Date.now())
    expect(log.sizeBytes).toBeGreaterThanOrEqual(100)
    await storage.close()
  })
})

describe('index lookups', () => {
  test('a lookup through a wrong but well-ordered index entry rebuilds the index and still finds the batch', async ({
    tmpDir,
  }) => {
    const storage = await openStorage(tmpDir)
    const log = await storage.openLog('l', logConfig({ segmentBytes: 1 << 20, indexIntervalBytes: 64 }))
    for (let i = 0; i < 30; i++) log.append(makeBatch(`v${i}`, 2))
    const expected = log.read(40, 1 << 20).records
    await storage.close()
    const indexFile = path.join(tmpDir, 'l', '00000000000000000000.index')
    const index = fs.readFileSync(indexFile)
    for (let i = 0; i < index.length; i += 8) index.writeInt32BE(index.readInt32BE(i + 4) + 3, i + 4) // every position off by 3
    fs.writeFileSync(indexFile, index.subarray(0, index.length - 8)) // the last entry, checked at open, dropped
    const again = await openStorage(tmpDir)
    const log2 = await again.openLog('l', logConfig({ segmentBytes: 1 << 20, indexIntervalBytes: 64 }))
    expect(log2.read(40, 1 << 20).records.equals(expected)).toBe(true)
    expect(log2.offlineError).toBeNull()
    expect(readBatchHeader(log2.read(2, 10).records).baseOffset).toBe(2)
    await again.close()
  })

  test('a damaged lastOffsetDelta is reported at its own batch, not at the healthy one after it', async ({
    tmpDir,
  }) => {
    const storage = await openStorage(tmpDir)
    const log = await storage.openLog('l', logConfig({ segmentBytes: 1 << 20 }))
    for (let i = 0; i < 10; i++) log.append(makeBatch(`v${i}`, 2))
    await storage.close()
    const file = path.join(tmpDir, 'l', '00000000000000000000.log')
    const bytes = fs.readFileSync(file)
    let position = 0
    for (let i = 0; i < 4; i++) position += readBatchHeader(bytes, position).batchBytes
    bytes[position + 23]! ^= 0xff // the top byte of batch 4's lastOffsetDelta, outside nothing but its CRC
    fs.writeFileSync(file, bytes)
    const again = await openStorage(tmpDir)
    const log2 = await again.openLog('l', logConfig({ segmentBytes: 1 << 20 }))
    // Before: 'batch starts at offset 10, expected <garbage>' at the next batch's byte.
    expect(() => log2.read(0, 1 << 20)).toThrow(new RegExp(`lastOffsetDelta .* at byte ${position}\\)`))
    await again.close()
  })
})

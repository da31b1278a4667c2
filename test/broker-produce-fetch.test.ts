// The broker's data plane: offsets assigned on produce, whole batches back on fetch, acks modes, per-partition fetch
// errors, the shared fetch byte budget, long-polling, listOffsets by time, size and corruption checks.
import { describe, expect } from 'vitest'
import type { Broker, OpenStorage } from '../src/broker/broker.js'
import { CorruptRecordError, InvalidArgumentError, RecordTooLargeError } from '../src/errors.js'
import { InProcessTransport } from '../src/client/in-process-transport.js'
import type { ReplayBound } from '../src/client/replay.js'
import { Sluice } from '../src/sluice.js'
import type { PartitionLogApi } from '../src/storage/api.js'
import { POS, decodeRecords, iterateBatches } from '../src/storage/record-batch.js'
import { crc32c } from '../src/util/crc32c.js'
import { nodeDurabilityFs, type DurabilityFs } from '../src/storage/segment.js'
import { openStorage } from '../src/storage/storage.js'
import { brokerTest as test, makeBatch, testOpenStorage, type BrokerFixture } from '../src/testing/broker-fixture.js'

/** Real storage whose group-commit fdatasyncs wait at a gate while it is closed (`close()`, then `open()`), counted
 *  in `syncs`. */
function fsyncGate(): { openStorage: OpenStorage; close(): void; open(): void; readonly syncs: number } {
  let gate: Promise<void> = Promise.resolve()
  let release = (): void => undefined
  let syncs = 0
  const durabilityFs: DurabilityFs = {
    fdatasync: async (fd) => {
      syncs++
      await gate
      await nodeDurabilityFs.fdatasync(fd)
    },
    fdatasyncSync: (fd) => nodeDurabilityFs.fdatasyncSync(fd),
  }
  return {
    openStorage: (dir, options) => openStorage(dir, { ...options, durabilityFs }),
    close: () => {
      gate = new Promise<void>((resolve) => (release = resolve))
    },
    open: () => release(),
    get syncs() {
      return syncs
    },
  }
}

/** A broker over fsyncGate() storage with topics 't' (flush sync) and 'os' (flush os), one partition each. */
async function gatedBroker(fx: BrokerFixture): Promise<{ broker: Broker; gate: ReturnType<typeof fsyncGate> }> {
  const gate = fsyncGate()
  const broker = await fx.open({}, { openStorage: gate.openStorage })
  await broker.createTopic({ name: 't', partitions: 1, config: { flush: 'sync' } })
  await broker.createTopic({ name: 'os', partitions: 1, config: { flush: 'os' } })
  return { broker, gate }
}

/** Wraps the real storage so each waitDurable call is recorded and held until `release()`. */
async function gatedStorage(): Promise<{ openStorage: OpenStorage; waits: number[]; release: () => void }> {
  const inner = await testOpenStorage()
  const waits: number[] = []
  let release!: () => void
  const gate = new Promise<void>((resolve) => (release = resolve))
  const openStorage: OpenStorage = async (dataDir, options) => {
    const storage = await inner(dataDir, options)
    const openLog = storage.openLog.bind(storage)
    storage.openLog = async (name, config) => {
      const log = await openLog(name, config)
      return new Proxy(log, {
        get(target, key) {
          if (key === 'waitDurable')
            return async (offset: number) => {
              waits.push(offset)
              await gate
              await target.waitDurable(offset)
            }
          const value: unknown = Reflect.get(target, key, target)
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
        },
      }) as PartitionLogApi
    }
    return storage
  }
  return { openStorage, waits, release }
}

function values(records: Buffer, fromOffset = 0): Array<[number, string]> {
  const out: Array<[number, string]> = []
  for (const { position, header } of iterateBatches(records)) {
    for (const r of decodeRecords(records, position, fromOffset, header)) out.push([r.offset, r.value!.toString()])
  }
  return out
}

describe('broker produce and fetch', () => {
  test('produce assigns consecutive offsets and fetch returns the records at them', async ({ fx }) => {
    const broker = await fx.open()
    await broker.createTopic({ name: 't', partitions: 1 })
    const a = await broker.produce({ topic: 't', partition: 0, acks: 'all', batch: makeBatch(3, 'a') })
    const b = await broker.produce({ topic: 't', partition: 0, acks: 'all', batch: makeBatch(2, 'b') })
    expect([a.baseOffset, b.baseOffset]).toEqual([0, 3])
    expect(a.duplicate || b.duplicate).toBe(false)
    expect(a.logAppendTime).toBe(-1)
    const res = await broker.fetch({
      partitions: [{ topic: 't', partition: 0, offset: 0 }],
      maxBytes: 1 << 20,
      maxWaitMs: 0,
    })
    const p = res.partitions[0]!
    expect(p.error).toBeNull()
    expect([p.logStartOffset, p.logEndOffset]).toEqual([0, 5])
    expect(values(p.records)).toEqual([
      [0, 'a-0'],
      [1, 'a-1'],
      [2, 'a-2'],
      [3, 'b-0'],
      [4, 'b-1'],
    ])
    // From the middle of a batch: the whole batch comes back; the client skips below the offset.
    const mid = await broker.fetch({
      partitions: [{ topic: 't', partition: 0, offset: 4 }],
      maxBytes: 1 << 20,
      maxWaitMs: 0,
    })
    expect(values(mid.partitions[0]!.records, 4)).toEqual([[4, 'b-1']])
  })

  test("acks 0, 1 and 'all' each append exactly once and answer with the base offset", async ({ fx }) => {
    const broker = await fx.open()
    await broker.createTopic({ name: 't', partitions: 1 })
    const offsets: number[] = []
    for (const acks of [0, 1, 'all'] as const) {
      offsets.push((await broker.produce({ topic: 't', partition: 0, acks, batch: makeBatch(2) })).baseOffset)
    }
    expect(offsets).toEqual([0, 2, 4])
    expect((await broker.describeTopic('t')).partitions[0]!.logEndOffset).toBe(6)
  })

  test("acks 'all' resolves only after waitDurable(lastOffset) does; acks 1 and 0 never wait for it", async ({
    fx,
  }) => {
    const gated = await gatedStorage()
    const broker = await fx.open({}, { openStorage: gated.openStorage })
    await broker.createTopic({ name: 't', partitions: 1 })
    let settled = false
    const all = broker.produce({ topic: 't', partition: 0, acks: 'all', batch: makeBatch(3) }).then((r) => {
      settled = true
      return r
    })
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(gated.waits).toEqual([2])
    expect(settled).toBe(false)
    // Written already (visible to a fetch), only the acknowledgement waits.
    expect((await broker.describeTopic('t')).partitions[0]!.logEndOffset).toBe(3)
    expect((await broker.produce({ topic: 't', partition: 0, acks: 1, batch: makeBatch(2) })).baseOffset).toBe(3)
    expect((await broker.produce({ topic: 't', partition: 0, acks: 0, batch: makeBatch(1) })).baseOffset).toBe(5)
    expect(gated.waits).toEqual([2])
    gated.release()
    expect((await all).baseOffset).toBe(0)
  })

  test('a fetch outside [logStartOffset, logEndOffset] is a per-partition OFFSET_OUT_OF_RANGE; others are served', async ({
    fx,
  }) => {
    const broker = await fx.open()
    await broker.createTopic({ name: 't', partitions: 2 })
    await broker.produce({ topic: 't', partition: 0, acks: 1, batch: makeBatch(2) })
    await broker.produce({ topic: 't', partition: 1, acks: 1, batch: makeBatch(2) })
    const res = await broker.fetch({
      partitions: [
        { topic: 't', partition: 0, offset: 3 },
        { topic: 't', partition: 1, offset: 0 },
        { topic: 't', partition: 0, offset: -1 },
        { topic: 'missing', partition: 0, offset: 0 },
        { topic: 't', partition: 9, offset: 0 },
        { topic: 't', partition: 0, offset: 2 },
      ],
      maxBytes: 1 << 20,
      maxWaitMs: 5_000,
    })
    const codes = res.partitions.map((p) => p.error?.code ?? null)
    expect(codes).toEqual([
      'OFFSET_OUT_OF_RANGE',
      null,
      'OFFSET_OUT_OF_RANGE',
      'UNKNOWN_TOPIC',
      'UNKNOWN_PARTITION',
      null,
    ])
    expect(res.partitions[0]!.logEndOffset).toBe(2)
    expect(values(res.partitions[1]!.records)).toHaveLength(2)
    expect(res.partitions[5]!.records.length).toBe(0)
  })

  test('maxBytes is shared across partitions but the first batch always comes back whole', async ({ fx }) => {
    const broker = await fx.open()
    await broker.createTopic({ name: 't', partitions: 2 })
    const batch = makeBatch(50)
    const size = batch.length
    await broker.produce({ topic: 't', partition: 0, acks: 1, batch })
    await broker.produce({ topic: 't', partition: 0, acks: 1, batch: makeBatch(50) })
    await broker.produce({ topic: 't', partition: 1, acks: 1, batch: makeBatch(50) })
    const tiny = await broker.fetch({
      partitions: [
        { topic: 't', partition: 0, offset: 0 },
        { topic: 't', partition: 1, offset: 0 },
      ],
      maxBytes: 10,
      maxWaitMs: 0,
    })
    expect(tiny.partitions[0]!.records.length).toBe(size)
    expect(tiny.partitions[1]!.records.length).toBe(0)
    const roomy = await broker.fetch({
      partitions: [
        { topic: 't', partition: 0, offset: 0 },
        { topic: 't', partition: 1, offset: 0 },
      ],
      maxBytes: 3 * size,
      maxWaitMs: 0,
    })
    expect(roomy.partitions.map((p) => values(p.records).length)).toEqual([100, 50])
  })

  test('only the first batch may overshoot the budget: later partitions read at most the budget left', async ({
    fx,
  }) => {
    const broker = await fx.open()
    await broker.createTopic({ name: 't', partitions: 6 })
    const size = makeBatch(2000).length
    for (let p = 0; p < 6; p++) await broker.produce({ topic: 't', partition: p, acks: 1, batch: makeBatch(2000) })
    let allocated = 0
    const allocate = (bytes: number): Buffer => {
      allocated += bytes
      return Buffer.allocUnsafe(bytes)
    }
    const partitions = Array.from({ length: 6 }, (_, partition) => ({ topic: 't', partition, offset: 0 }))
    // Budget: a third of a batch. Partition 0 overshoots by its first batch (read after the budget's worth showed it
    // does not fit); the other five have no budget left and read nothing.
    const third = await broker.fetch({ partitions, maxBytes: Math.floor(size / 3), maxWaitMs: 0 }, allocate)
    expect(third.partitions.map((p) => p.records.length)).toEqual([size, 0, 0, 0, 0, 0])
    expect(allocated).toBeLessThanOrEqual(size + Math.floor(size / 3))
    // Budget: two and a half batches: two partitions whole; each later one reads at most the half batch left (and
    // finds no whole batch in it), not its whole batch.
    allocated = 0
    const roomy = await broker.fetch({ partitions, maxBytes: Math.floor(2.5 * size), maxWaitMs: 0 }, allocate)
    expect(roomy.partitions.map((p) => p.records.length)).toEqual([size, size, 0, 0, 0, 0])
    expect(allocated).toBeLessThanOrEqual(2 * size + 4 * Math.ceil(size / 2))
    for (const p of roomy.partitions.slice(0, 2)) expect(values(p.records)).toHaveLength(2000)
  })

  test('a long-poll at the log end is woken by an append and returns the new records', async ({ fx }) => {
    const broker = await fx.open()
    await broker.createTopic({ name: 't', partitions: 2 })
    const pending = broker.fetch({
      partitions: [
        { topic: 't', partition: 0, offset: 0 },
        { topic: 't', partition: 1, offset: 0 },
      ],
      maxBytes: 1 << 20,
      maxWaitMs: 20_000,
    })
    await new Promise((resolve) => setTimeout(resolve, 20))
    await broker.produce({ topic: 't', partition: 1, acks: 1, batch: makeBatch(2, 'late') })
    const res = await pending
    expect(values(res.partitions[1]!.records)).toEqual([
      [0, 'late-0'],
      [1, 'late-1'],
    ])
    expect(res.partitions[0]!.records.length).toBe(0)
  })

  test("visibility 'durable' fetches only fsynced records, reports that end, and a long-poll wakes at the fsync", async ({
    fx,
  }) => {
    const { broker, gate } = await gatedBroker(fx)
    const { close, open } = gate
    const fetch = (topic: string, offset: number, visibility: 'written' | 'durable', maxWaitMs = 0) =>
      broker.fetch({ partitions: [{ topic, partition: 0, offset }], maxBytes: 1 << 20, maxWaitMs, visibility })
    close()
    await broker.produce({ topic: 't', partition: 0, acks: 1, batch: makeBatch(3, 'a') })
    expect(values((await fetch('t', 0, 'written')).partitions[0]!.records)).toHaveLength(3)
    const early = (await fetch('t', 0, 'durable')).partitions[0]!
    expect([early.records.length, early.logEndOffset, early.error]).toEqual([0, 0, null])
    // An offset written but not durable is not out of range: it is simply not visible yet.
    expect((await fetch('t', 2, 'durable')).partitions[0]!.error).toBeNull()
    const parked = fetch('t', 0, 'durable', 10_000)
    await new Promise((resolve) => setTimeout(resolve, 30))
    await broker.produce({ topic: 't', partition: 0, acks: 1, batch: makeBatch(1, 'b') }) // not visible either
    open() // the fsync the first durable fetch asked for completes
    const woken = (await parked).partitions[0]!
    expect(values(woken.records)[0]).toEqual([0, 'a-0'])
    expect(woken.logEndOffset).toBeGreaterThanOrEqual(3)
    expect(values(woken.records)).toHaveLength(woken.logEndOffset) // nothing past the durable end
    // On a flush 'os' topic nothing asks for an fsync but the durable reader itself.
    await broker.produce({ topic: 'os', partition: 0, acks: 1, batch: makeBatch(2, 'o') })
    const os = (await fetch('os', 0, 'durable', 10_000)).partitions[0]!
    expect(values(os.records)).toEqual([
      [0, 'o-0'],
      [1, 'o-1'],
    ])
    expect(os.logEndOffset).toBe(2)
  })

  test("listOffsets and replay() with visibility 'durable' stop at the durable end, after the fsync of what is written", async ({
    fx,
  }) => {
    const { broker, gate } = await gatedBroker(fx)
    const { close, open } = gate
    const base = Date.now() - 60_000
    await broker.produce({ topic: 't', partition: 0, acks: 'all', batch: makeBatch(2, 'a', { timestamp: base }) })
    close()
    await broker.produce({ topic: 't', partition: 0, acks: 1, batch: makeBatch(3, 'b', { timestamp: base + 1000 }) })
    const list = (timestamp: number, visibility: 'written' | 'durable') =>
      broker.listOffsets({ topic: 't', timestamp, visibility }).then((r) => r.offsets[0]!.offset)
    expect(await list(-1, 'written')).toBe(5)
    expect(await list(base + 1000, 'written')).toBe(2)
    expect(await list(-2, 'durable')).toBe(0)
    const sl = new Sluice(new InProcessTransport(broker, false))
    const read = async (visibility: 'written' | 'durable', to: ReplayBound = 'latest'): Promise<string[]> => {
      const out: string[] = []
      for await (const m of sl.replay({ topic: 't', to, visibility, valueCodec: 'string' })) out.push(m.value as string)
      return out
    }
    expect(await read('written')).toEqual(['a-0', 'a-1', 'b-0', 'b-1', 'b-2'])
    // Durable lookups wait for the fsync of the three written records; until it completes they answer nothing.
    let answered = false
    const latest = list(-1, 'durable').then((o) => ((answered = true), o))
    let readDone = false
    const durableRead = read('durable', 4).then((values) => ((readDone = true), values))
    try {
      await new Promise((resolve) => setTimeout(resolve, 50))
      expect([answered, readDone]).toEqual([false, false])
    } finally {
      open() // also when the check fails: the broker cannot close while an fsync hangs at the gate
    }
    expect(await latest).toBe(5)
    expect(await durableRead).toEqual(['a-0', 'a-1', 'b-0', 'b-1'])
    expect(await list(base + 5000, 'durable')).toBe(5)
    // On a flush 'os' topic nothing fsyncs but the durable lookup's own request.
    await broker.produce({ topic: 'os', partition: 0, acks: 1, batch: makeBatch(2, 'o') })
    const before = gate.syncs
    const osOffsets = await broker.listOffsets({ topic: 'os', timestamp: -1, visibility: 'durable' })
    expect(osOffsets.offsets[0]!.offset).toBe(2)
    expect(gate.syncs).toBeGreaterThan(before)
    await expect(broker.listOffsets({ topic: 't', timestamp: -1, visibility: 'fsynced' as 'durable' })).rejects.toThrow(
      /listOffsets visibility must be 'written' or 'durable', got fsynced/,
    )
    expect(() => sl.replay({ topic: 't', visibility: 'later' as 'durable' })).toThrow(InvalidArgumentError)
  })

  test('a long-poll with no append ends after its wait with empty records and no error', async ({ fx }) => {
    const broker = await fx.open()
    await broker.createTopic({ name: 't', partitions: 1 })
    const res = await broker.fetch({
      partitions: [{ topic: 't', partition: 0, offset: 0 }],
      maxBytes: 1024,
      maxWaitMs: 30,
    })
    expect(res.partitions[0]!.records.length).toBe(0)
    expect(res.partitions[0]!.error).toBeNull()
    expect(res.partitions[0]!.logEndOffset).toBe(0)
  })

  test('listOffsets answers earliest, latest and the first offset at or after a timestamp', async ({ fx }) => {
    const broker = await fx.open()
    await broker.createTopic({ name: 't', partitions: 2 })
    const base = Date.now() - 60_000
    await broker.produce({ topic: 't', partition: 0, acks: 1, batch: makeBatch(2, 'x', { timestamp: base }) })
    await broker.produce({ topic: 't', partition: 0, acks: 1, batch: makeBatch(3, 'y', { timestamp: base + 1000 }) })
    await broker.produce({ topic: 't', partition: 0, acks: 1, batch: makeBatch(1, 'z', { timestamp: base + 2000 }) })
    const at = async (timestamp: number): Promise<number[]> =>
      (await broker.listOffsets({ topic: 't', timestamp })).offsets.map((o) => o.offset)
    expect(await at(-2)).toEqual([0, 0])
    expect(await at(-1)).toEqual([6, 0])
    expect(await at(base)).toEqual([0, 0])
    expect(await at(base + 500)).toEqual([2, 0])
    expect(await at(base + 2000)).toEqual([5, 0])
    expect(await at(base + 5000)).toEqual([6, 0])
    const one = await broker.listOffsets({ topic: 't', partitions: [0], timestamp: base + 1000 })
    expect(one.offsets).toEqual([{ partition: 0, offset: 2 }])
  })

  test('a batch above recordBytesMax is refused naming both sizes, and nothing is appended', async ({ fx }) => {
    const broker = await fx.open({ recordBytesMax: 1024 })
    await broker.createTopic({ name: 't', partitions: 1 })
    const big = makeBatch(200)
    const err = await broker.produce({ topic: 't', partition: 0, acks: 1, batch: big }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RecordTooLargeError)
    expect((err as Error).message).toContain(String(big.length))
    expect((err as Error).message).toContain('1024')
    expect((await broker.describeTopic('t')).partitions[0]!.logEndOffset).toBe(0)
  })

  test('a corrupt batch (bad CRC, truncated, trailing bytes) is refused and nothing is appended', async ({ fx }) => {
    const broker = await fx.open()
    await broker.createTopic({ name: 't', partitions: 1 })
    const flipped = makeBatch(3)
    flipped[flipped.length - 2]! ^= 0xff
    const truncated = makeBatch(3).subarray(0, 70)
    const trailing = Buffer.concat([makeBatch(1), Buffer.alloc(5)])
    // A batch flagged gzip whose records are not compressed: its CRC and header are right, but no reader could read it.
    const fakeGzip = Buffer.from(makeBatch(3))
    fakeGzip.writeInt16BE(fakeGzip.readInt16BE(POS.attributes) | 1, POS.attributes)
    fakeGzip.writeUInt32BE(crc32c(fakeGzip, POS.attributes), POS.crc)
    for (const batch of [flipped, truncated, trailing, Buffer.alloc(10), fakeGzip]) {
      await expect(broker.produce({ topic: 't', partition: 0, acks: 'all', batch })).rejects.toThrow(CorruptRecordError)
    }
    expect((await broker.describeTopic('t')).partitions[0]!.logEndOffset).toBe(0)
    expect((await broker.produce({ topic: 't', partition: 0, acks: 'all', batch: makeBatch(1) })).baseOffset).toBe(0)
  })
})

// Broker lifecycle: close is idempotent, wakes parked long-polls and turns every later call into ClosedError; the
// retention timer trims old segments by itself; group calls are wired to the coordinator (or say they are not).
import { describe, expect, vi } from 'vitest'
import type { OpenStorage } from '../src/broker/broker.js'
import { ClosedError, InternalError, PartitionOfflineError, StorageError } from '../src/errors.js'
import { brokerTest as test, makeBatch, testOpenStorage } from '../src/testing/broker-fixture.js'

describe('broker lifecycle', () => {
  test('every call after close is ClosedError and close can be called again', async ({ fx }) => {
    const broker = await fx.open()
    await broker.createTopic({ name: 't', partitions: 1 })
    await broker.close()
    expect(broker.closed).toBe(true)
    await broker.close()
    const calls: Array<() => Promise<unknown>> = [
      () => broker.info(),
      () => broker.createTopic({ name: 'u', partitions: 1 }),
      () => broker.deleteTopic('t'),
      () => broker.listTopics(),
      () => broker.describeTopic('t'),
      () => broker.produce({ topic: 't', partition: 0, acks: 1, batch: makeBatch(1) }),
      () => broker.fetch({ partitions: [{ topic: 't', partition: 0, offset: 0 }], maxBytes: 1024, maxWaitMs: 0 }),
      () => broker.listOffsets({ topic: 't', timestamp: -1 }),
      () => broker.initProducer(),
      () => broker.listGroups(),
      () => broker.describeGroup('g'),
      () => broker.fetchOffsets({ groupId: 'g' }),
    ]
    for (const call of calls) await expect(call()).rejects.toThrow(ClosedError)
  })

  test('close wakes a parked long-poll, which answers with no records', async ({ fx }) => {
    const broker = await fx.open()
    await broker.createTopic({ name: 't', partitions: 1 })
    const pending = broker.fetch({
      partitions: [{ topic: 't', partition: 0, offset: 0 }],
      maxBytes: 1024,
      maxWaitMs: 30_000,
    })
    await broker.close()
    // Without the wake the fetch would sit out its 30 s wait; 10 s is only a liveness bound, not a speed check.
    const stuck = new Promise<'stuck'>((resolve) => setTimeout(() => resolve('stuck'), 10_000).unref())
    const res = await Promise.race([pending, stuck])
    expect(res).not.toBe('stuck')
    expect(res !== 'stuck' && res.partitions[0]!.records.length).toBe(0)
  })

  test('info names the node and the api versions', async ({ fx }) => {
    const broker = await fx.open({ nodeId: 'node-7' })
    const info = await broker.info()
    expect(info.nodeId).toBe('node-7')
    expect(info.apiVersions.produce).toBe(0)
  })

  test('the retention timer deletes segments older than retentionMs without being called', async ({ fx }) => {
    const broker = await fx.open({ retentionCheckIntervalMs: 10 })
    await broker.createTopic({ name: 't', partitions: 1, config: { segmentBytes: 1024, retentionMs: 60_000 } })
    const old = Date.now() - 3_600_000
    for (let i = 0; i < 4; i++) {
      await broker.produce({ topic: 't', partition: 0, acks: 1, batch: makeBatch(60, `old${i}`, { timestamp: old }) })
    }
    await broker.produce({ topic: 't', partition: 0, acks: 1, batch: makeBatch(60, 'new') })
    const before = (await broker.describeTopic('t')).partitions[0]!
    expect(before.segmentCount).toBeGreaterThan(1)
    await vi.waitFor(
      async () => {
        const p = (await broker.describeTopic('t')).partitions[0]!
        expect(p.logStartOffset).toBe(240)
      },
      { timeout: 10_000, interval: 20 },
    )
    const res = await broker.fetch({
      partitions: [{ topic: 't', partition: 0, offset: 0 }],
      maxBytes: 1 << 20,
      maxWaitMs: 0,
    })
    expect(res.partitions[0]!.error?.code).toBe('OFFSET_OUT_OF_RANGE')
  })

  test('a fenced fetch without a wired group coordinator is an InternalError naming it', async ({ fx }) => {
    const broker = await fx.open({}, { openGroupCoordinator: null })
    await broker.createTopic({ name: 't', partitions: 1 })
    const fenced = broker.fetch({
      partitions: [{ topic: 't', partition: 0, offset: 0 }],
      maxBytes: 1024,
      maxWaitMs: 0,
      fence: { groupId: 'g', memberId: 'm', memberEpoch: 1 },
    })
    await expect(fenced).rejects.toThrow(InternalError)
  })
})

describe('broker long-poll and topic deletion', () => {
  test('a long-poll parked on a topic that is deleted answers at once with UNKNOWN_TOPIC', async ({ fx }) => {
    const broker = await fx.open()
    await broker.createTopic({ name: 'doomed', partitions: 1 })
    const pending = broker.fetch({
      partitions: [{ topic: 'doomed', partition: 0, offset: 0 }],
      maxBytes: 1024,
      maxWaitMs: 30_000,
    })
    await broker.deleteTopic('doomed')
    const res = await pending
    expect(res.partitions[0]!.error?.code).toBe('UNKNOWN_TOPIC')
  })
})

describe('broker open out of descriptors', () => {
  test('an EMFILE while opening the data dir is a StorageError saying to raise the descriptor limit', async ({
    fx,
  }) => {
    const openStorage: OpenStorage = () =>
      Promise.reject(Object.assign(new Error("EMFILE: too many open files, scandir 'x'"), { code: 'EMFILE' }))
    // Before: the raw Node error, with nothing about what to do.
    const err = await fx.open({}, { openStorage }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(StorageError)
    expect((err as Error).message).toMatch(/ran out of file descriptors \(EMFILE.*raise the limit \(ulimit -n/)
  })
})

describe('broker offline partitions', () => {
  test('a partition that cannot open is offline: produce and listOffsets throw, fetch answers PARTITION_OFFLINE', async ({
    fx,
  }) => {
    const first = await fx.open()
    await first.createTopic({ name: 't', partitions: 2 })
    await first.close()
    const inner = await testOpenStorage()
    const openStorage: OpenStorage = async (dataDir, options) => {
      const storage = await inner(dataDir, options)
      const openLog = storage.openLog.bind(storage)
      storage.openLog = (name, config) =>
        name === 'topics/t/1' ? Promise.reject(new Error('segment unreadable')) : openLog(name, config)
      return storage
    }
    const broker = await fx.open({}, { openStorage })
    const described = await broker.describeTopic('t')
    expect(described.partitions.map((p) => p.offline === null)).toEqual([true, false])
    expect(described.partitions[1]!.offline).toMatch(/segment unreadable/)
    await expect(broker.produce({ topic: 't', partition: 1, acks: 1, batch: makeBatch(1) })).rejects.toThrow(
      PartitionOfflineError,
    )
    await expect(broker.listOffsets({ topic: 't', partitions: [1], timestamp: -1 })).rejects.toThrow(
      PartitionOfflineError,
    )
    await broker.produce({ topic: 't', partition: 0, acks: 1, batch: makeBatch(1) })
    const res = await broker.fetch({
      partitions: [
        { topic: 't', partition: 0, offset: 0 },
        { topic: 't', partition: 1, offset: 0 },
      ],
      maxBytes: 1 << 20,
      maxWaitMs: 0,
    })
    expect(res.partitions.map((p) => p.error?.code ?? null)).toEqual([null, 'PARTITION_OFFLINE'])
    expect(broker.runRetention().deletedSegments).toBe(0)
  })
})

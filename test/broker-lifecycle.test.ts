// Broker lifecycle: close is idempotent, wakes parked long-polls and turns every later call into ClosedError; the
// retention timer trims old segments by itself; group calls are wired to the coordinator (or say they are not).
import { describe, expect, vi } from 'vitest'
import { ClosedError, InternalError } from '../src/errors.js'
import { brokerTest as test, makeBatch } from '../src/testing/broker-fixture.js'

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
    const res = await pending
    expect(res.partitions[0]!.records.length).toBe(0)
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

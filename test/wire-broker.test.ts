// Every api key round-trips against the real Broker over TCP: topics, produce/fetch of real record batches (bytes
// intact, offsets assigned), list offsets, producer ids with an idempotent retry, the group heartbeat/commit/fetch/
// describe/reset/delete cycle, and typed errors from the broker arriving as the same classes.
import { afterEach, describe, expect, test } from 'vitest'
import { openBroker, type Broker } from '../src/broker/broker.js'
import { connectTcpTransport, type TcpTransport } from '../src/client/tcp-transport.js'
import { TopicExistsError, UnknownGroupError, UnknownTopicError } from '../src/errors.js'
import { decodeRecords, encodeRecordBatch, iterateBatches } from '../src/storage/record-batch.js'
import { startServer, type SluiceServer } from '../src/server/server.js'
import { makeTempDir, removeDir } from './wire-helpers.js'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const silent = { info() {}, warn() {}, error() {} }

async function setup(): Promise<{ broker: Broker; server: SluiceServer; t: TcpTransport }> {
  const dataDir = await makeTempDir()
  cleanups.push(() => removeDir(dataDir))
  const broker = await openBroker({ dataDir }, { logger: silent })
  cleanups.push(() => broker.close())
  const server = await startServer(broker, { host: '127.0.0.1', port: 0 })
  cleanups.push(() => server.close())
  const t = await connectTcpTransport({ brokers: [`127.0.0.1:${server.port}`] })
  cleanups.push(() => t.close())
  return { broker, server, t }
}

function decodeAll(records: Buffer, fromOffset = 0) {
  const out: Array<{ offset: number; key: string | null; value: string | null }> = []
  for (const loc of iterateBatches(records)) {
    for (const r of decodeRecords(records, loc.position, fromOffset)) {
      out.push({ offset: r.offset, key: r.key?.toString() ?? null, value: r.value?.toString() ?? null })
    }
  }
  return out
}

describe('wire against the real broker', () => {
  test('topic admin: create, list, describe, duplicate refused, delete, unknown refused', async () => {
    const { t } = await setup()
    const created = await t.createTopic({ name: 'orders', partitions: 3, config: { flush: 'os' } })
    expect(created.name).toBe('orders')
    expect(created.partitions).toHaveLength(3)
    expect(created.config.flush).toBe('os')
    expect(await t.listTopics()).toEqual(['orders'])
    expect(await t.listTopics(true)).toContain('__consumer_offsets')
    expect((await t.describeTopic('orders')).partitions.map((p) => p.logEndOffset)).toEqual([0, 0, 0])
    await expect(t.createTopic({ name: 'orders', partitions: 1 })).rejects.toBeInstanceOf(TopicExistsError)
    await t.deleteTopic('orders')
    expect(await t.listTopics()).toEqual([])
    await expect(t.describeTopic('orders')).rejects.toBeInstanceOf(UnknownTopicError)
    const info = await t.info()
    expect(typeof info.nodeId).toBe('string')
  })

  test('produce then fetch: batches cross as bytes, offsets are assigned, list offsets by time finds them', async () => {
    const { t } = await setup()
    await t.createTopic({ name: 'events', partitions: 2 })
    const t0 = Date.now()
    const first = encodeRecordBatch(
      Array.from({ length: 10 }, (_, i) => ({
        key: Buffer.from(`k${i}`),
        value: Buffer.from(`v${i}`),
        timestamp: t0 + i,
      })),
    )
    const second = encodeRecordBatch([{ key: null, value: Buffer.alloc(100_000, 1), timestamp: t0 + 100 }])
    const a = await t.produce({ topic: 'events', partition: 1, acks: 'all', batch: first })
    const b = await t.produce({ topic: 'events', partition: 1, acks: 1, batch: second })
    expect([a.baseOffset, b.baseOffset]).toEqual([0, 10])
    const fetched = await t.fetch({
      partitions: [{ topic: 'events', partition: 1, offset: 3 }],
      maxBytes: 1 << 20,
      maxWaitMs: 0,
    })
    const p = fetched.partitions[0]!
    expect(p.error).toBeNull()
    expect(p.logEndOffset).toBe(11)
    const records = decodeAll(p.records, 3)
    expect(records.slice(0, 7).map((r) => r.value)).toEqual(['v3', 'v4', 'v5', 'v6', 'v7', 'v8', 'v9'])
    expect(records.at(-1)?.offset).toBe(10)
    expect(records.at(-1)?.value?.length).toBe(100_000)
    const byTime = await t.listOffsets({ topic: 'events', partitions: [1], timestamp: t0 + 5 })
    expect(byTime.offsets).toEqual([{ partition: 1, offset: 5 }])
    const ends = await t.listOffsets({ topic: 'events', timestamp: -1 })
    expect(ends.offsets.sort((x, y) => x.partition - y.partition)).toEqual([
      { partition: 0, offset: 0 },
      { partition: 1, offset: 11 },
    ])
  })

  test('an idempotent batch sent twice is appended once; the retry reports the original offset', async () => {
    const { t } = await setup()
    await t.createTopic({ name: 'idem', partitions: 1 })
    const { producerId, producerEpoch } = await t.initProducer()
    const batch = () =>
      encodeRecordBatch([{ key: null, value: Buffer.from('once'), timestamp: Date.now() }], {
        producerId,
        producerEpoch,
        baseSequence: 0,
      })
    const first = await t.produce({ topic: 'idem', partition: 0, acks: 'all', batch: batch() })
    const retry = await t.produce({ topic: 'idem', partition: 0, acks: 'all', batch: batch() })
    expect(retry.baseOffset).toBe(first.baseOffset)
    expect(retry.duplicate).toBe(true)
    expect((await t.describeTopic('idem')).partitions[0]?.logEndOffset).toBe(1)
  })

  test('group cycle over the wire: join, commit, fetch offsets, describe, leave, reset, delete', async () => {
    const { t } = await setup()
    await t.createTopic({ name: 'jobs', partitions: 2 })
    for (let partition = 0; partition < 2; partition++) {
      const batch = encodeRecordBatch(
        Array.from({ length: 5 }, (_, i) => ({ key: null, value: Buffer.from(`${i}`), timestamp: Date.now() })),
      )
      await t.produce({ topic: 'jobs', partition, acks: 'all', batch })
    }
    const base = {
      groupId: 'billing',
      groupInstanceId: null,
      subscribedTopicRegex: null,
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 60_000,
      lastPollMsAgo: 0,
    }
    let hb = await t.groupHeartbeat({
      ...base,
      memberId: '',
      memberEpoch: 0,
      subscribedTopics: ['jobs'],
      assignor: null,
      ownedPartitions: [],
    })
    expect(hb.memberId).not.toBe('')
    for (let i = 0; i < 5 && (hb.assignment === null || hb.assignment.length === 0); i++) {
      hb = await t.groupHeartbeat({
        ...base,
        memberId: hb.memberId,
        memberEpoch: hb.memberEpoch,
        subscribedTopics: null,
        assignor: null,
        ownedPartitions: [],
      })
    }
    expect(hb.assignment?.flatMap((a) => a.partitions).sort()).toEqual([0, 1])
    const owned = hb.assignment ?? []
    await t.groupHeartbeat({
      ...base,
      memberId: hb.memberId,
      memberEpoch: hb.memberEpoch,
      subscribedTopics: null,
      assignor: null,
      ownedPartitions: owned,
    })
    await t.commitOffsets({
      groupId: 'billing',
      memberId: hb.memberId,
      memberEpoch: hb.memberEpoch,
      offsets: [
        { topic: 'jobs', partition: 0, offset: 4, metadata: 'm' },
        { topic: 'jobs', partition: 1, offset: 2 },
      ],
    })
    const committed = await t.fetchOffsets({ groupId: 'billing' })
    expect(committed.map((c) => [c.partition, c.offset]).sort()).toEqual([
      [0, 4],
      [1, 2],
    ])
    expect((await t.listGroups()).map((g) => g.groupId)).toEqual(['billing'])
    const described = await t.describeGroup('billing')
    expect(described.members).toHaveLength(1)
    expect(described.offsets.find((o) => o.partition === 1)?.lag).toBe(3)
    await t.groupHeartbeat({
      ...base,
      memberId: hb.memberId,
      memberEpoch: -1,
      subscribedTopics: null,
      assignor: null,
      ownedPartitions: [],
    })
    const plan = await t.resetOffsets({ groupId: 'billing', topic: 'jobs', to: 'earliest', dryRun: false })
    expect(plan.plan.map((p) => [p.partition, p.from, p.to]).sort()).toEqual([
      [0, 4, 0],
      [1, 2, 0],
    ])
    expect((await t.fetchOffsets({ groupId: 'billing' })).map((c) => c.offset)).toEqual([0, 0])
    await t.deleteGroup('billing')
    await expect(t.describeGroup('billing')).rejects.toBeInstanceOf(UnknownGroupError)
  })
})

// Broker topic administration: create/list/describe/delete, partition-count and config validation, persistence of
// the registry across a reopen, internal topics, and auto-creation on produce.
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect } from 'vitest'
import { LIMITS } from '../src/config/limits.js'
import {
  InvalidArgumentError,
  InvalidConfigError,
  TopicExistsError,
  UnknownPartitionError,
  UnknownTopicError,
} from '../src/errors.js'
import { brokerTest as test, makeBatch } from '../src/testing/broker-fixture.js'
import { topicFileExists } from '../src/topics/topic-registry.js'

describe('broker topics', () => {
  test('a created topic is listed and described with every partition empty and its config', async ({ fx }) => {
    const broker = await fx.open()
    const created = await broker.createTopic({ name: 'orders', partitions: 3, config: { retentionMs: 60_000 } })
    expect(created.name).toBe('orders')
    expect(created.internal).toBe(false)
    expect(created.config.retentionMs).toBe(60_000)
    expect(created.config.flush).toBe('sync')
    expect(created.partitions.map((p) => [p.partition, p.logStartOffset, p.logEndOffset, p.offline])).toEqual([
      [0, 0, 0, null],
      [1, 0, 0, null],
      [2, 0, 0, null],
    ])
    expect(await broker.listTopics()).toEqual(['orders'])
    expect(await broker.describeTopic('orders')).toEqual(created)
  })

  test('internal __consumer_offsets exists from the first open, hidden unless asked, and not user-creatable', async ({
    fx,
  }) => {
    const broker = await fx.open()
    expect(await broker.listTopics()).toEqual([])
    expect(await broker.listTopics(true)).toEqual(['__consumer_offsets'])
    const offsets = await broker.describeTopic('__consumer_offsets')
    expect(offsets.internal).toBe(true)
    expect(offsets.partitions).toHaveLength(1)
    expect(offsets.config.flush).toBe('sync')
    await expect(broker.createTopic({ name: '__mine', partitions: 1 })).rejects.toThrow(/reserved for internal topics/)
    await expect(broker.deleteTopic('__consumer_offsets')).rejects.toThrow(InvalidArgumentError)
    await expect(
      broker.produce({ topic: '__consumer_offsets', partition: 0, acks: 1, batch: makeBatch(1) }),
    ).rejects.toThrow(/internal/)
  })

  test('partition counts outside [1, partitionsMax] and bad names are refused', async ({ fx }) => {
    const broker = await fx.open()
    for (const partitions of [0, -1, 1.5, LIMITS.partitionsMax + 1, Number.NaN]) {
      await expect(broker.createTopic({ name: 't', partitions }), String(partitions)).rejects.toThrow(
        InvalidArgumentError,
      )
    }
    await expect(broker.createTopic({ name: 'a/b', partitions: 1 })).rejects.toThrow(/illegal character/)
    await expect(broker.createTopic({ name: '..', partitions: 1 })).rejects.toThrow(InvalidArgumentError)
    expect(await broker.listTopics(true)).toEqual(['__consumer_offsets'])
  })

  test('a bad topic config is refused listing every problem, and creates nothing', async ({ fx }) => {
    const broker = await fx.open()
    const err = await broker
      .createTopic({ name: 't', partitions: 1, config: { retentionMs: -7, segmentBytes: 3, flush: 'nope' as 'os' } })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InvalidConfigError)
    expect((err as InvalidConfigError).problems).toHaveLength(3)
    expect(await broker.listTopics()).toEqual([])
    expect(await topicFileExists(fx.dataDir, 't')).toBe(false)
  })

  test('creating an existing topic is TopicExistsError, also when two creates race', async ({ fx }) => {
    const broker = await fx.open()
    const results = await Promise.allSettled([
      broker.createTopic({ name: 'race', partitions: 2 }),
      broker.createTopic({ name: 'race', partitions: 2 }),
    ])
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
    const rejected = results.find((r) => r.status === 'rejected')
    expect((rejected as PromiseRejectedResult).reason).toBeInstanceOf(TopicExistsError)
  })

  test('topics, partition counts, overrides and data survive a close and reopen; topic.json is on disk', async ({
    fx,
  }) => {
    const first = await fx.open()
    await first.createTopic({ name: 'kept', partitions: 2, config: { retentionBytes: 1_000_000, flush: 'os' } })
    await first.produce({ topic: 'kept', partition: 1, acks: 'all', batch: makeBatch(4) })
    await first.close()
    const file = JSON.parse(await readFile(path.join(fx.dataDir, 'topics', 'kept', 'topic.json'), 'utf8')) as {
      partitions: number
    }
    expect(file.partitions).toBe(2)
    const second = await fx.open()
    expect(await second.listTopics()).toEqual(['kept'])
    const described = await second.describeTopic('kept')
    expect(described.config).toMatchObject({ retentionBytes: 1_000_000, flush: 'os' })
    expect(described.partitions.map((p) => p.logEndOffset)).toEqual([0, 4])
  })

  test('deleting a topic removes its logs; it is gone after reopen and a new one of that name starts empty', async ({
    fx,
  }) => {
    const broker = await fx.open()
    await broker.createTopic({ name: 'gone', partitions: 2 })
    await broker.produce({ topic: 'gone', partition: 0, acks: 'all', batch: makeBatch(3) })
    await broker.deleteTopic('gone')
    await expect(broker.describeTopic('gone')).rejects.toThrow(UnknownTopicError)
    await expect(broker.deleteTopic('gone')).rejects.toThrow(UnknownTopicError)
    expect(await topicFileExists(fx.dataDir, 'gone')).toBe(false)
    await broker.close()
    const reopened = await fx.open()
    expect(await reopened.listTopics()).toEqual([])
    await reopened.createTopic({ name: 'gone', partitions: 1 })
    expect((await reopened.describeTopic('gone')).partitions[0]!.logEndOffset).toBe(0)
  })

  test('unknown topics and partitions are typed errors on produce, describe and listOffsets', async ({ fx }) => {
    const broker = await fx.open()
    await broker.createTopic({ name: 'known', partitions: 2 })
    await expect(broker.produce({ topic: 'nope', partition: 0, acks: 1, batch: makeBatch(1) })).rejects.toThrow(
      UnknownTopicError,
    )
    await expect(broker.produce({ topic: 'known', partition: 2, acks: 1, batch: makeBatch(1) })).rejects.toThrow(
      UnknownPartitionError,
    )
    await expect(broker.describeTopic('nope')).rejects.toThrow(UnknownTopicError)
    await expect(broker.listOffsets({ topic: 'nope', timestamp: -1 })).rejects.toThrow(UnknownTopicError)
    await expect(broker.listOffsets({ topic: 'known', partitions: [5], timestamp: -1 })).rejects.toThrow(
      UnknownPartitionError,
    )
  })

  test('autoCreateTopics creates a missing topic on produce with the configured partition count', async ({ fx }) => {
    const broker = await fx.open({ autoCreateTopics: true, partitions: 3 })
    const results = await Promise.all([
      broker.produce({ topic: 'auto', partition: 2, acks: 'all', batch: makeBatch(2) }),
      broker.produce({ topic: 'auto', partition: 0, acks: 'all', batch: makeBatch(1) }),
    ])
    expect(results.map((r) => r.baseOffset)).toEqual([0, 0])
    const described = await broker.describeTopic('auto')
    expect(described.partitions.map((p) => p.logEndOffset)).toEqual([1, 0, 2])
    await expect(broker.produce({ topic: '__auto', partition: 0, acks: 1, batch: makeBatch(1) })).rejects.toThrow(
      InvalidArgumentError,
    )
  })
})

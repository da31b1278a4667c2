// Admin operations through the SDK, once per transport: topic create/describe/list/delete with config, altering a
// live topic's config, growing its partitions (a group and producers follow), deleting records below an offset, offsets
// for times, and group listing, description, offset reset (dry run and executed) and
// deletion.
import { expect, test } from 'vitest'
import { describeEachTransport, until } from '../../src/testing/sdk-harness.js'
import {
  InvalidArgumentError,
  InvalidConfigError,
  OffsetOutOfRangeError,
  UnknownPartitionError,
  UnknownTopicError,
} from '../../src/errors.js'
import type { Message } from '../../src/client/consumer.js'
import { partitionForKey } from '../../src/util/murmur2.js'

const BASE = 1_700_000_000_000

describeEachTransport('admin', (getSluice, env) => {
  test('createTopic applies its config; describe, list and delete see it', async () => {
    const admin = getSluice().admin()
    const created = await admin.createTopic('cfg', {
      partitions: 3,
      retentionMs: 60_000,
      segmentBytes: 1 << 20,
      flush: 'os',
    })
    expect(created.partitions).toHaveLength(3)
    const described = await admin.describeTopic('cfg')
    expect(described.config).toMatchObject({ retentionMs: 60_000, segmentBytes: 1 << 20, flush: 'os' })
    expect(described.partitions.map((p) => [p.partition, p.logStartOffset, p.logEndOffset])).toEqual([
      [0, 0, 0],
      [1, 0, 0],
      [2, 0, 0],
    ])
    expect(await admin.listTopics()).toEqual(['cfg'])
    expect(await admin.listTopics({ includeInternal: true })).toContain('__consumer_offsets')
    await admin.deleteTopic('cfg')
    expect(await admin.listTopics()).toEqual([])
    await expect(admin.describeTopic('cfg')).rejects.toThrow(UnknownTopicError)
    await expect(admin.createTopic('cfg2', { partitions: 1, colour: 'red' } as never)).rejects.toThrow(/colour/)
  })

  test('bad topic options are one InvalidConfigError listing every problem, embedded and over TCP alike', async () => {
    const admin = getSluice().admin()
    const bad = { partitions: 0, retentionMs: 'x', flush: 'never', segmentBytes: 5 } as never
    const created = await admin.createTopic('bad', bad).catch((e: unknown) => e)
    expect(created).toBeInstanceOf(InvalidConfigError)
    expect((created as InvalidConfigError).problems.map((p) => p.split(' ')[0])).toEqual([
      'partitions',
      'retentionMs',
      'segmentBytes',
      'flush',
    ])
    await admin.createTopic('ok', { partitions: 1 })
    const altered = await admin
      .alterTopicConfig('ok', { flush: 'always', retentionMs: 'x', segmentMs: null } as never)
      .catch((e: unknown) => e)
    expect(altered).toBeInstanceOf(InvalidConfigError)
    expect((altered as InvalidConfigError).problems.map((p) => p.split(' ')[0])).toEqual(['retentionMs', 'flush'])
    expect(await admin.listTopics()).toEqual(['ok'])
  })

  test('alterTopicConfig changes a live topic: the open logs roll at the new size, reopen keeps it, null resets', async () => {
    let sl = getSluice()
    await sl.admin().createTopic('alt', { partitions: 1, retentionMs: 60_000 })
    const altered = await sl.admin().alterTopicConfig('alt', { segmentBytes: 4096, flush: 'os', retentionMs: null })
    expect(altered.config).toMatchObject({ segmentBytes: 4096, flush: 'os', retentionMs: 7 * 24 * 3600 * 1000 })
    const value = Buffer.alloc(3000, 1)
    for (let i = 0; i < 3; i++) await sl.producer({ lingerMs: 0 }).send('alt', { value })
    expect((await sl.admin().describeTopic('alt')).partitions[0]!.segmentCount).toBe(3)
    sl = await env().reopen()
    expect((await sl.admin().describeTopic('alt')).config).toEqual(altered.config)
    const back = await sl.admin().alterTopicConfig('alt', { segmentBytes: null, flush: null })
    expect(back.config).toMatchObject({ segmentBytes: 128 * 1024 * 1024, flush: 'sync' })
    // Refused whole, with every problem named, before anything changes.
    await expect(sl.admin().alterTopicConfig('alt', { segmentBytes: 5, flushIntervalMs: 0 })).rejects.toThrow(
      InvalidConfigError,
    )
    expect((await sl.admin().describeTopic('alt')).config).toEqual(back.config)
    await expect(sl.admin().alterTopicConfig('alt', { colour: 'red' } as never)).rejects.toThrow(
      /unknown topic option "colour"/,
    )
    // An unknown key is one problem among the others, in the same InvalidConfigError.
    for (const call of [
      () => sl.admin().alterTopicConfig('alt', { colour: 'red', segmentBytes: 5 } as never),
      () => sl.admin().createTopic('alt2', { partitions: -1, segmentBytes: 5, colour: 'red' } as never),
    ]) {
      const err = (await call().catch((e: unknown) => e)) as InvalidConfigError
      expect(err).toBeInstanceOf(InvalidConfigError)
      expect(err.message).toMatch(/unknown topic option "colour"/)
      expect(err.message).toMatch(/segmentBytes/)
    }
    expect(await sl.admin().listTopics()).not.toContain('alt2')
    await expect(sl.admin().alterTopicConfig('alt', {})).rejects.toThrow(/at least one change/)
    await expect(sl.admin().alterTopicConfig('nope', { flush: 'os' })).rejects.toThrow(UnknownTopicError)
  })

  test('createPartitions grows a live topic: a group is given the new partitions, producers hash over the new count', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('grow', { partitions: 2 })
    const consumer = sl.consumer({
      groupId: 'grower',
      autoOffsetReset: 'earliest',
      heartbeatIntervalMs: 50,
      valueCodec: 'string',
      maxWaitMs: 50,
    })
    const got: Message[] = []
    await consumer.subscribe(['grow'])
    await consumer.run({ eachMessage: ({ message }) => void got.push(message) })
    await until(() => consumer.assignment().length === 2, 'the first two partitions')
    const producer = sl.producer({ lingerMs: 0, metadataMaxAgeMs: 50 })
    // A key that hashes to partition 0 or 1 over two partitions but to 2 or 3 over four.
    const key = Array.from({ length: 100 }, (_, i) => `k${i}`).find(
      (k) => partitionForKey(Buffer.from(k), 4) >= 2 && partitionForKey(Buffer.from(k), 2) < 2,
    )!
    expect((await producer.send('grow', { key, value: 'before' })).partition).toBe(partitionForKey(Buffer.from(key), 2))
    const grown = await sl.admin().createPartitions('grow', 4)
    expect(grown.partitions).toHaveLength(4)
    await until(() => consumer.assignment().length === 4, 'all four partitions')
    // The producer's count is stale for at most metadataMaxAgeMs, then refreshed in the background by a send.
    let landed = -1
    for (let i = 0; i < 200 && landed !== partitionForKey(Buffer.from(key), 4); i++) {
      landed = (await producer.send('grow', { key, value: `after-${i}` })).partition
      await new Promise((r) => setTimeout(r, 10))
    }
    expect(landed).toBe(partitionForKey(Buffer.from(key), 4))
    await until(() => got.some((m) => m.partition === landed), 'a record from a new partition')
    // A producer whose count is fresh by its metadataMaxAgeMs (the default, 5 minutes) sends to a partition named
    // right after the topic grew: the count is looked up again for it, as Kafka's producer does, not refused.
    const warm = sl.producer({ lingerMs: 0 })
    await warm.send('grow', { value: 'warm-up', partition: 3 })
    await sl.admin().createPartitions('grow', 6)
    expect((await warm.send('grow', { value: 'to a new partition', partition: 5 })).partition).toBe(5)
    const batch = await warm.sendBatch('grow', [
      { value: 'a', partition: 0 },
      { value: 'b', partition: 4 },
    ])
    expect([batch.partitionOf(0), batch.partitionOf(1)]).toEqual([0, 4])
    await warm.close()
    await expect(sl.admin().createPartitions('grow', 3)).rejects.toThrow(/must be larger/)
    await expect(sl.admin().createPartitions('grow', 0)).rejects.toThrow(InvalidArgumentError)
    await consumer.close()
    await producer.close()
  })

  test('deleteRecords moves log starts (checking every entry first); readers then start there', async () => {
    const sl = getSluice()
    const admin = sl.admin()
    await admin.createTopic('purge', { partitions: 2 })
    await sl.producer().sendBatch(
      'purge',
      Array.from({ length: 10 }, (_, i) => ({ partition: i % 2, value: String(i) })),
    )
    // One bad entry (past partition 1's end of 5) refuses the whole call: partition 0 keeps its records.
    await expect(
      admin.deleteRecords('purge', [
        { partition: 0, offset: 3 },
        { partition: 1, offset: 6 },
      ]),
    ).rejects.toThrow(OffsetOutOfRangeError)
    expect((await admin.describeTopic('purge')).partitions.map((p) => p.logStartOffset)).toEqual([0, 0])
    expect(
      await admin.deleteRecords('purge', [
        { partition: 0, offset: 3 },
        { partition: 1, offset: 'latest' },
      ]),
    ).toEqual([
      { partition: 0, logStartOffset: 3 },
      { partition: 1, logStartOffset: 5 },
    ])
    const left: Array<[number, number, string]> = []
    for await (const m of sl.replay({ topic: 'purge', valueCodec: 'string' }))
      left.push([m.partition, m.offset, m.value as string])
    expect(left).toEqual([
      [0, 3, '6'],
      [0, 4, '8'],
    ])
    // Below the start is a no-op; the log start never moves back.
    expect(await admin.deleteRecords('purge', [{ partition: 0, offset: 1 }])).toEqual([
      { partition: 0, logStartOffset: 3 },
    ])
    await expect(admin.deleteRecords('purge', [{ partition: 2, offset: 0 }])).rejects.toThrow(UnknownPartitionError)
    await expect(admin.deleteRecords('purge', [])).rejects.toThrow(InvalidArgumentError)
    await expect(admin.deleteRecords('purge', [{ partition: 0, offset: -3 }])).rejects.toThrow(InvalidArgumentError)
  })

  test('offsetsForTimes gives the first offset with timestamp >= T per partition, the log end when none', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('times', { partitions: 2 })
    await sl.producer().sendBatch(
      'times',
      Array.from({ length: 10 }, (_, i) => ({ partition: i % 2, value: 'v', timestamp: BASE + i * 100 })),
    )
    expect(await sl.admin().offsetsForTimes('times', BASE + 250)).toEqual([
      { partition: 0, offset: 2 }, // timestamps 0, 200, 400: offset 2 is the first >= 250
      { partition: 1, offset: 1 }, // timestamps 100, 300: offset 1
    ])
    expect(await sl.admin().offsetsForTimes('times', new Date(BASE + 10_000), [1])).toEqual([
      { partition: 1, offset: 5 },
    ])
  })

  test('resetOffsets plans without changing anything on a dry run and moves the commits when executed; a Date is a timestamp', async () => {
    const sl = getSluice()
    const admin = sl.admin()
    await admin.createTopic('rs', { partitions: 1 })
    await sl.producer().sendBatch(
      'rs',
      Array.from({ length: 10 }, () => ({ value: 'v' })),
    )
    const consumer = sl.consumer({ groupId: 'rg', autoOffsetReset: 'earliest', autoCommit: false })
    await consumer.assign([{ topic: 'rs', partition: 0, offset: 7 }])
    await consumer.commit()
    await consumer.close()
    expect((await admin.listGroups()).map((g) => g.groupId)).toContain('rg')
    const plan = await admin.resetOffsets('rg', { topic: 'rs', to: 'earliest' })
    expect(plan).toEqual([{ topic: 'rs', partition: 0, from: 7, to: 0 }])
    expect((await admin.describeGroup('rg')).offsets[0]).toMatchObject({ committedOffset: 7, logEndOffset: 10, lag: 3 })
    await admin.resetOffsets('rg', { topic: 'rs', to: { shiftBy: -2 }, dryRun: false })
    expect((await admin.describeGroup('rg')).offsets[0]).toMatchObject({ committedOffset: 5, lag: 5 })
    await expect(admin.resetOffsets('rg', { topic: 'rs', to: { later: 1 } as never })).rejects.toThrow(
      InvalidArgumentError,
    )
    // A Date is a timestamp, as in replay; a bad timestamp is named as what it is, NaN included.
    expect(await admin.resetOffsets('rg', { topic: 'rs', to: { timestamp: new Date(0) } })).toEqual([
      { topic: 'rs', partition: 0, from: 5, to: 0 },
    ])
    await expect(admin.resetOffsets('rg', { topic: 'rs', to: { timestamp: NaN } })).rejects.toThrow(
      /timestamp: epoch ms >= 0 or a Date \}.*got \{ timestamp: NaN \}/,
    )
    await admin.deleteGroup('rg')
    expect((await admin.listGroups()).map((g) => g.groupId)).not.toContain('rg')
  })
})

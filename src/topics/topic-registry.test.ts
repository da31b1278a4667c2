import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { test as base, describe, expect } from 'vitest'
import { createMemoryLogger } from '../broker/logger.js'
import {
  InvalidConfigError,
  PartitionOfflineError,
  StorageError,
  UnknownPartitionError,
  UnknownTopicError,
} from '../errors.js'
import type { LogConfig, PartitionLogApi, StorageApi } from '../storage/api.js'
import { openStorage } from '../storage/storage.js'
import { FILE_NAME as PRODUCER_IDS_FILE, ProducerIdAllocator } from '../broker/producer-ids.js'
import { makeBatch } from '../testing/broker-fixture.js'
import { DEFAULT_TOPIC_CONFIG } from './topic-config.js'
import { openTopicRegistry, type TopicChange } from './topic-registry.js'

const test = base.extend<{ dataDir: string }>({
  // eslint-disable-next-line no-empty-pattern
  dataDir: async ({}, use) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-registry-'))
    await use(dir)
    await rm(dir, { recursive: true, force: true })
  },
})

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  )
}

describe('TopicRegistry', () => {
  test('topic.json stores only the overrides, so changed broker defaults apply to the rest at reopen', async ({
    dataDir,
  }) => {
    const logger = createMemoryLogger()
    let storage = await openStorage(dataDir)
    const first = await openTopicRegistry(storage, DEFAULT_TOPIC_CONFIG, logger)
    await first.create('t', 2, { retentionMs: 1234 })
    const file = JSON.parse(await readFile(path.join(dataDir, 'topics', 't', 'topic.json'), 'utf8')) as {
      overrides: object
    }
    expect(file.overrides).toEqual({ retentionMs: 1234 })
    await storage.close()
    storage = await openStorage(dataDir)
    const second = await openTopicRegistry(storage, { ...DEFAULT_TOPIC_CONFIG, retentionBytes: 999_999 }, logger)
    expect(second.config('t')).toMatchObject({ retentionMs: 1234, retentionBytes: 999_999 })
    expect(second.partitionCount('t')).toBe(2)
    await storage.close()
  })

  test('alter changes overrides (null gives a key back to the default), persists them and reconfigures open logs', async ({
    dataDir,
  }) => {
    const logger = createMemoryLogger()
    let storage = await openStorage(dataDir)
    const registry = await openTopicRegistry(storage, DEFAULT_TOPIC_CONFIG, logger)
    await registry.create('t', 2, { retentionMs: 1234, flush: 'os' })
    const topicFile = path.join(dataDir, 'topics', 't', 'topic.json')
    const before = JSON.parse(await readFile(topicFile, 'utf8')) as { createdAtMs: number }
    const altered = await registry.alter('t', { retentionMs: null, segmentBytes: 4096, flush: 'sync' })
    expect(altered.config).toMatchObject({
      retentionMs: DEFAULT_TOPIC_CONFIG.retentionMs,
      segmentBytes: 4096,
      flush: 'sync',
    })
    const file = JSON.parse(await readFile(topicFile, 'utf8')) as { overrides: object; createdAtMs: number }
    expect(file.overrides).toEqual({ segmentBytes: 4096, flush: 'sync' })
    expect(file.createdAtMs).toBe(before.createdAtMs)
    // The open log rolls at the new segment size: three 3,000-byte appends make three segments.
    const log = registry.log('t', 0)
    for (let i = 0; i < 3; i++) log.append(makeBatch(1, 'x'.repeat(3000)))
    expect(log.segmentCount).toBe(3)
    // A bad change is refused whole: nothing changes, in memory or on disk.
    const refused = await registry.alter('t', { segmentBytes: 5, retentionMs: -7 }).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(InvalidConfigError)
    expect((refused as Error).message).toMatch(/retentionMs must be -1.*segmentBytes must be an integer in \[1024/s)
    expect(registry.config('t').segmentBytes).toBe(4096)
    expect((JSON.parse(await readFile(topicFile, 'utf8')) as { overrides: object }).overrides).toEqual(file.overrides)
    await expect(registry.alter('missing', { flush: 'os' })).rejects.toThrow(UnknownTopicError)
    await registry.create('__internal', 1, {}, { internal: true })
    await expect(registry.alter('__internal', { flush: 'os' })).rejects.toThrow(/internal topic "__internal"/)
    await storage.close()
    storage = await openStorage(dataDir)
    const reopened = await openTopicRegistry(storage, DEFAULT_TOPIC_CONFIG, logger)
    expect(reopened.config('t')).toEqual(altered.config)
    await storage.close()
  })

  test('addPartitions grows a topic (persisted before the new logs open), announces it, and never shrinks', async ({
    dataDir,
  }) => {
    const logger = createMemoryLogger()
    let storage = await openStorage(dataDir)
    const registry = await openTopicRegistry(storage, DEFAULT_TOPIC_CONFIG, logger)
    await registry.create('t', 2, { retentionMs: 1234 })
    registry.log('t', 0).append(makeBatch(2))
    const changes: TopicChange[] = []
    registry.onTopicsChanged((c) => changes.push(c))
    const grown = await registry.addPartitions('t', 5)
    expect(grown.partitions.map((p) => [p.partition, p.logEndOffset, p.offline])).toEqual([
      [0, 2, null],
      [1, 0, null],
      [2, 0, null],
      [3, 0, null],
      [4, 0, null],
    ])
    expect(changes).toEqual([{ type: 'resized', topic: 't' }])
    expect(registry.log('t', 4).append(makeBatch(1)).baseOffset).toBe(0)
    expect(registry.config('t').retentionMs).toBe(1234)
    for (const count of [5, 3]) await expect(registry.addPartitions('t', count)).rejects.toThrow(/must be larger/)
    await expect(registry.addPartitions('missing', 3)).rejects.toThrow(UnknownTopicError)
    await registry.create('__internal', 1, {}, { internal: true })
    await expect(registry.addPartitions('__internal', 2)).rejects.toThrow(/internal topic "__internal"/)
    expect(() => registry.addPartitions('t', 0)).toThrow(/partitions must be an integer/)
    await storage.close()
    storage = await openStorage(dataDir)
    const reopened = await openTopicRegistry(storage, DEFAULT_TOPIC_CONFIG, logger)
    expect(reopened.partitionCount('t')).toBe(5)
    expect(reopened.log('t', 4).logEndOffset).toBe(1)
    await storage.close()
    // A crash after topic.json took a larger count but before the new logs opened: the next open creates them.
    const topicFile = path.join(dataDir, 'topics', 't', 'topic.json')
    const file = JSON.parse(await readFile(topicFile, 'utf8')) as { partitions: number }
    await writeFile(topicFile, JSON.stringify({ ...file, partitions: 6 }))
    storage = await openStorage(dataDir)
    const recovered = await openTopicRegistry(storage, DEFAULT_TOPIC_CONFIG, logger)
    expect(recovered.describe('t').partitions.map((p) => [p.partition, p.logEndOffset, p.offline])).toEqual([
      [0, 2, null],
      [1, 0, null],
      [2, 0, null],
      [3, 0, null],
      [4, 1, null],
      [5, 0, null],
    ])
    expect(recovered.log('t', 5).append(makeBatch(1)).baseOffset).toBe(0)
    await storage.close()
  })

  test('listeners hear created and deleted; log() throws typed errors for unknown topics and partitions', async ({
    dataDir,
  }) => {
    const storage = await openStorage(dataDir)
    const registry = await openTopicRegistry(storage, DEFAULT_TOPIC_CONFIG, createMemoryLogger())
    const changes: TopicChange[] = []
    const off = registry.onTopicsChanged((c) => changes.push(c))
    await registry.create('a', 1)
    await registry.delete('a')
    off()
    await registry.create('b', 1)
    expect(changes).toEqual([
      { type: 'created', topic: 'a' },
      { type: 'deleted', topic: 'a' },
    ])
    expect(() => registry.log('a', 0)).toThrow(UnknownTopicError)
    expect(() => registry.log('b', 1)).toThrow(UnknownPartitionError)
    expect(() => registry.log('b', -1)).toThrow(UnknownPartitionError)
    expect(registry.log('b', 0).logEndOffset).toBe(0)
    await storage.close()
  })

  test('a delete interrupted by a crash (topic.json already renamed) is finished at the next open', async ({
    dataDir,
  }) => {
    let storage = await openStorage(dataDir)
    const registry = await openTopicRegistry(storage, DEFAULT_TOPIC_CONFIG, createMemoryLogger())
    await registry.create('half', 2)
    registry.log('half', 0).append(makeBatch(2))
    await storage.close()
    const dir = path.join(dataDir, 'topics', 'half')
    await rename(path.join(dir, 'topic.json'), path.join(dir, '.deleting'))
    storage = await openStorage(dataDir)
    const logger = createMemoryLogger()
    const reopened = await openTopicRegistry(storage, DEFAULT_TOPIC_CONFIG, logger)
    expect(reopened.list(true)).toEqual([])
    expect(await exists(dir)).toBe(false)
    expect(logger.entries.some((e) => e.level === 'warn' && e.msg.includes('deletion'))).toBe(true)
    await reopened.create('half', 1)
    expect(reopened.log('half', 0).logEndOffset).toBe(0)
    await storage.close()
  })

  test('temporary files of writes killed before their rename are removed at open, in the engine and topic dirs', async ({
    dataDir,
  }) => {
    let storage = await openStorage(dataDir)
    const registry = await openTopicRegistry(storage, DEFAULT_TOPIC_CONFIG, createMemoryLogger())
    await registry.create('t', 1)
    await storage.close()
    const leftovers = [
      path.join(dataDir, 'checkpoints', 'recovery-point.4242.async.tmp'),
      path.join(dataDir, 'checkpoints', 'recovery-point.tmp'),
      path.join(dataDir, 'topics', 't', '.topic.json.4242.tmp'),
      path.join(dataDir, `.${PRODUCER_IDS_FILE}.4242.tmp`),
    ]
    for (const file of leftovers) await writeFile(file, 'half-written')
    storage = await openStorage(dataDir)
    const reopened = await openTopicRegistry(storage, DEFAULT_TOPIC_CONFIG, createMemoryLogger())
    await ProducerIdAllocator.open(dataDir)
    for (const file of leftovers) expect(await exists(file), file).toBe(false)
    expect(reopened.list()).toEqual(['t'])
    expect(await exists(path.join(dataDir, 'checkpoints', 'recovery-point'))).toBe(true)
    await storage.close()
  })

  test('a damaged topic.json is rebuilt from the partition directories with a config that deletes nothing; the other topics load', async ({
    dataDir,
  }) => {
    const storage = await openStorage(dataDir)
    const registry = await openTopicRegistry(storage, DEFAULT_TOPIC_CONFIG, createMemoryLogger())
    await registry.create('bad', 3, { retentionMs: 60_000, flush: 'os' })
    await registry.create('good', 1)
    registry.log('bad', 2).append(makeBatch(1, 'kept'))
    await registry.create('gap', 2)
    const badFile = path.join(dataDir, 'topics', 'bad', 'topic.json')
    await writeFile(badFile, '') // truncated: before, no topic of the broker could be served
    await writeFile(path.join(dataDir, 'topics', 'gap', 'topic.json'), '{"version":1')
    await rm(path.join(dataDir, 'topics', 'gap', '0'), { recursive: true }) // partitions 1 only: not rebuildable
    const logger = createMemoryLogger()
    const reopened = await openTopicRegistry(storage, DEFAULT_TOPIC_CONFIG, logger)
    expect(reopened.list()).toEqual(['bad', 'good'])
    expect(reopened.config('bad')).toMatchObject({ retentionMs: -1, retentionBytes: -1, flush: 'sync' })
    expect(reopened.describe('bad').partitions).toHaveLength(3)
    expect(reopened.log('bad', 2).logEndOffset).toBe(1)
    expect(await readFile(`${badFile}.damaged`, 'utf8')).toBe('')
    expect(JSON.parse(await readFile(badFile, 'utf8'))).toMatchObject({ name: 'bad', partitions: 3 })
    const errors = logger.entries.filter((e) => e.level === 'error').map((e) => e.msg)
    expect(errors.sort()).toEqual([
      'topic directory skipped: its topic.json cannot be read and it cannot be rebuilt',
      'topic.json could not be read: rebuilt from the partition directories',
    ])
    await storage.close()
  })

  test('a topic.json that cannot be read at all (an I/O error, not damaged content) stops the open and is left as it is', async ({
    dataDir,
  }) => {
    const storage = await openStorage(dataDir)
    const registry = await openTopicRegistry(storage, DEFAULT_TOPIC_CONFIG, createMemoryLogger())
    await registry.create('unreadable', 1)
    const file = path.join(dataDir, 'topics', 'unreadable', 'topic.json')
    await rm(file)
    await mkdir(file) // reading it fails with EISDIR, as an EACCES or EIO would: the file may well be intact
    await expect(openTopicRegistry(storage, DEFAULT_TOPIC_CONFIG, createMemoryLogger())).rejects.toThrow(StorageError)
    expect((await stat(file)).isDirectory()).toBe(true)
    expect(await exists(`${file}.damaged`)).toBe(false)
    await storage.close()
  })

  test('a partition whose log fails to open is reported offline while the others serve', async ({ dataDir }) => {
    const real = await openStorage(dataDir)
    const failing: StorageApi = {
      dataDir: real.dataDir,
      wasCleanShutdown: true,
      openLog: (name: string, config: LogConfig): Promise<PartitionLogApi> =>
        name.endsWith('/1') ? Promise.reject(new Error('disk on fire')) : real.openLog(name, config),
      deleteLog: (name) => real.deleteLog(name),
      checkpoint: () => real.checkpoint(),
      close: () => real.close(),
    }
    const registry = await openTopicRegistry(failing, DEFAULT_TOPIC_CONFIG, createMemoryLogger())
    const described = await registry.create('t', 2)
    expect(described.partitions[0]!.offline).toBeNull()
    expect(described.partitions[1]!.offline).toMatch(/disk on fire/)
    // What an offline partition holds is unknown (-1), not 0.
    const p1 = described.partitions[1]!
    expect([p1.logStartOffset, p1.logEndOffset, p1.sizeBytes, p1.segmentCount]).toEqual([-1, -1, -1, -1])
    expect(() => registry.log('t', 1).read(0, 100)).toThrow(PartitionOfflineError)
    expect(registry.log('t', 0).append(makeBatch(1)).baseOffset).toBe(0)
    await real.close()
  })
})

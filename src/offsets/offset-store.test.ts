// Offset store on the real storage engine: latest commit wins, tombstones, reopen, snapshot compaction keeps the
// replay at open short, and a model check against a plain map under random commits/deletes/reopens.
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { DEFAULTS } from '../config/limits.js'
import { InvalidArgumentError } from '../errors.js'
import type { LogConfig } from '../storage/api.js'
import { openStorage, type Storage } from '../storage/storage.js'
import { openOffsetStore, type OffsetStore, type OffsetStoreOptions } from './offset-store.js'
import { Random } from '../testing/random.js'

const LOG_NAME = '__consumer_offsets/0'

function logConfig(over: Partial<LogConfig> = {}): LogConfig {
  return {
    segmentBytes: 64 * 1024,
    segmentMs: DEFAULTS.segmentMs,
    indexIntervalBytes: DEFAULTS.indexIntervalBytes,
    indexBytesMax: DEFAULTS.indexBytesMax,
    retentionMs: -1,
    retentionBytes: -1,
    flush: 'os',
    flushIntervalMs: DEFAULTS.flushIntervalMs,
    ...over,
  }
}

let dir: string
let storage: Storage | null = null

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-offsets-'))
})

afterEach(async () => {
  await storage?.close()
  storage = null
  await fs.rm(dir, { recursive: true, force: true })
})

async function open(options: OffsetStoreOptions = {}, config: Partial<LogConfig> = {}): Promise<OffsetStore> {
  await storage?.close()
  storage = await openStorage(dir)
  const log = await storage.openLog(LOG_NAME, logConfig(config))
  return openOffsetStore(log, options)
}

/** Seeded so a failing run can be replayed. */
function rng(seed: number): () => number {
  const random = new Random(seed)
  return () => random.next()
}

describe('OffsetStore', () => {
  test('the latest commit of a key wins, in memory and after reopen', async () => {
    let store = await open()
    await store.commit('g', [{ topic: 't', partition: 0, offset: 5 }])
    await store.commit('g', [
      { topic: 't', partition: 0, offset: 9, metadata: 'm' },
      { topic: 't', partition: 1, offset: 3 },
    ])
    await store.commit('h', [{ topic: 't', partition: 0, offset: 1 }])
    expect(store.get('g', 't', 0)).toMatchObject({ offset: 9, metadata: 'm' })
    store = await open()
    expect(store.list('g')).toEqual([
      { topic: 't', partition: 0, offset: 9, metadata: 'm' },
      { topic: 't', partition: 1, offset: 3, metadata: '' },
    ])
    expect(store.get('h', 't', 0)?.offset).toBe(1)
    expect(store.groupIds()).toEqual(['g', 'h'])
  })

  test('tombstones of a group and of a topic survive reopen; other keys stay', async () => {
    let store = await open()
    await store.commit('g', [
      { topic: 'a', partition: 0, offset: 1 },
      { topic: 'b', partition: 0, offset: 2 },
    ])
    await store.commit('h', [
      { topic: 'a', partition: 0, offset: 3 },
      { topic: 'b', partition: 0, offset: 4 },
    ])
    await store.deleteGroup('g')
    await store.deleteTopic('b')
    store = await open()
    expect(store.groupIds()).toEqual(['h'])
    expect(store.list('h')).toEqual([{ topic: 'a', partition: 0, offset: 3, metadata: '' }])
    expect(store.hasGroup('g')).toBe(false)
  })

  test('refuses a negative offset and oversized metadata, writing nothing', async () => {
    const store = await open()
    await expect(store.commit('g', [{ topic: 't', partition: 0, offset: -1 }])).rejects.toThrow(InvalidArgumentError)
    await expect(
      store.commit('g', [{ topic: 't', partition: 0, offset: 1, metadata: 'x'.repeat(5000) }]),
    ).rejects.toThrow(/commitMetadataBytesMax/)
    expect(store.groupIds()).toEqual([])
  })

  test('snapshot compaction keeps the records replayed at open near the live key count', async () => {
    const options = { snapshotRecordsMin: 200, snapshotRatio: 4 }
    let store = await open(options)
    const commits = 5_000
    for (let i = 0; i < commits; i++) await store.commit('g', [{ topic: 't', partition: i % 10, offset: i }]) // 10 live keys, 5000 records
    expect(store.stats.snapshots).toBeGreaterThan(0)
    store = await open(options)
    expect(store.stats.replayedRecords).toBeLessThan(250)
    for (let p = 0; p < 10; p++) expect(store.get('g', 't', p)?.offset).toBe(commits - 10 + p)
    const log = await storage!.openLog(LOG_NAME, logConfig())
    expect(log.logStartOffset).toBeGreaterThan(0)
  })

  test('matches a plain map under random commits, deletes, snapshots and reopens', async () => {
    for (const seed of [1, 2]) {
      await storage?.close()
      storage = null
      await fs.rm(dir, { recursive: true, force: true })
      await fs.mkdir(dir)
      const rand = rng(seed)
      const options = { snapshotRecordsMin: 30, snapshotRatio: 2 }
      let store = await open(options, { segmentBytes: 2048 })
      const model = new Map<string, number>()
      for (let step = 0; step < 300; step++) {
        const g = `g${Math.floor(rand() * 3)}`
        const t = `t${Math.floor(rand() * 3)}`
        const op = rand()
        if (op < 0.8) {
          const partition = Math.floor(rand() * 4)
          const offset = Math.floor(rand() * 1000)
          await store.commit(g, [{ topic: t, partition, offset }])
          model.set(`${g}/${t}/${partition}`, offset)
        } else if (op < 0.88) {
          await store.deleteGroup(g)
          for (const k of [...model.keys()]) if (k.startsWith(`${g}/`)) model.delete(k)
        } else if (op < 0.94) {
          await store.deleteTopic(t)
          for (const k of [...model.keys()]) if (k.split('/')[1] === t) model.delete(k)
        } else {
          store = await open(options, { segmentBytes: 2048 })
        }
        const actual = new Map<string, number>()
        for (const gid of store.groupIds())
          for (const c of store.list(gid)) actual.set(`${gid}/${c.topic}/${c.partition}`, c.offset)
        expect(actual, `seed ${seed} step ${step}`).toEqual(model)
      }
    }
  })
})

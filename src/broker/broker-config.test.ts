import path from 'node:path'
import { describe, expect, test } from 'vitest'
import { DEFAULTS, LIMITS } from '../config/limits.js'
import { InvalidConfigError } from '../errors.js'
import { resolveBrokerConfig, type BrokerConfigInput } from './broker-config.js'

describe('resolveBrokerConfig', () => {
  test('fills every default, resolves dataDir and freezes the result', () => {
    const config = resolveBrokerConfig({ dataDir: 'some/dir' })
    expect(config.dataDir).toBe(path.resolve('some/dir'))
    expect(config.autoCreateTopics).toBe(false)
    expect(config.partitions).toBe(DEFAULTS.partitions)
    expect(config.recordBytesMax).toBe(LIMITS.recordBytesMax)
    expect(config.retentionCheckIntervalMs).toBe(DEFAULTS.retentionCheckIntervalMs)
    expect(config.topicDefaults.flush).toBe('sync')
    expect(config.topicDefaults.segmentBytes).toBe(DEFAULTS.segmentBytes)
    expect(Object.isFrozen(config) && Object.isFrozen(config.topicDefaults)).toBe(true)
  })

  test('flat topic fields become the topic defaults and the input is not mutated', () => {
    const input: BrokerConfigInput = {
      dataDir: '/x',
      retentionMs: 5000,
      flush: 'interval',
      flushIntervalMs: 20,
      autoCreateTopics: true,
      partitions: 3,
    }
    const copy = { ...input }
    const config = resolveBrokerConfig(input)
    expect(config.topicDefaults).toMatchObject({ retentionMs: 5000, flush: 'interval', flushIntervalMs: 20 })
    expect(config.autoCreateTopics).toBe(true)
    expect(config.partitions).toBe(3)
    expect(input).toEqual(copy)
  })

  test('lists every problem of a bad config in one InvalidConfigError', () => {
    const bad = {
      dataDir: '',
      autoCreateTopics: 'yes',
      partitions: 0,
      retentionCheckIntervalMs: -1,
      recordBytesMax: LIMITS.recordBytesMax + 1,
      nodeId: '',
      segmentBytes: 1,
      flush: 'always',
      colour: 'blue',
    } as unknown as BrokerConfigInput
    let caught: unknown
    try {
      resolveBrokerConfig(bad)
    } catch (err) {
      caught = err
    }
    expect(caught).toBeInstanceOf(InvalidConfigError)
    const problems = (caught as InvalidConfigError).problems
    for (const key of [
      'dataDir',
      'autoCreateTopics',
      'partitions',
      'retentionCheckIntervalMs',
      'recordBytesMax',
      'nodeId',
      'segmentBytes',
      'flush',
      'unknown key colour',
    ]) {
      expect(
        problems.some((p) => p.startsWith(key)),
        key,
      ).toBe(true)
    }
    expect(problems).toHaveLength(9)
  })
})

import { describe, expect, test } from 'vitest'
import type { TopicConfig } from '../broker/api.js'
import { DEFAULTS } from '../config/limits.js'
import { InvalidConfigError } from '../errors.js'
import { DEFAULT_TOPIC_CONFIG, resolveTopicConfig, toLogConfig } from './topic-config.js'

describe('resolveTopicConfig', () => {
  test('merges overrides over the defaults, ignores undefined fields and freezes the result', () => {
    const partial = { retentionMs: 1000, flush: 'os' as const, segmentBytes: undefined }
    const config = resolveTopicConfig(partial as unknown as Partial<TopicConfig>, DEFAULT_TOPIC_CONFIG)
    expect(config.retentionMs).toBe(1000)
    expect(config.flush).toBe('os')
    expect(config.segmentBytes).toBe(DEFAULTS.segmentBytes)
    expect(Object.isFrozen(config)).toBe(true)
    expect(partial).toEqual({ retentionMs: 1000, flush: 'os', segmentBytes: undefined })
  })

  test('lists every problem of a bad config in one InvalidConfigError', () => {
    const bad = {
      retentionMs: -5,
      retentionBytes: 1.5,
      segmentBytes: 10,
      segmentMs: 0,
      flush: 'never',
      flushIntervalMs: 'x',
      cleanupPolicy: 'compact',
      retentionHours: 3,
    } as unknown as Partial<TopicConfig>
    let caught: unknown
    try {
      resolveTopicConfig(bad, DEFAULT_TOPIC_CONFIG)
    } catch (err) {
      caught = err
    }
    expect(caught).toBeInstanceOf(InvalidConfigError)
    const problems = (caught as InvalidConfigError).problems
    for (const key of [
      'retentionMs',
      'retentionBytes',
      'segmentBytes',
      'segmentMs',
      'flush',
      'flushIntervalMs',
      "'compact'",
      'unknown key retentionHours',
    ]) {
      expect(
        problems.some((p) => p.includes(key)),
        key,
      ).toBe(true)
    }
    expect(problems).toHaveLength(8)
  })

  test('a non-object config is refused', () => {
    expect(() => resolveTopicConfig('fast' as unknown as Partial<TopicConfig>, DEFAULT_TOPIC_CONFIG)).toThrow(
      InvalidConfigError,
    )
  })

  test('toLogConfig carries every topic setting plus the index defaults', () => {
    const config = resolveTopicConfig(
      { retentionBytes: 4096, segmentMs: 60_000, flushIntervalMs: 50 },
      DEFAULT_TOPIC_CONFIG,
    )
    expect(toLogConfig(config)).toEqual({
      segmentBytes: config.segmentBytes,
      segmentMs: 60_000,
      indexIntervalBytes: DEFAULTS.indexIntervalBytes,
      indexBytesMax: DEFAULTS.indexBytesMax,
      retentionMs: config.retentionMs,
      retentionBytes: 4096,
      flush: 'sync',
      flushIntervalMs: 50,
    })
  })
})

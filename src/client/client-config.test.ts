// Producer/consumer config resolution: complete frozen defaults, caller's object untouched, every problem listed.
import { describe, expect, test } from 'vitest'
import { InvalidConfigError } from '../errors.js'
import { LIMITS } from '../config/limits.js'
import { resolveConsumerConfig, resolveProducerConfig, type ProducerOptions } from './client-config.js'
import { bufferCodec, jsonCodec } from './codecs.js'

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn()
  } catch (err) {
    if (err instanceof InvalidConfigError) return err.problems
    throw err
  }
  throw new Error('expected an InvalidConfigError')
}

describe('resolveProducerConfig', () => {
  test('defaults are complete and frozen: acks all, linger 5, 1 MiB batches, idempotent with 5 in flight', () => {
    const c = resolveProducerConfig()
    expect(c).toMatchObject({ acks: 'all', lingerMs: 0, batchBytes: 1024 * 1024, idempotent: true, maxInFlight: 16 })
    expect(c.compression).toBe('none')
    expect(c.valueCodec).toBe(bufferCodec)
    expect(c.bufferBytesMax).toBe(LIMITS.producerBufferBytesMax)
    expect(c.metadataMaxAgeMs).toBe(300_000)
    expect(Object.isFrozen(c)).toBe(true)
  })

  test('acks 0 turns idempotence off by default; without idempotence one batch per partition is in flight', () => {
    expect(resolveProducerConfig({ acks: 0 })).toMatchObject({ idempotent: false, maxInFlight: 1 })
    expect(resolveProducerConfig({ idempotent: false })).toMatchObject({ idempotent: false, maxInFlight: 1 })
  })

  test('the caller object is never mutated and codecs resolve by name', () => {
    const input: ProducerOptions = Object.freeze({ lingerMs: 0, valueCodec: 'json' })
    const c = resolveProducerConfig(input)
    expect(c.valueCodec).toBe(jsonCodec)
    expect(input).toEqual({ lingerMs: 0, valueCodec: 'json' })
  })

  test('every problem is listed at once, each naming its option', () => {
    const problems = problemsOf(() =>
      resolveProducerConfig({
        acks: 'some',
        batchBytes: LIMITS.recordBytesMax + 1,
        retries: -1,
        maxInFlight: 17,
        keyCodec: { encode: 1 },
        metadataMaxAgeMs: 0,
        extra: true,
      } as unknown as ProducerOptions),
    )
    expect(problems).toHaveLength(7)
    for (const name of ['acks', 'batchBytes', 'retries', 'maxInFlight', 'keyCodec', 'metadataMaxAgeMs', 'extra'])
      expect(problems.join('\n')).toContain(name)
  })

  test('options that are not an object are refused', () => {
    expect(() => resolveProducerConfig(42 as unknown as ProducerOptions)).toThrow(InvalidConfigError)
  })
})

describe('resolveConsumerConfig', () => {
  test('defaults: no group, latest, auto commit every 5 s, 1 MiB fetches waiting 500 ms, written records', () => {
    const c = resolveConsumerConfig({})
    expect(c).toMatchObject({
      groupId: null,
      autoOffsetReset: 'latest',
      autoCommit: true,
      autoCommitIntervalMs: 5000,
      maxBytes: 1024 * 1024,
      maxWaitMs: 500,
      maxBatchMessages: 8192,
      assignor: 'uniform',
      visibility: 'written',
      onAssign: null,
    })
    expect(resolveConsumerConfig({ visibility: 'durable' }).visibility).toBe('durable')
    expect(Object.isFrozen(c)).toBe(true)
  })

  test('heartbeat must be faster than the session; static membership needs a group; all problems listed', () => {
    const problems = problemsOf(() =>
      resolveConsumerConfig({
        sessionTimeoutMs: 1000,
        heartbeatIntervalMs: 1000,
        groupInstanceId: 'a',
        onRevoke: 3,
        visibility: 'committed',
        maxBatchMessages: 0,
      } as never),
    )
    expect(problems.join('\n')).toMatch(/heartbeatIntervalMs/)
    expect(problems.join('\n')).toMatch(/groupInstanceId needs a groupId/)
    expect(problems.join('\n')).toMatch(/onRevoke/)
    expect(problems.join('\n')).toMatch(/visibility/)
    expect(problems.join('\n')).toMatch(/maxBatchMessages/)
    expect(problems).toHaveLength(5)
  })
})

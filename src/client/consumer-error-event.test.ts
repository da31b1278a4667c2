// A consumer's 'error' event for an error of no one partition (here an automatic commit the broker refuses) comes with
// a context object whose topic and partition are null, so the README's `(err, { topic, partition }) => …` listener
// works; a listener that throws is reported as a warning instead of escaping from the commit timer.
import { afterEach, expect, vi } from 'vitest'
import { InvalidArgumentError } from '../errors.js'
import { brokerTest } from '../testing/broker-fixture.js'
import { Sluice } from '../sluice.js'
import type { ErrorContext } from './consumer-types.js'
import { InProcessTransport } from './in-process-transport.js'
import type { Transport } from './transport.js'

afterEach(() => vi.restoreAllMocks())

/** The broker's transport, with every offset commit refused (not retriable). */
function refusingCommits(transport: Transport): Transport {
  return new Proxy(transport, {
    get(target, key) {
      if (key === 'commitOffsets') return () => Promise.reject(new InvalidArgumentError('commit refused for the test'))
      const value = Reflect.get(target, key) as unknown
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
    },
  })
}

brokerTest('an automatic commit that fails is an error event with a null topic and partition', async ({ fx }) => {
  const broker = await fx.open()
  const sl = new Sluice(refusingCommits(new InProcessTransport(broker, false)))
  await sl.admin().createTopic('t', { partitions: 1 })
  await sl.producer({ lingerMs: 0 }).send('t', { value: 'a' })
  const warnings: string[] = []
  vi.spyOn(process, 'emitWarning').mockImplementation((w: string | Error) => void warnings.push(String(w)))
  const consumer = sl.consumer({ groupId: 'g', autoOffsetReset: 'earliest', autoCommitIntervalMs: 10 })
  const seen: Array<{ err: Error; topic: string | null; partition: number | null }> = []
  consumer.on('error', (err: Error, { topic, partition }: ErrorContext) => seen.push({ err, topic, partition }))
  consumer.on('error', () => {
    throw new Error('a listener that throws')
  })
  let consumed = 0
  await consumer.subscribe(['t'])
  await consumer.run({ eachMessage: () => void consumed++ })
  for (let i = 0; i < 500 && seen.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  expect(consumed).toBe(1)
  expect(seen[0]).toMatchObject({ topic: null, partition: null })
  expect(seen[0]!.err).toBeInstanceOf(InvalidArgumentError)
  expect(warnings.some((w) => w.includes("an 'error' listener threw: a listener that throws"))).toBe(true)
  vi.restoreAllMocks()
  await consumer.close().catch(() => undefined) // its final commit is refused too
  await sl.close()
  await broker.close()
})

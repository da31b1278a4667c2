// The async iterator throws the errors its consumer reports as soon as they happen, also while it waits for data: a
// record its codec cannot decode (the first record it reads, or one later), and a fetch that fails for good. Before,
// an iterator whose partition stopped at a bad record waited for data that partition would never fetch, for ever.
import { expect, test } from 'vitest'
import type { FetchRequest, FetchResponse } from '../../src/broker/api.js'
import type { Codec } from '../../src/client/codecs.js'
import type { Transport } from '../../src/client/transport.js'
import { InvalidArgumentError, RecordDecodeError } from '../../src/errors.js'
import { Sluice } from '../../src/sluice.js'
import { describeEachTransport, transportWith } from '../../src/testing/sdk-harness.js'

/** A JSON codec that throws on anything that is not JSON (as JSON.parse does). */
const jsonObjects: Codec<{ n: number }> = {
  encode: (v) => Buffer.from(JSON.stringify(v)),
  decode: (b) => JSON.parse(b.toString()) as { n: number },
}

/** Rejects with 'hung' if `work` has not settled within `ms`: a hang fails the test instead of timing it out. */
function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hung: not settled within ${ms} ms`)), ms)
  })
  return Promise.race([work, hung]).finally(() => clearTimeout(timer))
}

/** `inner` whose fetches fail with a non-retriable error once `failing()` says so. */
function failingFetches(inner: Transport, failing: () => boolean): Transport {
  return transportWith(inner, {
    fetch: async (req: FetchRequest): Promise<FetchResponse> => {
      if (failing()) throw new InvalidArgumentError('fetch refused for the test')
      return inner.fetch(req)
    },
  })
}

describeEachTransport('consumer iterator errors', (getSluice) => {
  test('a record the codec cannot decode, first or later, is thrown by the iterator, not waited past', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('undecodable', { partitions: 2 })
    const producer = sl.producer({ lingerMs: 0 })
    await producer.send('undecodable', { value: 'not json', partition: 0 })
    await producer.send('undecodable', { value: '{"n":1}', partition: 1 })
    await producer.send('undecodable', { value: 'not json either', partition: 1 })
    for (const partition of [0, 1]) {
      const consumer = sl.consumer({ valueCodec: jsonObjects, maxWaitMs: 50 })
      await consumer.assign([{ topic: 'undecodable', partition, offset: 0 }])
      const seen: number[] = []
      const reading = (async () => {
        for await (const m of consumer) seen.push(m.value?.n ?? -1)
      })()
      const err = await within(5_000, reading).catch((e: unknown) => e)
      // Typed and naming the record (before: the codec's bare SyntaxError), the codec's error as the cause.
      expect(err).toBeInstanceOf(RecordDecodeError)
      expect(err).toMatchObject({ topic: 'undecodable', partition, offset: partition === 0 ? 0 : 1, field: 'value' })
      expect((err as Error).cause).toBeInstanceOf(SyntaxError)
      expect(seen).toEqual(partition === 0 ? [] : [1])
      // The partition stopped at the record that failed.
      expect(consumer.position({ topic: 'undecodable', partition })).toBe(partition === 0 ? 0 : 1)
      await consumer.close()
    }
  })

  test('a fetch that fails for good while the iterator waits is thrown by it', async () => {
    const base = getSluice()
    await base.admin().createTopic('refused', { partitions: 1 })
    let fail = false
    const sl = new Sluice(failingFetches(base.transport as Transport, () => fail))
    const consumer = sl.consumer({ maxWaitMs: 50, autoOffsetReset: 'earliest' })
    await consumer.assign([{ topic: 'refused', partition: 0 }])
    const iterator = consumer[Symbol.asyncIterator]()
    const waiting = iterator.next() // nothing to read: waits for data
    await new Promise((r) => setTimeout(r, 200))
    fail = true
    await expect(within(5_000, waiting)).rejects.toThrow(/fetch refused for the test/)
    await consumer.close()
    await sl.close()
  })
})

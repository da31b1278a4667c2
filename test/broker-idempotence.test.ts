// The idempotent producer on the broker: ids that are never reused, retries answered with the original offsets and
// not appended (also after a reopen), gaps refused, fenced epochs, and the five-batch retry window.
import { describe, expect } from 'vitest'
import type { Broker } from '../src/broker/broker.js'
import { PRODUCER_BATCHES_KEPT } from '../src/broker/producer-state.js'
import {
  DuplicateSequenceError,
  InvalidArgumentError,
  InvalidProducerEpochError,
  OutOfOrderSequenceError,
} from '../src/errors.js'
import { decodeRecords, iterateBatches } from '../src/storage/record-batch.js'
import { brokerTest as test, makeBatch } from '../src/testing/broker-fixture.js'

function idem(producerId: number, baseSequence: number, count: number, producerEpoch = 0): Buffer {
  return makeBatch(count, `p${producerId}-s${baseSequence}`, { producerId, producerEpoch, baseSequence })
}

async function logEnd(broker: Broker, topic = 't', partition = 0): Promise<number> {
  return (await broker.describeTopic(topic)).partitions[partition]!.logEndOffset
}

describe('broker idempotent producer', () => {
  test('initProducer hands out distinct ids, never reused after a reopen', async ({ fx }) => {
    const first = await fx.open()
    const ids = [await first.initProducer(), await first.initProducer(), await first.initProducer()]
    expect(ids.every((r) => r.producerEpoch === 0)).toBe(true)
    expect(new Set(ids.map((r) => r.producerId)).size).toBe(3)
    await first.close()
    const second = await fx.open()
    const after = await second.initProducer()
    expect(after.producerId).toBeGreaterThan(Math.max(...ids.map((r) => r.producerId)))
  })

  test('a retried batch is answered with its original offsets, flagged duplicate, and not appended', async ({ fx }) => {
    const broker = await fx.open()
    await broker.createTopic({ name: 't', partitions: 1 })
    const { producerId } = await broker.initProducer()
    const first = await broker.produce({ topic: 't', partition: 0, acks: 'all', batch: idem(producerId, 0, 3) })
    const second = await broker.produce({ topic: 't', partition: 0, acks: 'all', batch: idem(producerId, 3, 2) })
    const retryFirst = await broker.produce({ topic: 't', partition: 0, acks: 'all', batch: idem(producerId, 0, 3) })
    const retrySecond = await broker.produce({ topic: 't', partition: 0, acks: 1, batch: idem(producerId, 3, 2) })
    expect([first.baseOffset, second.baseOffset]).toEqual([0, 3])
    expect(retryFirst).toMatchObject({ baseOffset: 0, duplicate: true })
    expect(retrySecond).toMatchObject({ baseOffset: 3, duplicate: true })
    expect(await logEnd(broker)).toBe(5)
    const next = await broker.produce({ topic: 't', partition: 0, acks: 'all', batch: idem(producerId, 5, 1) })
    expect(next).toMatchObject({ baseOffset: 5, duplicate: false })
  })

  test('retries are still recognised after the broker is closed and reopened', async ({ fx }) => {
    const first = await fx.open()
    await first.createTopic({ name: 't', partitions: 2 })
    const { producerId } = await first.initProducer()
    await first.produce({ topic: 't', partition: 1, acks: 1, batch: makeBatch(4) })
    await first.produce({ topic: 't', partition: 1, acks: 'all', batch: idem(producerId, 0, 2) })
    await first.produce({ topic: 't', partition: 1, acks: 'all', batch: idem(producerId, 2, 3) })
    await first.close()
    const second = await fx.open()
    const retry = await second.produce({ topic: 't', partition: 1, acks: 'all', batch: idem(producerId, 2, 3) })
    expect(retry).toMatchObject({ baseOffset: 6, duplicate: true })
    expect(await logEnd(second, 't', 1)).toBe(9)
    await expect(second.produce({ topic: 't', partition: 1, acks: 1, batch: idem(producerId, 7, 1) })).rejects.toThrow(
      OutOfOrderSequenceError,
    )
    const next = await second.produce({ topic: 't', partition: 1, acks: 1, batch: idem(producerId, 5, 1) })
    expect(next).toMatchObject({ baseOffset: 9, duplicate: false })
  })

  test('a sequence gap is OutOfOrderSequenceError and appends nothing; a new producer must start at 0', async ({
    fx,
  }) => {
    const broker = await fx.open()
    await broker.createTopic({ name: 't', partitions: 1 })
    const { producerId } = await broker.initProducer()
    await expect(broker.produce({ topic: 't', partition: 0, acks: 1, batch: idem(producerId, 1, 1) })).rejects.toThrow(
      OutOfOrderSequenceError,
    )
    await broker.produce({ topic: 't', partition: 0, acks: 1, batch: idem(producerId, 0, 2) })
    const err = await broker
      .produce({ topic: 't', partition: 0, acks: 1, batch: idem(producerId, 5, 1) })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OutOfOrderSequenceError)
    expect((err as Error).message).toContain('expected 2')
    expect(await logEnd(broker)).toBe(2)
  })

  test('an epoch older than the partition has seen is InvalidProducerEpochError', async ({ fx }) => {
    const broker = await fx.open()
    await broker.createTopic({ name: 't', partitions: 1 })
    const { producerId } = await broker.initProducer()
    await broker.produce({ topic: 't', partition: 0, acks: 1, batch: idem(producerId, 0, 1, 0) })
    await broker.produce({ topic: 't', partition: 0, acks: 1, batch: idem(producerId, 0, 1, 1) })
    await expect(
      broker.produce({ topic: 't', partition: 0, acks: 1, batch: idem(producerId, 1, 1, 0) }),
    ).rejects.toThrow(InvalidProducerEpochError)
    await expect(
      broker.produce({ topic: 't', partition: 0, acks: 1, batch: idem(producerId, 3, 1, 2) }),
    ).rejects.toThrow(OutOfOrderSequenceError)
    expect(await logEnd(broker)).toBe(2)
  })

  test(`only the last ${PRODUCER_BATCHES_KEPT} batches can be retried; an older retry is DuplicateSequenceError`, async ({
    fx,
  }) => {
    const broker = await fx.open()
    await broker.createTopic({ name: 't', partitions: 1 })
    const { producerId } = await broker.initProducer()
    for (let seq = 0; seq < PRODUCER_BATCHES_KEPT + 1; seq++)
      await broker.produce({ topic: 't', partition: 0, acks: 1, batch: idem(producerId, seq, 1) })
    await expect(broker.produce({ topic: 't', partition: 0, acks: 1, batch: idem(producerId, 0, 1) })).rejects.toThrow(
      DuplicateSequenceError,
    )
    expect(await broker.produce({ topic: 't', partition: 0, acks: 1, batch: idem(producerId, 1, 1) })).toMatchObject({
      baseOffset: 1,
      duplicate: true,
    })
    expect(await logEnd(broker)).toBe(PRODUCER_BATCHES_KEPT + 1)
  })

  test('a producer id the broker never issued is refused', async ({ fx }) => {
    const broker = await fx.open()
    await broker.createTopic({ name: 't', partitions: 1 })
    await expect(broker.produce({ topic: 't', partition: 0, acks: 1, batch: idem(123_456_789, 0, 1) })).rejects.toThrow(
      InvalidArgumentError,
    )
  })

  test('producers are tracked per partition: the same sequence on another partition is not a duplicate', async ({
    fx,
  }) => {
    const broker = await fx.open()
    await broker.createTopic({ name: 't', partitions: 2 })
    const { producerId } = await broker.initProducer()
    const a = await broker.produce({ topic: 't', partition: 0, acks: 1, batch: idem(producerId, 0, 2) })
    const b = await broker.produce({ topic: 't', partition: 1, acks: 1, batch: idem(producerId, 0, 2) })
    expect([a.duplicate, b.duplicate]).toEqual([false, false])
    expect([await logEnd(broker, 't', 0), await logEnd(broker, 't', 1)]).toEqual([2, 2])
  })
})

describe('broker idempotent producer model', () => {
  test('under random sends, retries, gaps and reopens every record lands exactly once and in order', async ({ fx }) => {
    const seed = Number(process.env.SLUICE_SEED ?? Date.now() % 100_000)
    let s = seed
    const random = (): number => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0
      return s / 2 ** 32
    }
    let broker = await fx.open()
    await broker.createTopic({ name: 't', partitions: 1 })
    const { producerId } = await broker.initProducer()
    const sent: Array<{ seq: number; count: number; baseOffset: number }> = []
    let nextSeq = 0
    let nextOffset = 0
    for (let step = 0; step < 150; step++) {
      const roll = random()
      const where = `seed ${seed} step ${step}`
      if (roll < 0.5 || sent.length === 0) {
        const count = 1 + Math.floor(random() * 4)
        const r = await broker.produce({ topic: 't', partition: 0, acks: 1, batch: idem(producerId, nextSeq, count) })
        expect(r, where).toMatchObject({ baseOffset: nextOffset, duplicate: false })
        sent.push({ seq: nextSeq, count, baseOffset: nextOffset })
        nextSeq += count
        nextOffset += count
      } else if (roll < 0.8) {
        const back = Math.min(sent.length, 5)
        const pick = sent[sent.length - 1 - Math.floor(random() * back)]!
        const r = await broker.produce({
          topic: 't',
          partition: 0,
          acks: 1,
          batch: idem(producerId, pick.seq, pick.count),
        })
        expect(r, where).toMatchObject({ baseOffset: pick.baseOffset, duplicate: true })
      } else if (roll < 0.93) {
        const gap = nextSeq + 1 + Math.floor(random() * 5)
        await expect(
          broker.produce({ topic: 't', partition: 0, acks: 1, batch: idem(producerId, gap, 1) }),
          where,
        ).rejects.toThrow(OutOfOrderSequenceError)
      } else {
        await broker.close()
        broker = await fx.open()
      }
    }
    const res = await broker.fetch({
      partitions: [{ topic: 't', partition: 0, offset: 0 }],
      maxBytes: 1 << 20,
      maxWaitMs: 0,
    })
    const seen: string[] = []
    for (const { position, header } of iterateBatches(res.partitions[0]!.records)) {
      for (const r of decodeRecords(res.partitions[0]!.records, position, 0, header)) seen.push(r.value!.toString())
    }
    const expected = sent.flatMap((b) => Array.from({ length: b.count }, (_, i) => `p${producerId}-s${b.seq}-${i}`))
    expect(seen, `seed ${seed}`).toEqual(expected)
  })
})

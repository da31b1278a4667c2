// The consumer verifies each fetched batch's CRC: a batch damaged in transit is never delivered; its partition stops
// at the first undelivered offset with a CorruptRecordError (an 'error' event in run(), a throw from the iterator),
// records before it are delivered, and other partitions go on.
import { expect, test } from 'vitest'
import { describeEachTransport, transportWith } from '../../src/testing/sdk-harness.js'
import { CorruptRecordError } from '../../src/errors.js'
import { Sluice } from '../../src/sluice.js'
import type { Transport } from '../../src/client/transport.js'
import type { FetchRequest, FetchResponse } from '../../src/broker/api.js'
import type { Message } from '../../src/client/consumer.js'
import { readBatchHeader } from '../../src/storage/record-batch.js'

/** Flips the last byte of the batch holding `offset` of partition 0 in every fetch response that carries it. */
function corrupting(inner: Transport, offset: number): Transport {
  return transportWith(inner, {
    fetch: async (req: FetchRequest): Promise<FetchResponse> => {
      const response = await inner.fetch(req)
      for (const p of response.partitions) {
        if (p.partition !== 0 || p.records.length === 0) continue
        const copy = Buffer.from(p.records)
        for (let pos = 0; pos + 61 <= copy.length;) {
          const h = readBatchHeader(copy, pos)
          if (h.baseOffset <= offset && offset <= h.lastOffset) copy[pos + h.batchBytes - 1]! ^= 0xff
          pos += h.batchBytes
        }
        p.records = copy
      }
      return response
    },
  })
}

describeEachTransport('consumer data checks', (getSluice) => {
  test('run(): a corrupt batch stops its partition with CorruptRecordError; earlier records and other partitions flow', async () => {
    const base = getSluice()
    await base.admin().createTopic('crc', { partitions: 2 })
    const producer = base.producer({ lingerMs: 0 })
    for (let i = 0; i < 6; i++) await producer.send('crc', { partition: i % 2, value: String(i) }) // one batch per record
    const sl = new Sluice(corrupting(base.transport as Transport, 1))
    const consumer = sl.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 20, valueCodec: 'string' })
    await consumer.assign([
      { topic: 'crc', partition: 0 },
      { topic: 'crc', partition: 1 },
    ])
    const errors: Array<{ err: Error; ctx: unknown }> = []
    consumer.on('error', (err: Error, ctx: unknown) => errors.push({ err, ctx }))
    const got: Message[] = []
    await consumer.run({ eachMessage: ({ message }) => void got.push(message) })
    for (let i = 0; i < 500 && (errors.length === 0 || got.filter((m) => m.partition === 1).length < 3); i++)
      await new Promise((r) => setTimeout(r, 10))
    expect(errors[0]!.err).toBeInstanceOf(CorruptRecordError)
    expect(errors[0]!.ctx).toEqual({ topic: 'crc', partition: 0, offset: 1 })
    expect(got.filter((m) => m.partition === 0).map((m) => m.offset)).toEqual([0])
    expect(got.filter((m) => m.partition === 1).map((m) => m.offset)).toEqual([0, 1, 2])
    expect(consumer.position({ topic: 'crc', partition: 0 })).toBe(1)
    await sl.close()
  })

  test('eachBatch in calls of maxBatchMessages: the calls before the damaged batch are delivered, then it stops', async () => {
    const base = getSluice()
    await base.admin().createTopic('crc3', { partitions: 1 })
    const producer = base.producer({ lingerMs: 0 })
    for (let i = 0; i < 5; i++) await producer.send('crc3', { value: String(i) }) // one batch per record
    const sl = new Sluice(corrupting(base.transport as Transport, 3))
    const consumer = sl.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 20, maxBatchMessages: 2 })
    await consumer.assign([{ topic: 'crc3', partition: 0 }])
    const errors: Array<{ err: Error; ctx: unknown }> = []
    consumer.on('error', (err: Error, ctx: unknown) => errors.push({ err, ctx }))
    const calls: number[][] = []
    await consumer.run({ eachBatch: ({ batch }) => void calls.push(batch.messages.map((m) => m.offset)) })
    for (let i = 0; i < 500 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 10))
    expect(errors[0]!.err).toBeInstanceOf(CorruptRecordError)
    expect(errors[0]!.ctx).toEqual({ topic: 'crc3', partition: 0, offset: 3 })
    expect(calls.flat()).toEqual([0, 1, 2])
    expect(calls.every((c) => c.length <= 2)).toBe(true)
    expect(consumer.position({ topic: 'crc3', partition: 0 })).toBe(3)
    await sl.close()
  })

  test('for await: the iterator throws CorruptRecordError at the damaged batch', async () => {
    const base = getSluice()
    await base.admin().createTopic('crc2', { partitions: 1 })
    const producer = base.producer({ lingerMs: 0 })
    for (let i = 0; i < 4; i++) await producer.send('crc2', { value: String(i) })
    const sl = new Sluice(corrupting(base.transport as Transport, 2))
    const consumer = sl.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 20 })
    await consumer.assign([{ topic: 'crc2', partition: 0 }])
    const offsets: number[] = []
    await expect(
      (async () => {
        for await (const m of consumer) offsets.push(m.offset)
      })(),
    ).rejects.toThrow(CorruptRecordError)
    expect(offsets).toEqual([0, 1])
    await sl.close()
  })
})

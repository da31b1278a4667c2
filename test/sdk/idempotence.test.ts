// Idempotent producer under lost acknowledgements, once per transport: a batch whose response is lost is retried with
// the same bytes, the broker drops the duplicate, and each record is stored exactly once with its original offset.
import { expect, test } from 'vitest'
import { describeEachTransport, transportWith } from '../../src/testing/sdk-harness.js'
import { ConnectionError, RecordTooLargeError } from '../../src/errors.js'
import { Sluice } from '../../src/sluice.js'
import type { Transport } from '../../src/client/transport.js'
import type { ProduceRequest, ProduceResponse } from '../../src/broker/api.js'
import type { Message } from '../../src/client/consumer.js'

/** Passes every call through; the produce responses listed in `loseResponses` (1-based call numbers) are dropped
 *  after the broker handled them, as if the connection broke on the way back. */
function lossyTransport(inner: Transport, loseResponses: Set<number>, batches: Buffer[]): Transport {
  let produceCalls = 0
  return transportWith(inner, {
    produce: async (req: ProduceRequest): Promise<ProduceResponse> => {
      produceCalls++
      batches.push(Buffer.from(req.batch.subarray(21))) // the CRC-covered part
      const response = await inner.produce(req)
      if (loseResponses.has(produceCalls)) throw new ConnectionError('response lost (test)')
      return response
    },
  })
}

describeEachTransport('idempotent producer', (getSluice, env) => {
  test('a batch whose ack is lost is retried with the same bytes and stored once, keeping its offsets', async () => {
    const base = getSluice()
    await base.admin().createTopic('idem', { partitions: 1 })
    const batches: Buffer[] = []
    const sl = new Sluice(lossyTransport(base.transport as Transport, new Set([1, 3]), batches))
    const producer = sl.producer({ retryBackoffMs: 1, lingerMs: 0 })
    const first = await producer.sendBatch('idem', [{ value: 'a' }, { value: 'b' }])
    const second = await producer.send('idem', { value: 'c' })
    expect([...first].map((m) => m.offset)).toEqual([0, 1])
    expect(second.offset).toBe(2)
    // calls 1 and 2 carried the same batch, as did 3 and 4
    expect(batches).toHaveLength(4)
    expect(batches[1]!.equals(batches[0]!)).toBe(true)
    expect(batches[3]!.equals(batches[2]!)).toBe(true)
    const got: Message[] = []
    for await (const m of base.replay({ topic: 'idem', valueCodec: 'string' })) got.push(m)
    expect(got.map((m) => [m.offset, m.value])).toEqual([
      [0, 'a'],
      [1, 'b'],
      [2, 'c'],
    ])
    await sl.close()
  })

  test('a producer keeps producing to a topic deleted and created again under its name, in order, each record once', async () => {
    const sl = getSluice()
    const admin = sl.admin()
    await admin.createTopic('again', { partitions: 2 })
    const producer = sl.producer({ lingerMs: 0 })
    const before = await producer.sendBatch(
      'again',
      Array.from({ length: 10 }, (_, i) => ({ value: `old-${i}`, partition: i % 2 })),
    )
    expect(before.offsetOf(9)).toBe(4)
    await admin.deleteTopic('again')
    await admin.createTopic('again', { partitions: 2 })
    // Several batches of each partition in flight at once, the first of each refused by the new logs.
    const sends = Array.from({ length: 40 }, (_, i) => producer.send('again', { value: `new-${i}`, partition: i % 2 }))
    const metas = await Promise.all(sends)
    for (const p of [0, 1])
      expect(metas.filter((m) => m.partition === p).map((m) => m.offset)).toEqual([...Array(20).keys()])
    const read: string[] = []
    for await (const m of sl.replay({ topic: 'again', valueCodec: 'string' })) read.push(m.value!)
    expect(read.sort()).toEqual(Array.from({ length: 40 }, (_, i) => `new-${i}`).sort())
    await producer.close()
  })

  test('a batch the broker refuses rejects only its sends; later sends on the partition still succeed', async () => {
    const sl = await env().reopen({ recordBytesMax: 4096 })
    await sl.admin().createTopic('idem2', { partitions: 1 })
    const producer = sl.producer({ lingerMs: 0 })
    await expect(producer.send('idem2', { value: Buffer.alloc(8000) })).rejects.toThrow(RecordTooLargeError)
    const ok = await producer.send('idem2', { value: 'after' })
    expect(ok.offset).toBe(0)
    const again = await producer.send('idem2', { value: 'more' })
    expect(again.offset).toBe(1)
  })
})

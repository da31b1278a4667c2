// The idempotent send window against a model broker that enforces sequences like the real one: with several batches
// of a partition in flight, a lost ack (retried with the same bytes) and a refused batch (its successors re-sequenced
// under a new producer id) leave every other record stored exactly once, in send order.
import { describe, expect, test } from 'vitest'
import type { ProduceRequest, ProduceResponse, TopicDescription } from '../broker/api.js'
import { ConnectionError, OutOfOrderSequenceError, RecordTooLargeError } from '../errors.js'
import { decodeRecords, readBatchHeader } from '../storage/record-batch.js'
import { resolveProducerConfig } from './client-config.js'
import { Producer } from './producer.js'
import type { Transport } from './transport.js'

type Fault = 'lose-ack' | 'drop' | 'refuse' | null

/** One partition; per producer id the next expected sequence and the batches seen (for duplicate answers). */
class ModelBroker {
  readonly log: string[] = []
  readonly calls: Array<{ producerId: number; baseSequence: number }> = []
  #nextProducerId = 1
  readonly #expected = new Map<number, number>()
  readonly #seen = new Map<string, number>()

  constructor(private readonly fault: (call: number, firstValue: string) => Fault) {}

  transport(): Transport {
    const partitions = [
      { partition: 0, logStartOffset: 0, logEndOffset: 0, sizeBytes: 0, segmentCount: 1, offline: null },
    ]
    const description = { name: 't', internal: false, config: {}, partitions } as unknown as TopicDescription
    return {
      describeTopic: async () => description,
      initProducer: async () => ({ producerId: this.#nextProducerId++, producerEpoch: 0 }),
      produce: (req: ProduceRequest) => this.#produce(req),
    } as unknown as Transport
  }

  async #produce(req: ProduceRequest): Promise<ProduceResponse> {
    await new Promise((r) => setTimeout(r, 1)) // let later batches go out while this one is "on the wire"
    const h = readBatchHeader(req.batch)
    const values = decodeRecords(req.batch).map((r) => r.value!.toString())
    const call = this.calls.push({ producerId: h.producerId, baseSequence: h.baseSequence })
    const fault = this.fault(call, values[0]!)
    if (fault === 'refuse') throw new RecordTooLargeError('refused (test)')
    if (fault === 'drop') throw new ConnectionError('request lost before the append (test)')
    const key = `${h.producerId}:${h.baseSequence}`
    const original = this.#seen.get(key)
    let baseOffset: number
    if (original !== undefined) baseOffset = original
    else {
      const expected = this.#expected.get(h.producerId) ?? 0
      if (h.baseSequence !== expected) throw new OutOfOrderSequenceError(`expected ${expected}, got ${h.baseSequence}`)
      this.#expected.set(h.producerId, expected + h.recordCount)
      baseOffset = this.log.length
      this.#seen.set(key, baseOffset)
      this.log.push(...values)
    }
    if (fault === 'lose-ack') throw new ConnectionError('ack lost (test)')
    return { baseOffset, logAppendTime: -1, logStartOffset: 0, duplicate: original !== undefined }
  }
}

function producer(broker: ModelBroker): Producer {
  // one record per batch (batchBytes just above one record), five batches in flight
  return new Producer(broker.transport(), resolveProducerConfig({ lingerMs: 0, batchBytes: 100, retryBackoffMs: 1 }))
}

describe('BatchSender (idempotent window)', () => {
  test('a lost ack with later batches in flight: retried with the same bytes, stored once, order kept', async () => {
    let lost = false
    const broker = new ModelBroker((_call, first) => (first === 'v2' && !lost ? ((lost = true), 'lose-ack') : null))
    const p = producer(broker)
    const metas = await Promise.all(Array.from({ length: 8 }, (_, i) => p.send('t', { value: `v${i}` })))
    expect(broker.log).toEqual(['v0', 'v1', 'v2', 'v3', 'v4', 'v5', 'v6', 'v7'])
    expect(metas.map((m) => m.offset)).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
    expect(new Set(broker.calls.map((c) => c.producerId))).toEqual(new Set([1]))
  })

  test('a batch lost before the append: later ones are refused as out of order, wait, and land after it', async () => {
    let dropped = false
    const broker = new ModelBroker((_call, first) => (first === 'v1' && !dropped ? ((dropped = true), 'drop') : null))
    const p = producer(broker)
    const metas = await Promise.all(Array.from({ length: 8 }, (_, i) => p.send('t', { value: `v${i}` })))
    expect(broker.log).toEqual(['v0', 'v1', 'v2', 'v3', 'v4', 'v5', 'v6', 'v7'])
    expect(metas.map((m) => m.offset)).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
  })

  test('a refused batch fails only its sends; batches behind it are re-sequenced under a new id and land in order', async () => {
    const broker = new ModelBroker((_call, first) => (first === 'v2' ? 'refuse' : null))
    const p = producer(broker)
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => p.send('t', { value: `v${i}` })))
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', ...Array(5).fill('fulfilled')])
    expect((results[2] as PromiseRejectedResult).reason).toBeInstanceOf(RecordTooLargeError)
    expect(broker.log).toEqual(['v0', 'v1', 'v3', 'v4', 'v5', 'v6', 'v7'])
    const later = await p.send('t', { value: 'v8' })
    expect(later.offset).toBe(7)
    expect(broker.log.at(-1)).toBe('v8')
  })

  test('a producer id request that fails with a retriable error is retried before the send gives up', async () => {
    const broker = new ModelBroker(() => null)
    const transport = broker.transport()
    let initFailures = 2
    const initProducer = transport.initProducer.bind(transport)
    transport.initProducer = async () => {
      if (initFailures-- > 0) throw new ConnectionError('broker not reachable yet (test)')
      return initProducer()
    }
    const p = new Producer(transport, resolveProducerConfig({ lingerMs: 0, retryBackoffMs: 1 }))
    expect((await p.send('t', { value: 'v0' })).offset).toBe(0)
    expect(initFailures).toBe(-1)
  })

  test('pooled batch buffers are reused only after the broker answered: records built meanwhile never overwrite them', async () => {
    // Full 4 KiB batches come from the producer's pool. The model broker reads each batch 1 ms after it is handed
    // over (and loses some acks, so those bytes are sent again); later calls build new batches in the meantime. A
    // buffer given back before the answer would be written over while "on the wire" and the log would differ.
    let calls = 0
    const broker = new ModelBroker(() => (++calls % 5 === 0 ? 'lose-ack' : null))
    const p = new Producer(
      broker.transport(),
      resolveProducerConfig({ lingerMs: 0, batchBytes: 4096, retryBackoffMs: 1 }),
    )
    const waves = Array.from({ length: 4 }, (_, w) =>
      Array.from({ length: 120 }, (_, i) => ({ value: `w${w}-${i}-${'x'.repeat(200 + ((w * 7 + i) % 50))}` })),
    )
    const sends: Array<Promise<unknown>> = []
    for (const wave of waves) {
      sends.push(p.sendBatch('t', wave))
      await new Promise((r) => setTimeout(r, 0)) // earlier batches are in flight when the next wave is built
    }
    await Promise.all(sends)
    expect(broker.log).toEqual(waves.flat().map((m) => m.value))
  })
})

import { describe, expect, test } from 'vitest'
import { DuplicateSequenceError, InvalidArgumentError, OutOfOrderSequenceError } from '../errors.js'
import { readBatchHeader } from '../storage/record-batch.js'
import { makeBatch } from '../testing/broker-fixture.js'
import { MemoryPartitionLog } from '../testing/memory-storage.js'
import { toLogConfig, DEFAULT_TOPIC_CONFIG } from '../topics/topic-config.js'
import { lastSequenceOf, PartitionProducerState, PRODUCER_BATCHES_KEPT } from './producer-state.js'

const MAX_SEQ = 2 ** 31 - 1

function header(producerId: number, baseSequence: number, count: number, producerEpoch = 0) {
  return readBatchHeader(makeBatch(count, 'x', { producerId, producerEpoch, baseSequence }))
}

function strict(): PartitionProducerState {
  return new PartitionProducerState({ where: 't/0', lenient: () => false })
}

describe('PartitionProducerState', () => {
  test('sequences wrap from 2^31-1 to 0, as Kafka wraps them', () => {
    expect(lastSequenceOf(MAX_SEQ - 1, 3)).toBe(0)
    const state = new PartitionProducerState({ where: 't/0', lenient: () => true })
    const h = header(1, MAX_SEQ - 1, 2)
    expect(state.check(h).duplicate).toBe(false)
    state.record(h, 100)
    expect(state.check(header(1, 0, 1)).duplicate).toBe(false)
    expect(state.check(header(1, MAX_SEQ - 1, 2))).toEqual({
      duplicate: true,
      batch: { firstSequence: MAX_SEQ - 1, lastSequence: MAX_SEQ, baseOffset: 100, lastOffset: 101 },
    })
  })

  test('an unknown producer must start at 0 unless its state may have been lost (lenient)', () => {
    expect(() => strict().check(header(1, 4, 1))).toThrow(OutOfOrderSequenceError)
    const lenient = new PartitionProducerState({ where: 't/0', lenient: (id) => id < 10 })
    expect(lenient.check(header(3, 4, 1)).duplicate).toBe(false)
    expect(() => lenient.check(header(12, 4, 1))).toThrow(OutOfOrderSequenceError)
  })

  test(`exactly the last ${PRODUCER_BATCHES_KEPT} batches are kept for retries; older ones are duplicates without offsets`, () => {
    const state = strict()
    const recorded = PRODUCER_BATCHES_KEPT + 3
    for (let i = 0; i < recorded; i++) state.record(header(7, i * 2, 2), i * 2)
    for (let i = 3; i < recorded; i++) expect(state.check(header(7, i * 2, 2)).duplicate, `batch ${i}`).toBe(true)
    expect(() => state.check(header(7, 4, 2))).toThrow(DuplicateSequenceError)
    expect(() => state.check(header(7, recorded * 2 + 2, 1))).toThrow(OutOfOrderSequenceError)
    expect(state.check(header(7, recorded * 2, 1)).duplicate).toBe(false)
  })

  test('a retry whose range differs from the kept batch is not taken for a duplicate', () => {
    const state = strict()
    state.record(header(7, 0, 3), 0)
    expect(() => state.check(header(7, 0, 2))).toThrow(DuplicateSequenceError)
  })

  test('negative epoch or sequence on an idempotent batch is refused', () => {
    expect(() => strict().check(header(1, -1, 1))).toThrow(InvalidArgumentError)
  })

  test('state rebuilt from a log recognises its retries and continues its sequences', () => {
    const log = new MemoryPartitionLog('t/0', toLogConfig(DEFAULT_TOPIC_CONFIG))
    log.append(makeBatch(2))
    log.append(makeBatch(3, 'a', { producerId: 5, producerEpoch: 0, baseSequence: 0 }))
    log.append(makeBatch(1))
    log.append(makeBatch(2, 'b', { producerId: 5, producerEpoch: 0, baseSequence: 3 }))
    log.append(makeBatch(1, 'c', { producerId: 6, producerEpoch: 2, baseSequence: 0 }))
    const state = strict()
    expect(state.rebuildFrom(log)).toBe(5)
    expect(state.producerCount).toBe(2)
    expect(state.check(header(5, 0, 3))).toMatchObject({ duplicate: true, batch: { baseOffset: 2 } })
    expect(state.check(header(5, 3, 2))).toMatchObject({ duplicate: true, batch: { baseOffset: 6 } })
    expect(state.check(header(5, 5, 1)).duplicate).toBe(false)
    expect(() => state.check(header(6, 1, 1, 1))).toThrow(/epoch 1 is older than epoch 2/)
  })

  test('a rebuild over a log larger than the scan window reads only its newest batches', () => {
    const log = new MemoryPartitionLog('t/0', toLogConfig(DEFAULT_TOPIC_CONFIG))
    for (let seq = 0; seq < 40; seq++)
      log.append(makeBatch(1, 'v', { producerId: 1, producerEpoch: 0, baseSequence: seq }))
    const batchBytes = log.sizeBytes / 40
    const state = new PartitionProducerState({ where: 't/0', lenient: () => true })
    const seen = state.rebuildFrom(log, batchBytes * 10)
    expect(seen).toBeGreaterThanOrEqual(10)
    expect(seen).toBeLessThan(40)
    expect(state.check(header(1, 39, 1)).duplicate).toBe(true)
    expect(state.check(header(1, 40, 1)).duplicate).toBe(false)
  })
})

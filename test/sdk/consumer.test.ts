// Consumer behaviour against the real broker, once per transport: manual assignment, seek, seekToTimestamp,
// pause/resume, run (eachMessage/eachBatch), for-await iteration, handler failure, commits, and a one-member group.
import { expect, test } from 'vitest'
import { describeEachTransport } from '../../src/testing/sdk-harness.js'
import type { Consumer, Message } from '../../src/client/consumer.js'
import type { Sluice } from '../../src/sluice.js'

async function fill(
  sl: Sluice,
  topic: string,
  partitions: number,
  perPartition: number,
  timestamp?: (i: number) => number,
) {
  await sl.admin().createTopic(topic, { partitions })
  const producer = sl.producer({ lingerMs: 0 })
  const messages = []
  for (let p = 0; p < partitions; p++)
    for (let i = 0; i < perPartition; i++)
      messages.push({
        partition: p,
        value: `p${p}-${i}`,
        ...(timestamp === undefined ? {} : { timestamp: timestamp(i) }),
      })
  await producer.sendBatch(topic, messages)
  await producer.close()
}

/** Resolves once `predicate` holds over the collected messages (polling the array; bounded). */
async function until(messages: Message[], predicate: (m: Message[]) => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (predicate(messages)) return
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error(`timed out waiting for ${what}; have ${messages.length} messages`)
}

function values(messages: Message[]): string[] {
  return messages.map((m) => String(m.value))
}

describeEachTransport('consumer', (getSluice) => {
  test('assign with offsets + run(eachMessage) delivers each partition from its offset, in offset order', async () => {
    const sl = getSluice()
    await fill(sl, 'c1', 2, 20)
    const consumer = sl.consumer({ valueCodec: 'string' })
    await consumer.assign([
      { topic: 'c1', partition: 0, offset: 5 },
      { topic: 'c1', partition: 1, offset: 0 },
    ])
    const got: Message[] = []
    await consumer.run({ eachMessage: ({ message }) => void got.push(message) })
    await until(got, (m) => m.length === 35, '35 messages')
    const p0 = got.filter((m) => m.partition === 0)
    expect(values(p0)).toEqual(Array.from({ length: 15 }, (_, i) => `p0-${i + 5}`))
    expect(got.filter((m) => m.partition === 1).map((m) => m.offset)).toEqual(Array.from({ length: 20 }, (_, i) => i))
    expect(consumer.position({ topic: 'c1', partition: 0 })).toBe(20)
    await consumer.close()
  })

  test('autoOffsetReset: earliest starts at the log start, latest only sees new records', async () => {
    const sl = getSluice()
    await fill(sl, 'c2', 1, 5)
    const early = sl.consumer({ autoOffsetReset: 'earliest' })
    await early.assign([{ topic: 'c2', partition: 0 }])
    expect(early.position({ topic: 'c2', partition: 0 })).toBe(0)
    const late = sl.consumer({ valueCodec: 'string' })
    await late.assign([{ topic: 'c2', partition: 0 }])
    expect(late.position({ topic: 'c2', partition: 0 })).toBe(5)
    const got: Message[] = []
    await late.run({ eachMessage: ({ message }) => void got.push(message) })
    await sl.producer().send('c2', { value: 'new' })
    await until(got, (m) => m.length === 1, 'the new record')
    expect(values(got)).toEqual(['new'])
    expect(got[0]!.offset).toBe(5)
  })

  test("visibility 'durable' delivers fsynced records only: at once on flush sync topics, on request on flush os", async () => {
    const sl = getSluice()
    await sl.admin().createTopic('vs', { partitions: 1, flush: 'sync' })
    await sl.admin().createTopic('vo', { partitions: 1, flush: 'os' })
    const consumer = sl.consumer({ visibility: 'durable', valueCodec: 'string', autoOffsetReset: 'earliest' })
    await consumer.assign([
      { topic: 'vs', partition: 0 },
      { topic: 'vo', partition: 0 },
    ])
    const got: Message[] = []
    let endsBehind = 0
    await consumer.run({
      eachBatch: ({ batch }) => {
        got.push(...batch.messages)
        if (batch.logEndOffset < batch.messages.at(-1)!.offset + 1) endsBehind++
      },
    })
    await sl.producer({ acks: 'all' }).sendBatch('vs', [{ value: 's0' }, { value: 's1' }])
    await sl.producer({ acks: 1 }).sendBatch('vo', [{ value: 'o0' }, { value: 'o1' }, { value: 'o2' }])
    await until(got, (m) => m.length === 5, 'five records')
    expect(values(got).sort()).toEqual(['o0', 'o1', 'o2', 's0', 's1'])
    expect(endsBehind).toBe(0) // a batch's logEndOffset (here the durable end) covers the records it carries
    await consumer.close()
  })

  test('for await iterates in order; seek moves the next record read', async () => {
    const sl = getSluice()
    await fill(sl, 'c3', 1, 10)
    const consumer = sl.consumer({ valueCodec: 'string', autoOffsetReset: 'earliest' })
    await consumer.assign([{ topic: 'c3', partition: 0 }])
    const got: Message[] = []
    for await (const m of consumer) {
      got.push(m)
      if (m.offset === 3) consumer.seek({ topic: 'c3', partition: 0, offset: 8 })
      if (m.offset === 9) break
    }
    expect(got.map((m) => m.offset)).toEqual([0, 1, 2, 3, 8, 9])
    // the message in hand at break was not marked processed
    expect(consumer.position({ topic: 'c3', partition: 0 })).toBe(9)
    await consumer.close()
  })

  test('run() or a loop before subscribe()/assign() fails without leaving the consumer unusable', async () => {
    const sl = getSluice()
    await fill(sl, 'c3a', 1, 5)
    const consumer = sl.consumer({ valueCodec: 'string', autoOffsetReset: 'earliest' })
    await expect(consumer.run({ eachMessage: async () => {} })).rejects.toThrow(/call subscribe\(\) or assign\(\)/)
    expect(() => consumer[Symbol.asyncIterator]()).toThrow(/call subscribe\(\) or assign\(\)/)
    // Before, the failed run() marked the consumer as consuming: assign() and run() were then refused for good.
    await consumer.assign([{ topic: 'c3a', partition: 0 }])
    const got: string[] = []
    await consumer.run({ eachMessage: async ({ message }) => void got.push(String(message.value)) })
    await until([], () => got.length === 5, '5 messages')
    expect(got).toEqual(['p0-0', 'p0-1', 'p0-2', 'p0-3', 'p0-4'])
    await consumer.close()
  })

  test('a for await loop that was left (break, or an error) can be followed by another that goes on from the position', async () => {
    const sl = getSluice()
    await fill(sl, 'c3b', 1, 30)
    // maxBytes small: the first loop leaves fetched-but-undelivered records behind, which the second must not skip.
    const consumer = sl.consumer({ valueCodec: 'string', autoOffsetReset: 'earliest', maxBytes: 64 })
    await consumer.assign([{ topic: 'c3b', partition: 0 }])
    const first: number[] = []
    for await (const m of consumer) {
      first.push(m.offset)
      if (m.offset === 4) break
    }
    // Before, any second loop threw "already consuming (iterator)" and the partition stayed assigned, unread.
    const second: number[] = []
    for await (const m of consumer) {
      second.push(m.offset)
      if (m.offset === 29) break
    }
    expect(first).toEqual([0, 1, 2, 3, 4])
    expect(second).toEqual(Array.from({ length: 26 }, (_, i) => 4 + i)) // 4 was in hand at the break: it comes again
    // Two iterators at once are still refused.
    const a = consumer[Symbol.asyncIterator]()
    expect(() => consumer[Symbol.asyncIterator]()).toThrow(/already consuming \(iterator\)/)
    await a.return?.()
    await consumer.close()
  })

  test('eachBatch resolveOffset: a call that throws after resolving some stops at the first unresolved message', async () => {
    const sl = getSluice()
    await fill(sl, 'c3r', 1, 20)
    const consumer = sl.consumer({
      groupId: 'g3r',
      autoOffsetReset: 'earliest',
      autoCommit: false,
      maxBatchMessages: 10,
    })
    await consumer.assign([{ topic: 'c3r', partition: 0 }])
    const errors: Error[] = []
    consumer.on('error', (err) => void errors.push(err))
    const calls: number[][] = []
    let failed = false
    await consumer.run({
      eachBatch: ({ batch, resolveOffset }) => {
        calls.push(batch.messages.map((m) => m.offset))
        expect(() => resolveOffset(batch.messages[0]!.offset + 100)).toThrow(/not an offset of this eachBatch call/)
        if (!failed) {
          failed = true
          for (const m of batch.messages.slice(0, 3)) resolveOffset(m.offset)
          throw new Error('the fourth message failed')
        }
      },
    })
    const waitFor = async (ok: () => boolean, what: string): Promise<void> => {
      for (let i = 0; i < 1500 && !ok(); i++) await new Promise((r) => setTimeout(r, 10))
      if (!ok()) throw new Error(`timed out waiting for ${what}`)
    }
    await waitFor(() => calls.length === 1 && errors.length === 1, 'the failed call')
    // Before, the partition stopped at the call's first message and all ten came again.
    expect(consumer.stopped().map((x) => x.offset)).toEqual([3])
    expect(consumer.position({ topic: 'c3r', partition: 0 })).toBe(3)
    consumer.resume([{ topic: 'c3r', partition: 0 }])
    await waitFor(() => calls.flat().includes(19), 'the rest after resume')
    expect(calls[1]![0]).toBe(3)
    await consumer.close()
  })

  test('partitions of one fetch take turns: a backlog on one does not hold back the records of another', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('fair', { partitions: 2 })
    const producer = sl.producer()
    await producer.sendBatch('fair', [
      ...Array.from({ length: 600 }, (_, i) => ({ value: `a${i}`, partition: 0 })),
      ...Array.from({ length: 5 }, (_, i) => ({ value: `b${i}`, partition: 1 })),
    ])
    await producer.close()
    for (const style of ['eachMessage', 'eachBatch', 'for await'] as const) {
      const consumer = sl.consumer({ autoOffsetReset: 'earliest', maxBatchMessages: 50 })
      await consumer.assign([
        { topic: 'fair', partition: 0 },
        { topic: 'fair', partition: 1 },
      ])
      const order: number[] = []
      if (style === 'for await') {
        for await (const m of consumer) {
          order.push(m.partition)
          if (order.length === 605) break
        }
      } else
        await consumer.run(
          style === 'eachMessage'
            ? { eachMessage: async ({ partition }) => void order.push(partition) }
            : { eachBatch: async ({ batch }) => void order.push(...batch.messages.map(() => batch.partition)) },
        )
      await until([], () => order.length === 605, 'all records')
      // Before, partition 1's records came after all 600 of partition 0 (fetched together, delivered one after the other).
      expect(order.indexOf(1), style).toBeLessThan(100)
      await consumer.close()
    }
  })

  test('a seek on a caught-up consumer takes effect without waiting out the long poll in flight', async () => {
    const sl = getSluice()
    await fill(sl, 'cut', 1, 5)
    // maxWaitMs far longer than the test may take: before, the seek waited for the fetch in flight to time out.
    const consumer = sl.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 30_000 })
    await consumer.assign([{ topic: 'cut', partition: 0 }])
    const seen: Message[] = []
    await consumer.run({ eachMessage: async ({ message }) => void seen.push(message) })
    await until(seen, (m) => m.length === 5, 'the first pass')
    await new Promise((r) => setTimeout(r, 100)) // caught up: a fetch now long-polls
    consumer.seek({ topic: 'cut', partition: 0, offset: 2 })
    // until() gives up after about 10 s, far below maxWaitMs.
    await until(seen, (m) => m.length === 8, 'the records after the seek, long before maxWaitMs')
    expect(seen.map((m) => m.offset)).toEqual([0, 1, 2, 3, 4, 2, 3, 4])
    await consumer.close()
  })

  test('commit(offsets) stores exactly the offsets given, checked first; a new member of the group starts there', async () => {
    const sl = getSluice()
    await fill(sl, 'c3c', 2, 10)
    const consumer = sl.consumer({ groupId: 'g3c', autoOffsetReset: 'earliest', autoCommit: false })
    await consumer.assign([
      { topic: 'c3c', partition: 0 },
      { topic: 'c3c', partition: 1 },
    ])
    // The message in hand counted: commit its offset + 1 from inside the handler (commit() alone stores the position,
    // which does not count it yet).
    await new Promise<void>((resolve) => {
      void consumer.run({
        eachMessage: async ({ partition, message }) => {
          if (partition === 0 && message.offset === 4) {
            await consumer.commit([{ topic: 'c3c', partition: 0, offset: message.offset + 1 }])
            resolve()
          }
        },
      })
    })
    await expect(consumer.commit([{ topic: 'c3c', partition: 7, offset: 1 }])).rejects.toThrow(
      /c3c\/7 is not this consumer's/,
    )
    await expect(consumer.commit([{ topic: 'c3c', partition: 1, offset: -1 }])).rejects.toThrow(/non-negative/)
    await consumer.close()
    const next = sl.consumer({ groupId: 'g3c', autoOffsetReset: 'earliest' })
    await next.assign([
      { topic: 'c3c', partition: 0 },
      { topic: 'c3c', partition: 1 },
    ])
    expect(next.position({ topic: 'c3c', partition: 0 })).toBe(5)
    expect(next.position({ topic: 'c3c', partition: 1 })).toBe(0) // nothing committed there: earliest
    await next.close()
  })

  test('seekToTimestamp goes to the first offset with timestamp >= T, or the log end when none', async () => {
    const sl = getSluice()
    const base = 1_700_000_000_000
    await fill(sl, 'c4', 2, 10, (i) => base + i * 1000)
    const consumer = sl.consumer()
    await consumer.assign([
      { topic: 'c4', partition: 0 },
      { topic: 'c4', partition: 1 },
    ])
    await consumer.seekToTimestamp('c4', base + 4500)
    expect(consumer.position({ topic: 'c4', partition: 0 })).toBe(5)
    expect(consumer.position({ topic: 'c4', partition: 1 })).toBe(5)
    await consumer.seekToTimestamp('c4', new Date(base + 60_000), [1])
    expect(consumer.position({ topic: 'c4', partition: 1 })).toBe(10)
    expect(consumer.position({ topic: 'c4', partition: 0 })).toBe(5)
  })

  test('pause stops delivery of a partition; resume continues it from where it was', async () => {
    const sl = getSluice()
    await fill(sl, 'c5', 2, 3)
    const consumer = sl.consumer({ valueCodec: 'string', autoOffsetReset: 'earliest', maxWaitMs: 20 })
    await consumer.assign([
      { topic: 'c5', partition: 0 },
      { topic: 'c5', partition: 1 },
    ])
    consumer.pause([{ topic: 'c5', partition: 1 }])
    expect(consumer.paused()).toEqual([{ topic: 'c5', partition: 1 }])
    const got: Message[] = []
    await consumer.run({ eachMessage: ({ message }) => void got.push(message) })
    await until(got, (m) => m.length === 3, 'partition 0')
    const producer = sl.producer()
    await producer.send('c5', { partition: 0, value: 'p0-3' })
    await until(got, (m) => m.length === 4, 'the new record of partition 0')
    expect(got.every((m) => m.partition === 0)).toBe(true)
    consumer.resume([{ topic: 'c5' }])
    await until(got, (m) => m.length === 7, 'partition 1 after resume')
    expect(values(got.filter((m) => m.partition === 1))).toEqual(['p1-0', 'p1-1', 'p1-2'])
  })

  test('pausing from inside a handler counts the message in hand: after resume nothing is delivered twice', async () => {
    const sl = getSluice()
    await fill(sl, 'c5p', 1, 6)
    // eachMessage: pause at offset 2 (the usual way to hold back), resume a little later.
    const each = sl.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 20 })
    await each.assign([{ topic: 'c5p', partition: 0 }])
    const got: Message[] = []
    let paused = false
    await each.run({
      eachMessage: ({ message }) => {
        got.push(message)
        if (message.offset === 2 && !paused) {
          paused = true
          each.pause([{ topic: 'c5p' }])
          setTimeout(() => each.resume([{ topic: 'c5p' }]), 50)
        }
      },
    })
    await until(got, (m) => m.length >= 6, 'six messages')
    await new Promise((r) => setTimeout(r, 100)) // room for a redelivery to show
    expect(got.map((m) => m.offset)).toEqual([0, 1, 2, 3, 4, 5])
    await each.close()
    // eachBatch in calls of two: the call holding 2 and 3 pauses; 4 and 5 come after resume, 2 and 3 not again.
    const batches = sl.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 20, maxBatchMessages: 2 })
    await batches.assign([{ topic: 'c5p', partition: 0 }])
    const seen: Message[] = []
    let batchPaused = false
    await batches.run({
      eachBatch: ({ batch }) => {
        seen.push(...batch.messages)
        if (batch.messages[0]!.offset === 2 && !batchPaused) {
          batchPaused = true
          batches.pause([{ topic: 'c5p' }])
          setTimeout(() => batches.resume([{ topic: 'c5p' }]), 50)
        }
      },
    })
    await until(seen, (m) => m.length >= 6, 'six messages in batches')
    await new Promise((r) => setTimeout(r, 100))
    expect(seen.map((m) => m.offset)).toEqual([0, 1, 2, 3, 4, 5])
    await batches.close()
    // The iterator: the message in hand when pausing counts once the loop asks for the next one.
    const iter = sl.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 20 })
    await iter.assign([{ topic: 'c5p', partition: 0 }])
    const offsets: number[] = []
    for await (const m of iter) {
      offsets.push(m.offset)
      if (m.offset === 2 && offsets.length === 3) {
        iter.pause([{ topic: 'c5p' }])
        setTimeout(() => iter.resume([{ topic: 'c5p' }]), 50)
      }
      if (m.offset === 5) break
    }
    expect(offsets).toEqual([0, 1, 2, 3, 4, 5])
    await iter.close()
  })

  test('a seek from inside a handler wins over the message in hand, also after a pause', async () => {
    const sl = getSluice()
    await fill(sl, 'c5s', 1, 6)
    const consumer = sl.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 20 })
    await consumer.assign([{ topic: 'c5s', partition: 0 }])
    const got: Message[] = []
    let sought = false
    await consumer.run({
      eachMessage: ({ message }) => {
        got.push(message)
        if (message.offset === 3 && !sought) {
          sought = true
          consumer.pause([{ topic: 'c5s' }]) // a pause first, then a seek back: the seek decides
          consumer.seek({ topic: 'c5s', partition: 0, offset: 1 })
          consumer.resume([{ topic: 'c5s' }])
        }
      },
    })
    await until(got, (m) => m.length >= 9, 'nine messages')
    await new Promise((r) => setTimeout(r, 100))
    expect(got.map((m) => m.offset)).toEqual([0, 1, 2, 3, 1, 2, 3, 4, 5])
    expect(consumer.position({ topic: 'c5s', partition: 0 })).toBe(6)
    await consumer.close()
  })

  test('eachBatch gets the fetched records of a partition and advances the position past them', async () => {
    const sl = getSluice()
    await fill(sl, 'c6', 1, 50)
    const consumer = sl.consumer({ autoOffsetReset: 'earliest' })
    await consumer.assign([{ topic: 'c6', partition: 0 }])
    const got: Message[] = []
    let batches = 0
    await consumer.run({
      eachBatch: ({ batch }) => {
        batches++
        expect(batch.logEndOffset).toBe(50)
        got.push(...batch.messages)
      },
    })
    await until(got, (m) => m.length === 50, 'all 50')
    expect(got.map((m) => m.offset)).toEqual(Array.from({ length: 50 }, (_, i) => i))
    expect(batches).toBeGreaterThanOrEqual(1)
    await until(got, () => consumer.position({ topic: 'c6', partition: 0 }) === 50, 'position 50')
  })

  test('eachBatch hands a fetch over in calls of at most maxBatchMessages, in order; a throw stops at its call', async () => {
    const sl = getSluice()
    await fill(sl, 'c6m', 1, 50) // one record batch of 50: the first fetch brings all of it
    const consumer = sl.consumer({ autoOffsetReset: 'earliest', maxBatchMessages: 16, maxWaitMs: 20 })
    await consumer.assign([{ topic: 'c6m', partition: 0 }])
    const errors: Array<{ err: Error; ctx: unknown }> = []
    consumer.on('error', (err: Error, ctx: unknown) => errors.push({ err, ctx }))
    const got: Message[] = []
    const sizes: number[] = []
    let failOnce = true
    await consumer.run({
      eachBatch: ({ batch }) => {
        if (batch.messages[0]!.offset === 32 && failOnce) {
          failOnce = false
          throw new Error('boom')
        }
        sizes.push(batch.messages.length)
        got.push(...batch.messages)
      },
    })
    await until(got, () => errors.length === 1, 'the failed call')
    expect(errors[0]!.ctx).toEqual({ topic: 'c6m', partition: 0, offset: 32 })
    expect(consumer.position({ topic: 'c6m', partition: 0 })).toBe(32)
    expect(sizes).toEqual([16, 16])
    consumer.resume([{ topic: 'c6m', partition: 0 }])
    await until(got, (m) => m.length === 50, 'all 50 after resume')
    expect(sizes).toEqual([16, 16, 16, 2])
    expect(got.map((m) => m.offset)).toEqual(Array.from({ length: 50 }, (_, i) => i))
    await consumer.close()
  })

  test('partitions behind take turns: with a small maxBytes no partition is drained before the others start', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('c6r', { partitions: 3 })
    const producer = sl.producer({ lingerMs: 0 })
    // Ten batches per partition, each of 20 records.
    for (let b = 0; b < 10; b++)
      await producer.sendBatch(
        'c6r',
        Array.from({ length: 60 }, (_, i) => ({ partition: i % 3, value: `b${b}-${i}` })),
      )
    await producer.close()
    // maxBytes 1: each fetch brings back exactly one batch, of the first partition in its request.
    const consumer = sl.consumer({ autoOffsetReset: 'earliest', maxBytes: 1 })
    await consumer.assign([0, 1, 2].map((partition) => ({ topic: 'c6r', partition })))
    const order: number[] = []
    const got: Message[] = []
    await consumer.run({
      eachBatch: ({ batch }) => {
        order.push(batch.partition)
        got.push(...batch.messages)
      },
    })
    await until(got, (m) => m.length === 600, 'all 600')
    await consumer.close()
    // Every run of three deliveries has all three partitions (round robin), until the end.
    for (let i = 0; i + 3 <= 9; i += 3) expect(new Set(order.slice(i, i + 3)).size, order.join(',')).toBe(3)
  })

  test('a throwing handler stops its partition at the failed record, emits error, and resume redelivers it', async () => {
    const sl = getSluice()
    await fill(sl, 'c7', 2, 5)
    const consumer = sl.consumer({ valueCodec: 'string', autoOffsetReset: 'earliest', maxWaitMs: 20 })
    await consumer.assign([
      { topic: 'c7', partition: 0 },
      { topic: 'c7', partition: 1 },
    ])
    const errors: Array<{ err: Error; ctx: unknown }> = []
    consumer.on('error', (err: Error, ctx: unknown) => errors.push({ err, ctx }))
    const got: Message[] = []
    let failOnce = true
    await consumer.run({
      eachMessage: ({ message }) => {
        if (message.partition === 0 && message.offset === 2 && failOnce) {
          failOnce = false
          throw new Error('boom')
        }
        got.push(message)
      },
    })
    await until(
      got,
      (m) => m.filter((x) => x.partition === 1).length === 5 && errors.length === 1,
      'partition 1 and the error',
    )
    expect(errors[0]!.err.message).toBe('boom')
    expect(errors[0]!.ctx).toEqual({ topic: 'c7', partition: 0, offset: 2 })
    expect(consumer.position({ topic: 'c7', partition: 0 })).toBe(2)
    expect(got.filter((m) => m.partition === 0).map((m) => m.offset)).toEqual([0, 1])
    consumer.resume([{ topic: 'c7', partition: 0 }])
    await until(got, (m) => m.filter((x) => x.partition === 0).length === 5, 'partition 0 after resume')
    expect(got.filter((m) => m.partition === 0).map((m) => m.offset)).toEqual([0, 1, 2, 3, 4])
  })

  test('commit with a groupId stores positions; a new consumer of the group starts there', async () => {
    const sl = getSluice()
    await fill(sl, 'c8', 1, 10)
    const first = sl.consumer({ groupId: 'g8', autoOffsetReset: 'earliest', autoCommit: false })
    await first.assign([{ topic: 'c8', partition: 0 }])
    const got: Message[] = []
    for await (const m of first) {
      got.push(m)
      if (m.offset === 6) break
    }
    await first.commit()
    await first.close()
    const second = sl.consumer({ groupId: 'g8', autoOffsetReset: 'earliest' })
    await second.assign([{ topic: 'c8', partition: 0 }])
    // offsets 0..5 were processed (6 was in hand at break), so the group resumes at 6
    expect(second.position({ topic: 'c8', partition: 0 })).toBe(6)
    await second.close()
  })

  test('a subscribed group member gets every partition, consumes, and commits on close', async () => {
    const sl = getSluice()
    await fill(sl, 'c9', 3, 4)
    const consumer: Consumer = sl.consumer({ groupId: 'g9', autoOffsetReset: 'earliest', valueCodec: 'string' })
    const assigned: unknown[] = []
    await consumer.subscribe(['c9'])
    const got: Message[] = []
    await consumer.run({ eachMessage: ({ message }) => void got.push(message) })
    await until(got, (m) => m.length === 12, 'all 12 records')
    assigned.push(...consumer.assignment())
    expect(assigned).toHaveLength(3)
    await consumer.close()
    const group = await sl.admin().describeGroup('g9')
    expect(group.offsets.map((o) => [o.partition, o.committedOffset]).sort()).toEqual([
      [0, 4],
      [1, 4],
      [2, 4],
    ])
  })
})

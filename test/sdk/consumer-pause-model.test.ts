// Random pauses and resumes, from inside handlers and from timers while handlers run, never lose or repeat a record:
// each of the three delivery paths (eachMessage, eachBatch in capped calls, for await) hands over every offset of
// every partition once, in order. Small fetches and batches of mixed sizes make many interleavings; the seed is
// printed on failure (replay with SEED=...).
import { expect, test } from 'vitest'
import { describeEachTransport } from '../../src/testing/sdk-harness.js'
import { Random, testSeed } from '../../src/testing/random.js'
import type { Consumer } from '../../src/client/consumer.js'
import type { Sluice } from '../../src/sluice.js'

const PARTITIONS = 2
const PER_PARTITION = 300
/** Wall-clock bound of one path's run; the pauses it makes add up to well under it. */
const RUN_MS_MAX = 20_000

async function fill(sl: Sluice, topic: string, rng: Random): Promise<void> {
  await sl.admin().createTopic(topic, { partitions: PARTITIONS })
  const producer = sl.producer({ lingerMs: 0 })
  for (let p = 0; p < PARTITIONS; p++)
    // Record batches of 1-40 records: each turn sends one.
    for (let i = 0; i < PER_PARTITION;) {
      const n = Math.min(PER_PARTITION - i, rng.int(1, 40))
      await producer.sendBatch(
        topic,
        Array.from({ length: n }, (_, j) => ({ partition: p, value: `${p}-${i + j}` })),
      )
      i += n
    }
  await producer.close()
}

/** Pauses `partition` (or every partition) now and resumes it after 0-15 ms. */
function pauseAwhile(consumer: Consumer, topic: string, rng: Random, partition: number): void {
  const selector = rng.bool(0.3) ? [{ topic }] : [{ topic, partition }]
  consumer.pause(selector)
  setTimeout(() => consumer.resume(selector), rng.int(0, 15))
}

/** A handler's body: sometimes pauses its own partition, sometimes waits a little (so timers pause mid-handler). */
async function work(consumer: Consumer, topic: string, rng: Random, partition: number): Promise<void> {
  if (rng.bool(0.08)) pauseAwhile(consumer, topic, rng, partition)
  if (rng.bool(0.1)) await new Promise((r) => setTimeout(r, rng.int(0, 3)))
}

/** Pauses and resumes random partitions every 1-6 ms until stopped. */
function churn(consumer: Consumer, topic: string, rng: Random): () => void {
  let timer: NodeJS.Timeout
  const tick = (): void => {
    pauseAwhile(consumer, topic, rng, rng.int(0, PARTITIONS - 1))
    timer = setTimeout(tick, rng.int(1, 6))
  }
  timer = setTimeout(tick, 1)
  return () => clearTimeout(timer)
}

function expectEachOnce(got: Array<{ partition: number; offset: number }>, seed: number): void {
  for (let p = 0; p < PARTITIONS; p++)
    expect(
      got.filter((m) => m.partition === p).map((m) => m.offset),
      `partition ${p}, seed ${seed}`,
    ).toEqual(Array.from({ length: PER_PARTITION }, (_, i) => i))
}

async function untilAll(got: unknown[], seed: number): Promise<void> {
  const deadline = Date.now() + RUN_MS_MAX
  while (got.length < PARTITIONS * PER_PARTITION && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  await new Promise((r) => setTimeout(r, 50)) // room for a redelivery to show
  expect(got.length, `seed ${seed}`).toBeGreaterThanOrEqual(PARTITIONS * PER_PARTITION)
}

describeEachTransport('consumer pause and resume, randomized', (getSluice) => {
  test('eachMessage, eachBatch and for await deliver every record once, in order, under random pauses', async () => {
    const seed = testSeed()
    const rng = new Random(seed)
    const sl = getSluice()
    await fill(sl, 'pm', rng)
    const assignment = Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: 'pm', partition, offset: 0 }))
    const options = () => ({ maxWaitMs: 20, maxBytes: rng.int(200, 4000), maxBatchMessages: rng.int(1, 20) })

    const each = sl.consumer(options())
    await each.assign(assignment)
    const got1: Array<{ partition: number; offset: number }> = []
    await each.run({
      eachMessage: async ({ message }) => {
        got1.push(message)
        await work(each, 'pm', rng, message.partition)
      },
    })
    const stop1 = churn(each, 'pm', rng)
    await untilAll(got1, seed)
    stop1()
    await each.close()
    expectEachOnce(got1, seed)

    const batches = sl.consumer(options())
    await batches.assign(assignment)
    const got2: Array<{ partition: number; offset: number }> = []
    await batches.run({
      eachBatch: async ({ batch }) => {
        got2.push(...batch.messages)
        await work(batches, 'pm', rng, batch.partition)
      },
    })
    const stop2 = churn(batches, 'pm', rng)
    await untilAll(got2, seed)
    stop2()
    await batches.close()
    expectEachOnce(got2, seed)

    const iter = sl.consumer(options())
    await iter.assign(assignment)
    const got3: Array<{ partition: number; offset: number }> = []
    const stop3 = churn(iter, 'pm', rng)
    const deadline = Date.now() + RUN_MS_MAX
    for await (const m of iter) {
      got3.push(m)
      if (got3.length >= PARTITIONS * PER_PARTITION || Date.now() > deadline) break
      await work(iter, 'pm', rng, m.partition)
    }
    stop3()
    await iter.close()
    expectEachOnce(got3, seed)
  })
})

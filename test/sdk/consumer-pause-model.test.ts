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
  // A resume due after the test closed the consumer is dropped (it would be a ClosedError).
  setTimeout(() => consumer.closed || consumer.resume(selector), rng.int(0, 15))
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

type Delivered = Array<{ partition: number; offset: number }>

/** Until every record is in `got` (bounded by RUN_MS_MAX), then a little longer for a redelivery to show. */
async function untilAll(got: unknown[], seed: number): Promise<void> {
  const deadline = Date.now() + RUN_MS_MAX
  while (got.length < PARTITIONS * PER_PARTITION && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  await new Promise((r) => setTimeout(r, 50)) // room for a redelivery to show
  expect(got.length, `seed ${seed}`).toBeGreaterThanOrEqual(PARTITIONS * PER_PARTITION)
}

/** A fresh consumer of every partition of 'pm' from offset 0, read by `consume` while a timer pauses and resumes
 *  partitions; then every record must have been delivered once, in order. */
async function consumeUnderChurn(
  consumer: Consumer,
  rng: Random,
  seed: number,
  consume: (consumer: Consumer, got: Delivered) => Promise<void>,
): Promise<void> {
  await consumer.assign(Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: 'pm', partition, offset: 0 })))
  const got: Delivered = []
  const stop = churn(consumer, 'pm', rng)
  try {
    await consume(consumer, got)
  } finally {
    stop()
    await consumer.close()
  }
  expectEachOnce(got, seed)
}

describeEachTransport('consumer pause and resume, randomized', (getSluice) => {
  test('eachMessage, eachBatch and for await deliver every record once, in order, under random pauses', async () => {
    const seed = testSeed()
    const rng = new Random(seed)
    const sl = getSluice()
    await fill(sl, 'pm', rng)
    const options = () => ({ maxWaitMs: 20, maxBytes: rng.int(200, 4000), maxBatchMessages: rng.int(1, 20) })

    await consumeUnderChurn(sl.consumer(options()), rng, seed, async (c, got) => {
      await c.run({
        eachMessage: async ({ message }) => {
          got.push(message)
          await work(c, 'pm', rng, message.partition)
        },
      })
      await untilAll(got, seed)
    })

    await consumeUnderChurn(sl.consumer(options()), rng, seed, async (c, got) => {
      await c.run({
        eachBatch: async ({ batch }) => {
          got.push(...batch.messages)
          await work(c, 'pm', rng, batch.partition)
        },
      })
      await untilAll(got, seed)
    })

    await consumeUnderChurn(sl.consumer(options()), rng, seed, async (c, got) => {
      const deadline = Date.now() + RUN_MS_MAX
      for await (const m of c) {
        got.push(m)
        if (got.length >= PARTITIONS * PER_PARTITION || Date.now() > deadline) break
        await work(c, 'pm', rng, m.partition)
      }
    })
  })
})

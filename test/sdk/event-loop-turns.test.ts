// Reading a backlog lets the process's event loop turn (timers, sockets, other I/O), embedded as over TCP: a replay
// and a consumer catching up each give way at least once per fetch.
import { expect, test } from 'vitest'
import { describeEachTransport } from '../../src/testing/sdk-harness.js'
import type { Sluice } from '../../src/sluice.js'

const RECORDS = 100_000

async function fillBacklog(sl: Sluice, topic: string): Promise<void> {
  await sl.admin().createTopic(topic, { partitions: 1 })
  const producer = sl.producer({ lingerMs: 0 })
  const value = Buffer.alloc(100, 0x61)
  await producer.sendBatch(
    topic,
    Array.from({ length: RECORDS }, () => ({ value })),
  )
  await producer.close()
}

/** Counts event-loop turns (a chain of setImmediate) until stopped. */
function turnCounter(): { stop(): number } {
  let turns = 0
  let running = true
  const tick = (): void => {
    if (!running) return
    turns++
    setImmediate(tick)
  }
  setImmediate(tick)
  return {
    stop() {
      running = false
      return turns
    },
  }
}

describeEachTransport('event-loop turns while a backlog is read', (getSluice) => {
  test('a replay of 100,000 records (about 11 MB, ~11 fetches) lets the event loop turn', async () => {
    const sl = getSluice()
    await fillBacklog(sl, 'backlog-r')
    const counter = turnCounter()
    let read = 0
    for await (const m of sl.replay({ topic: 'backlog-r', from: 0 })) if (m.offset >= 0) read++
    const turns = counter.stop()
    expect(read).toBe(RECORDS)
    // Embedded, before: 0 turns, the whole read one chain of microtasks.
    expect(turns).toBeGreaterThanOrEqual(5)
  })

  test('a consumer catching up on 100,000 records lets the event loop turn', async () => {
    const sl = getSluice()
    await fillBacklog(sl, 'backlog-c')
    const consumer = sl.consumer({ autoOffsetReset: 'earliest' })
    await consumer.assign([{ topic: 'backlog-c', partition: 0 }])
    let read = 0
    let counter: { stop(): number } | null = null
    let turns = -1
    let done!: () => void
    const finished = new Promise<void>((resolve) => (done = resolve))
    await consumer.run({
      eachBatch: async ({ batch }) => {
        counter ??= turnCounter()
        read += batch.messages.length
        if (read >= RECORDS && turns < 0) {
          turns = counter.stop()
          done()
        }
      },
    })
    await finished
    await consumer.close()
    expect(read).toBe(RECORDS)
    expect(turns).toBeGreaterThanOrEqual(5)
  })
})

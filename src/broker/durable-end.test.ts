// durableEndsNow answers each log's end as of the call once an fsync it asked for covers it, never more than the
// durable offset: when no fsync comes within the wait, or the broker closes, it answers the durable offsets as they
// stand, and it leaves no listener behind.
import { describe, expect, test } from 'vitest'
import type { PartitionLogApi } from '../storage/api.js'
import { durableEndsNow } from './durable-end.js'
import { LongPolls } from './long-poll.js'

/** The slice of a log durableEndsNow and LongPolls use: ends, durable listeners, flush requests (counted). */
function fakeLog(logEndOffset: number, durableOffset: number) {
  const listeners = new Set<(durable: number) => void>()
  const log = {
    logEndOffset,
    durableOffset,
    flushRequests: 0,
    listeners,
    onDurable(listener: (durable: number) => void) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    onAppend() {
      throw new Error('not used')
    },
    requestFlush() {
      log.flushRequests++
    },
    /** An fsync completing up to `offset`. */
    advance(offset: number) {
      log.durableOffset = offset
      for (const l of [...listeners]) l(offset)
    },
  }
  return log
}
const api = (...logs: Array<ReturnType<typeof fakeLog>>): PartitionLogApi[] => logs as unknown as PartitionLogApi[]
const tick = (ms = 10): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

describe('durableEndsNow', () => {
  test('logs durable to their ends answer at once, without asking for an fsync', async () => {
    const a = fakeLog(7, 7)
    const b = fakeLog(0, 0)
    expect(await durableEndsNow(new LongPolls(), api(a, b), 1000)).toEqual([7, 0])
    expect(a.flushRequests + b.flushRequests).toBe(0)
  })

  test('asks for fsyncs and answers every end as of the call once fsyncs cover them all', async () => {
    const a = fakeLog(10, 4)
    const b = fakeLog(3, 3)
    const c = fakeLog(5, 0)
    let answer: number[] | null = null
    const done = durableEndsNow(new LongPolls(), api(a, b, c), 10_000).then((ends) => (answer = ends))
    expect([a.flushRequests, b.flushRequests, c.flushRequests]).toEqual([1, 0, 1])
    a.advance(8) // an earlier round: not enough
    a.logEndOffset = 12 // appended after the call: not waited for
    await tick()
    c.advance(5)
    await tick()
    expect(answer).toBeNull()
    a.advance(12)
    await done
    expect(answer).toEqual([10, 3, 5])
    expect(a.listeners.size + c.listeners.size).toBe(0)
  })

  test('when no fsync comes within the wait, answers the durable offsets as they stand', async () => {
    const a = fakeLog(10, 4)
    const answer = durableEndsNow(new LongPolls(), api(a), 30)
    a.advance(6)
    expect(await answer).toEqual([6])
    expect(a.listeners.size).toBe(0)
  })

  test("the broker's close ends the wait at once", async () => {
    const polls = new LongPolls()
    const a = fakeLog(10, 4)
    const answer = durableEndsNow(polls, api(a), 60_000)
    await tick()
    polls.close()
    expect(await answer).toEqual([4])
    expect(a.listeners.size).toBe(0)
  })
})

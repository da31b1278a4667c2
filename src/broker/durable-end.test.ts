// durableEndNow answers the log end once an fsync it asked for covers it, and never more than the durable offset:
// when no fsync comes within the wait it answers the durable offset as it stands.
import { describe, expect, test } from 'vitest'
import type { PartitionLogApi } from '../storage/api.js'
import { durableEndNow } from './durable-end.js'

/** The slice of a log durableEndNow uses: ends, durable listeners, flush requests (each one recorded). */
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
const api = (log: ReturnType<typeof fakeLog>): PartitionLogApi => log as unknown as PartitionLogApi

describe('durableEndNow', () => {
  test('a log durable to its end answers at once, without asking for an fsync', async () => {
    const log = fakeLog(7, 7)
    expect(await durableEndNow(api(log), 1000)).toBe(7)
    expect(log.flushRequests).toBe(0)
  })

  test('asks for an fsync and answers the end of the log as of the call once the fsync covers it', async () => {
    const log = fakeLog(10, 4)
    const answer = durableEndNow(api(log), 10_000)
    expect(log.flushRequests).toBe(1)
    log.advance(8) // an earlier round: not enough
    log.logEndOffset = 12 // appended after the call: not waited for
    let settled = false
    void answer.then(() => (settled = true))
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(settled).toBe(false)
    log.advance(12)
    expect(await answer).toBe(10)
    expect(log.listeners.size).toBe(0)
  })

  test('when no fsync comes within the wait, answers the durable offset as it stands and unsubscribes', async () => {
    const log = fakeLog(10, 4)
    const answer = durableEndNow(api(log), 20)
    log.advance(6)
    expect(await answer).toBe(6)
    expect(log.listeners.size).toBe(0)
  })
})

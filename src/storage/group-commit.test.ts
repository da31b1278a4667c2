// Unit tests of the group-commit flusher with fake logs: one round flushes every log that asked, a log that asks while
// a round runs waits for the next round (and is flushed once however often it asked), and idle() waits for both.
import { describe, expect, test } from 'vitest'
import { GroupCommitFlusher, type Flushable } from './group-commit.js'

class FakeLog implements Flushable {
  flushes = 0
  release: (() => void) | null = null
  constructor(readonly hold = false) {}
  flushRound(): Promise<void> {
    this.flushes++
    if (!this.hold) return Promise.resolve()
    return new Promise((resolve) => {
      this.release = resolve
    })
  }
}

describe('GroupCommitFlusher', () => {
  test('requests made before a round starts share it; a log asking many times is flushed once', async () => {
    const flusher = new GroupCommitFlusher()
    const logs = [new FakeLog(), new FakeLog(), new FakeLog()]
    for (let i = 0; i < 10; i++) for (const log of logs) flusher.request(log)
    await flusher.idle()
    expect(logs.map((l) => l.flushes)).toEqual([1, 1, 1])
    expect(flusher.stats).toEqual({ rounds: 1, logFlushes: 3 })
  })

  test('a log that asks while a round runs is flushed in the next round, after the running one ends', async () => {
    const flusher = new GroupCommitFlusher()
    const slow = new FakeLog(true)
    const late = new FakeLog()
    flusher.request(slow)
    await new Promise((resolve) => setImmediate(resolve))
    expect(slow.flushes).toBe(1)
    flusher.request(late)
    flusher.request(slow)
    await new Promise((resolve) => setImmediate(resolve))
    expect(late.flushes).toBe(0) // waits for the next round
    const slowRelease = slow.release!
    slowRelease()
    for (let i = 0; i < 10 && slow.flushes < 2; i++) await new Promise((resolve) => setImmediate(resolve))
    expect(late.flushes).toBe(1)
    expect(slow.flushes).toBe(2)
    slow.release!()
    await flusher.idle()
    expect(flusher.stats.rounds).toBe(2)
  })
})

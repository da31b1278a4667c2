// Unit tests of the group-commit flusher with fake logs: one turn starts a flush of every log that asked, a log that
// asks while its own flush runs is flushed once more after it (however often it asked), other logs never wait for it,
// and idle() waits for all of it.
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

  test('a log asking while its own flush runs is flushed once more after it; another log asking meanwhile starts at once', async () => {
    const flusher = new GroupCommitFlusher()
    const slow = new FakeLog(true)
    const late = new FakeLog()
    flusher.request(slow)
    await new Promise((resolve) => setImmediate(resolve))
    expect(slow.flushes).toBe(1)
    flusher.request(late)
    flusher.request(slow)
    flusher.request(slow)
    await new Promise((resolve) => setImmediate(resolve))
    expect(late.flushes).toBe(1) // does not wait for the slow log's flush
    expect(slow.flushes).toBe(1) // its second flush waits for its first
    const slowRelease = slow.release!
    slowRelease()
    for (let i = 0; i < 10 && slow.flushes < 2; i++) await new Promise((resolve) => setImmediate(resolve))
    expect(slow.flushes).toBe(2)
    slow.release!()
    await flusher.idle()
    expect([slow.flushes, late.flushes]).toEqual([2, 1])
    expect(flusher.stats).toEqual({ rounds: 3, logFlushes: 3 })
  })
})

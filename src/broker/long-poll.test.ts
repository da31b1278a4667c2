import { describe, expect, test } from 'vitest'
import { makeBatch } from '../testing/broker-fixture.js'
import { MemoryPartitionLog } from '../testing/memory-storage.js'
import { DEFAULT_TOPIC_CONFIG, toLogConfig } from '../topics/topic-config.js'
import { LongPolls } from './long-poll.js'

function log(): MemoryPartitionLog {
  return new MemoryPartitionLog('t/0', toLogConfig(DEFAULT_TOPIC_CONFIG))
}

describe('LongPolls', () => {
  test('an append to any watched log wakes the wait, and every listener is removed afterwards', async () => {
    const polls = new LongPolls(10)
    const a = log()
    const b = log()
    const waiting = polls.wait([a, b], 60_000)
    expect(polls.waiterCount).toBe(1)
    b.append(makeBatch(1))
    expect(await waiting).toBe('append')
    expect(polls.waiterCount).toBe(0)
    // A later append must not reach a finished wait (no leaked listener re-resolving or throwing).
    a.append(makeBatch(1))
    expect(polls.waiterCount).toBe(0)
  })

  test('a wait with no append ends as a timeout', async () => {
    expect(await new LongPolls(10).wait([log()], 5)).toBe('timeout')
  })

  test('waits past the waiter bound answer "full" at once instead of parking', async () => {
    const polls = new LongPolls(2)
    const l = log()
    const parked = [polls.wait([l], 60_000), polls.wait([l], 60_000)]
    expect(await polls.wait([l], 60_000)).toBe('full')
    polls.close()
    expect(await Promise.all(parked)).toEqual(['closed', 'closed'])
    expect(await polls.wait([l], 60_000)).toBe('closed')
  })
})

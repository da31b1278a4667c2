// A throttled event is logged at most once per interval, and each line counts the events since the one before.
import { expect, test } from 'vitest'
import { LogThrottle } from './log-throttle.js'

test('one line per interval, counting every event since the last line', () => {
  const t = new LogThrottle(10_000)
  expect(t.note(0)).toBe(1)
  expect(t.note(1)).toBeNull()
  expect(t.note(9_999)).toBeNull()
  expect(t.note(10_000)).toBe(3)
  expect(t.note(10_001)).toBeNull()
  expect(t.note(25_000)).toBe(2)
})

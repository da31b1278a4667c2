// Fifo keeps first-in first-out order across compactions and removeWhere keeps the order of what stays.
import { expect, test } from 'vitest'
import { Fifo } from './fifo.js'

test('items come out in insertion order across many pushes and shifts (compaction included)', () => {
  const q = new Fifo<number>()
  const out: number[] = []
  for (let i = 0; i < 10_000; i++) {
    q.push(i)
    if (i % 3 === 0) out.push(q.shift()!)
  }
  while (q.length > 0) out.push(q.shift()!)
  expect(out).toEqual(Array.from({ length: 10_000 }, (_, i) => i))
  expect(q.shift()).toBeUndefined()
  expect(q.peek()).toBeUndefined()
})

test('removeWhere returns the matches and leaves the rest in order', () => {
  const q = new Fifo<number>()
  for (let i = 0; i < 10; i++) q.push(i)
  q.shift()
  expect(q.removeWhere((n) => n % 2 === 0)).toEqual([2, 4, 6, 8])
  expect(q.length).toBe(5)
  expect([q.shift(), q.shift(), q.peek()]).toEqual([1, 3, 5])
})

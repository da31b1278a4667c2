// Partitions are created only while the process's descriptor limit leaves room for them (3 each) and a headroom;
// past it the creation is refused naming the numbers, and unknown numbers (no /proc) refuse nothing.
import { expect, test } from 'vitest'
import { InvalidArgumentError } from '../errors.js'
import { checkFdBudget, fdLimit, fdsInUse, FD_HEADROOM, FDS_PER_PARTITION } from './fd-budget.js'

test('the budget: room for 3 descriptors per partition plus the headroom, or a refusal naming the numbers', () => {
  const limit = 1024
  const inUse = 100
  const fits = Math.floor((limit - inUse - FD_HEADROOM) / FDS_PER_PARTITION)
  expect(() => checkFdBudget(fits, 'topic "t" of n partitions', inUse, limit)).not.toThrow()
  expect(() => checkFdBudget(fits + 1, 'topic "t"', inUse, limit)).toThrow(InvalidArgumentError)
  expect(() => checkFdBudget(fits + 1, 'topic "t"', inUse, limit)).toThrow(
    /topic "t" needs about \d+ more file descriptors \(3 per partition\), but this process has 100 open of its limit of 1024/,
  )
  expect(() => checkFdBudget(10_000, 't', null, limit)).not.toThrow()
  expect(() => checkFdBudget(10_000, 't', inUse, null)).not.toThrow()
})

test('on Linux the process numbers are read from /proc', () => {
  expect(fdsInUse()).toBeGreaterThan(2)
  expect(fdLimit()).toBeGreaterThan(fdsInUse()!)
})

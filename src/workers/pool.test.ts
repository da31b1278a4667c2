// The worker pool runs many tasks with one 'error' listener (one was added per task before: a listener leak) and
// gives the same scan as the in-thread code.
import { describe, expect, test } from 'vitest'
import { makeBatch } from '../testing/storage-data.js'
import { setBaseOffset } from '../storage/record-batch.js'
import { WorkerPool } from './pool.js'
import { buildIndexes } from './segment-scan.js'

describe('WorkerPool', () => {
  test('twenty tasks leave exactly one error listener on the pool, and each result matches the in-thread scan', async () => {
    const batches = Array.from({ length: 5 }, (_, i) => {
      const b = makeBatch(`v${i}`, 2)
      setBaseOffset(b, 0, 2 * i)
      return b
    })
    const bytes = Buffer.concat(batches)
    const pool = new WorkerPool()
    try {
      const expected = buildIndexes(bytes, 0, 64)
      for (let i = 0; i < 20; i++) {
        const scan = await pool.buildIndexes(bytes, 0, 64)
        expect(scan.nextOffset).toBe(expected.nextOffset)
        expect(scan.offsetEntries).toEqual(expected.offsetEntries)
      }
      expect(pool.errorListenerCount).toBe(1)
    } finally {
      await pool.close()
    }
  })
})

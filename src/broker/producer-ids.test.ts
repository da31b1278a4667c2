// Producer ids are never reused across restarts: blocks are reserved in the file before use, and a damaged file no
// longer stops the broker: ids go on from a time-based start above any sequential id, and the file is kept aside.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, expect, test } from 'vitest'
import { FILE_NAME, PRODUCER_ID_BLOCK, ProducerIdAllocator } from './producer-ids.js'

const dirs: string[] = []
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})
async function tmp(): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'sluice-pids-'))
  dirs.push(d)
  return d
}

test('ids go on after a restart from the next unreserved block', async () => {
  const dir = await tmp()
  const first = await ProducerIdAllocator.open(dir)
  expect([await first.next(), await first.next()]).toEqual([0, 1])
  const second = await ProducerIdAllocator.open(dir)
  expect(await second.next()).toBe(PRODUCER_ID_BLOCK)
})

test('a damaged file is kept aside and ids go on from a time-based start above every id handed out before', async () => {
  const dir = await tmp()
  const first = await ProducerIdAllocator.open(dir)
  await first.next()
  const file = path.join(dir, FILE_NAME)
  await writeFile(file, '{"version":1,"nextBlo') // before: the broker refused to start
  const told: string[] = []
  const before = Date.now()
  const second = await ProducerIdAllocator.open(dir, (m) => void told.push(m))
  const id = await second.next()
  expect(id).toBeGreaterThanOrEqual(before * 1000)
  expect(Number.isSafeInteger(id + 1_000_000)).toBe(true)
  expect(told).toHaveLength(1)
  expect(told[0]).toMatch(/could not be read .*kept as producer-ids\.json\.damaged; producer ids go on from \d+/)
  expect(await readFile(`${file}.damaged`, 'utf8')).toBe('{"version":1,"nextBlo')
  // The new start is on disk: the next run goes on above it.
  const third = await ProducerIdAllocator.open(dir)
  expect(await third.next()).toBeGreaterThan(id)
})

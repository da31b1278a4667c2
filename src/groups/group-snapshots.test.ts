// Group snapshot files: saves of one group coalesce (the newest wins, every caller is answered once a snapshot at
// least as new as its own is durable), an empty snapshot removes the file, and a failed write is retried later.
import { createHash } from 'node:crypto'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { GroupSnapshots } from './group-snapshots.js'

let dir: string
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-group-snapshots-'))
})
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true })
})

const snap = (groupId: string, n: number): string => JSON.stringify({ version: 1, groupId, n })

async function onDisk(): Promise<unknown[]> {
  const groupsDir = path.join(dir, 'groups')
  const names = (await fs.readdir(groupsDir)).filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort()
  return Promise.all(names.map(async (n) => JSON.parse(await fs.readFile(path.join(groupsDir, n), 'utf8')) as unknown))
}

describe('GroupSnapshots', () => {
  test('saves made while one is written coalesce into one more write of the newest; each resolves once it is durable', async () => {
    const { store } = await GroupSnapshots.open(dir)
    const saves = Array.from({ length: 50 }, (_, i) => store.save('g', snap('g', i)))
    let durableWhenFirstResolved: unknown[] = []
    await saves[0]!.then(async () => {
      durableWhenFirstResolved = await onDisk()
    })
    await Promise.all(saves)
    expect(durableWhenFirstResolved).toHaveLength(1)
    expect(await onDisk()).toEqual([{ version: 1, groupId: 'g', n: 49 }])
    // Reopened: the newest snapshot is what comes back.
    const { snapshots } = await GroupSnapshots.open(dir)
    expect(snapshots).toEqual([{ version: 1, groupId: 'g', n: 49 }])
    await store.save('g', '')
    expect(await onDisk()).toEqual([])
  })

  test('a failed write rejects its savers; the next save of the group writes again', async () => {
    const { store } = await GroupSnapshots.open(dir)
    await store.save('g', snap('g', 1))
    // The rename over the snapshot fails while a non-empty directory stands where the file goes.
    const file = path.join(dir, 'groups', `${createHash('sha256').update('g').digest('hex')}.json`)
    await fs.rm(file)
    await fs.mkdir(path.join(file, 'blocker'), { recursive: true })
    await expect(store.save('g', snap('g', 2))).rejects.toThrow(/could not write/)
    await fs.rm(file, { recursive: true })
    await store.save('g', snap('g', 2))
    expect(await onDisk()).toEqual([{ version: 1, groupId: 'g', n: 2 }])
    expect((await fs.readdir(path.join(dir, 'groups'))).filter((n) => n.endsWith('.tmp'))).toEqual([])
  })

  test('a queued write that finds its snapshot already durable does nothing, and later saves still write', async () => {
    const { store } = await GroupSnapshots.open(dir)
    const first = store.save('g', snap('g', 1)) // in flight
    const second = store.save('g', snap('g', 2)) // queued behind it
    const back = store.save('g', snap('g', 1)) // the queued write now carries 1 again: already durable when it runs
    await Promise.all([first, second, back])
    expect(await onDisk()).toEqual([{ version: 1, groupId: 'g', n: 1 }])
    await store.settled()
    await store.save('g', snap('g', 3))
    expect(await onDisk()).toEqual([{ version: 1, groupId: 'g', n: 3 }])
  })
})

// A consumer group spread over three child processes talking TCP to a real broker: one member is killed with SIGKILL
// mid-consumption; its partitions move to the survivors within the session timeout and no record is lost (duplicates
// only where at-least-once allows them: on the killed member's partitions, past its last commit).
import { spawn, type ChildProcess } from 'node:child_process'
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, expect, test } from 'vitest'
import { openBroker, type Broker } from '../src/broker/broker.js'
import { silentLogger } from '../src/broker/logger.js'
import { startServer, type SluiceServer } from '../src/server/server.js'
import { Sluice } from '../src/sluice.js'

const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'group-member.ts')
const PARTITIONS = 6

interface Member {
  child: ChildProcess
  owned: Set<number>
  records: Array<{ partition: number; offset: number; value: string }>
  exited: Promise<void>
}

function startMember(broker: string): Member {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    env: { ...process.env, BROKER: broker, GROUP: 'billing', TOPIC: 'orders', SLEEP_MS: '3' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const member: Member = {
    child,
    owned: new Set(),
    records: [],
    exited: new Promise((resolve) => child.once('exit', () => resolve())),
  }
  let pending = ''
  child.stdout!.setEncoding('utf8')
  child.stdout!.on('data', (chunk: string) => {
    pending += chunk
    let newline: number
    while ((newline = pending.indexOf('\n')) >= 0) {
      const line = JSON.parse(pending.slice(0, newline)) as {
        event?: string
        partitions?: number[]
        partition?: number
        offset?: number
        value?: string
      }
      pending = pending.slice(newline + 1)
      if (line.event === 'assign') for (const p of line.partitions!) member.owned.add(p)
      else if (line.event === 'revoke') for (const p of line.partitions!) member.owned.delete(p)
      else if (line.event === undefined)
        member.records.push({ partition: line.partition!, offset: line.offset!, value: line.value! })
    }
  })
  return member
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time')
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

test('a member killed with SIGKILL: its partitions move to the others, which lose no record', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-group-kill-'))
  cleanups.push(() => fs.rm(dir, { recursive: true, force: true }))
  const broker: Broker = await openBroker({ dataDir: dir }, { logger: silentLogger })
  cleanups.push(() => broker.close())
  const server: SluiceServer = await startServer(broker, { host: '127.0.0.1', port: 0, logger: silentLogger })
  cleanups.push(() => server.close())
  const address = `127.0.0.1:${server.port}`
  const sl = await Sluice.connect({ brokers: [address] })
  cleanups.push(() => sl.close())

  await sl.admin().createTopic('orders', { partitions: PARTITIONS })
  const producer = sl.producer()
  const produced: string[] = []
  const sendRange = async (from: number, to: number): Promise<void> => {
    const messages = []
    for (let i = from; i < to; i++) messages.push({ key: `user-${i % 50}`, value: `order-${i}` })
    await producer.sendBatch('orders', messages)
    for (let i = from; i < to; i++) produced.push(`order-${i}`)
  }
  await sendRange(0, 1200)

  const members = [startMember(address), startMember(address), startMember(address)]
  cleanups.push(async () => {
    for (const m of members) m.child.kill('SIGKILL')
    await Promise.all(members.map((m) => m.exited))
  })
  const [victim, ...survivors] = members as [Member, Member, Member]
  // Wait for a settled assignment covering every partition, with the victim part-way through its share.
  await waitFor(() => {
    const owners = members.flatMap((m) => [...m.owned])
    return owners.length === PARTITIONS && new Set(owners).size === PARTITIONS && members.every((m) => m.owned.size > 0)
  }, 30_000)
  await waitFor(() => victim.records.length >= 20, 30_000)
  const victimPartitions = [...victim.owned]
  victim.child.kill('SIGKILL')
  await victim.exited
  const killedAt = survivors.map((m) => m.records.length)

  await sendRange(1200, 1500)
  const consumed = (): Set<string> => new Set(members.flatMap((m) => m.records.map((r) => r.value)))
  await waitFor(() => produced.every((v) => consumed().has(v)), 40_000)

  // Nothing lost: every produced record was delivered to some member.
  const all = consumed()
  expect(produced.filter((v) => !all.has(v))).toEqual([])
  // The victim's partitions were taken over: survivors delivered records of each of them after the kill.
  const takenOver = new Set(survivors.flatMap((m, i) => m.records.slice(killedAt[i]).map((r) => r.partition)))
  for (const p of victimPartitions) expect(takenOver.has(p)).toBe(true)
  // Duplicates only on the killed member's partitions (at-least-once past its last commit).
  const seen = new Map<string, number>()
  for (const r of members.flatMap((m) => m.records))
    seen.set(`${r.partition}:${r.value}`, (seen.get(`${r.partition}:${r.value}`) ?? 0) + 1)
  const duplicatePartitions = new Set([...seen].filter(([, n]) => n > 1).map(([k]) => Number(k.split(':')[0])))
  for (const p of duplicatePartitions) expect(victimPartitions).toContain(p)
  // The group now holds two members owning all six partitions between them.
  const description = await sl.admin().describeGroup('billing')
  expect(description.members).toHaveLength(2)
  const owned = description.members.flatMap((m) => m.assignment.map((a) => a.partition)).sort((a, b) => a - b)
  expect(owned).toEqual([0, 1, 2, 3, 4, 5])
})

// The Sluice demo, end to end over TCP: a broker on 127.0.0.1:0, keyed orders produced (one key, one partition), a
// three-member consumer group (each member its own process) committing as it goes, one member killed with SIGKILL and
// its partitions taken over by the other two from the committed offsets, then a replay by time of the last minutes
// with no group. Everything it starts it stops. Run: node --import tsx scripts/demo.ts
import { fork, type ChildProcess } from 'node:child_process'
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { openBroker, Sluice, startServer } from '../src/index.js'

const TOPIC = 'orders'
const GROUP = 'billing'
const PARTITIONS = 6
const USERS = 40
const ORDERS_PER_ROUND = 300
const SESSION_TIMEOUT_MS = 3_000
const WAIT_MS_MAX = 60_000

interface Consumed {
  member: string
  partition: number
  offset: number
  round: number
}

// ---- a group member (child process) ------------------------------------------------------------------------------

async function member(name: string, broker: string): Promise<void> {
  const sluice = await Sluice.connect({ brokers: [broker], clientId: name })
  const consumer = sluice.consumer({
    groupId: GROUP,
    autoOffsetReset: 'earliest',
    sessionTimeoutMs: SESSION_TIMEOUT_MS,
    heartbeatIntervalMs: 300,
    autoCommitIntervalMs: 200,
  })
  await consumer.subscribe([TOPIC])
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const order = JSON.parse(String(message.value)) as { round: number }
      const consumed: Consumed = { member: name, partition, offset: message.offset, round: order.round }
      process.send?.(consumed)
    },
  })
  process.send?.({ ready: name })
  process.on('disconnect', () => void sluice.close().then(() => process.exit(0)))
}

// ---- the conductor ------------------------------------------------------------------------------------------------

function say(text: string): void {
  process.stdout.write(`${text}\n`)
}

async function waitUntil(what: string, check: () => boolean): Promise<void> {
  const end = Date.now() + WAIT_MS_MAX
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function produceRound(sluice: Sluice, round: number): Promise<void> {
  const producer = sluice.producer({ acks: 'all', idempotent: true, lingerMs: 5 })
  const messages = Array.from({ length: ORDERS_PER_ROUND }, (_, i) => ({
    key: `user-${i % USERS}`,
    value: JSON.stringify({ round, order: i, amount: (i * 37) % 100 }),
  }))
  const metas = await producer.sendBatch(TOPIC, messages)
  await producer.close()
  const byKey = new Map<string, Set<number>>()
  for (const [i, m] of metas.toArray().entries()) {
    const key = messages[i]?.key ?? ''
    byKey.set(key, (byKey.get(key) ?? new Set()).add(m.partition))
  }
  const oneEach = [...byKey.values()].every((s) => s.size === 1)
  say(`round ${round}: produced ${metas.length} orders for ${USERS} users; every key on one partition: ${oneEach}`)
}

async function conductor(): Promise<void> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-demo-'))
  const broker = await openBroker({ dataDir }, { logger: { info() {}, warn() {}, error() {} } })
  const server = await startServer(broker, { host: '127.0.0.1', port: 0 })
  const address = `${server.host}:${server.port}`
  say(`broker listening on ${address} (data in ${dataDir})`)
  const members = new Map<string, ChildProcess>()
  const consumed: Consumed[] = []
  const ready = new Set<string>()
  try {
    const sluice = await Sluice.connect({ brokers: [address] })
    await sluice.admin().createTopic(TOPIC, { partitions: PARTITIONS })
    const startedAt = Date.now()
    for (const name of ['member-a', 'member-b', 'member-c']) {
      const child = fork(fileURLToPath(import.meta.url), ['member', name, address], {
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      })
      child.on('message', (m: Consumed | { ready: string }) => {
        if ('ready' in m) ready.add(m.ready)
        else consumed.push(m)
      })
      members.set(name, child)
    }
    await waitUntil('three members', () => ready.size === 3)
    const admin = sluice.admin()
    let shares: number[] = []
    const settleEnd = Date.now() + WAIT_MS_MAX
    for (;;) {
      const g = await admin.describeGroup(GROUP)
      shares = g.members.map((m) => m.assignment.length)
      if (g.state === 'Stable' && g.members.length === 3 && shares.reduce((x, y) => x + y, 0) === PARTITIONS) break
      if (Date.now() > settleEnd) throw new Error('the group did not settle')
      await new Promise((r) => setTimeout(r, 100))
    }
    const show = (m: Map<number, string>) =>
      [...m]
        .sort(([x], [y]) => x - y)
        .map(([p, o]) => `${p}→${o}`)
        .join(' ')
    say(`group ${GROUP} is stable: three members owning ${shares.join(' + ')} of the ${PARTITIONS} partitions`)
    const roundDone = (round: number) =>
      new Set(consumed.filter((c) => c.round === round).map((c) => `${c.partition}/${c.offset}`)).size >=
      ORDERS_PER_ROUND
    const owners = (round: number) => {
      const map = new Map<number, string>()
      for (const c of consumed) if (c.round === round) map.set(c.partition, c.member)
      return map
    }
    await produceRound(sluice, 1)
    await waitUntil('round 1 consumed', () => roundDone(1))
    const before = owners(1)
    say(`round 1 consumed; partition → member that read it: ${show(before)}`)
    await new Promise((r) => setTimeout(r, 500)) // let the last auto-commits land

    const victim = 'member-b'
    members.get(victim)?.kill('SIGKILL')
    members.delete(victim)
    say(
      `${victim} killed with SIGKILL (no goodbye); the coordinator notices after its ${SESSION_TIMEOUT_MS} ms session`,
    )
    await produceRound(sluice, 2)
    await waitUntil('round 2 consumed', () => roundDone(2))
    const after = owners(2)
    const moved = [...before].filter(([, m]) => m === victim).map(([p]) => `${p}→${after.get(p) ?? '?'}`)
    say(`the survivors took over ${victim}'s partitions: ${moved.join(' ')}`)
    const seenTwice = consumed.length - new Set(consumed.map((c) => `${c.partition}/${c.offset}`)).size
    say(`records delivered twice after the kill (at-least-once, bounded by the commit interval): ${seenTwice}`)

    await new Promise((r) => setTimeout(r, 500)) // let the survivors' last auto-commits land
    const since = new Date(startedAt - 1000)
    let replayed = 0
    for await (const m of sluice.replay({ topic: TOPIC, from: since, to: 'latest' })) {
      if (m.value !== null) replayed += 1
    }
    say(`replay of everything since ${since.toISOString()} (no group, bounded): ${replayed} orders`)
    const group = await sluice.admin().describeGroup(GROUP)
    say(
      `group ${GROUP}: ${group.members.length} members, total lag ${group.offsets.reduce((n, o) => n + Math.max(0, o.lag), 0)}`,
    )
    await sluice.close()
  } finally {
    for (const child of members.values()) {
      child.disconnect()
      await new Promise((r) => child.once('exit', r))
    }
    await server.close()
    await broker.close()
    await fs.rm(dataDir, { recursive: true, force: true })
  }
  say('demo done: broker stopped, data removed')
}

if (process.argv[2] === 'member') {
  await member(process.argv[3] ?? 'member', process.argv[4] ?? '')
} else {
  await conductor()
}

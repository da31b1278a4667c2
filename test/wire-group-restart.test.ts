// A broker restart does not rebalance a consumer group: the member (over TCP, reconnecting by itself) keeps its
// member id, epoch and partitions, commits as before, and reads on from where it was; a broker opened on a copy of
// the data dir without the group snapshots makes the same member rejoin (what every restart did before).
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, expect, test } from 'vitest'
import { openBroker, type Broker } from '../src/broker/broker.js'
import { silentLogger } from '../src/broker/logger.js'
import type { Consumer } from '../src/client/consumer.js'
import { startServer, type SluiceServer } from '../src/server/server.js'
import { Sluice } from '../src/sluice.js'

const PARTITIONS = 3

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function until(check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  // Bounded by the deadline.
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** A broker and its TCP server on `port` (0: any); stop() closes both. */
async function serve(dataDir: string, port: number): Promise<{ port: number; stop: () => Promise<void> }> {
  const broker: Broker = await openBroker({ dataDir }, { logger: silentLogger })
  const server: SluiceServer = await startServer(broker, { host: '127.0.0.1', port, logger: silentLogger })
  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    await server.close()
    await broker.close()
  }
  cleanups.push(stop)
  return { port: server.port, stop }
}

test('a group member carries on across a broker restart: same member, epoch and partitions, no rejoin', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-group-restart-'))
  cleanups.push(() => fs.rm(dir, { recursive: true, force: true }))
  const dataDir = path.join(dir, 'data')
  let broker = await serve(dataDir, 0)
  const address = `127.0.0.1:${broker.port}`
  const options = { brokers: [address], reconnectBackoffMs: 20, reconnectBackoffMsMax: 100, requestTimeoutMs: 5_000 }
  const sl = await Sluice.connect(options)
  cleanups.push(() => sl.close())
  await sl.admin().createTopic('orders', { partitions: PARTITIONS })
  const producer = sl.producer()
  const send = async (from: number, to: number): Promise<void> => {
    await producer.sendBatch(
      'orders',
      Array.from({ length: to - from }, (_, i) => ({ key: `k${from + i}`, value: `v${from + i}` })),
    )
  }

  const assigned: number[][] = []
  const seen: string[] = []
  const consumerSl = await Sluice.connect(options)
  cleanups.push(() => consumerSl.close())
  const consumer: Consumer = consumerSl.consumer({
    groupId: 'billing',
    autoOffsetReset: 'earliest',
    heartbeatIntervalMs: 100,
    sessionTimeoutMs: 10_000,
    onAssign: (tps) => void assigned.push(tps.map((tp) => tp.partition).sort()),
  })
  consumer.on('error', () => undefined)
  await consumer.subscribe(['orders'])
  await consumer.run({ eachMessage: async ({ message }) => void seen.push(String(message.value)) })
  await send(0, 300)
  await until(() => seen.length >= 300)
  await consumer.commit()
  const before = (await sl.admin().describeGroup('billing')).members
  expect(before).toHaveLength(1)
  expect(assigned).toEqual([[0, 1, 2]])

  // Restart on the same port; the clients reconnect by themselves.
  await broker.stop()
  broker = await serve(dataDir, broker.port)
  await send(300, 600)
  await until(() => seen.length >= 600)
  await consumer.commit()
  const after = (await sl.admin().describeGroup('billing')).members
  expect(after.map((m) => [m.memberId, m.memberEpoch, m.assignment])).toEqual(
    before.map((m) => [m.memberId, m.memberEpoch, m.assignment]),
  )
  expect(assigned).toEqual([[0, 1, 2]]) // no rejoin: the partitions were never lost and assigned again
  expect(new Set(seen).size).toBe(600)
  const committed = await sl.transport.fetchOffsets({
    groupId: 'billing',
    partitions: [{ topic: 'orders', partitions: [0, 1, 2] }],
  })
  const ends = (await sl.admin().describeTopic('orders')).partitions.map((p) => p.logEndOffset)
  expect(committed.map((c) => c.offset)).toEqual(ends)

  // The same restart without the snapshots (a data dir from before them): the member must rejoin.
  await broker.stop()
  await fs.rm(path.join(dataDir, 'groups'), { recursive: true })
  broker = await serve(dataDir, broker.port)
  await until(() => assigned.length === 2)
  expect(assigned[1]).toEqual([0, 1, 2])
  const rejoined = (await sl.admin().describeGroup('billing')).members
  expect(rejoined.map((m) => m.memberId)).not.toEqual(before.map((m) => m.memberId))
})

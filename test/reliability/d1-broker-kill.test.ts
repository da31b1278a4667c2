// D1: the broker (`sluice serve` as a child process) is killed with SIGKILL at random moments while idempotent
// producers (acks all, topic flush sync) send over TCP and a group consumer consumes and commits, then restarted on the
// same port and data dir, for N cycles. The history of every send, delivery and acknowledged commit, a final read of
// every partition and of the group's committed offsets after the last restart go to the checker: every count must be
// 0 (nothing acknowledged lost, no duplicate, no gap, no conflict, no consumer skip, no commit gone back). The seed is
// printed; on failure the history file and the data dir are kept and their paths printed.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { expect, test } from 'vitest'
import { SluiceError } from '../../src/errors.js'
import { Sluice } from '../../src/sluice.js'
import { decodeRecords, iterateBatches } from '../../src/storage/record-batch.js'
import { Random } from '../../src/testing/random.js'
import { startServe, type ServeChild } from '../cli-helpers.js'
import { checkHistory, type PartitionRead, NO_ANOMALIES } from './checker.js'
import { HistoryRecorder } from './history.js'
import { reportFigures, runSeed, SOAK, testTimeoutMs, trials } from './settings.js'

const TOPIC = 'd1'
const GROUP = 'd1-group'
/** The consumer's client id in the history (producers' clients are 0..). */
const CONSUMER = 100
const COMMIT_EVERY_MS = 250
const PARTITIONS = 3
const PRODUCERS = 2
const CLIENTS_PER_PRODUCER = 2
/** Sends each client keeps outstanding. */
const CLIENT_IN_FLIGHT_MAX = 4
/** The kill lands this many ms (random in range) after the restarted broker acknowledged its first send. */
const KILL_DELAY_MS_MAX = 400
const SETTLE_MS_MAX = 60_000
const READ_TURNS_MAX = 100_000
/** Errors raised before any attempt could append: only these make a send `fail`; any other outcome is unknown. */
const PRE_APPEND_CODES = new Set([
  'INVALID_ARGUMENT',
  'INVALID_CONFIG',
  'RECORD_TOO_LARGE',
  'UNKNOWN_TOPIC',
  'UNKNOWN_PARTITION',
])

const serveArgs = (dataDir: string, port: number): string[] => [
  '--data-dir',
  dataDir,
  '--port',
  String(port),
  '--log-level',
  'error',
]

async function kill(server: ServeChild): Promise<void> {
  if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL')
  await server.exited
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const clientOptions = (address: string) => ({
  brokers: [address],
  requestTimeoutMs: 5_000,
  connectTimeoutMs: 2_000,
  reconnectBackoffMs: 20,
  reconnectBackoffMsMax: 200,
})

/** The group's committed offsets of the topic's partitions (-1: none). */
async function committedOffsets(sl: Sluice): Promise<Array<{ partition: number; offset: number }>> {
  const all = await sl.transport.fetchOffsets({ groupId: GROUP, partitions: [{ topic: TOPIC, partitions: [0, 1, 2] }] })
  return all.filter((c) => c.topic === TOPIC).map((c) => ({ partition: c.partition, offset: c.offset }))
}

/** Reads every partition from its log start to its end with a fresh client. */
async function readAllPartitions(address: string): Promise<PartitionRead[]> {
  const reader = await Sluice.connect({ brokers: [address], requestTimeoutMs: 10_000 })
  try {
    const reads: PartitionRead[] = []
    for (let partition = 0; partition < PARTITIONS; partition++) {
      const read: PartitionRead = { partition, logStartOffset: 0, records: [] }
      let offset = 0
      for (let turn = 0; turn < READ_TURNS_MAX; turn++) {
        const res = await reader.transport.fetch({
          partitions: [{ topic: TOPIC, partition, offset }],
          maxBytes: 1 << 20,
          maxWaitMs: 0,
        })
        const p = res.partitions[0]!
        if (p.error !== null)
          throw new Error(`fetch ${TOPIC}/${partition}@${offset}: ${p.error.code} ${p.error.message}`)
        if (turn === 0) {
          read.logStartOffset = p.logStartOffset
          offset = p.logStartOffset
        }
        if (p.records.length === 0) break
        for (const { position, header } of iterateBatches(p.records))
          for (const r of decodeRecords(p.records, position, offset, header)) {
            read.records.push({ offset: r.offset, value: r.value?.toString() ?? '' })
            offset = r.offset + 1
          }
        if (offset >= p.logEndOffset) break
      }
      reads.push(read)
    }
    return reads
  } finally {
    await reader.close()
  }
}

test(
  'D1: SIGKILL of the broker during idempotent produce and group consume loses no acknowledged record or commit',
  async () => {
    const seed = runSeed('D1')
    const rng = new Random(seed)
    const cycles = trials(50, 1_000)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `sluice-d1-${seed}-`))
    const dataDir = path.join(dir, 'data')
    const history = new HistoryRecorder(path.join(dir, 'history.jsonl'))
    let server = await startServe(serveArgs(dataDir, 0))
    const port = server.port
    const address = server.address
    const sl = await Sluice.connect(clientOptions(address))
    const consumerSl = await Sluice.connect(clientOptions(address))
    let stopping = false
    let passed = false
    try {
      await sl.admin().createTopic(TOPIC, { partitions: PARTITIONS, flush: 'sync' })
      const producers = Array.from({ length: PRODUCERS }, () =>
        sl.producer({ acks: 'all', idempotent: true, lingerMs: 1, retries: 12, retryBackoffMs: 20 }),
      )
      let acks = 0
      const outstanding = new Set<Promise<void>>()

      const send = (client: number, n: number): Promise<void> => {
        const producer = producers[client % PRODUCERS]!
        const partition = rng.int(0, PARTITIONS - 1)
        const value = `c${client}-${n}`
        history.invoke(client, partition, value)
        return producer.send(TOPIC, { value, partition }).then(
          (meta) => {
            acks++
            history.ok(client, partition, value, meta.offset)
          },
          (err: unknown) => {
            const code = err instanceof SluiceError ? err.code : String(err)
            if (PRE_APPEND_CODES.has(code)) history.fail(client, partition, value, code)
            else history.info(client, partition, value, code)
          },
        )
      }
      const runClient = async (client: number): Promise<void> => {
        const mine = new Set<Promise<void>>()
        // Bounded: stops when the kill loop is done; each turn waits for one outstanding send to settle.
        for (let n = 0; !stopping; n++) {
          const p: Promise<void> = send(client, n).finally(() => {
            mine.delete(p)
            outstanding.delete(p)
          })
          mine.add(p)
          outstanding.add(p)
          if (mine.size >= CLIENT_IN_FLIGHT_MAX) await Promise.race(mine)
        }
      }
      const clients = Array.from({ length: PRODUCERS * CLIENTS_PER_PRODUCER }, (_, c) => runClient(c))

      const onPartitions = (tps: Array<{ partition: number }>): void => {
        for (const tp of tps) history.assign(CONSUMER, tp.partition)
      }
      const consumer = consumerSl.consumer({
        groupId: GROUP,
        autoOffsetReset: 'earliest',
        autoCommit: false,
        heartbeatIntervalMs: 200,
        sessionTimeoutMs: 6_000,
        onAssign: onPartitions,
        onRevoke: onPartitions,
      })
      consumer.on('error', () => undefined)
      await consumer.subscribe([TOPIC])
      await consumer.run({
        eachMessage: async ({ partition, message }) => {
          history.poll(CONSUMER, partition, message.offset, (message.value as Buffer).toString())
        },
      })
      let commits = 0
      const commitErrors: Record<string, number> = {}
      const commitLoop = (async () => {
        // Bounded: ends when the kill loop is done.
        while (!stopping) {
          await sleep(COMMIT_EVERY_MS)
          try {
            await consumer.commit()
            for (const c of await committedOffsets(consumerSl)) {
              if (c.offset < 0) continue
              history.commit(CONSUMER, c.partition, c.offset)
              commits++
            }
          } catch (err) {
            // the broker is down or the group is rebalancing: the next round commits
            const code = err instanceof SluiceError ? err.code : 'OTHER'
            commitErrors[code] = (commitErrors[code] ?? 0) + 1
          }
        }
      })()

      let killsAfterAck = 0
      for (let cycle = 0; cycle < cycles; cycle++) {
        const ackedBefore = acks
        const deadline = Date.now() + 20_000
        while (acks === ackedBefore && Date.now() < deadline) await sleep(5)
        if (acks > ackedBefore) killsAfterAck++
        await sleep(rng.int(0, KILL_DELAY_MS_MAX))
        await kill(server)
        server = await startServe(serveArgs(dataDir, port))
      }
      stopping = true
      await commitLoop
      await Promise.race([Promise.all(clients), sleep(SETTLE_MS_MAX)])
      await Promise.race([Promise.allSettled([...outstanding]), sleep(SETTLE_MS_MAX)])
      const unsettled = outstanding.size
      for (const p of producers) await p.close().catch(() => undefined)
      await consumer.close().catch(() => undefined)

      // The last restart, then a fresh reader reads every partition and the group's committed offsets.
      await kill(server)
      server = await startServe(serveArgs(dataDir, port))
      const reads = await readAllPartitions(address)
      const reader = await Sluice.connect(clientOptions(address))
      const committed = await committedOffsets(reader).finally(() => reader.close())
      history.flush()
      const report = checkHistory(history.ops, reads, { committed })
      const polls = history.ops.filter((op) => op.f === 'poll').length
      reportFigures('D1', {
        seed,
        soak: SOAK,
        cycles,
        killsAfterAck,
        ...report.sends,
        recordsRead: report.recordsRead,
        unsettled,
        polls,
        commits,
        commitErrors,
        ...report.counts,
      })
      if (report.anomalies > 0) console.log(`[reliability] D1 anomalies:\n  ${report.examples.join('\n  ')}`)
      expect(report.counts).toEqual(NO_ANOMALIES)
      expect(unsettled).toBe(0)
      // The run really exercised the broker: every cycle saw progress, most sends were acknowledged, the consumer
      // consumed and committed.
      expect(killsAfterAck).toBe(cycles)
      expect(report.sends.ok).toBeGreaterThan(report.sends.info)
      expect(polls).toBeGreaterThan(0)
      expect(commits).toBeGreaterThan(0)
      passed = true
    } finally {
      stopping = true
      await sl.close().catch(() => undefined)
      await consumerSl.close().catch(() => undefined)
      await kill(server)
      history.flush()
      if (passed) fs.rmSync(dir, { recursive: true, force: true })
      else console.log(`[reliability] D1 failed (seed ${seed}); history and data kept in ${dir}`)
    }
  },
  testTimeoutMs(300_000),
)

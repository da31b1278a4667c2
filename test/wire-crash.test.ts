// Crash safety over the wire: a `sluice serve` child is killed with SIGKILL while an idempotent producer is sending
// (acks all, flush sync), then restarted on the same port and data dir. The producer retries every unacknowledged
// batch with the same producer id and sequence until acknowledged. Afterwards every acknowledged record is in the log
// exactly once: nothing acknowledged was lost and no retry was appended twice.
import path from 'node:path'
import { afterEach, describe, expect, test } from 'vitest'
import { connectTcpTransport, type TcpTransport } from '../src/client/tcp-transport.js'
import { SluiceError } from '../src/errors.js'
import { decodeRecords, encodeRecordBatch, iterateBatches } from '../src/storage/record-batch.js'
import { startServe, type ServeChild } from './cli-helpers.js'
import { makeTempDir, removeDir } from './wire-helpers.js'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function serve(args: string[]): Promise<ServeChild> {
  const s = await startServe(args)
  cleanups.push(async () => {
    if (s.child.exitCode === null && s.child.signalCode === null) {
      s.child.kill('SIGKILL')
      await s.exited
    }
  })
  return s
}

const BATCHES = 60
const RECORDS_PER_BATCH = 10
/** The broker is killed once after each of these counts of acknowledged batches. */
const KILL_POINTS = [15, 30, 45]

/** Sends one batch until it is acknowledged; retriable failures (lost connection, timeout) retry the same bytes. */
async function produceUntilAcked(t: TcpTransport, batch: Buffer, onAttempt: () => void): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    onAttempt()
    try {
      const res = await t.produce({ topic: 'crash', partition: 0, acks: 'all', batch: Buffer.from(batch) })
      return res.baseOffset
    } catch (err) {
      if (!(err instanceof SluiceError) || !err.retriable) throw err
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  throw new Error('batch never acknowledged')
}

describe('broker killed mid-produce', () => {
  test('no acknowledged record is lost and idempotent retries leave no duplicate after SIGKILL and restart', async () => {
    const dir = await makeTempDir('sluice-crash-')
    cleanups.push(() => removeDir(dir))
    const dataDir = path.join(dir, 'data')
    const first = await serve(['--data-dir', dataDir, '--port', '0'])
    const t = await connectTcpTransport({
      brokers: [first.address],
      requestTimeoutMs: 3_000,
      reconnectBackoffMs: 20,
      reconnectBackoffMsMax: 200,
    })
    cleanups.push(() => t.close())
    await t.createTopic({ name: 'crash', partitions: 1 })
    const { producerId, producerEpoch } = await t.initProducer()

    let acked = 0
    let attempts = 0
    let current = first
    let kills: Promise<void> = Promise.resolve()
    let killCount = 0
    const ackedValues: string[] = []
    for (let b = 0; b < BATCHES; b++) {
      const values = Array.from({ length: RECORDS_PER_BATCH }, (_, j) => `b${b}-r${j}`)
      const batch = encodeRecordBatch(
        values.map((v) => ({ key: null, value: Buffer.from(v), timestamp: Date.now() })),
        { producerId, producerEpoch, baseSequence: b * RECORDS_PER_BATCH },
      )
      await produceUntilAcked(t, batch, () => {
        attempts += 1
        // Kill right after a request is handed to the socket, so the batch may be written but not acknowledged.
        if (KILL_POINTS[killCount] === acked) {
          killCount += 1
          const victim = current
          kills = kills.then(async () => {
            await new Promise((r) => setImmediate(r))
            victim.child.kill('SIGKILL')
            await victim.exited
            current = await serve(['--data-dir', dataDir, '--port', String(first.port)])
          })
        }
      })
      acked += 1
      ackedValues.push(...values)
    }
    await kills
    expect(killCount).toBe(KILL_POINTS.length)
    // The kills really interrupted sends: batches needed retries.
    expect(attempts).toBeGreaterThanOrEqual(BATCHES + KILL_POINTS.length)

    const seen: string[] = []
    let offset = 0
    for (;;) {
      const res = await t.fetch({
        partitions: [{ topic: 'crash', partition: 0, offset }],
        maxBytes: 1 << 20,
        maxWaitMs: 0,
      })
      const p = res.partitions[0]
      if (p === undefined || p.records.length === 0) break
      for (const loc of iterateBatches(p.records)) {
        for (const r of decodeRecords(p.records, loc.position, offset)) {
          seen.push(r.value?.toString() ?? '')
          offset = r.offset + 1
        }
      }
    }
    expect(new Set(seen).size).toBe(seen.length) // no duplicate
    expect(seen).toEqual(ackedValues) // nothing acknowledged lost, in order
  })
})

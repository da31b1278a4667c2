// The workload of the process-kill tests (D1, D2) against a `sluice serve` child that is killed and restarted on the
// same address: idempotent producers (acks all) send unique values to random partitions from several clients, each
// with a bounded number of sends in flight, and a group consumer records every delivery and commits on a timer. Every
// operation goes to the history; a send's error counts as `fail` only when it is raised before any append could
// happen. Clients reconnect on their own across restarts; `stop()` ends the loops and waits for every send to settle.
import type { Consumer } from '../../src/client/consumer.js'
import type { Producer } from '../../src/client/producer.js'
import { SluiceError } from '../../src/errors.js'
import type { Sluice } from '../../src/sluice.js'
import type { Random } from '../../src/testing/random.js'
import type { HistoryRecorder } from './history.js'

/** Errors raised before any attempt could append: only these make a send `fail`; any other outcome is unknown. */
const PRE_APPEND_CODES = new Set([
  'INVALID_ARGUMENT',
  'INVALID_CONFIG',
  'RECORD_TOO_LARGE',
  'UNKNOWN_TOPIC',
  'UNKNOWN_PARTITION',
])

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Client options that ride out a broker restart quickly. */
export const restartingClientOptions = (address: string, reconnectBackoffMsMax = 200) => ({
  brokers: [address],
  requestTimeoutMs: 5_000,
  connectTimeoutMs: 2_000,
  reconnectBackoffMs: 20,
  reconnectBackoffMsMax,
})

/** The shape D1 and D2 run: 3 partitions, 2 producers with 2 clients each, 4 sends in flight per client, a commit
 *  every 250 ms, the consumer as client 100 in the history. */
export const CRASH_WORKLOAD = Object.freeze({
  partitions: 3,
  producers: 2,
  clientsPerProducer: 2,
  clientInFlightMax: 4,
  commitEveryMs: 250,
  consumerClient: 100,
})

export interface TcpWorkloadSettings {
  topic: string
  group: string
  partitions: number
  producers: number
  clientsPerProducer: number
  /** Sends each client keeps outstanding. */
  clientInFlightMax: number
  commitEveryMs: number
  /** The consumer's client id in the history (producers' clients are 0..). */
  consumerClient: number
  rng: Random
  history: HistoryRecorder
}

/** The group's committed offsets of the topic's partitions (-1: none). */
export async function committedOffsets(
  sl: Sluice,
  group: string,
  topic: string,
  partitions: number,
): Promise<Array<{ partition: number; offset: number }>> {
  const all = await sl.transport.fetchOffsets({
    groupId: group,
    partitions: [{ topic, partitions: Array.from({ length: partitions }, (_, p) => p) }],
  })
  return all.filter((c) => c.topic === topic).map((c) => ({ partition: c.partition, offset: c.offset }))
}

export class TcpWorkload {
  /** Acknowledged sends so far. */
  acks = 0
  /** Acknowledged partition commits. */
  commits = 0
  /** Commit attempts refused, by error code (the broker down, the group re-forming). */
  readonly commitErrors: Record<string, number> = {}
  readonly #outstanding = new Set<Promise<void>>()
  #stopping = false
  #clients: Array<Promise<void>> = []
  #commitLoop: Promise<void> = Promise.resolve()

  private constructor(
    private readonly s: TcpWorkloadSettings,
    private readonly producers: Producer[],
    private readonly consumer: Consumer,
    private readonly consumerSl: Sluice,
  ) {}

  /** Starts producing with `sl` and consuming with `consumerSl` (two clients: two connections). */
  static async start(sl: Sluice, consumerSl: Sluice, s: TcpWorkloadSettings): Promise<TcpWorkload> {
    const producers = Array.from({ length: s.producers }, () =>
      sl.producer({ acks: 'all', idempotent: true, lingerMs: 1, retries: 12, retryBackoffMs: 20 }),
    )
    const onPartitions = (tps: Array<{ partition: number }>): void => {
      for (const tp of tps) s.history.assign(s.consumerClient, tp.partition)
    }
    const consumer = consumerSl.consumer({
      groupId: s.group,
      autoOffsetReset: 'earliest',
      autoCommit: false,
      heartbeatIntervalMs: 200,
      sessionTimeoutMs: 6_000,
      onAssign: onPartitions,
      onRevoke: onPartitions,
    })
    consumer.on('error', () => undefined)
    const w = new TcpWorkload(s, producers, consumer, consumerSl)
    w.#clients = Array.from({ length: s.producers * s.clientsPerProducer }, (_, c) => w.#runClient(c))
    await consumer.subscribe([s.topic])
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        s.history.poll(s.consumerClient, partition, message.offset, (message.value as Buffer).toString())
      },
    })
    w.#commitLoop = w.#runCommits()
    return w
  }

  /** Ends the loops, waits (at most `settleMsMax` per step) for every send to settle, closes the clients' producers
   *  and consumer; returns the sends still unsettled. */
  async stop(settleMsMax: number): Promise<{ unsettled: number }> {
    this.#stopping = true
    await this.#commitLoop
    await Promise.race([Promise.all(this.#clients), sleep(settleMsMax)])
    await Promise.race([Promise.allSettled([...this.#outstanding]), sleep(settleMsMax)])
    const unsettled = this.#outstanding.size
    // A final commit, as a consumer shutting down makes one: retried while the group re-forms after the last restart
    // (membership is not persisted), so every run ends with the commit path exercised against the recovered broker.
    // Bounded by settleMsMax.
    const deadline = Date.now() + settleMsMax
    while ((await this.#commitOnce()) <= 0 && Date.now() < deadline) await sleep(this.s.commitEveryMs)
    for (const p of this.producers) await p.close().catch(() => undefined)
    await this.consumer.close().catch(() => undefined)
    return { unsettled }
  }

  /** Stops the loops without waiting (a failed test's cleanup). */
  abandon(): void {
    this.#stopping = true
  }

  #send(client: number, n: number): Promise<void> {
    const { topic, partitions, history, rng } = this.s
    const producer = this.producers[client % this.producers.length]!
    const partition = rng.int(0, partitions - 1)
    const value = `c${client}-${n}`
    history.invoke(client, partition, value)
    return producer.send(topic, { value, partition }).then(
      (meta) => {
        this.acks++
        history.ok(client, partition, value, meta.offset)
      },
      (err: unknown) => {
        const code = err instanceof SluiceError ? err.code : String(err)
        if (PRE_APPEND_CODES.has(code)) history.fail(client, partition, value, code)
        else history.info(client, partition, value, code)
      },
    )
  }

  async #runClient(client: number): Promise<void> {
    const mine = new Set<Promise<void>>()
    // Bounded: stops once stop() is called; each turn waits for one outstanding send to settle.
    for (let n = 0; !this.#stopping; n++) {
      const p: Promise<void> = this.#send(client, n).finally(() => {
        mine.delete(p)
        this.#outstanding.delete(p)
      })
      mine.add(p)
      this.#outstanding.add(p)
      if (mine.size >= this.s.clientInFlightMax) await Promise.race(mine)
    }
  }

  async #runCommits(): Promise<void> {
    // Bounded: ends once stop() is called.
    while (!this.#stopping) {
      await sleep(this.s.commitEveryMs)
      await this.#commitOnce()
    }
  }

  /** Commits the consumer's positions and records the group's committed offsets; returns how many partitions have a
   *  committed offset, or -1 when the commit was refused. */
  async #commitOnce(): Promise<number> {
    const { group, topic, partitions, history, consumerClient } = this.s
    try {
      await this.consumer.commit()
      let committed = 0
      for (const c of await committedOffsets(this.consumerSl, group, topic, partitions)) {
        if (c.offset < 0) continue
        history.commit(consumerClient, c.partition, c.offset)
        this.commits++
        committed++
      }
      return committed
    } catch (err) {
      // the broker is down or the group is rebalancing: the next round commits
      const code = err instanceof SluiceError ? err.code : 'OTHER'
      this.commitErrors[code] = (this.commitErrors[code] ?? 0) + 1
      return -1
    }
  }
}

// Question: how many 100 B and 1 KiB records/s does NATS JetStream (file storage, through the `nats` client) take
// with every publish acknowledged by its PubAck, 1,000 in flight, and give back through pull-consumer fetches of
// 1,000 — on 1 stream and on 6 streams (a stream per partition, records spread by Kafka's murmur2 of the key; the key
// is the last subject token). Two ways to publish: `js.publish()` (the client's API: a request, a promise and a timer
// per message) and core publishes carrying one shared reply inbox whose PubAcks are counted (what Go's
// PublishAsync does; the peer's best case from Node). Envelope: the server handles ~100-200k JetStream publishes/s on
// one core (a store write plus a PubAck each); js.publish() costs ~20-40 µs of client JS per message ⇒ ~25-50k/s;
// a fetch streams messages without per-message acks (ack policy none) ⇒ a few hundred k records/s.
// Durability: nats-server 2.9.x (Debian's) writes each message to the OS before the PubAck and fsyncs every
// 2 minutes, with no option to change it; 2.10+ takes `sync_interval: always`, measured here when installed.
import {
  AckPolicy,
  connect,
  createInbox,
  DeliverPolicy,
  StorageType,
  type Consumer,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
} from 'nats'
import { Bench } from 'tinybench'
import { pathToFileURL } from 'node:url'
import { startNats, type NatsSync } from '../../scripts/nats-peer.js'
import { partitionForKey } from '../../src/util/murmur2.js'
import {
  DEFAULT_TASK_MS,
  ITERATIONS_MIN,
  rates,
  WARMUP_MS,
  type SkippedRow,
  type ThroughputOptions,
  type ThroughputRow,
} from './throughput-row.js'

const PIPELINE = 1_000
const VALUE_SIZES = [100, 1024] as const
const PARTITION_COUNTS = [1, 6] as const
/** Bounds one fetch's wait when a stream has fewer messages than asked (it never should: see `ensureAhead`). */
const FETCH_EXPIRES_MS = 1_000
const RESTARTS_MAX = 10_000
/** A pipeline whose PubAcks have not all arrived by then has lost one: fail rather than hang. */
const PUBACK_TIMEOUT_MS = 10_000
const ERROR_MARK = Buffer.from('"error"')

interface StreamCursor {
  stream: string
  consumer: Consumer | null
  read: number
  stored: number
  restarts: number
}

function subjectsFor(prefix: string, partitions: number): string[] {
  return Array.from({ length: PIPELINE }, (_, i) => {
    const key = `key-${i}`
    return `${prefix}.${partitionForKey(Buffer.from(key), partitions)}.${key}`
  })
}

/** Restarts the cursor's consumer from the first message when fewer than `want` messages are left to read. */
async function ensureAhead(
  js: JetStreamClient,
  jsm: JetStreamManager,
  cursor: StreamCursor,
  want: number,
): Promise<void> {
  if (cursor.consumer !== null && cursor.stored - cursor.read >= want) return
  if (cursor.restarts++ > RESTARTS_MAX) throw new Error(`${cursor.stream}: consumer restarted too often`)
  if (cursor.consumer !== null) await jsm.consumers.delete(cursor.stream, (await cursor.consumer.info(true)).name)
  cursor.stored = (await jsm.streams.info(cursor.stream)).state.messages
  if (cursor.stored < want) throw new Error(`${cursor.stream} holds ${cursor.stored} messages, fewer than ${want}`)
  const info = await jsm.consumers.add(cursor.stream, {
    ack_policy: AckPolicy.None,
    deliver_policy: DeliverPolicy.All,
    inactive_threshold: 60_000_000_000,
  })
  cursor.consumer = await js.consumers.get(cursor.stream, info.name)
  cursor.read = 0
}

/**
 * Publishes through the core connection with one reply inbox for every PubAck, counting acks; `publishAll()` resolves
 * once every message it sent is acknowledged and rejects when a PubAck carries an error or none comes in time.
 */
function inboxPublisher(nc: NatsConnection): { publishAll(subjects: string[], value: Buffer): Promise<void> } {
  const inbox = createInbox()
  let acked = 0
  let target = 0
  let failure: Error | null = null
  let wake: (() => void) | null = null
  nc.subscribe(inbox, {
    callback: (err, msg) => {
      if (err !== null) failure ??= err
      else {
        const data = Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength)
        if (data.includes(ERROR_MARK)) failure ??= new Error(`PubAck error: ${data.toString()}`)
      }
      if (++acked >= target || failure !== null) wake?.()
    },
  })
  return {
    async publishAll(subjects, value) {
      target = acked + subjects.length
      const done = new Promise<void>((resolve) => (wake = resolve))
      for (const subject of subjects) nc.publish(subject, value, { reply: inbox })
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<'timeout'>(
        (resolve) => (timer = setTimeout(() => resolve('timeout'), PUBACK_TIMEOUT_MS)),
      )
      const outcome = await Promise.race([done, timeout])
      clearTimeout(timer)
      if (failure !== null) throw failure
      if (outcome === 'timeout') throw new Error(`${target - acked} PubAcks missing after ${PUBACK_TIMEOUT_MS} ms`)
    },
  }
}

async function measure(
  taskMs: number,
  nc: NatsConnection,
  sync: NatsSync,
  valueBytes: number,
  partitions: number,
): Promise<ThroughputRow[]> {
  const jsm = await nc.jetstreamManager()
  const js = nc.jetstream()
  const prefix = `b${valueBytes}p${partitions}`
  const cursors: StreamCursor[] = []
  for (let p = 0; p < partitions; p++) {
    const stream = `${prefix}-${p}`
    await jsm.streams.add({ name: stream, subjects: [`${prefix}.${p}.>`], storage: StorageType.File })
    cursors.push({ stream, consumer: null, read: 0, stored: 0, restarts: 0 })
  }
  const subjects = subjectsFor(prefix, partitions)
  const value = Buffer.alloc(valueBytes, 0x61)
  const perStream = Math.ceil(PIPELINE / partitions)
  const bench = new Bench({
    time: taskMs,
    warmupTime: WARMUP_MS,
    iterations: ITERATIONS_MIN,
    warmupIterations: ITERATIONS_MIN,
  })
  const publisher = inboxPublisher(nc)
  bench.add('produce', async () => {
    await publisher.publishAll(subjects, value)
  })
  // The client's own API costs the same per message whatever the stream count: measured on one stream only.
  if (partitions === 1)
    bench.add('js.publish', async () => {
      await Promise.all(subjects.map((subject) => js.publish(subject, value)))
    })
  bench.add('consume', async () => {
    await Promise.all(
      cursors.map(async (cursor) => {
        await ensureAhead(js, jsm, cursor, perStream)
        let n = 0
        for await (const _m of await cursor.consumer!.fetch({ max_messages: perStream, expires: FETCH_EXPIRES_MS })) n++
        if (n !== perStream) throw new Error(`${cursor.stream}: fetched ${n} of ${perStream}`)
        cursor.read += n
      }),
    )
  })
  await bench.run()
  const durability = sync === 'always' ? 'fsync' : 'os+2min'
  const label = `nats jetstream ${valueBytes} B, ${partitions} stream${partitions > 1 ? 's' : ''}, sync ${sync}`
  const rows: ThroughputRow[] = [
    {
      name: `${label}: publish, PubAcks to one inbox (${PIPELINE} in flight)`,
      system: 'nats',
      op: 'produce',
      valueBytes,
      partitions,
      durability,
      setup: `sync ${sync}`,
      primary: true,
      ...rates(bench, 'produce', PIPELINE, valueBytes),
    },
    {
      name: `${label}: pull fetch (${perStream * partitions} per iteration)`,
      system: 'nats',
      op: 'consume',
      valueBytes,
      partitions,
      durability: '-',
      setup: `sync ${sync}`,
      primary: true,
      ...rates(bench, 'consume', perStream * partitions, valueBytes),
    },
  ]
  if (partitions === 1)
    rows.push({
      name: `${label}: js.publish() awaiting each PubAck (${PIPELINE} in flight)`,
      system: 'nats',
      op: 'produce',
      valueBytes,
      partitions,
      durability,
      setup: `sync ${sync}`,
      primary: false,
      ...rates(bench, 'js.publish', PIPELINE, valueBytes),
    })
  return rows
}

export async function run(options: ThroughputOptions = {}): Promise<Array<ThroughputRow | SkippedRow>> {
  const taskMs = options.taskMs ?? DEFAULT_TASK_MS
  const rows: Array<ThroughputRow | SkippedRow> = []
  for (const sync of ['default', 'always'] as const) {
    const peer = await startNats({ sync })
    if (peer === null)
      return [{ name: 'nats jetstream', note: 'nats-server not installed: apt-get install nats-server' }]
    if ('unsupported' in peer) {
      rows.push({ name: `nats jetstream, sync ${sync}`, note: peer.unsupported })
      continue
    }
    const nc = await connect({ servers: `127.0.0.1:${peer.port}` })
    try {
      for (const valueBytes of VALUE_SIZES)
        for (const partitions of PARTITION_COUNTS)
          rows.push(...(await measure(taskMs, nc, sync, valueBytes, partitions)))
    } finally {
      await nc.close()
      await peer.stop()
    }
  }
  return rows
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.table(await run())

// `sluice consume <topic>`: prints records as they arrive, from the latest offsets by default, from the beginning, from a
// point in time, or from one partition's offset; with --group it joins the group (and commits as it goes). Stops after
// --max-messages or on SIGINT/SIGTERM; closing the consumer commits the position of the last printed record. With
// --durable only records an fsync covered are printed. With an end bound (--until-end, --to-time, --to-offset) it is
// a bounded replay instead (sl.replay, no group): from the beginning unless a start is given, partition after
// partition, and it exits at the bound.
import type { Command } from 'commander'
import { CorruptRecordError, PartitionOfflineError } from '../../index.js'
import type { AssignPartition, Consumer, Message, ReplayBound, Sluice } from '../../index.js'
import { parseDate, parseInteger, UsageError, withClient, withTarget, type TargetOptions } from '../context.js'
import { LineWriter, onStdoutGone } from '../output.js'
import { parseEncoding, type Encoding } from '../encoding.js'

interface ConsumeOptions extends TargetOptions {
  group?: string
  fromBeginning?: boolean
  fromTime?: string
  partition?: number
  offset?: number
  maxMessages?: number
  keySeparator?: string
  json?: boolean
  durable?: boolean
  untilEnd?: boolean
  toTime?: string
  toOffset?: number
  encoding?: string
}

/** Bytes as text in `encoding`: utf8 shows text as it is; base64 and hex keep any bytes (a binary key or value). */
function text(value: unknown, encoding: Encoding): string | null {
  if (value === null || value === undefined) return null
  return Buffer.isBuffer(value) ? value.toString(encoding) : String(value)
}

function formatMessage(m: Message, opts: ConsumeOptions): string {
  const encoding = (opts.encoding ?? 'utf8') as Encoding
  if (opts.json === true) {
    const headers = Object.fromEntries(Object.entries(m.headers).map(([k, v]) => [k, text(v, encoding)]))
    return JSON.stringify({
      topic: m.topic,
      partition: m.partition,
      offset: m.offset,
      timestamp: m.timestamp,
      key: text(m.key, encoding),
      value: text(m.value, encoding),
      headers,
    })
  }
  const value = text(m.value, encoding) ?? ''
  return opts.keySeparator === undefined ? value : `${text(m.key, encoding) ?? ''}${opts.keySeparator}${value}`
}

function checkOptions(opts: ConsumeOptions): void {
  const starts = [opts.fromBeginning === true, opts.fromTime !== undefined, opts.offset !== undefined].filter(Boolean)
  if (starts.length > 1) throw new UsageError('give at most one of --from-beginning, --from-time, --offset')
  if (opts.offset !== undefined && opts.partition === undefined) throw new UsageError('--offset needs --partition')
  parseEncoding(opts.encoding)
  const ends = [opts.untilEnd === true, opts.toTime !== undefined, opts.toOffset !== undefined].filter(Boolean)
  if (ends.length > 1) throw new UsageError('give at most one of --until-end, --to-time, --to-offset')
  if (opts.toOffset !== undefined && opts.partition === undefined) throw new UsageError('--to-offset needs --partition')
  if (ends.length > 0 && opts.group !== undefined)
    throw new UsageError('a bounded read (--until-end, --to-time, --to-offset) does not join a group: drop --group')
}

/** The bounded read: records of [start, end) of each partition, one partition after the other. */
async function replayBounded(sluice: Sluice, topic: string, opts: ConsumeOptions): Promise<void> {
  // From the beginning unless told otherwise: a bounded read from the latest offsets would read nothing.
  const from: ReplayBound =
    opts.fromTime !== undefined
      ? new Date(parseDate('--from-time', opts.fromTime))
      : opts.offset !== undefined && opts.partition !== undefined
        ? await startWithin(sluice, topic, opts.partition, opts.offset)
        : (opts.offset ?? 'earliest')
  const to: ReplayBound =
    opts.toTime !== undefined ? new Date(parseDate('--to-time', opts.toTime)) : (opts.toOffset ?? 'latest')
  // One partition after the other, each its own replay: a damaged or offline partition is noted and skipped (after
  // what it gave before the damage), so the healthy ones are still read (one replay over all of them stopped at the
  // first bad partition, in a trial before printing anything), and the exit code says so.
  const partitions =
    opts.partition !== undefined
      ? [opts.partition]
      : (await sluice.admin().describeTopic(topic)).partitions.map((p) => p.partition)
  // Made up front: each resolves its bounds when made, so 'latest' is every partition's end as the command starts.
  const replays = partitions.map((partition) => ({
    partition,
    replay: sluice.replay({
      topic,
      from,
      to,
      visibility: opts.durable === true ? 'durable' : 'written',
      partitions: [partition],
    }),
  }))
  const out = new LineWriter()
  let printed = 0
  const offline: string[] = []
  try {
    for (const { partition, replay } of replays) {
      try {
        for await (const message of replay) {
          out.line(formatMessage(message, opts))
          printed += 1
          if (opts.maxMessages !== undefined && printed >= opts.maxMessages) return
        }
      } catch (err) {
        if (!(err instanceof PartitionOfflineError || err instanceof CorruptRecordError)) throw err
        out.flush()
        process.stderr.write(`error: ${topic}/${partition} is damaged or offline, skipped: ${err.message}\n`)
        offline.push(`${topic}/${partition}`)
      }
    }
  } finally {
    out.flush()
  }
  if (offline.length > 0)
    throw new Error(`${offline.length} partition(s) not read to the end: ${offline.join(', ')} (see above)`)
}

/**
 * `--offset` moved into the partition's log, with a note on stderr when it was outside: out of range, a consumer
 * would follow autoOffsetReset ('latest' here) and print nothing of the records the user asked for.
 */
async function startWithin(sluice: Sluice, topic: string, partition: number, offset: number): Promise<number> {
  const p = (await sluice.admin().describeTopic(topic)).partitions.find((x) => x.partition === partition)
  if (p === undefined) return offset // assign() names the unknown partition
  if (p.offline !== null) return offset // its bounds are unknown (-1): reading it reports the offline partition
  const start = Math.min(Math.max(offset, p.logStartOffset), p.logEndOffset)
  if (start !== offset) {
    const where =
      offset < p.logStartOffset ? `below the log start ${p.logStartOffset}` : `past the log end ${p.logEndOffset}`
    process.stderr.write(`note: offset ${offset} is ${where} of ${topic}/${partition}: starting at ${start}\n`)
  }
  return start
}

async function makeConsumer(sluice: Sluice, topic: string, opts: ConsumeOptions): Promise<Consumer> {
  const fromTime = opts.fromTime === undefined ? undefined : parseDate('--from-time', opts.fromTime)
  // --from-time with --group places each partition once, at its first assignment to this member: a partition that
  // comes back after a rebalance goes on from the group's commit (seeking again re-read what had been printed).
  const placed = new Set<number>()
  // Typed here: its options' onAssign refers to it, which TypeScript cannot infer through.
  const consumer: Consumer = sluice.consumer({
    groupId: opts.group ?? null,
    autoOffsetReset: opts.fromBeginning === true ? 'earliest' : 'latest',
    autoCommit: opts.group !== undefined,
    visibility: opts.durable === true ? 'durable' : 'written',
    ...(opts.group !== undefined && fromTime !== undefined
      ? {
          onAssign: async (tps) => {
            const fresh = tps.map((tp) => tp.partition).filter((p) => !placed.has(p))
            if (fresh.length === 0) return
            await consumer.seekToTimestamp(topic, fromTime, fresh)
            for (const p of fresh) placed.add(p)
          },
        }
      : {}),
  })
  if (opts.group !== undefined && opts.partition === undefined) {
    await consumer.subscribe([topic])
    return consumer
  }
  let assignment: AssignPartition[]
  if (opts.partition !== undefined) {
    const offset = opts.offset === undefined ? undefined : await startWithin(sluice, topic, opts.partition, opts.offset)
    assignment = [{ topic, partition: opts.partition, ...(offset === undefined ? {} : { offset }) }]
  } else {
    const described = await sluice.admin().describeTopic(topic)
    assignment = described.partitions.map((p) => ({ topic, partition: p.partition }))
  }
  if (fromTime !== undefined) {
    const offsets = await sluice.admin().offsetsForTimes(
      topic,
      fromTime,
      assignment.map((a) => a.partition),
    )
    const byPartition = new Map(offsets.map((o) => [o.partition, o.offset]))
    assignment = assignment.map((a) => ({ ...a, offset: byPartition.get(a.partition) ?? 0 }))
  }
  await consumer.assign(assignment)
  return consumer
}

export function registerConsume(program: Command): void {
  withTarget(program.command('consume <topic>').description('print records of a topic'))
    .option('--group <group>', 'consume as a member of this group (committing offsets)')
    .option('--from-beginning', 'start at the earliest offset when nothing is committed')
    .option('--from-time <iso>', 'start at the first record at or after this time')
    .option('--partition <p>', 'read only this partition', parseInteger('--partition', 0))
    .option('--offset <n>', 'start at this offset (needs --partition)', parseInteger('--offset', 0))
    .option('--max-messages <n>', 'stop after this many records', parseInteger('--max-messages', 1))
    .option('--key-separator <sep>', 'print key<sep>value')
    .option('--json', 'print one JSON object per record')
    .option('--encoding <enc>', 'keys, values and header values as utf8 (default), base64 or hex (binary data)')
    .option('--durable', 'print only records an fsync covered (consumer visibility durable)')
    .option(
      '--until-end',
      'stop at the log end as of the start (a bounded read: no group, from the beginning by default)',
    )
    .option('--to-time <iso>', 'stop before the first record at or after this time (a bounded read)')
    .option(
      '--to-offset <n>',
      'stop before this offset (a bounded read; needs --partition)',
      parseInteger('--to-offset', 0),
    )
    .action(async (topic: string, opts: ConsumeOptions) => {
      checkOptions(opts)
      if (opts.untilEnd === true || opts.toTime !== undefined || opts.toOffset !== undefined) {
        await withClient(opts, (sluice) => replayBounded(sluice, topic, opts))
        return
      }
      await withClient(opts, async (sluice) => {
        const consumer = await makeConsumer(sluice, topic, opts)
        const stop = () => void consumer.close().catch(() => {})
        process.once('SIGINT', stop)
        process.once('SIGTERM', stop)
        if (opts.group !== undefined) onStdoutGone(() => consumer.close({ commit: false }))
        const out = new LineWriter()
        let printed = 0
        // The next offset after the last printed record, per partition: what closing commits with --group.
        const nextOffsets = new Map<number, number>()
        try {
          for await (const message of consumer) {
            out.line(formatMessage(message, opts))
            printed += 1
            nextOffsets.set(message.partition, message.offset + 1)
            if (opts.maxMessages !== undefined && printed >= opts.maxMessages) break
          }
        } catch (err) {
          if (!consumer.closed) throw err
        } finally {
          out.flush()
          process.off('SIGINT', stop)
          process.off('SIGTERM', stop)
          onStdoutGone(null)
          if (!consumer.closed) {
            for (const [partition, offset] of nextOffsets) {
              try {
                consumer.seek({ topic, partition, offset })
              } catch {
                // the partition was revoked meanwhile: its new owner goes on from the group's commit
              }
            }
          }
          await consumer.close()
        }
      })
    })
}

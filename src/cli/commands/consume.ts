// `sluice consume <topic>`: prints records as they arrive, from the latest offsets by default, from the beginning, from a
// point in time, or from one partition's offset; with --group it joins the group (and commits as it goes). Stops after
// --max-messages or on SIGINT/SIGTERM; closing the consumer commits the position of the last printed record. With
// --durable only records an fsync covered are printed.
import type { Command } from 'commander'
import type { AssignPartition, Consumer, Message, Sluice } from '../../index.js'
import { parseDate, parseInteger, UsageError, withClient, withTarget, type TargetOptions } from '../context.js'
import { printLine } from '../output.js'

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
}

function text(value: unknown): string | null {
  if (value === null || value === undefined) return null
  return Buffer.isBuffer(value) ? value.toString('utf8') : String(value)
}

function formatMessage(m: Message, opts: ConsumeOptions): string {
  if (opts.json === true) {
    const headers = Object.fromEntries(Object.entries(m.headers).map(([k, v]) => [k, text(v)]))
    return JSON.stringify({
      topic: m.topic,
      partition: m.partition,
      offset: m.offset,
      timestamp: m.timestamp,
      key: text(m.key),
      value: text(m.value),
      headers,
    })
  }
  const value = text(m.value) ?? ''
  return opts.keySeparator === undefined ? value : `${text(m.key) ?? ''}${opts.keySeparator}${value}`
}

function checkOptions(opts: ConsumeOptions): void {
  const starts = [opts.fromBeginning === true, opts.fromTime !== undefined, opts.offset !== undefined].filter(Boolean)
  if (starts.length > 1) throw new UsageError('give at most one of --from-beginning, --from-time, --offset')
  if (opts.offset !== undefined && opts.partition === undefined) throw new UsageError('--offset needs --partition')
}

async function makeConsumer(sluice: Sluice, topic: string, opts: ConsumeOptions): Promise<Consumer> {
  const fromTime = opts.fromTime === undefined ? undefined : parseDate('--from-time', opts.fromTime)
  const consumer = sluice.consumer({
    groupId: opts.group ?? null,
    autoOffsetReset: opts.fromBeginning === true ? 'earliest' : 'latest',
    autoCommit: opts.group !== undefined,
    visibility: opts.durable === true ? 'durable' : 'written',
    ...(opts.group !== undefined && fromTime !== undefined
      ? {
          onAssign: (tps) =>
            consumer.seekToTimestamp(
              topic,
              fromTime,
              tps.map((tp) => tp.partition),
            ),
        }
      : {}),
  })
  if (opts.group !== undefined && opts.partition === undefined) {
    await consumer.subscribe([topic])
    return consumer
  }
  let assignment: AssignPartition[]
  if (opts.partition !== undefined) {
    assignment = [{ topic, partition: opts.partition, ...(opts.offset === undefined ? {} : { offset: opts.offset }) }]
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
    .option('--durable', 'print only records an fsync covered (consumer visibility durable)')
    .action(async (topic: string, opts: ConsumeOptions) => {
      checkOptions(opts)
      await withClient(opts, async (sluice) => {
        const consumer = await makeConsumer(sluice, topic, opts)
        const stop = () => void consumer.close().catch(() => {})
        process.once('SIGINT', stop)
        process.once('SIGTERM', stop)
        let printed = 0
        // The next offset after the last printed record, per partition: what closing commits with --group.
        const nextOffsets = new Map<number, number>()
        try {
          for await (const message of consumer) {
            printLine(formatMessage(message, opts))
            printed += 1
            nextOffsets.set(message.partition, message.offset + 1)
            if (opts.maxMessages !== undefined && printed >= opts.maxMessages) break
          }
        } catch (err) {
          if (!consumer.closed) throw err
        } finally {
          process.off('SIGINT', stop)
          process.off('SIGTERM', stop)
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

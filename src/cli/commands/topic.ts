// `sluice topic create|list|describe|delete`: topic administration through the SDK's Admin.
import type { Command } from 'commander'
import type { CreateTopicOptions, FlushPolicy, TopicDescription } from '../../index.js'
import { parseInteger, UsageError, withClient, withTarget, type TargetOptions } from '../context.js'
import { printJson, printLine, printTable } from '../output.js'

interface CreateOptions extends TargetOptions {
  partitions: number
  retentionMs?: number
  retentionBytes?: number
  segmentBytes?: number
  flush?: string
  flushIntervalMs?: number
  json?: boolean
}

const FLUSH_POLICIES: readonly FlushPolicy[] = ['sync', 'interval', 'os']

function printTopic(topic: TopicDescription): void {
  const c = topic.config
  printLine(`topic ${topic.name}${topic.internal ? ' (internal)' : ''}`)
  printLine(
    `config: retentionMs=${c.retentionMs} retentionBytes=${c.retentionBytes} segmentBytes=${c.segmentBytes} ` +
      `flush=${c.flush} flushIntervalMs=${c.flushIntervalMs} cleanupPolicy=${c.cleanupPolicy}`,
  )
  printTable(
    ['PARTITION', 'START', 'END', 'BYTES', 'SEGMENTS', 'OFFLINE'],
    topic.partitions.map((p) => [
      p.partition,
      p.logStartOffset,
      p.logEndOffset,
      p.sizeBytes,
      p.segmentCount,
      p.offline,
    ]),
  )
}

export function registerTopic(program: Command): void {
  const topic = program.command('topic').description('create, list, describe and delete topics')

  withTarget(topic.command('create <name>').description('create a topic'))
    .requiredOption('--partitions <n>', 'partition count', parseInteger('--partitions', 1))
    .option(
      '--retention-ms <ms>',
      'delete segments older than this (-1 keeps forever)',
      parseInteger('--retention-ms', -1),
    )
    .option(
      '--retention-bytes <bytes>',
      'keep at most this many bytes per partition (-1 = no limit)',
      parseInteger('--retention-bytes', -1),
    )
    .option('--segment-bytes <bytes>', 'roll segments at this size', parseInteger('--segment-bytes', 1))
    .option('--flush <policy>', 'sync | interval | os')
    .option('--flush-interval-ms <ms>', 'flush period for --flush interval', parseInteger('--flush-interval-ms', 1))
    .option('--json', 'print JSON')
    .action(async (name: string, opts: CreateOptions) => {
      if (opts.flush !== undefined && !(FLUSH_POLICIES as readonly string[]).includes(opts.flush)) {
        throw new UsageError(`--flush must be one of ${FLUSH_POLICIES.join(', ')}, got "${opts.flush}"`)
      }
      const options: CreateTopicOptions = { partitions: opts.partitions }
      if (opts.retentionMs !== undefined) options.retentionMs = opts.retentionMs
      if (opts.retentionBytes !== undefined) options.retentionBytes = opts.retentionBytes
      if (opts.segmentBytes !== undefined) options.segmentBytes = opts.segmentBytes
      if (opts.flush !== undefined) options.flush = opts.flush as FlushPolicy
      if (opts.flushIntervalMs !== undefined) options.flushIntervalMs = opts.flushIntervalMs
      const created = await withClient(opts, (s) => s.admin().createTopic(name, options))
      if (opts.json === true) printJson(created)
      else printLine(`created topic ${created.name} with ${created.partitions.length} partitions`)
    })

  withTarget(topic.command('list').description('list topics'))
    .option('--internal', 'include internal topics')
    .option('--json', 'print JSON')
    .action(async (opts: TargetOptions & { internal?: boolean; json?: boolean }) => {
      const names = await withClient(opts, (s) => s.admin().listTopics({ includeInternal: opts.internal === true }))
      if (opts.json === true) printJson(names)
      else for (const name of names) printLine(name)
    })

  withTarget(topic.command('describe <name>').description('show a topic config and its partitions'))
    .option('--json', 'print JSON')
    .action(async (name: string, opts: TargetOptions & { json?: boolean }) => {
      const described = await withClient(opts, (s) => s.admin().describeTopic(name))
      if (opts.json === true) printJson(described)
      else printTopic(described)
    })

  withTarget(topic.command('delete <name>').description('delete a topic and its data'))
    .option('--json', 'print JSON')
    .action(async (name: string, opts: TargetOptions & { json?: boolean }) => {
      await withClient(opts, (s) => s.admin().deleteTopic(name))
      if (opts.json === true) printJson({ deleted: name })
      else printLine(`deleted topic ${name}`)
    })
}

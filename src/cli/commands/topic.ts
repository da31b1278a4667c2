// `sluice topic create|alter|list|describe|delete|delete-records`: topic administration through the SDK's Admin.
import type { Command } from 'commander'
import type { AlterTopicConfigOptions, CreateTopicOptions, FlushPolicy, TopicDescription } from '../../index.js'
import { TOPIC_CONFIG_KEYS } from '../../client/admin.js'
import { LIMITS } from '../../config/limits.js'
import { DURATION_MS_MAX, SEGMENT_BYTES_MAX, TIMER_MS_MAX } from '../../topics/topic-config.js'
import { InvalidArgumentError } from '../../errors.js'
import { checkArgument, parseInteger, UsageError, withClient, withTarget, type TargetOptions } from '../context.js'
import { validateUserTopicName } from '../../topics/topic-name.js'
import { printJson, printLine, printTable } from '../output.js'

export interface ConfigOptions extends TargetOptions {
  retentionMs?: number
  retentionBytes?: number
  segmentBytes?: number
  segmentMs?: number
  flush?: string
  flushIntervalMs?: number
  timestampAfterMaxMs?: number
  json?: boolean
}

interface CreateOptions extends ConfigOptions {
  partitions?: number
}

interface AlterOptions extends ConfigOptions {
  deleteConfig?: string
  partitions?: number
}

interface DeleteRecordsOptions extends TargetOptions {
  partition?: number
  before?: number
  all?: boolean
  json?: boolean
}

const FLUSH_POLICIES: readonly FlushPolicy[] = ['sync', 'interval', 'os']

/** The topic config options `create` and `alter` share. */
function withConfigOptions(command: Command): Command {
  return withTopicConfigOptions(command).option('--json', 'print JSON')
}

/** The topic options as flags (topic create/alter; serve takes them as the defaults of new topics). */
export function withTopicConfigOptions(command: Command): Command {
  return command
    .option(
      '--retention-ms <ms>',
      'delete segments older than this (-1 keeps forever)',
      parseInteger('--retention-ms', -1),
    )
    .option(
      '--retention-bytes <bytes>',
      'delete old segments while a partition keeps at least this many bytes without them (-1 = no limit)',
      parseInteger('--retention-bytes', -1),
    )
    .option(
      '--segment-bytes <bytes>',
      'roll segments at this size',
      parseInteger('--segment-bytes', 1, SEGMENT_BYTES_MAX),
    )
    .option('--segment-ms <ms>', 'roll segments at this age', parseInteger('--segment-ms', 1, DURATION_MS_MAX))
    .option('--flush <policy>', 'sync | interval | os')
    .option(
      '--flush-interval-ms <ms>',
      'flush period for --flush interval',
      parseInteger('--flush-interval-ms', 1, TIMER_MS_MAX),
    )
    .option(
      '--timestamp-after-max-ms <ms>',
      "refuse records stamped more than this past the broker's clock (-1 = no bound)",
      parseInteger('--timestamp-after-max-ms', -1),
    )
}

/** The config options given on the command line, checked. */
export function configFrom(opts: ConfigOptions): Omit<CreateTopicOptions, 'partitions'> {
  if (opts.flush !== undefined && !(FLUSH_POLICIES as readonly string[]).includes(opts.flush)) {
    throw new UsageError(`--flush must be one of ${FLUSH_POLICIES.join(', ')}, got "${opts.flush}"`)
  }
  const config: Omit<CreateTopicOptions, 'partitions'> = {}
  if (opts.retentionMs !== undefined) config.retentionMs = opts.retentionMs
  if (opts.retentionBytes !== undefined) config.retentionBytes = opts.retentionBytes
  if (opts.segmentBytes !== undefined) config.segmentBytes = opts.segmentBytes
  if (opts.segmentMs !== undefined) config.segmentMs = opts.segmentMs
  if (opts.flush !== undefined) config.flush = opts.flush as FlushPolicy
  if (opts.flushIntervalMs !== undefined) config.flushIntervalMs = opts.flushIntervalMs
  if (opts.timestampAfterMaxMs !== undefined) config.timestampAfterMaxMs = opts.timestampAfterMaxMs
  return config
}

/** `--delete-config retention-ms,flush`: option names as the flags spell them, or as the SDK does. */
const DELETABLE: Readonly<Record<string, keyof AlterTopicConfigOptions>> = Object.fromEntries(
  TOPIC_CONFIG_KEYS.flatMap((key) => [
    [key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`), key],
    [key, key],
  ]),
)

function printTopic(topic: TopicDescription): void {
  const c = topic.config
  printLine(`topic ${topic.name}${topic.internal ? ' (internal)' : ''}`)
  printLine(`config: ${TOPIC_CONFIG_KEYS.map((k) => `${k}=${c[k]}`).join(' ')}`)
  printTable(
    ['PARTITION', 'START', 'END', 'BYTES', 'SEGMENTS', 'OFFLINE'],
    // An offline partition's figures are unknown: '-', not the -1 the API gives.
    topic.partitions.map((p) =>
      p.offline === null
        ? [p.partition, p.logStartOffset, p.logEndOffset, p.sizeBytes, p.segmentCount, null]
        : [p.partition, null, null, null, null, p.offline],
    ),
  )
}

export function registerTopic(program: Command): void {
  const topic = program.command('topic').description('create, list, describe and delete topics')

  withConfigOptions(
    withTarget(topic.command('create <name>').description('create a topic')).option(
      '--partitions <n>',
      'partition count (default 1, as createTopic)',
      parseInteger('--partitions', 1, LIMITS.partitionsMax),
    ),
  ).action(async (name: string, opts: CreateOptions) => {
    checkArgument(() => validateUserTopicName(name))
    const options: CreateTopicOptions = { partitions: opts.partitions ?? 1, ...configFrom(opts) }
    const created = await withClient(opts, (s) => s.admin().createTopic(name, options), true)
    if (opts.json === true) printJson(created)
    else
      printLine(
        `created topic ${created.name} with ${created.partitions.length} partition${created.partitions.length === 1 ? '' : 's'}`,
      )
  })

  withConfigOptions(
    withTarget(topic.command('alter <name>').description("change a topic's config or grow its partitions"))
      .option(
        '--delete-config <names>',
        'comma-separated options to give back to the broker default, e.g. retention-ms,flush',
      )
      .option(
        '--partitions <n>',
        'grow the topic to this many partitions (never fewer; keys then hash over the new count)',
        parseInteger('--partitions', 1, LIMITS.partitionsMax),
      ),
  ).action(async (name: string, opts: AlterOptions) => {
    const changes: AlterTopicConfigOptions = configFrom(opts)
    for (const raw of opts.deleteConfig?.split(',') ?? []) {
      const key = DELETABLE[raw.trim()]
      if (key === undefined)
        throw new UsageError(
          `--delete-config: unknown option "${raw.trim()}" (known: ${Object.keys(DELETABLE).join(', ')})`,
        )
      if (changes[key] !== undefined)
        throw new UsageError(`--delete-config ${raw.trim()} conflicts with a value given for it`)
      changes[key] = null
    }
    const configChanges = Object.keys(changes).length > 0
    if (!configChanges && opts.partitions === undefined)
      throw new UsageError(
        'give at least one option to change (--partitions, --retention-ms, --flush, ...) or --delete-config',
      )
    const altered = await withClient(opts, async (s) => {
      // A partition count that cannot be applied is refused before the config changes, so nothing is half done.
      if (opts.partitions !== undefined && configChanges) {
        const current = (await s.admin().describeTopic(name)).partitions.length
        if (opts.partitions <= current)
          throw new InvalidArgumentError(
            `topic "${name}" has ${current} partitions; a new count must be larger (partitions are never removed); nothing was changed`,
          )
      }
      let topic = configChanges ? await s.admin().alterTopicConfig(name, changes) : null
      if (opts.partitions !== undefined) topic = await s.admin().createPartitions(name, opts.partitions)
      return topic!
    })
    if (opts.json === true) printJson(altered)
    else printTopic(altered)
  })

  withTarget(topic.command('list').description('list topics'))
    .option('--internal', 'include internal topics')
    .option('--json', 'print JSON')
    .action(async (opts: TargetOptions & { internal?: boolean; json?: boolean }) => {
      const names = await withClient(opts, (s) => s.admin().listTopics({ includeInternal: opts.internal === true }))
      if (opts.json === true) printJson(names)
      else if (names.length === 0)
        process.stderr.write('no topics\n') // stdout stays empty for scripts
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

  withTarget(
    topic
      .command('delete-records <name>')
      .description('remove the records below an offset (every partition unless --partition)'),
  )
    .option('--partition <p>', 'only this partition', parseInteger('--partition', 0))
    .option('--before <offset>', 'remove the records below this offset', parseInteger('--before', 0))
    .option('--all', 'remove every record up to the log end')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: DeleteRecordsOptions) => {
      if ((opts.before === undefined) === (opts.all !== true))
        throw new UsageError('give exactly one of --before <offset> and --all')
      const offset = opts.all === true ? 'latest' : opts.before!
      const starts = await withClient(opts, async (s) => {
        const partitions =
          opts.partition !== undefined
            ? [opts.partition]
            : (await s.admin().describeTopic(name)).partitions.map((p) => p.partition)
        return s.admin().deleteRecords(
          name,
          partitions.map((partition) => ({ partition, offset })),
        )
      })
      if (opts.json === true) printJson(starts)
      else
        printTable(
          ['PARTITION', 'LOG START'],
          starts.map((p) => [p.partition, p.logStartOffset]),
        )
    })
}

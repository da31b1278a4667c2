// `sluice group list|describe|reset-offsets|delete`: consumer-group administration through the SDK's Admin.
// reset-offsets is a dry run that prints the plan unless --execute is given (the group must then have no live member).
import type { Command } from 'commander'
import type { ResetTarget } from '../../index.js'
import { parseDate, parseInteger, UsageError, withClient, withTarget, type TargetOptions } from '../context.js'
import { printJson, printLine, printTable } from '../output.js'

interface ResetOptions extends TargetOptions {
  topic: string
  partitions?: string
  toEarliest?: boolean
  toLatest?: boolean
  toDatetime?: string
  toOffset?: number
  shiftBy?: number
  execute?: boolean
  json?: boolean
}

function resetTarget(opts: ResetOptions): ResetTarget {
  const targets: ResetTarget[] = []
  if (opts.toEarliest === true) targets.push('earliest')
  if (opts.toLatest === true) targets.push('latest')
  if (opts.toDatetime !== undefined) targets.push({ timestamp: parseDate('--to-datetime', opts.toDatetime) })
  if (opts.toOffset !== undefined) targets.push({ offset: opts.toOffset })
  if (opts.shiftBy !== undefined) targets.push({ shiftBy: opts.shiftBy })
  const [target] = targets
  if (targets.length !== 1 || target === undefined) {
    throw new UsageError('give exactly one of --to-earliest, --to-latest, --to-datetime, --to-offset, --shift-by')
  }
  return target
}

export function registerGroup(program: Command): void {
  const group = program.command('group').description('list, describe, reset and delete consumer groups')

  withTarget(group.command('list').description('list groups'))
    .option('--json', 'print JSON')
    .action(async (opts: TargetOptions & { json?: boolean }) => {
      const groups = await withClient(opts, (s) => s.admin().listGroups())
      if (opts.json === true) printJson(groups)
      else if (groups.length === 0)
        process.stderr.write('no groups\n') // stdout stays empty for scripts
      else
        printTable(
          ['GROUP', 'STATE', 'MEMBERS'],
          groups.map((g) => [g.groupId, g.state, g.memberCount]),
        )
    })

  withTarget(group.command('describe <group>').description('members, assignments, committed offsets and lag'))
    .option('--json', 'print JSON')
    .action(async (groupId: string, opts: TargetOptions & { json?: boolean }) => {
      const d = await withClient(opts, (s) => s.admin().describeGroup(groupId))
      if (opts.json === true) {
        printJson(d)
        return
      }
      printLine(`group ${d.groupId}: ${d.state}, epoch ${d.groupEpoch}, assignor ${d.assignor}`)
      printLine('members:')
      printTable(
        ['MEMBER', 'INSTANCE', 'EPOCH', 'ASSIGNMENT'],
        d.members.map((m) => [
          m.memberId,
          m.groupInstanceId,
          m.memberEpoch,
          m.assignment.map((a) => `${a.topic}/${a.partition}`).join(',') || '-',
        ]),
      )
      printLine('offsets:')
      printTable(
        ['TOPIC', 'PARTITION', 'COMMITTED', 'START', 'END', 'LAG'],
        // -1 is "unknown" (no commit, or the partition offline): '-' in the table, as Kafka's tools print it.
        d.offsets.map((o) => [
          o.topic,
          o.partition,
          ...[o.committedOffset, o.logStartOffset, o.logEndOffset, o.lag].map((n) => (n < 0 ? '-' : n)),
        ]),
      )
    })

  withTarget(group.command('reset-offsets <group>').description('move committed offsets (dry run unless --execute)'))
    .requiredOption('--topic <topic>', 'the topic whose offsets move')
    .option('--partitions <list>', 'comma-separated partitions (default: all)')
    .option('--to-earliest', 'to the log start')
    .option('--to-latest', 'to the log end')
    .option('--to-datetime <iso>', 'to the first record at or after this time')
    .option('--to-offset <n>', 'to this offset', parseInteger('--to-offset', 0))
    .option('--shift-by <n>', 'move by n (negative: back)', parseInteger('--shift-by'))
    .option('--execute', 'apply the plan (default: only print it)')
    .option('--json', 'print JSON')
    .action(async (groupId: string, opts: ResetOptions) => {
      const to = resetTarget(opts)
      const partitions = opts.partitions?.split(',').map((p) => parseInteger('--partitions', 0)(p))
      const plan = await withClient(opts, (s) =>
        s.admin().resetOffsets(groupId, {
          topic: opts.topic,
          to,
          dryRun: opts.execute !== true,
          ...(partitions === undefined ? {} : { partitions }),
        }),
      )
      if (opts.json === true) {
        printJson({ executed: opts.execute === true, plan })
        return
      }
      printTable(
        ['TOPIC', 'PARTITION', 'FROM', 'TO'],
        plan.map((p) => [p.topic, p.partition, p.from < 0 ? null : p.from, p.to]), // null: no commit yet, shown as -
      )
      printLine(opts.execute === true ? 'offsets reset' : 'dry run: nothing changed (add --execute to apply)')
    })

  withTarget(group.command('delete <group>').description('delete a group with no live member, and its offsets'))
    .option('--json', 'print JSON')
    .action(async (groupId: string, opts: TargetOptions & { json?: boolean }) => {
      await withClient(opts, (s) => s.admin().deleteGroup(groupId))
      if (opts.json === true) printJson({ deleted: groupId })
      else printLine(`deleted group ${groupId}`)
    })
}

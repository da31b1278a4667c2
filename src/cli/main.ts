// The `sluice` command line (DESIGN.md §9): serve, topic, produce, consume, group, log, user. Exit codes: 0 ok,
// 1 operational error (one message line on stderr, no stack), 2 usage error (bad flags or arguments). Commands that
// touch data take --data-dir DIR (embedded) or --broker host:port (remote).
import { realpathSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { Command, CommanderError } from 'commander'
import { registerConsume } from './commands/consume.js'
import { registerGroup } from './commands/group.js'
import { registerLog } from './commands/log.js'
import { registerProduce } from './commands/produce.js'
import { registerServe } from './commands/serve.js'
import { registerTopic } from './commands/topic.js'
import { registerUser } from './commands/user.js'
import { InvalidConfigError } from '../errors.js'
import { UsageError } from './context.js'
import { stdoutGoneCleanup } from './output.js'

export const EXIT_OK = 0
export const EXIT_ERROR = 1
export const EXIT_USAGE = 2
/** How long a command may clean up (leave its group) after stdout's reader went away. */
const STDOUT_GONE_CLEANUP_MS = 3000

export function buildProgram(): Command {
  const program = new Command()
  program
    .name('sluice')
    .description('A Kafka-style partitioned append-only log store: embedded or as a TCP broker')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
  registerServe(program)
  registerTopic(program)
  registerProduce(program)
  registerConsume(program)
  registerGroup(program)
  registerLog(program)
  registerUser(program)
  return program
}

/** Runs the CLI and returns the exit code (never throws). */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    await buildProgram().parseAsync([...argv], { from: 'user' })
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT_OK
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version "errors" are successes; commander already printed the message.
      return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE
    }
    // A value the broker's or the SDK's own checks refuse (serve --segment-bytes 10, a topic option) is a bad
    // argument as much as one commander refuses: exit 2, as the README says.
    if (err instanceof UsageError || err instanceof InvalidConfigError) {
      process.stderr.write(`error: ${err.message}\n`)
      return EXIT_USAGE
    }
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`)
    return EXIT_ERROR
  }
}

function isEntryPoint(): boolean {
  const script = process.argv[1]
  if (script === undefined) return false
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href
  } catch {
    return false
  }
}

/** Runs the CLI as the process's command (bin/sluice.cjs, or this file run directly) and exits with its code. */
export async function runCommand(): Promise<void> {
  // A reader that went away (`sluice consume ... | head`) ends the command quietly, as other Unix tools do. A group
  // consumer first leaves its group without committing (what it printed last may not have been read): without that,
  // its partitions stayed with a dead member until the session timeout.
  let exiting = false
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (exiting) return
    exiting = true
    if (err.code !== 'EPIPE') {
      process.stderr.write(`error: writing to stdout failed: ${err.message}\n`)
      process.exit(EXIT_ERROR)
    }
    const cleanup = stdoutGoneCleanup()
    if (cleanup === null) process.exit(EXIT_OK)
    const bound = setTimeout(() => process.exit(EXIT_OK), STDOUT_GONE_CLEANUP_MS)
    void cleanup()
      .catch(() => {})
      .finally(() => {
        clearTimeout(bound)
        process.exit(EXIT_OK)
      })
  })
  const code = await main(process.argv.slice(2))
  // Let stdout drain, then exit even if a library left a handle open.
  process.stdout.write('', () => process.exit(code))
}

// Run directly (`node --import tsx src/cli/main.ts`, as the tests do): libuv's pool keeps Node's default size unless
// UV_THREADPOOL_SIZE is set (test/cli-helpers.ts and scripts/serve-child.ts set it as the launcher does).
if (isEntryPoint()) await runCommand()

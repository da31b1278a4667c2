// `sluice serve`: opens the broker on a data dir and serves it over TCP (or TLS), with structured JSON-lines logs on
// stderr and the listening address on stdout. SIGTERM/SIGINT shut down gracefully: stop accepting, let in-flight
// requests finish (bounded), then close the broker (flush, checkpoint, clean-shutdown marker) and exit 0. A second
// signal during shutdown exits at once with code 1.
import { existsSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import tls from 'node:tls'
import path from 'node:path'
import type { Command } from 'commander'
import { DEFAULTS, openBroker, startServer, type ServerOptions } from '../../index.js'
import { createJsonLogger } from '../../broker/logger.js'
import { checkAuthOptions, readUsersFile } from '../../server/auth.js'
import { LIMITS } from '../../config/limits.js'
import { TIMER_MS_MAX } from '../../topics/topic-config.js'
import { parseInteger, readFlagFile, UsageError } from '../context.js'
import { printLine } from '../output.js'
import { configFrom, withTopicConfigOptions, type ConfigOptions } from './topic.js'

interface ServeOptions extends ConfigOptions {
  retentionCheckIntervalMs?: number
  dataDir: string
  host: string
  port: number
  autoCreateTopics?: boolean
  partitions?: number
  usersFile?: string
  token?: string
  tlsCert?: string
  tlsKey?: string
  logLevel: string
  connectionsMax?: number
  idleTimeoutMs?: number
}

const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const

export function registerServe(program: Command): void {
  const command = program
    .command('serve')
    .description('run a broker on a data directory and serve it over TCP')
    .option('--data-dir <dir>', 'the data directory', DEFAULTS.dataDir)
    .option('--host <host>', 'address to bind', DEFAULTS.host)
    .option('--port <port>', 'port to bind (0 = any free port)', parseInteger('--port', 0, 65535), DEFAULTS.port)
    .option('--auto-create-topics', 'create a missing topic on first produce')
    .option(
      '--partitions <n>',
      'partitions of auto-created topics',
      parseInteger('--partitions', 1, LIMITS.partitionsMax),
    )
    .option('--users-file <file>', 'require authentication against this users file (see `sluice user add`)')
    .option('--token <token>', 'require authentication with this token (or SLUICE_SERVER_TOKEN)')
    .option('--tls-cert <file>', 'serve TLS with this certificate (PEM); needs --tls-key')
    .option('--tls-key <file>', 'the TLS private key (PEM)')
    .option('--log-level <level>', 'debug | info | warn | error', 'info')
    .option(
      '--connections-max <n>',
      `client connections at once; more are refused and logged (default ${LIMITS.connectionsMax})`,
      parseInteger('--connections-max', 1, 1_000_000),
    )
    .option(
      '--idle-timeout-ms <ms>',
      `close a connection with no traffic this long (default ${DEFAULTS.idleTimeoutMs})`,
      parseInteger('--idle-timeout-ms', 1, 2 ** 31 - 1),
    )
    .option(
      '--retention-check-interval-ms <ms>',
      'how often retention deletes old segments',
      parseInteger('--retention-check-interval-ms', 1, TIMER_MS_MAX),
    )
  // The topic options, as the defaults of topics created without them.
  withTopicConfigOptions(command).action(async (opts: ServeOptions) => {
    if (!(LOG_LEVELS as readonly string[]).includes(opts.logLevel)) {
      throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`)
    }
    const token = opts.token ?? process.env.SLUICE_SERVER_TOKEN
    if (opts.usersFile !== undefined && token !== undefined)
      throw new UsageError('give --users-file or --token, not both')
    if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) {
      throw new UsageError('--tls-cert and --tls-key go together')
    }
    // Only auto-created topics take this count; alone it would change nothing, silently.
    if (opts.partitions !== undefined && opts.autoCreateTopics !== true) {
      throw new UsageError(
        '--partitions sets the partitions of auto-created topics: it needs --auto-create-topics ' +
          "(`sluice topic create NAME --partitions n` sets a topic's own)",
      )
    }
    const logger = createJsonLogger({ level: opts.logLevel as (typeof LOG_LEVELS)[number] })
    const serverOptions: ServerOptions = {
      host: opts.host,
      port: opts.port,
      logger,
      ...(opts.connectionsMax === undefined ? {} : { connectionsMax: opts.connectionsMax }),
      ...(opts.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: opts.idleTimeoutMs }),
    }
    if (opts.usersFile !== undefined) {
      // Checked before the data dir is opened, naming the flag (it was 'ENOENT ... open', after the broker opened).
      try {
        await readUsersFile(opts.usersFile)
      } catch (err) {
        throw new Error(
          `--users-file ${opts.usersFile} cannot be used: ${(err as Error).message} (sluice user add creates it)`,
          { cause: err },
        )
      }
      serverOptions.auth = { usersFile: opts.usersFile }
    } else if (token !== undefined) {
      serverOptions.auth = { token }
      checkAuthOptions(serverOptions.auth) // before the data dir is opened (or created)
    }
    if (opts.tlsCert !== undefined && opts.tlsKey !== undefined) {
      const tlsFiles = { cert: readFlagFile('--tls-cert', opts.tlsCert), key: readFlagFile('--tls-key', opts.tlsKey) }
      try {
        tls.createSecureContext(tlsFiles) // before the data dir is opened: name the files, not OpenSSL's routine
      } catch (err) {
        throw new Error(
          `--tls-cert ${opts.tlsCert} and --tls-key ${opts.tlsKey} do not load: ${(err as Error).message} ` +
            '(--tls-cert takes the PEM certificate, --tls-key its PEM private key)',
          { cause: err },
        )
      }
      serverOptions.tls = tlsFiles
    }
    const dataDir = path.resolve(opts.dataDir)
    // A data dir this run creates is removed again if the broker cannot serve (a port in use): a failed start with a
    // misspelt --data-dir leaves nothing behind.
    const dataDirExisted = existsSync(dataDir)
    const broker = await openBroker(
      {
        dataDir,
        autoCreateTopics: opts.autoCreateTopics === true,
        ...(opts.partitions === undefined ? {} : { partitions: opts.partitions }),
        ...configFrom(opts),
        ...(opts.retentionCheckIntervalMs === undefined
          ? {}
          : { retentionCheckIntervalMs: opts.retentionCheckIntervalMs }),
      },
      { logger },
    )
    let server
    try {
      server = await startServer(broker, serverOptions)
    } catch (err) {
      await broker.close()
      if (!dataDirExisted) await rm(dataDir, { recursive: true, force: true })
      throw err
    }
    // The handlers go in before the listening line: a supervisor (or npm) that signals as soon as it reads the line
    // must find them there. Printed first, a SIGTERM in between (the process descheduled after its write) met
    // Node's default disposition and killed the broker without a clean shutdown.
    const stopped = new Promise<void>((resolve, reject) => {
      let stopping = false
      const stop = (signal: string) => {
        if (stopping) {
          logger.error('second signal during shutdown: exiting now', { signal })
          process.exit(1)
        }
        stopping = true
        logger.info('shutting down', { signal })
        void (async () => {
          try {
            await server.close()
          } catch (err) {
            logger.error('closing the server failed; closing the broker anyway', { error: (err as Error).message })
          }
          try {
            await broker.close()
          } catch (err) {
            // Before, this rejection went unhandled: a raw stack trace and no word on what it meant.
            logger.error('shutdown incomplete: the broker could not close cleanly', {
              error: (err as Error).message,
              meaning: 'acknowledged records were fsynced as their policy says; the next start re-checks the logs',
            })
            reject(new Error(`shutdown incomplete: ${(err as Error).message}`, { cause: err }))
            return
          }
          logger.info('shutdown complete')
          resolve()
        })()
      }
      process.on('SIGTERM', () => stop('SIGTERM'))
      process.on('SIGINT', () => stop('SIGINT'))
    })
    printLine(`sluice listening on ${server.host}:${server.port}`)
    await stopped
  })
}

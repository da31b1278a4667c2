// What every CLI command shares: the --data-dir / --broker target (embedded or remote) and the client it opens, the
// usage error type (exit 2) and the number parsers that produce it. Commands reach Sluice only through the public SDK
// (src/index.ts); opening a data dir that a running broker holds fails with DataDirLockedError, whose message says to
// use --broker.
import { existsSync, readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { DEFAULTS, Sluice, type SluiceConnectOptions } from '../index.js'

/** A mistake in how the command was called: exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError'
}

export interface TargetOptions {
  dataDir?: string
  broker?: string
  token?: string
  user?: string
  tls?: boolean
  tlsCa?: string
}

/** Adds the target options every client command takes. */
export function withTarget(cmd: Command): Command {
  return cmd
    .option('--data-dir <dir>', `embedded: open this data directory (default ${DEFAULTS.dataDir})`)
    .option('--broker <host:port>', 'remote: connect to a running broker')
    .option('--token <token>', 'remote: authenticate with a token (or SLUICE_TOKEN)')
    .option('--user <name>', 'remote: authenticate as this user; the password comes from SLUICE_PASSWORD')
    .option('--tls', 'remote: connect with TLS')
    .option('--tls-ca <file>', 'remote: trust this CA certificate (PEM) for TLS')
}

/**
 * Opens the SDK on the chosen target; the caller closes it. Embedded, only a command that makes something
 * (`createDataDir`: topic create) may start a new data dir: any other command given a path where none is (a typo in
 * --data-dir, or the default ./data from another directory) is refused instead of creating an empty one and then
 * reporting that it holds nothing.
 */
export async function openClient(opts: TargetOptions, createDataDir = false): Promise<Sluice> {
  if (opts.dataDir !== undefined && opts.broker !== undefined) {
    throw new UsageError('give either --data-dir (embedded) or --broker (remote), not both')
  }
  if (opts.broker === undefined) {
    for (const [flag, set] of [
      ['--token', opts.token],
      ['--user', opts.user],
      ['--tls', opts.tls],
      ['--tls-ca', opts.tlsCa],
    ] as const) {
      if (set !== undefined) throw new UsageError(`${flag} needs --broker`)
    }
    const dataDir = opts.dataDir ?? DEFAULTS.dataDir
    if (!createDataDir && !existsSync(dataDir)) {
      // Exit 1, as `log verify` of a missing directory.
      throw new Error(
        `${dataDir} does not exist: check --data-dir, or use --broker for a running broker ` +
          '(`sluice topic create` or `sluice serve` starts a new data directory)',
      )
    }
    return Sluice.open({ dataDir })
  }
  const options: SluiceConnectOptions = { brokers: opts.broker.split(',').map((b) => b.trim()), clientId: 'sluice-cli' }
  if (opts.user !== undefined && opts.token !== undefined)
    throw new UsageError('give either --token or --user, not both')
  const token = opts.token ?? process.env.SLUICE_TOKEN
  if (opts.user !== undefined) {
    const password = process.env.SLUICE_PASSWORD
    if (password === undefined)
      throw new UsageError('--user needs the password in the SLUICE_PASSWORD environment variable')
    options.auth = { username: opts.user, password }
  } else if (token !== undefined) {
    options.auth = { token }
  }
  if (opts.tlsCa !== undefined) options.tls = { ca: readFlagFile('--tls-ca', opts.tlsCa) }
  else if (opts.tls === true) options.tls = true
  return Sluice.connect(options)
}

/** Runs `fn` with an open client and always closes it. `createDataDir`: as in openClient. */
export async function withClient<T>(
  opts: TargetOptions,
  fn: (sluice: Sluice) => Promise<T>,
  createDataDir = false,
): Promise<T> {
  const sluice = await openClient(opts, createDataDir)
  try {
    return await fn(sluice)
  } finally {
    await sluice.close()
  }
}

export function parseInteger(name: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER) {
  return (text: string): number => {
    if (!/^-?\d+$/.test(text.trim())) throw new UsageError(`${name} must be an integer, got "${text}"`)
    const n = Number(text)
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new UsageError(`${name} must be an integer in [${min}, ${max}], got ${text}`)
    }
    return n
  }
}

export function parseDate(name: string, text: string): number {
  const ms = Date.parse(text)
  if (Number.isNaN(ms))
    throw new UsageError(`${name} must be an ISO date-time (e.g. 2024-05-01T12:00:00Z), got "${text}"`)
  // Record timestamps are milliseconds since 1970 (Kafka's too): an earlier time is a usage error, as a bad one is.
  if (ms < 0) throw new UsageError(`${name} must be at or after 1970-01-01T00:00:00Z, got "${text}"`)
  return ms
}

/** The bytes of a file a flag names; a failure names the flag (not just ENOENT and the path). */
export function readFlagFile(flag: string, file: string): Buffer {
  try {
    return readFileSync(file)
  } catch (err) {
    throw new Error(
      `${flag} ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      {
        cause: err,
      },
    )
  }
}

/** Runs a validator of an argument; what it refuses is a usage error (exit 2), as a bad flag value is. */
export function checkArgument<T>(validate: () => T): T {
  try {
    return validate()
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
}

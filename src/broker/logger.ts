// A small structured logger implementing StorageLogger: one JSON line per event on stderr with time, level, msg and
// the event's fields. Errors in fields are flattened to { name, message, code } so a line is always serialisable.
// `silentLogger` drops everything (tests); `memoryLogger` keeps a bounded list of entries for assertions.
import type { StorageLogger } from '../storage/api.js'

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

export interface Logger extends StorageLogger {
  debug(message: string, fields?: Record<string, unknown>): void
}

const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }

function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code
    return code === undefined
      ? { name: value.name, message: value.message }
      : { name: value.name, message: value.message, code }
  }
  if (typeof value === 'bigint') return value.toString()
  return value
}

export interface JsonLoggerOptions {
  /** Entries below this level are dropped. @default 'info' */
  level?: LogLevel
  /** Where lines go. @default process.stderr.write */
  write?: (line: string) => void
  /** Fields added to every line (e.g. { nodeId }). */
  base?: Record<string, unknown>
}

export function createJsonLogger(options: JsonLoggerOptions = {}): Logger {
  const minRank = LEVEL_RANK[options.level ?? 'info']
  const write = options.write ?? ((line: string) => void process.stderr.write(line))
  const base = options.base ?? {}
  const log = (level: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (LEVEL_RANK[level] < minRank) return
    let line: string
    try {
      line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...base, ...fields }, replacer)
    } catch {
      line = JSON.stringify({ time: new Date().toISOString(), level, msg, fieldsError: 'unserialisable fields' })
    }
    write(line + '\n')
  }
  return {
    debug: (m, f) => log('debug', m, f),
    info: (m, f) => log('info', m, f),
    warn: (m, f) => log('warn', m, f),
    error: (m, f) => log('error', m, f),
  }
}

export const silentLogger: Logger = Object.freeze({
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
})

export interface LogEntry {
  level: LogLevel
  msg: string
  fields: Record<string, unknown>
}

/** Keeps the last `entriesMax` entries in `entries` (tests). */
export function createMemoryLogger(entriesMax = 1_000): Logger & { entries: LogEntry[] } {
  const entries: LogEntry[] = []
  const log = (level: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (entries.length >= entriesMax) entries.shift()
    entries.push({ level, msg, fields: fields ?? {} })
  }
  return {
    entries,
    debug: (m, f) => log('debug', m, f),
    info: (m, f) => log('info', m, f),
    warn: (m, f) => log('warn', m, f),
    error: (m, f) => log('error', m, f),
  }
}

/** Lifts a plain StorageLogger (no debug) to a Logger. */
export function toLogger(logger: StorageLogger | undefined): Logger {
  if (logger === undefined) return createJsonLogger()
  const withDebug = logger as Partial<Logger>
  if (typeof withDebug.debug === 'function') return logger as Logger
  return {
    debug: () => {},
    info: (m, f) => logger.info(m, f),
    warn: (m, f) => logger.warn(m, f),
    error: (m, f) => logger.error(m, f),
  }
}

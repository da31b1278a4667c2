// File descriptors a broker still has room for, checked before it creates partitions: each open partition holds three
// for its active segment (log, offset index, time index) and one per sealed segment. A topic of more partitions than
// the process's descriptor limit allows opened only some of them (the rest offline, the creation reported a success),
// and the next start of the broker failed outright (EMFILE on the data dir). Linux only (/proc); elsewhere the
// numbers are unknown and nothing is refused.
import fs from 'node:fs'
import { InvalidArgumentError } from '../errors.js'

/** Descriptors one new partition opens: its active segment's log and two index files. */
export const FDS_PER_PARTITION = 3
/** Kept free for connections, checkpoints, sealed segments and the thread pool's files. */
export const FD_HEADROOM = 256

/** Descriptors this process has open, or null when unknown; Infinity when none is left even to count them. */
export function fdsInUse(): number | null {
  try {
    return fs.readdirSync('/proc/self/fd').length - 1 // less the one reading the directory
  } catch (err) {
    // Out of descriptors already: before, this read as 'unknown' and the check let the partitions through.
    const code = (err as NodeJS.ErrnoException).code
    return code === 'EMFILE' || code === 'ENFILE' ? Infinity : null
  }
}

/** This process's soft limit on open descriptors, or null when unknown or unlimited. */
export function fdLimit(): number | null {
  try {
    const line = /^Max open files\s+(\S+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'))
    const soft = line === null ? NaN : Number(line[1])
    return Number.isSafeInteger(soft) && soft > 0 ? soft : null
  } catch {
    return null
  }
}

/** Throws InvalidArgumentError, naming the numbers, when `partitions` more partitions would not fit the limit. */
export function checkFdBudget(
  partitions: number,
  what: string,
  inUse: number | null = fdsInUse(),
  limit: number | null = fdLimit(),
): void {
  if (!(partitions > 0)) return
  const needed = partitions * FDS_PER_PARTITION
  const advice = 'raise the limit (ulimit -n, LimitNOFILE= under systemd) or use fewer partitions'
  if (inUse === Infinity)
    throw new InvalidArgumentError(
      `${what} needs about ${needed} more file descriptors (${FDS_PER_PARTITION} per partition), but this process ` +
        `has none left: ${advice}`,
    )
  if (inUse === null || limit === null) return
  if (inUse + needed + FD_HEADROOM <= limit) return
  throw new InvalidArgumentError(
    `${what} needs about ${needed} more file descriptors (${FDS_PER_PARTITION} per partition), but this process ` +
      `has ${inUse} open of its limit of ${limit} and keeps ${FD_HEADROOM} free: ${advice}`,
  )
}

// The row every throughput benchmark that takes part in the side-by-side comparison (`npm run bench:peers`) returns,
// so Sluice's TCP cases and each peer's cases can be matched on (op, value size, partitions) instead of on names.
// Rates come from tinybench's median iteration time, not the mean: these machines are shared and noisy.
import type { Bench } from 'tinybench'

export type System = 'raw' | 'sluice' | 'redis' | 'nats'
export type Op = 'produce' | 'consume'

export interface ThroughputRow {
  name: string
  system: System
  op: Op
  valueBytes: number
  partitions: number
  /**
   * What an ack promises: 'fsync' (on disk), 'os' (written to the OS), 'os+1s' / 'os+2min' (written to the OS and
   * fsynced in the background that often), 'none' (the raw ceiling), '-' for reads.
   */
  durability: string
  /** The server's configuration for peers ('aof always', 'sync default'), the topic's flush for Sluice, else '-'. */
  setup: string
  /** False for rows shown for context only (another API, no decoding), which the comparison leaves out. */
  primary: boolean
  recordsPerSec: number
  megabytesPerSec: number
}

/** How long tinybench runs each task: short under `npm run bench`, longer when `npm run bench:peers` asks. */
export interface ThroughputOptions {
  /** @default DEFAULT_TASK_MS */
  taskMs?: number
}
export const DEFAULT_TASK_MS = 700
export const WARMUP_MS = 150
/** Iterations at least (tinybench's default is 64, which would hold a 30 ms task for 2 s whatever `taskMs` says). */
export const ITERATIONS_MIN = 10

/** A case that could not run (a peer not installed, an option the installed version lacks), with the reason. */
export interface SkippedRow {
  name: string
  note: string
}

export function isThroughputRow(row: unknown): row is ThroughputRow {
  return typeof row === 'object' && row !== null && 'recordsPerSec' in row && 'op' in row
}

/** Median iteration time (ms) of a finished task; throws when the task did not complete. */
export function medianMs(bench: Bench, taskName: string): number {
  const result = bench.getTask(taskName)?.result
  if (result === undefined || !('latency' in result)) throw new Error(`benchmark ${taskName} did not complete`)
  return result.latency.p50
}

/** Records/s and MiB/s of record values for a task whose every iteration moves `recordsPerIteration` records. */
export function rates(
  bench: Bench,
  taskName: string,
  recordsPerIteration: number,
  valueBytes: number,
): { recordsPerSec: number; megabytesPerSec: number } {
  const ms = medianMs(bench, taskName)
  return {
    recordsPerSec: Math.round((recordsPerIteration * 1000) / ms),
    megabytesPerSec: Math.round(((recordsPerIteration * valueBytes) / 2 ** 20) * (1000 / ms)),
  }
}

// `sluice log verify | dump`: offline integrity tools over a data dir's files, using the storage engine's
// verifyLogDir (segments checked in parallel on the piscina worker pool) and dumpSegment. They never modify a file.
// verify exits 1 when any problem is found, naming file and byte position; a progress line shows only on a TTY.
import { existsSync } from 'node:fs'
import path from 'node:path'
import type { Command } from 'commander'
import { DEFAULTS } from '../../index.js'
import { liveLockHolder } from '../../storage/data-dir-lock.js'
import { dumpSegment, findLogDirs, verifyLogDir, type VerifyReport } from '../../storage/verify.js'
import { WorkerPool } from '../../workers/pool.js'
import { parseInteger } from '../context.js'
import { LineWriter, printJson, printLine, printTable } from '../output.js'

/** Log directories verified at once (the pool bounds the CPU; this bounds open files and memory). */
const LOGS_IN_PARALLEL_MAX = 8

function progress(done: number, total: number): void {
  if (process.stdout.isTTY !== true) return
  const width = 30
  const filled = total === 0 ? width : Math.round((done / total) * width)
  process.stdout.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} logs`)
  if (done === total) process.stdout.write('\n')
}

async function verifyAll(dataDir: string): Promise<VerifyReport[]> {
  const dirs = findLogDirs(dataDir)
  const pool = new WorkerPool()
  const reports: VerifyReport[] = []
  let next = 0
  let done = 0
  progress(0, dirs.length)
  try {
    const worker = async () => {
      for (let i = next++; i < dirs.length; i = next++) {
        reports[i] = await verifyLogDir(dirs[i] as string, { pool })
        progress(++done, dirs.length)
      }
    }
    await Promise.all(Array.from({ length: Math.min(LOGS_IN_PARALLEL_MAX, dirs.length) }, worker))
  } finally {
    await pool.close()
  }
  return reports
}

function isoOrNumber(ms: number): string {
  const date = new Date(ms)
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString()
}

export function registerLog(program: Command): void {
  const log = program.command('log').description('offline integrity tools (the broker need not run)')

  log
    .command('verify')
    .description('check every batch (CRC, structure, offsets) of every segment of a data dir')
    .option('--data-dir <dir>', 'the data directory', DEFAULTS.dataDir)
    .option('--json', 'print JSON')
    .action(async (opts: { dataDir: string; json?: boolean }) => {
      const dataDir = path.resolve(opts.dataDir)
      // Anything else would be walked as if it were one, and pass.
      if (!existsSync(path.join(dataDir, 'meta.json')))
        throw new Error(
          existsSync(dataDir)
            ? `${dataDir} is not a Sluice data dir (it has no meta.json)`
            : `${dataDir} does not exist`,
        )
      const holder = liveLockHolder(dataDir)
      if (holder !== null)
        process.stderr.write(
          `warning: process ${holder.pid} holds ${dataDir} (a running broker?): batches being written while this ` +
            'runs may be reported as problems; stop it for a clean check\n',
        )
      const reports = await verifyAll(dataDir)
      const problems = reports.flatMap((r) => r.problems)
      if (opts.json === true) {
        printJson({
          ok: problems.length === 0,
          logs: reports.map((r) => ({
            dir: path.relative(dataDir, r.dir),
            ok: r.ok,
            segments: r.segments.length,
            batches: r.segments.reduce((n, s) => n + s.batches, 0),
            records: r.segments.reduce((n, s) => n + s.records, 0),
            problems: r.problems,
          })),
        })
      } else {
        printTable(
          ['LOG', 'SEGMENTS', 'BATCHES', 'RECORDS', 'STATUS'],
          reports.map((r) => [
            path.relative(dataDir, r.dir),
            r.segments.length,
            r.segments.reduce((n, s) => n + s.batches, 0),
            r.segments.reduce((n, s) => n + s.records, 0),
            r.ok ? 'ok' : `${r.problems.length} problem(s)`,
          ]),
        )
        for (const p of problems) printLine(`PROBLEM ${p.file} at byte ${p.position}: ${p.message}`)
        printLine(problems.length === 0 ? `verified ${reports.length} logs: ok` : `${problems.length} problem(s) found`)
      }
      if (problems.length > 0) process.exitCode = 1
    })

  log
    .command('dump <segment-file>')
    .description('print the batch headers of one segment file')
    .option('--from <offset>', 'skip batches below this offset', parseInteger('--from', 0))
    .option('--limit <n>', 'print at most n batches', parseInteger('--limit', 1))
    .option('--json', 'print one JSON object per batch')
    .action(async (file: string, opts: { from?: number; limit?: number; json?: boolean }) => {
      const rows: Array<Array<string | number | null>> = []
      let bad = 0
      const options = {
        ...(opts.from === undefined ? {} : { from: opts.from }),
        ...(opts.limit === undefined ? {} : { limit: opts.limit }),
      }
      const out = new LineWriter()
      try {
        for await (const b of dumpSegment(file, options)) {
          if (b.problem !== null) bad += 1
          if (opts.json === true) {
            out.line(JSON.stringify(b))
            continue
          }
          rows.push([
            b.position,
            b.baseOffset,
            b.lastOffset,
            b.recordCount,
            b.batchBytes,
            isoOrNumber(b.maxTimestamp),
            b.producerId,
            b.compression,
            b.problem ?? 'ok',
          ])
        }
      } finally {
        out.flush()
      }
      if (opts.json !== true) {
        printTable(
          ['POSITION', 'BASE', 'LAST', 'RECORDS', 'BYTES', 'MAX TIMESTAMP', 'PRODUCER', 'CODEC', 'STATUS'],
          rows,
        )
      }
      if (bad > 0) process.exitCode = 1
    })
}

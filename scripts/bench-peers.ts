// `npm run bench:peers [-- --runs N] [--json out.json]`: Sluice's TCP produce/consume cases side by side with Redis
// Streams (AOF always and everysec) and NATS JetStream, each run N times (default 3) in turn so that drift in a shared
// machine's load hits every system alike, then a table of medians with their range and the ratios: to the raw
// loopback ceiling and, for each Sluice row, to each peer's row of the same operation, record size and partitions;
// then the same figures pivoted per system for BENCHMARKS.md. Installs the Debian peers (redis-server, nats-server)
// when missing and running as root, otherwise says what to install. Every peer server is throwaway (temp dir, free
// port on 127.0.0.1) and stopped by pid by its benchmark.
import { spawnSync } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import os from 'node:os'
import { run as runNats } from '../bench/peers/nats-jetstream.bench.js'
import { run as runRedis } from '../bench/peers/redis-streams.bench.js'
import { isThroughputRow, type SkippedRow, type ThroughputRow } from '../bench/peers/throughput-row.js'
import { run as runTcp } from '../bench/server/tcp-produce-consume.bench.js'

const RUNS_MAX = 20
/** Each tinybench task runs this long here, twice `npm run bench`'s default, for tighter medians. */
const TASK_MS = 1_500
const PEERS = [
  { binary: 'redis-server', pkg: 'redis-server' },
  { binary: 'nats-server', pkg: 'nats-server' },
] as const

/** `--json <path>`: where to write every run's rows and the summaries, for a later look; none by default. */
function parseJsonPath(argv: string[]): string | null {
  const i = argv.indexOf('--json')
  if (i === -1) return null
  const target = argv[i + 1]
  if (target === undefined || target.startsWith('--')) throw new RangeError('--json takes a file path')
  return target
}

function parseRuns(argv: string[]): number {
  const i = argv.indexOf('--runs')
  if (i === -1) return 3
  const runs = Number(argv[i + 1])
  if (!Number.isInteger(runs) || runs < 1 || runs > RUNS_MAX)
    throw new RangeError(`--runs takes an integer from 1 to ${RUNS_MAX}, got ${String(argv[i + 1])}`)
  return runs
}

function installed(binary: string): boolean {
  return spawnSync(binary, ['--version'], { stdio: 'ignore' }).status === 0
}

/** apt-get installs the missing peers when root; otherwise prints the command. The benchmarks skip what is missing. */
function ensurePeers(): void {
  const missing = PEERS.filter((p) => !installed(p.binary)).map((p) => p.pkg)
  if (missing.length === 0) return
  if (process.getuid?.() !== 0) {
    console.log(`missing peers (their rows will be skipped): run \`sudo apt-get install -y ${missing.join(' ')}\``)
    return
  }
  console.log(`installing ${missing.join(', ')} with apt-get`)
  const install = () => spawnSync('apt-get', ['install', '-y', ...missing], { stdio: 'inherit' }).status === 0
  if (!install()) {
    spawnSync('apt-get', ['update'], { stdio: 'inherit' })
    if (!install()) console.log(`apt-get could not install ${missing.join(' ')}; their rows will be skipped`)
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid]! : Math.round((s[mid - 1]! + s[mid]!) / 2)
}

interface Summary {
  row: ThroughputRow
  medianPerSec: number
  minPerSec: number
  maxPerSec: number
  medianMBps: number
}

function summarise(runs: ThroughputRow[][]): Summary[] {
  const byName = new Map<string, ThroughputRow[]>()
  for (const rows of runs) for (const r of rows) byName.set(r.name, [...(byName.get(r.name) ?? []), r])
  return [...byName.values()].map((rows) => {
    const perSec = rows.map((r) => r.recordsPerSec)
    return {
      row: rows[0]!,
      medianPerSec: median(perSec),
      minPerSec: Math.min(...perSec),
      maxPerSec: Math.max(...perSec),
      medianMBps: median(rows.map((r) => r.megabytesPerSec)),
    }
  })
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en')
const ratio = (a: number, b: number): string => {
  if (!(b > 0)) return '-'
  const r = a / b
  return `${r >= 10 ? r.toFixed(1) : r >= 0.1 ? r.toFixed(2) : r.toPrecision(2)}×`
}

/** One markdown table: every primary row, Sluice's with its ratio to each peer's row of the same shape. */
function table(summaries: Summary[], runCount: number): string {
  const primary = summaries.filter((s) => s.row.primary)
  const peerSetups = [
    ...new Set(primary.filter((s) => s.row.system !== 'sluice' && s.row.system !== 'raw').map((s) => peerKey(s.row))),
  ]
  const sameShape = (a: ThroughputRow, b: ThroughputRow): boolean =>
    a.op === b.op && a.valueBytes === b.valueBytes && a.partitions === b.partitions
  const head = [
    'case',
    'value',
    'partitions',
    'ack means',
    `records/s, median of ${runCount} (range)`,
    'MB/s',
    '÷ ceiling',
    ...peerSetups.map((p) => `Sluice ÷ ${p}`),
  ]
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`]
  const order = (s: Summary): string =>
    `${s.row.op}|${String(s.row.valueBytes).padStart(5, '0')}|${s.row.partitions}|${s.row.system === 'raw' ? 0 : s.row.system === 'sluice' ? 1 : 2}`
  for (const s of [...primary].sort((a, b) => order(a).localeCompare(order(b)))) {
    const ceiling = primary.find((c) => c.row.system === 'raw' && c.row.valueBytes === s.row.valueBytes)
    const cells = [
      s.row.name,
      `${s.row.valueBytes} B`,
      String(s.row.partitions),
      s.row.durability,
      `${fmt(s.medianPerSec)} (${fmt(s.minPerSec)}-${fmt(s.maxPerSec)})`,
      fmt(s.medianMBps),
      ceiling === undefined || s.row.system === 'raw' ? '-' : ratio(s.medianPerSec, ceiling.medianPerSec),
      ...peerSetups.map((p) => {
        if (s.row.system !== 'sluice') return ''
        const peer = primary.find((x) => peerKey(x.row) === p && sameShape(x.row, s.row))
        return peer === undefined ? '-' : ratio(s.medianPerSec, peer.medianPerSec)
      }),
    ]
    lines.push(`| ${cells.join(' | ')} |`)
  }
  return lines.join('\n')
}

const peerKey = (r: ThroughputRow): string => `${r.system} ${r.setup}`

interface Column {
  title: string
  pick: (r: ThroughputRow) => boolean
}

const PRODUCE_COLUMNS: Column[] = [
  { title: 'raw socket (ceiling)', pick: (r) => r.system === 'raw' },
  { title: 'Sluice, flush sync', pick: (r) => r.system === 'sluice' && r.durability === 'fsync' },
  { title: 'Sluice, flush os', pick: (r) => r.system === 'sluice' && r.durability === 'os' },
  { title: 'Redis, AOF always', pick: (r) => r.system === 'redis' && r.setup === 'aof always' },
  { title: 'Redis, AOF everysec', pick: (r) => r.system === 'redis' && r.setup === 'aof everysec' },
  { title: 'NATS JetStream', pick: (r) => r.system === 'nats' && r.setup === 'sync default' },
  { title: 'NATS JetStream, sync always', pick: (r) => r.system === 'nats' && r.setup === 'sync always' },
]
const CONSUME_COLUMNS: Column[] = [
  { title: 'raw socket (ceiling)', pick: (r) => r.system === 'raw' && r.op === 'produce' },
  { title: 'Sluice', pick: (r) => r.system === 'sluice' },
  { title: 'Redis (AOF always server)', pick: (r) => r.system === 'redis' && r.setup === 'aof always' },
  { title: 'Redis (AOF everysec server)', pick: (r) => r.system === 'redis' && r.setup === 'aof everysec' },
  { title: 'NATS JetStream', pick: (r) => r.system === 'nats' && r.setup === 'sync default' },
]
/** Ratios printed beside the pivot: [numerator column, denominator column]. */
const PRODUCE_RATIOS: Array<[string, string]> = [
  ['Sluice, flush sync', 'Redis, AOF always'],
  ['Sluice, flush os', 'Redis, AOF everysec'],
  ['Sluice, flush os', 'NATS JetStream'],
  ['Sluice, flush sync', 'NATS JetStream, sync always'],
]
const CONSUME_RATIOS: Array<[string, string]> = [
  ['Sluice', 'Redis (AOF everysec server)'],
  ['Sluice', 'NATS JetStream'],
]

/**
 * A compact table for BENCHMARKS.md: one line per (value size, partition count), one column per system, each cell
 * "median (min-max)" records/s, then the ratios of like durability; columns no row fills are left out.
 */
function pivot(summaries: Summary[], op: 'produce' | 'consume'): string {
  const primary = summaries.filter((s) => s.row.primary)
  const shapes = [
    ...new Set(
      primary
        .filter((s) => s.row.op === op && s.row.system !== 'raw')
        .map((s) => `${s.row.valueBytes}|${s.row.partitions}`),
    ),
  ]
  const allColumns = op === 'produce' ? PRODUCE_COLUMNS : CONSUME_COLUMNS
  const find = (c: Column, valueBytes: number, partitions: number): Summary | undefined =>
    primary.find(
      (s) =>
        c.pick(s.row) &&
        s.row.valueBytes === valueBytes &&
        (s.row.system === 'raw' || (s.row.op === op && s.row.partitions === partitions)),
    )
  const columns = allColumns.filter((c) =>
    primary.some((s) => c.pick(s.row) && (s.row.op === op || s.row.system === 'raw')),
  )
  const ratios = (op === 'produce' ? PRODUCE_RATIOS : CONSUME_RATIOS).filter(([a, b]) =>
    [a, b].every((t) => columns.some((c) => c.title === t)),
  )
  const head = ['value', 'partitions', ...columns.map((c) => c.title), ...ratios.map(([a, b]) => `${a} ÷ ${b}`)]
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`]
  for (const shape of shapes.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))) {
    const [valueBytes, partitions] = shape.split('|').map(Number) as [number, number]
    const cell = (c: Column): string => {
      const s = find(c, valueBytes, partitions)
      return s === undefined ? '-' : `${fmt(s.medianPerSec)} (${fmt(s.minPerSec)}-${fmt(s.maxPerSec)})`
    }
    const byTitle = (t: string): Summary | undefined =>
      find(
        columns.find((c) => c.title === t)!,
        valueBytes,
        partitions,
      )
    const ratioCells = ratios.map(([a, b]) => {
      const x = byTitle(a)
      const y = byTitle(b)
      return x === undefined || y === undefined ? '-' : ratio(x.medianPerSec, y.medianPerSec)
    })
    lines.push(`| ${[`${valueBytes} B`, String(partitions), ...columns.map(cell), ...ratioCells].join(' | ')} |`)
  }
  return lines.join('\n')
}

const runs = parseRuns(process.argv.slice(2))
const jsonPath = parseJsonPath(process.argv.slice(2))
ensurePeers()
const startedAt = new Date()
const loadBefore = os.loadavg()
console.log(
  `node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, ${runs} runs from ${startedAt.toISOString()}, load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')}`,
)
const collected: ThroughputRow[][] = []
const skipped = new Map<string, SkippedRow>()
for (let i = 0; i < runs; i++) {
  for (const [label, bench] of [
    ['sluice tcp', runTcp],
    ['redis streams', runRedis],
    ['nats jetstream', runNats],
  ] as const) {
    const t0 = performance.now()
    const rows: unknown[] = await bench({ taskMs: TASK_MS })
    const measured = rows.filter(isThroughputRow)
    for (const r of rows) if (!isThroughputRow(r)) skipped.set((r as SkippedRow).name, r as SkippedRow)
    collected.push(measured)
    console.log(
      `run ${i + 1}/${runs} ${label}: ${measured.length} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s, load ${os
        .loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
    )
  }
}
const summaries = summarise(collected)
if (jsonPath !== null)
  await writeFile(jsonPath, JSON.stringify({ startedAt, loadBefore, runs: collected, summaries }, null, 2))
console.log(`\n${table(summaries, runs)}\n`)
console.log(`records/s, median of ${runs} (min-max): produce\n\n${pivot(summaries, 'produce')}\n`)
console.log(`records/s, median of ${runs} (min-max): consume\n\n${pivot(summaries, 'consume')}\n`)
console.log(
  "ack means: 'fsync' on disk before the ack; 'os' written to the OS; 'os+1s' / 'os+2min' written to the OS and fsynced " +
    "in the background that often; 'none' the raw socket's echo. '÷ ceiling' divides by the raw loopback socket's rate.\n",
)
const context = summaries.filter((s) => !s.row.primary)
if (context.length > 0) {
  console.log('for context (left out of the ratios):')
  for (const s of context)
    console.log(`  ${s.row.name}: ${fmt(s.medianPerSec)} records/s (${fmt(s.minPerSec)}-${fmt(s.maxPerSec)})`)
}
for (const s of skipped.values()) console.log(`skipped ${s.name}: ${s.note}`)
console.log(
  `finished ${new Date().toISOString()}, load average ${os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
)

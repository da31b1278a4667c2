// Runs every benchmark under bench/ (files ending in .bench.ts that export `run()`), one after the other so they do
// not compete for the two cores, and prints each one's rows. `npm run bench -- storage` runs only paths containing
// "storage". Results also go to bench/results/latest.json for BENCHMARKS.md.
import { mkdir, readdir, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const benchDir = path.dirname(fileURLToPath(import.meta.url))

async function findBenchFiles(dir: string, depth = 0): Promise<string[]> {
  if (depth > 4) return []
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory() && entry.name !== 'results') out.push(...(await findBenchFiles(full, depth + 1)))
    else if (entry.isFile() && entry.name.endsWith('.bench.ts')) out.push(full)
  }
  return out.sort()
}

const filters = process.argv.slice(2)
const files = (await findBenchFiles(benchDir)).filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
const machine = {
  node: process.version,
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model ?? 'unknown',
  memGiB: Math.round(os.totalmem() / 2 ** 30),
}
console.log(`node ${machine.node}, ${machine.cpus} × ${machine.cpuModel}, ${machine.memGiB} GiB`)
const results: Record<string, unknown> = {}
for (const file of files) {
  const rel = path.relative(benchDir, file)
  const mod = (await import(pathToFileURL(file).href)) as { run?: () => Promise<unknown> }
  if (typeof mod.run !== 'function') {
    console.log(`skip ${rel}: no run() export`)
    continue
  }
  console.log(`\n== ${rel}`)
  const rows = await mod.run()
  if (Array.isArray(rows)) console.table(rows)
  else console.log(rows)
  results[rel] = rows
}
await mkdir(path.join(benchDir, 'results'), { recursive: true })
await writeFile(
  path.join(benchDir, 'results', 'latest.json'),
  JSON.stringify({ machine, date: new Date().toISOString(), results }, null, 2),
)

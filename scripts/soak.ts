// Runs the long versions of the reliability tests (test/reliability): SLUICE_SOAK=1 turns the CI sizes into the soak
// sizes (D1 1,000 kill cycles, D2 200 SIGKILLs at each failpoint, D3/D4 5,000 power cuts, L1 60 min, S1/S2 50,000
// trials, S3 10,000, P1 10^8 inputs, S6 1,000) and lifts the test timeouts.
// Arguments: file filters under test/reliability (`d1`, `s2`, `l1`) and vitest options (`--reporter verbose`). L1
// (the load test) runs with vitest.load.config.ts, after the others. SEED=<n> replays one run.
//   node --import tsx scripts/soak.ts [filters...] [vitest options...]
import { spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const vitest = path.join(root, 'node_modules', 'vitest', 'vitest.mjs')
const args = process.argv.slice(2)
const filters = args.filter((a) => !a.startsWith('-'))
const options = args.filter((a) => a.startsWith('-'))
const isLoad = (f: string): boolean => f.startsWith('l1')
const mainFilters = filters.filter((f) => !isLoad(f)).map((f) => `test/reliability/${f}`)
const runMain = filters.length === 0 || mainFilters.length > 0
const runLoad = filters.length === 0 || filters.some(isLoad)

function run(vitestArgs: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [vitest, 'run', ...vitestArgs, ...options], {
      cwd: root,
      env: { ...process.env, SLUICE_SOAK: '1' },
      stdio: 'inherit',
    })
    child.on('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)))
  })
}

let exitCode = 0
if (runMain) exitCode ||= await run(mainFilters.length > 0 ? mainFilters : ['test/reliability'])
if (runLoad) exitCode ||= await run(['--config', 'vitest.load.config.ts'])
process.exitCode = exitCode

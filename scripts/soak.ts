// Runs the long versions of the reliability tests (test/reliability): SLUICE_SOAK=1 turns the CI sizes into the soak
// sizes (D1 1,000 kill cycles, D2 200 SIGKILLs at each failpoint, S1/S2 10,000 trials, S3 1,000, P1 10^7 inputs,
// S6 1,000) and lifts the test timeouts.
// Arguments: file filters under test/reliability (`d1`, `s2`) and vitest options (`--reporter verbose`). SEED=<n> replays one run.
//   node --import tsx scripts/soak.ts [vitest args...]
import { spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const vitest = path.join(root, 'node_modules', 'vitest', 'vitest.mjs')
const args = process.argv.slice(2)
const filters = args.filter((a) => !a.startsWith('-')).map((a) => `test/reliability/${a}`)
const options = args.filter((a) => a.startsWith('-'))
const child = spawn(
  process.execPath,
  [vitest, 'run', ...(filters.length > 0 ? filters : ['test/reliability']), ...options],
  {
    cwd: root,
    env: { ...process.env, SLUICE_SOAK: '1' },
    stdio: 'inherit',
  },
)
child.on('exit', (code, signal) => {
  process.exitCode = code ?? (signal === null ? 1 : 128)
})

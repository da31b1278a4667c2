// Partitions are created only while the process's descriptor limit leaves room for them (3 each) and a headroom;
// past it the creation is refused naming the numbers, and unknown numbers (no /proc) refuse nothing.
import { execFileSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, test } from 'vitest'
import { InvalidArgumentError } from '../errors.js'
import { checkFdBudget, fdLimit, fdsInUse, FD_HEADROOM, FDS_PER_PARTITION } from './fd-budget.js'

test('the budget: room for 3 descriptors per partition plus the headroom, or a refusal naming the numbers', () => {
  const limit = 1024
  const inUse = 100
  const fits = Math.floor((limit - inUse - FD_HEADROOM) / FDS_PER_PARTITION)
  expect(() => checkFdBudget(fits, 'topic "t" of n partitions', inUse, limit)).not.toThrow()
  expect(() => checkFdBudget(fits + 1, 'topic "t"', inUse, limit)).toThrow(InvalidArgumentError)
  expect(() => checkFdBudget(fits + 1, 'topic "t"', inUse, limit)).toThrow(
    /topic "t" needs about \d+ more file descriptors \(3 per partition\), but this process has 100 open of its limit of 1024/,
  )
  expect(() => checkFdBudget(10_000, 't', null, limit)).not.toThrow()
  expect(() => checkFdBudget(10_000, 't', inUse, null)).not.toThrow()
})

test('on Linux the process numbers are read from /proc', () => {
  expect(fdsInUse()).toBeGreaterThan(2)
  expect(fdLimit()).toBeGreaterThan(fdsInUse()!)
})

test('a process with no descriptor left counts as full, not unknown: the check refuses', () => {
  if (process.platform !== 'linux') return
  // A child under a low limit opens files until EMFILE, then asks: before, the failed count read as 'unknown' and
  // every partition was let through.
  const script = [
    "import fs from 'node:fs'",
    "import { fdsInUse, checkFdBudget } from './src/util/fd-budget.ts'",
    'const held = []',
    "try { for (;;) held.push(fs.openSync('/dev/null', 'r')) } catch {}",
    'let refused = false',
    "try { checkFdBudget(1, 'x') } catch { refused = true }",
    'console.log(JSON.stringify({ inUse: fdsInUse(), refused }))',
  ].join('\n')
  const out = execFileSync(
    'bash',
    ['-c', `ulimit -n 256 && exec "${process.execPath}" --import tsx --input-type=module -e "$0"`, script],
    {
      cwd: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..'),
      encoding: 'utf8',
    },
  )
  expect(JSON.parse(out.trim().split('\n').at(-1)!)).toEqual({ inUse: null, refused: true })
})

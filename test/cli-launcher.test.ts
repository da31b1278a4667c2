// The installed `sluice` command (bin/sluice.cjs) sizes libuv's thread pool before the CLI loads: 16 threads unless
// UV_THREADPOOL_SIZE says otherwise, and the CLI still runs and exits through it. The launcher is run against this
// tree's sources, transpiled as D2 transpiles them (the file layout an install has: bin/ beside dist/).
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BROKER_THREADPOOL_SIZE } from '../src/cli/threadpool.js'
import { REPO_ROOT } from './cli-helpers.js'
import { compileSluice } from './reliability/compiled-serve.js'

let root = ''
let launcher = ''

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-launcher-'))
  compileSluice(root)
  fs.symlinkSync(path.join(root, 'src'), path.join(root, 'dist'), 'dir')
  fs.mkdirSync(path.join(root, 'bin'))
  launcher = path.join(root, 'bin', 'sluice.cjs')
  fs.copyFileSync(path.join(REPO_ROOT, 'bin', 'sluice.cjs'), launcher)
}, 60_000)

afterAll(() => {
  if (root !== '') fs.rmSync(root, { recursive: true, force: true })
})

/** The environment without UV_THREADPOOL_SIZE, plus `extra`. */
function envWith(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra }
  if (!('UV_THREADPOOL_SIZE' in extra)) delete env.UV_THREADPOOL_SIZE
  return env
}

function threadsOf(pid: number): number {
  const m = /^Threads:\s+(\d+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (m === null) throw new Error(`no Threads line in /proc/${pid}/status`)
  return Number(m[1])
}

/** Starts `sluice serve` through the launcher, returns its thread count once listening, and stops it. */
async function serveThreads(extra: Record<string, string>): Promise<number> {
  const dataDir = fs.mkdtempSync(path.join(root, 'data-'))
  const child = spawn(process.execPath, [launcher, 'serve', '--data-dir', dataDir, '--port', '0'], {
    env: envWith(extra),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exited = new Promise<number | string>((r) => child.on('exit', (code, signal) => r(code ?? signal ?? -1)))
  try {
    await new Promise<void>((resolve, reject) => {
      let out = ''
      let err = ''
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString()
        if (/listening on /.test(out)) resolve()
      })
      child.stderr.on('data', (d: Buffer) => (err += d.toString()))
      void exited.then((code) => reject(new Error(`serve exited (${code}) before listening: ${err}`)))
    })
    // The pool's threads all start when it is first used, which loading the CLI does; give the broker's other
    // threads (the lock's lease worker) a moment, the same in both runs.
    await new Promise((r) => setTimeout(r, 300))
    return threadsOf(child.pid!)
  } finally {
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
  }
}

describe('bin/sluice.cjs', () => {
  it('runs the CLI and exits with its code', async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [launcher, ...args], { env: envWith({}) })
        let stdout = ''
        let stderr = ''
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
        child.on('close', (code) => resolve({ code, stdout, stderr }))
      })
    const version = await run(['--version'])
    expect(version).toMatchObject({ code: 0, stdout: '0.1.0\n' })
    const usage = await run(['topic', 'create'])
    expect(usage.code).toBe(2)
    expect(usage.stderr).toMatch(/missing required argument/)
  }, 30_000)

  it(`starts libuv's pool at ${BROKER_THREADPOOL_SIZE} threads unless UV_THREADPOOL_SIZE is set`, async () => {
    const byDefault = await serveThreads({})
    const withFour = await serveThreads({ UV_THREADPOOL_SIZE: '4' })
    expect(byDefault - withFour).toBe(BROKER_THREADPOOL_SIZE - 4)
  }, 60_000)
})

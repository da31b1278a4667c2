// A `sluice serve` child process on 127.0.0.1 (a free port) for benchmarks that need the broker in its own process
// (or any other server script that prints the same line): started from source through tsx, ready once it prints
// "listening on host:port", stopped by signal with a SIGKILL fallback. `spawnedAt`/`listeningAt` (performance.now()) let a benchmark time the start-up itself.
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { withBrokerThreadpool } from '../src/cli/threadpool.js'

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const CLI = path.join(REPO_ROOT, 'src', 'cli', 'main.ts')
const STOP_TIMEOUT_MS = 30_000

export interface ServeChild {
  child: ChildProcess
  address: string
  exited: Promise<void>
  spawnedAt: number
  listeningAt: number
}

export function startServeChild(dataDir: string, startTimeoutMs = 60_000): Promise<ServeChild> {
  return startListeningChild([CLI, 'serve', '--data-dir', dataDir, '--port', '0'], startTimeoutMs)
}

/** Runs `node --import tsx ...args` and resolves once it prints "listening on host:port". */
export function startListeningChild(args: string[], startTimeoutMs = 60_000): Promise<ServeChild> {
  const what = args.map((a) => path.basename(a)).join(' ')
  return new Promise((resolve, reject) => {
    const spawnedAt = performance.now()
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
      cwd: REPO_ROOT,
      // libuv's pool sized as the `sluice` command sizes it (bin/sluice.cjs), unless the environment says.
      env: withBrokerThreadpool(process.env),
      stdio: ['ignore', 'pipe', 'ignore'],
    })
    const exited = new Promise<void>((res) => child.once('exit', () => res()))
    let out = ''
    let done = false
    const timer = setTimeout(() => {
      if (done) return
      done = true
      child.kill('SIGKILL')
      reject(new Error(`${what} did not print "listening" within ${startTimeoutMs} ms`))
    }, startTimeoutMs)
    child.stdout!.on('data', (d: Buffer) => {
      if (done) return
      out += d.toString()
      const m = /listening on (\S+):(\d+)/.exec(out)
      if (m === null) return
      done = true
      clearTimeout(timer)
      resolve({ child, address: `${m[1]}:${m[2]}`, exited, spawnedAt, listeningAt: performance.now() })
    })
    child.once('exit', (code, signal) => {
      if (done) return
      done = true
      clearTimeout(timer)
      reject(new Error(`${what} exited (${code ?? signal}) before listening`))
    })
  })
}

/** Sends `signal` (SIGTERM: graceful; SIGKILL: a crash) and waits for the exit, killing it after 30 s. */
export async function stopServeChild(serve: ServeChild, signal: NodeJS.Signals): Promise<void> {
  if (serve.child.exitCode === null && serve.child.signalCode === null) serve.child.kill(signal)
  const timeout = new Promise<'timeout'>((res) => setTimeout(() => res('timeout'), STOP_TIMEOUT_MS).unref())
  if ((await Promise.race([serve.exited, timeout])) === 'timeout') {
    serve.child.kill('SIGKILL')
    await serve.exited
  }
}

// Helpers for the CLI and process tests: run `sluice` (src/cli/main.ts through tsx) to completion with stdin, or
// start `sluice serve` as a child and wait for its listening line. Children are killed by the caller's cleanup.
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { withBrokerThreadpool } from '../src/cli/threadpool.js'

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const MAIN = path.join(REPO_ROOT, 'src', 'cli', 'main.ts')

/** `sluice <args>` started as a child with stdin ignored and stdout/stderr piped, for tests that read it as it runs
 *  (the caller waits for and kills it). */
export function spawnCli(
  args: readonly string[],
  stdin: 'ignore' | 'pipe' = 'ignore',
): ChildProcess & { stdout: NodeJS.ReadableStream; stderr: NodeJS.ReadableStream } {
  return spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: REPO_ROOT,
    stdio: [stdin, 'pipe', 'pipe'],
  }) as ChildProcess & { stdout: NodeJS.ReadableStream; stderr: NodeJS.ReadableStream }
}

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

export function runCli(
  args: readonly string[],
  options: { input?: string | Buffer; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
    child.stdin.end(options.input ?? '')
  })
}

export interface ServeChild {
  child: ChildProcess
  host: string
  port: number
  address: string
  stderr(): string
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>
}

export function startServe(args: readonly string[], env: Record<string, string> = {}): Promise<ServeChild> {
  return startServeOf(['--import', 'tsx', MAIN], args, env)
}

/** `node <entry...> serve ...args` with `env` added (the source through tsx, or a compiled main.js); resolves once it
 *  prints its listening line, rejects if it exits first. */
export function startServeOf(
  entry: readonly string[],
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<ServeChild> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...entry, 'serve', ...args], {
      cwd: REPO_ROOT,
      // libuv's pool sized as the `sluice` command sizes it (bin/sluice.cjs), unless `env` or the caller's says.
      env: withBrokerThreadpool({ ...process.env, ...env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    const exited = new Promise<number | string>((r) => child.on('exit', (code, signal) => r(code ?? signal ?? -1)))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
      const m = /listening on (\S+):(\d+)/.exec(stdout)
      if (m !== null) {
        const host = m[1] as string
        const port = Number(m[2])
        resolve({ child, host, port, address: `${host}:${port}`, stderr: () => stderr, exited })
      }
    })
    void exited.then((code) => reject(new Error(`serve exited (${code}) before listening: ${stderr}`)))
  })
}

/** `sluice serve` arguments for a crash test's child: the data dir, a fixed port (0 at first), errors only. */
export const serveArgs = (dataDir: string, port: number): string[] => [
  '--data-dir',
  dataDir,
  '--port',
  String(port),
  '--log-level',
  'error',
]

/** SIGKILLs a serve child (unless it already exited) and waits for its exit. */
export async function killServe(server: ServeChild): Promise<void> {
  if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL')
  await server.exited
}

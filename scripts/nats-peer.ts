// Starts a throwaway nats-server with JetStream (file storage in a temp dir) on 127.0.0.1 and a free port, for
// side-by-side benchmarks, and stops it by pid. Its lifetime is bounded twice: `timeout` kills the server after
// `lifetimeMs` even if this process dies first, and stop() sends SIGTERM to the pid the server wrote, then SIGKILL
// after 10 s, then removes the temp dir (which stays behind only when this process dies before calling stop()).
// JetStream's fsync policy depends on the version: 2.9.x streams fsync in the background every 2 minutes and write
// each message to the OS before the PubAck, with no option to change it; 2.10+ takes `sync_interval: always`
// (fsync before every ack). `sync: 'always'` therefore returns `{ unsupported }` on a server older than 2.10.
import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

export type NatsSync = 'default' | 'always'

export interface NatsPeer {
  port: number
  version: string
  stop(): Promise<void>
}

export interface NatsPeerOptions {
  sync: NatsSync
  /** @default 600_000 */
  lifetimeMs?: number
}

const READY_ATTEMPTS_MAX = 200
const READY_POLL_MS = 50
const STOP_TIMEOUT_MS = 10_000

/** The installed nats-server's version ("2.9.10"), or null when it is not on the PATH. */
export function natsServerVersion(): string | null {
  const out = spawnSync('nats-server', ['--version'], { encoding: 'utf8' })
  if (out.status !== 0 || typeof out.stdout !== 'string') return null
  return /v?(\d+\.\d+\.\d+)/.exec(out.stdout)?.[1] ?? null
}

/** True when `version` is at least 2.10, the first release with `jetstream { sync_interval }`. */
export function supportsSyncAlways(version: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number)
  return major > 2 || (major === 2 && minor >= 10)
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      )
    })
  })
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.end()
      resolve(true)
    })
    socket.on('error', () => resolve(false))
  })
}

/**
 * Starts the server, or returns null when nats-server is not installed (`apt-get install nats-server`) and
 * `{ unsupported }` when the requested sync policy is not available in the installed version.
 */
export async function startNats(options: NatsPeerOptions): Promise<NatsPeer | { unsupported: string } | null> {
  const version = natsServerVersion()
  if (version === null) return null
  if (options.sync === 'always' && !supportsSyncAlways(version))
    return { unsupported: `nats-server ${version} has no sync_interval (added in 2.10)` }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-nats-'))
  const port = await freePort()
  const syncLine = options.sync === 'always' ? '  sync_interval: always\n' : ''
  const pidPath = path.join(dir, 'nats.pid')
  const config = `listen: "127.0.0.1:${port}"\npid_file: ${JSON.stringify(pidPath)}\njetstream {\n  store_dir: ${JSON.stringify(path.join(dir, 'js'))}\n${syncLine}}\n`
  const configPath = path.join(dir, 'nats.conf')
  await writeFile(configPath, config)
  const lifetimeSec = Math.ceil((options.lifetimeMs ?? 600_000) / 1000)
  const child = spawn('timeout', ['--signal=KILL', String(lifetimeSec), 'nats-server', '-c', configPath], {
    stdio: 'ignore',
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  let up = false
  for (let attempt = 0; attempt < READY_ATTEMPTS_MAX && !up && child.exitCode === null; attempt++) {
    up = await canConnect(port)
    if (!up) await new Promise((r) => setTimeout(r, READY_POLL_MS))
  }
  const serverPid = up ? Number((await readFile(pidPath, 'utf8').catch(() => '')).trim()) : NaN
  const signalServer = (signal: NodeJS.Signals): void => {
    if (child.exitCode !== null || child.signalCode !== null) return
    // The server's own pid when it wrote one; otherwise `timeout`, which passes SIGTERM on to the server.
    if (!Number.isSafeInteger(serverPid) || serverPid <= 0) {
      child.kill(signal)
      return
    }
    try {
      process.kill(serverPid, signal)
    } catch {
      // Already gone: `timeout` is exiting too.
    }
  }
  const stop = async (): Promise<void> => {
    signalServer('SIGTERM')
    const timer = setTimeout(() => signalServer('SIGKILL'), STOP_TIMEOUT_MS)
    await exited
    clearTimeout(timer)
    await rm(dir, { recursive: true, force: true })
  }
  if (!up) {
    await stop()
    throw new Error(`nats-server ${version} did not accept connections on 127.0.0.1:${port}`)
  }
  return { port, version, stop }
}

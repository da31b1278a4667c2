// Runs one SDK test suite once per transport: 'embedded' (Sluice.open on a temp dir, in-process transport) and 'tcp'
// (a broker on a temp dir served by startServer on 127.0.0.1:0, reached with Sluice.connect). Each test gets a fresh
// data dir; everything opened is closed and the dir removed afterwards. `env.reopen()` closes and opens again on the
// same dir (continuity tests). Test-only.
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe } from 'vitest'
import { openBroker, type Broker, type OpenBrokerOptions } from '../broker/broker.js'
import type { BrokerConfigInput } from '../broker/broker-config.js'
import { silentLogger } from '../broker/logger.js'
import { startServer, type SluiceServer } from '../server/server.js'
import { Sluice } from '../sluice.js'
import type { Transport } from '../client/transport.js'
import { testOpenStorage } from './broker-fixture.js'

export type TransportKind = 'embedded' | 'tcp'
export const TRANSPORT_KINDS: readonly TransportKind[] = ['embedded', 'tcp']

export interface SdkEnv {
  readonly kind: TransportKind
  readonly dataDir: string
  /** Closes the current Sluice (and broker/server) and opens a new one on the same data dir. */
  reopen(config?: BrokerConfigInput): Promise<Sluice>
  /** A second client on the same broker (tcp: a new connection; embedded: the same Sluice). */
  client(): Promise<Sluice>
}

export interface HarnessOptions {
  /** Broker config for every test of the suite (dataDir is set by the harness). */
  broker?: BrokerConfigInput
}

async function brokerParts(): Promise<OpenBrokerOptions> {
  return { logger: silentLogger, openStorage: await testOpenStorage() }
}

class Env implements SdkEnv {
  sluice: Sluice | null = null
  broker: Broker | null = null
  server: SluiceServer | null = null
  readonly extra: Sluice[] = []

  constructor(
    readonly kind: TransportKind,
    readonly dataDir: string,
    private readonly defaults: BrokerConfigInput,
  ) {}

  async open(config: BrokerConfigInput = {}): Promise<Sluice> {
    const merged = { ...this.defaults, ...config, dataDir: this.dataDir }
    if (this.kind === 'embedded') {
      this.sluice = await Sluice.open(merged, await brokerParts())
      return this.sluice
    }
    this.broker = await openBroker(merged, await brokerParts())
    this.server = await startServer(this.broker, { host: '127.0.0.1', port: 0 })
    this.sluice = await Sluice.connect({ brokers: [`127.0.0.1:${this.server.port}`] })
    return this.sluice
  }

  async client(): Promise<Sluice> {
    if (this.kind === 'embedded' || this.server === null) return this.sluice!
    const s = await Sluice.connect({ brokers: [`127.0.0.1:${this.server.port}`] })
    this.extra.push(s)
    return s
  }

  async closeAll(): Promise<void> {
    for (const s of this.extra.splice(0)) await s.close().catch(() => undefined)
    await this.sluice?.close().catch(() => undefined)
    await this.server?.close()
    await this.broker?.close()
    this.sluice = null
    this.server = null
    this.broker = null
  }

  async reopen(config?: BrokerConfigInput): Promise<Sluice> {
    await this.closeAll()
    return this.open(config)
  }
}

/** Declares `fn`'s tests once per transport; `getSluice()` is the current test's Sluice. */
export function describeEachTransport(
  title: string,
  fn: (getSluice: () => Sluice, env: () => SdkEnv) => void,
  options: HarnessOptions = {},
): void {
  for (const kind of TRANSPORT_KINDS) {
    describe(`${title} [${kind}]`, () => {
      let env: Env | null = null
      beforeEach(async () => {
        const dataDir = await mkdtemp(path.join(os.tmpdir(), `sluice-sdk-${kind}-`))
        env = new Env(kind, dataDir, options.broker ?? {})
        await env.open()
      })
      afterEach(async () => {
        if (env === null) return
        await env.closeAll()
        await rm(env.dataDir, { recursive: true, force: true })
        env = null
      })
      fn(
        () => {
          if (env?.sluice == null) throw new Error('no Sluice outside a test')
          return env.sluice
        },
        () => {
          if (env === null) throw new Error('no env outside a test')
          return env
        },
      )
    })
  }
}

/** Polls `predicate` every 10 ms until it holds; fails after 15 s naming `what`. */
export async function until(predicate: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1500; i++) {
    if (predicate()) return
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error(`timed out waiting for ${what}`)
}

/**
 * `inner` with some of its methods replaced (the rest passed through), and a close() that leaves `inner` open (the
 * harness closes it): a Sluice built on it sees faults a test injects (lost responses, damaged fetches, refusals).
 */
export function transportWith(inner: Transport, overrides: Partial<Transport>): Transport {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'close') return async () => {}
      const override = (overrides as Record<PropertyKey, unknown>)[prop]
      if (override !== undefined) return override
      const value: unknown = Reflect.get(target, prop, receiver)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

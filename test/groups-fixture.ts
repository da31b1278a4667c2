// Test-only helpers for the consumer-group end-to-end tests (test/groups-*.test.ts): an embedded Sluice on a temp dir
// (closed and removed afterwards), polling with a deadline, and an OwnershipTracker that checks, at every assign,
// revoke and delivered message, that no partition is held by two consumers and that only its holder delivers it.
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { test as base } from 'vitest'
import type { BrokerApi } from '../src/broker/api.js'
import { silentLogger } from '../src/broker/logger.js'
import type { ConsumerOptions } from '../src/client/client-config.js'
import type { Transport } from '../src/client/transport.js'
import { ConnectionError } from '../src/errors.js'
import { Sluice } from '../src/sluice.js'

export interface GroupWorld {
  sl: Sluice
  dataDir: string
  /** Extra Sluice instances (each closed at the end). */
  extra: Sluice[]
}

export const test = base.extend<{ world: GroupWorld }>({
  // eslint-disable-next-line no-empty-pattern
  world: async ({}, use) => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'sluice-groups-'))
    const sl = await Sluice.open({ dataDir, logger: silentLogger })
    const world: GroupWorld = { sl, dataDir, extra: [] }
    try {
      await use(world)
    } finally {
      for (const s of world.extra) await s.close().catch(() => undefined)
      await sl.close().catch(() => undefined)
      await rm(dataDir, { recursive: true, force: true })
    }
  },
})

/** Short timeouts so group changes settle in well under a second (a 2 s session leaves room for a loaded CI box). */
export const FAST_GROUP: ConsumerOptions = {
  autoOffsetReset: 'earliest',
  sessionTimeoutMs: 2_000,
  heartbeatIntervalMs: 100,
  autoCommitIntervalMs: 100,
  maxWaitMs: 50,
}

export async function waitFor(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await condition()) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Client-side ownership as the consumers report it through onAssign/onRevoke, checked continuously. */
export class OwnershipTracker {
  readonly holders = new Map<string, string>()
  /** `partition:offset` → how many times it was delivered. */
  readonly deliveries = new Map<string, number>()
  readonly violations: string[] = []
  /** name → partition → offsets it delivered (in order). */
  readonly byName = new Map<string, Map<number, number[]>>()
  /** Consumers treated as crashed: what they deliver afterwards does not count. */
  readonly dead = new Set<string>()

  hooks(name: string): Pick<ConsumerOptions, 'onAssign' | 'onRevoke'> {
    return {
      onAssign: (parts) => {
        for (const tp of parts) {
          const key = `${tp.topic}:${tp.partition}`
          const holder = this.holders.get(key)
          if (holder !== undefined && holder !== name)
            this.violations.push(`${key} assigned to ${name} while ${holder} holds it`)
          this.holders.set(key, name)
        }
      },
      onRevoke: (parts) => {
        for (const tp of parts) {
          const key = `${tp.topic}:${tp.partition}`
          if (this.holders.get(key) === name) this.holders.delete(key)
        }
      },
    }
  }

  /** A consumer that died without revoking: its holdings are void and its later deliveries do not count. */
  forget(name: string): void {
    this.dead.add(name)
    for (const [key, holder] of [...this.holders]) if (holder === name) this.holders.delete(key)
  }

  delivered(name: string, topic: string, partition: number, offset: number): void {
    if (this.dead.has(name)) return
    const mine = this.byName.get(name) ?? new Map<number, number[]>()
    this.byName.set(name, mine)
    mine.set(partition, [...(mine.get(partition) ?? []), offset])
    const key = `${topic}:${partition}`
    const holder = this.holders.get(key)
    if (holder !== name)
      this.violations.push(`${name} delivered ${key}@${offset} while the holder is ${holder ?? 'nobody'}`)
    const rec = `${partition}:${offset}`
    this.deliveries.set(rec, (this.deliveries.get(rec) ?? 0) + 1)
  }

  countOf(partition: number, offset: number): number {
    return this.deliveries.get(`${partition}:${offset}`) ?? 0
  }
}

/**
 * A transport over the same broker that can be cut off: once `cut` is set every call fails with ConnectionError,
 * like a process that lost its network (it can neither heartbeat nor commit).
 */
export function cuttableTransport(inner: BrokerApi): Transport & { cut: boolean } {
  const handle = { cut: false }
  const proxy = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'cut') return handle.cut
      if (prop === 'close') return async () => undefined
      const value = Reflect.get(target, prop, receiver) as unknown
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        if (handle.cut) return Promise.reject(new ConnectionError('cut off by the test'))
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
    set(_target, prop, value) {
      if (prop !== 'cut') return false
      handle.cut = value as boolean
      return true
    },
  })
  return proxy as Transport & { cut: boolean }
}

/** Produces `count` keyed records to `topic` and returns how many went to each partition. */
export async function produce(sl: Sluice, topic: string, count: number, from = 0): Promise<Map<number, number[]>> {
  const producer = sl.producer({ lingerMs: 1 })
  const metas = await producer.sendBatch(
    topic,
    Array.from({ length: count }, (_, i) => ({ key: `k${from + i}`, value: `v${from + i}` })),
  )
  await producer.close()
  const out = new Map<number, number[]>()
  for (const m of metas) out.set(m.partition, [...(out.get(m.partition) ?? []), m.offset])
  return out
}

// Parks fetches that found nothing new until one of their partitions gets an append (or, for readers of durable
// records only, its durable offset moves), their wait runs out, or the broker closes. The number of parked fetches is
// bounded (LIMITS.fetchWaitersMax): past it a fetch is not parked and answers empty at once. Every wait removes its
// listeners and clears its timer on every way out.
import { LIMITS } from '../config/limits.js'
import type { PartitionLogApi } from '../storage/api.js'

/** 'changed': the topics changed (a delete), so every parked fetch re-reads and sees whether it is affected. */
export type WakeReason = 'append' | 'changed' | 'timeout' | 'closed' | 'full'

export class LongPolls {
  readonly #wakers = new Set<(reason: WakeReason) => void>()
  #closed = false

  constructor(readonly waitersMax: number = LIMITS.fetchWaitersMax) {}

  get waiterCount(): number {
    return this.#wakers.size
  }

  /** Resolves on the first append to any of `logs` (`on` 'durable': the first advance of a durable offset), after
   *  `waitMs`, or at close, with 'append' for either event. Never rejects. */
  wait(logs: readonly PartitionLogApi[], waitMs: number, on: 'append' | 'durable' = 'append'): Promise<WakeReason> {
    if (this.#closed) return Promise.resolve('closed')
    if (this.#wakers.size >= this.waitersMax) return Promise.resolve('full')
    if (waitMs <= 0) return Promise.resolve('timeout')
    return new Promise<WakeReason>((resolve) => {
      const unsubscribes: Array<() => void> = []
      let done = false
      const finish = (reason: WakeReason): void => {
        if (done) return
        done = true
        clearTimeout(timer)
        for (const unsubscribe of unsubscribes) unsubscribe()
        this.#wakers.delete(finish)
        resolve(reason)
      }
      const timer = setTimeout(() => finish('timeout'), waitMs)
      this.#wakers.add(finish)
      for (const log of logs) {
        try {
          const wake = (): void => finish('append')
          unsubscribes.push(on === 'durable' ? log.onDurable(wake) : log.onAppend(wake))
        } catch {
          // An offline log cannot be watched; the others still can, and the timer still runs.
        }
      }
    })
  }

  /** Wakes every parked fetch to re-read (those still at the log end park again). */
  wakeAll(): void {
    for (const finish of [...this.#wakers]) finish('changed')
  }

  /** Wakes every parked fetch and refuses new waits. */
  close(): void {
    this.#closed = true
    for (const finish of [...this.#wakers]) finish('closed')
  }
}

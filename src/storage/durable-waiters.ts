// The callers of one log waiting for durability: each waits for an offset, and resolves once the log's durable
// offset passes it (an fdatasync covered it). Bounded by LIMITS.durableWaitersMax; a full queue refuses new waiters
// with a retriable StorageError rather than growing without limit.
import { LIMITS } from '../config/limits.js'
import { StorageError } from '../errors.js'

interface DurableWaiter {
  offset: number
  resolve: () => void
  reject: (err: Error) => void
}

export class DurableWaiters {
  #waiters: DurableWaiter[] = []

  constructor(readonly logName: string) {}

  get size(): number {
    return this.#waiters.length
  }

  /** A promise that resolves once `offset` is durable; throws StorageError when the queue is full. */
  add(offset: number): Promise<void> {
    if (this.#waiters.length >= LIMITS.durableWaitersMax)
      throw new StorageError(`log ${this.logName} has ${this.#waiters.length} pending durability waiters`, {
        retriable: true,
      })
    return new Promise<void>((resolve, reject) => {
      this.#waiters.push({ offset, resolve, reject })
    })
  }

  /** Resolves every waiter whose offset is below `durableOffset`. */
  resolveBelow(durableOffset: number): void {
    if (this.#waiters.length === 0) return
    const pending: DurableWaiter[] = []
    for (const w of this.#waiters) {
      if (w.offset < durableOffset) w.resolve()
      else pending.push(w)
    }
    this.#waiters = pending
  }

  resolveAll(): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const w of waiters) w.resolve()
  }

  rejectAll(err: Error): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const w of waiters) w.reject(err)
  }

  /** Rejects the waiters at or above `offset` (truncated away). */
  rejectFrom(offset: number, err: Error): void {
    const kept: DurableWaiter[] = []
    for (const w of this.#waiters) {
      if (w.offset >= offset) w.reject(err)
      else kept.push(w)
    }
    this.#waiters = kept
  }
}

// Group commit: one flusher per Storage. A log with unsynced appends asks for a flush; on the next turn of the event
// loop every log that asked and is not being flushed starts one fdatasync (in parallel), and each log then resolves
// the waiters its sync covers. A log that asks while its own fdatasync runs is flushed once more after it, so one
// fdatasync per log covers every batch appended meanwhile. Logs do not wait for each other: a log that asks while
// others are being flushed starts at once. (Rounds shared by all logs made the batches of one produce call to six
// partitions, which arrive over a few socket reads, wait for two fsyncs in a row: the first round took the partitions
// read so far, and the rest waited for all of it to end. 90% of such calls had their fsyncs split that way.)
// `idle()` resolves when no flush is running or asked for.

export interface Flushable {
  /** One fdatasync covering everything appended so far; never throws (failures take the log offline). */
  flushRound(): Promise<void>
}

export interface GroupCommitStats {
  /** Turns that started flushes. */
  rounds: number
  /** Log flushes across all rounds. */
  logFlushes: number
}

export class GroupCommitFlusher {
  readonly stats: GroupCommitStats = { rounds: 0, logFlushes: 0 }
  /** Logs that asked for a flush not started yet (some of them may be flushing: they go again after). */
  #dirty = new Set<Flushable>()
  /** Logs with a flush running, each with it. */
  #running = new Map<Flushable, Promise<void>>()
  #scheduled = false

  /** Queues `log` for a flush that starts on the next turn, or after its running one. */
  request(log: Flushable): void {
    this.#dirty.add(log)
    if (!this.#running.has(log)) this.#schedule()
  }

  #schedule(): void {
    if (this.#scheduled) return
    this.#scheduled = true
    setImmediate(() => this.#startRound())
  }

  #startRound(): void {
    this.#scheduled = false
    let started = 0
    // Bounded by the dirty set's size; logs still flushing stay in it for their turn after.
    for (const log of this.#dirty) {
      if (this.#running.has(log)) continue
      this.#dirty.delete(log)
      started++
      const flush = log.flushRound().then(
        () => this.#finish(log),
        () => this.#finish(log),
      )
      this.#running.set(log, flush)
    }
    if (started === 0) return
    this.stats.rounds++
    this.stats.logFlushes += started
  }

  #finish(log: Flushable): void {
    this.#running.delete(log)
    if (this.#dirty.has(log)) this.#schedule()
  }

  /** Resolves once no flush is running and none is asked for (bounded: each wait is one flush ending or one turn). */
  async idle(waitsMax = 10_000): Promise<void> {
    for (let i = 0; i < waitsMax; i++) {
      const running = this.#running.values().next()
      if (!running.done) await running.value
      else if (this.#scheduled || this.#dirty.size > 0) await new Promise<void>((resolve) => setImmediate(resolve))
      else return
    }
  }
}

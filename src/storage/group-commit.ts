// Group commit: one flusher per Storage. A log with unsynced appends asks for a flush; the next round fdatasyncs
// every log that asked (in parallel) and each log then resolves the waiters its sync covers. While a round is running,
// logs that become dirty wait for the next round, so one fdatasync per log covers every batch appended meanwhile,
// across all logs. Rounds run one at a time; `idle()` resolves when no round is running or queued.

export interface Flushable {
  /** One fdatasync covering everything appended so far; never throws (failures take the log offline). */
  flushRound(): Promise<void>
}

export interface GroupCommitStats {
  /** Flush rounds run. */
  rounds: number
  /** Log flushes across all rounds. */
  logFlushes: number
}

export class GroupCommitFlusher {
  readonly stats: GroupCommitStats = { rounds: 0, logFlushes: 0 }
  #dirty = new Set<Flushable>()
  #running: Promise<void> | null = null
  #scheduled = false

  /** Queues `log` for the next round (a running round does not pick it up). */
  request(log: Flushable): void {
    this.#dirty.add(log)
    if (this.#running === null && !this.#scheduled) {
      this.#scheduled = true
      setImmediate(() => this.#startRound())
    }
  }

  #startRound(): void {
    this.#scheduled = false
    if (this.#running !== null || this.#dirty.size === 0) return
    const logs = [...this.#dirty]
    this.#dirty.clear()
    this.stats.rounds++
    this.stats.logFlushes += logs.length
    this.#running = Promise.all(logs.map((log) => log.flushRound())).then(
      () => this.#finishRound(),
      () => this.#finishRound(),
    )
  }

  #finishRound(): void {
    this.#running = null
    if (this.#dirty.size > 0) {
      this.#scheduled = true
      setImmediate(() => this.#startRound())
    }
  }

  /** Resolves once no round is running and none is queued (bounded: each wait is one round). */
  async idle(roundsMax = 1_000): Promise<void> {
    for (let i = 0; i < roundsMax; i++) {
      if (this.#running !== null) await this.#running
      else if (this.#scheduled || this.#dirty.size > 0) await new Promise<void>((resolve) => setImmediate(resolve))
      else return
    }
  }
}

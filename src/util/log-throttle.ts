// Counts repeated events and says when one may be logged: at most once per interval, with how many happened since the
// last line. Used where a client (or a full disk) can make the broker log without bound: refused connections, failed
// authentications, refused writes.

export class LogThrottle {
  #count = 0
  #loggedAt = -Infinity

  constructor(readonly intervalMs: number) {}

  /** Counts one event; returns how many to report (this one included) when a line is due, else null. */
  note(nowMs: number = Date.now()): number | null {
    this.#count++
    if (nowMs - this.#loggedAt < this.intervalMs) return null
    this.#loggedAt = nowMs
    const count = this.#count
    this.#count = 0
    return count
  }
}

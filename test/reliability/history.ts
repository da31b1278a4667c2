// The history a reliability harness keeps while the broker comes and goes: every produce operation as it happens, in
// memory for the checker and appended to a JSON-lines file (flushed every FLUSH_EVERY ops and at the end) so a failed
// run leaves its history behind for replay. The harness removes the file when the run passes.
import fs from 'node:fs'
import type { HistoryOp } from './checker.js'

const FLUSH_EVERY = 256

export class HistoryRecorder {
  readonly ops: HistoryOp[] = []
  #pending: string[] = []

  constructor(readonly file: string) {
    fs.writeFileSync(file, '')
  }

  #add(op: HistoryOp): void {
    this.ops.push(op)
    this.#pending.push(JSON.stringify(op))
    if (this.#pending.length >= FLUSH_EVERY) this.flush()
  }

  invoke(client: number, partition: number, value: string): void {
    this.#add({ client, type: 'invoke', partition, value })
  }

  ok(client: number, partition: number, value: string, offset: number): void {
    this.#add({ client, type: 'ok', partition, value, offset })
  }

  fail(client: number, partition: number, value: string, error: string): void {
    this.#add({ client, type: 'fail', partition, value, error })
  }

  info(client: number, partition: number, value: string, error: string): void {
    this.#add({ client, type: 'info', partition, value, error })
  }

  /** A consumer was handed the message at `offset` of `partition`. */
  poll(client: number, partition: number, offset: number, value: string): void {
    this.#add({ client, type: 'ok', f: 'poll', partition, offset, value })
  }

  /** A consumer's partition was assigned, revoked or sought: its next position may be anywhere. */
  assign(client: number, partition: number): void {
    this.#add({ client, type: 'ok', f: 'assign', partition })
  }

  /** The broker acknowledged `offset` as the group's committed offset of `partition`. */
  commit(client: number, partition: number, offset: number): void {
    this.#add({ client, type: 'ok', f: 'commit', partition, offset })
  }

  /** Appends what is buffered to the file. */
  flush(): void {
    if (this.#pending.length === 0) return
    fs.appendFileSync(this.file, this.#pending.join('\n') + '\n')
    this.#pending = []
  }

  /** Reads a history file written by a recorder. */
  static load(file: string): HistoryOp[] {
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as HistoryOp)
  }
}

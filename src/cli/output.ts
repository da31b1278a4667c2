// CLI output: human tables (padded columns) by default, one JSON document (or one JSON line per record) with --json.
// Everything a script reads goes to stdout; diagnostics go to stderr.

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n')
}

/** Prints rows as an aligned table with a header line; an empty table prints `(none)`. */
export function printTable(
  headers: readonly string[],
  rows: ReadonlyArray<ReadonlyArray<string | number | null>>,
): void {
  if (rows.length === 0) {
    process.stdout.write('(none)\n')
    return
  }
  const cells = rows.map((r) => r.map((c) => (c === null ? '-' : String(c))))
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)))
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd()
  process.stdout.write([line(headers), ...cells.map(line)].join('\n') + '\n')
}

export function printLine(text: string): void {
  process.stdout.write(text + '\n')
}

/** Bytes of lines gathered before one write to stdout. */
const LINE_CHUNK_BYTES = 64 * 1024

/**
 * Lines for a stream, gathered into writes of up to LINE_CHUNK_BYTES: stdout is synchronous for files and pipes on
 * Linux, so a record per write(2) made a replay syscall-bound. What is gathered goes out when the chunk is full, on
 * the next turn of the event loop (a consumer following a topic prints promptly), and at flush().
 */
export class LineWriter {
  #lines: string[] = []
  #bytes = 0
  #scheduled = false

  constructor(private readonly out: { write(text: string): unknown } = process.stdout) {}

  line(text: string): void {
    this.#lines.push(text)
    this.#bytes += text.length + 1
    if (this.#bytes >= LINE_CHUNK_BYTES) this.flush()
    else if (!this.#scheduled) {
      this.#scheduled = true
      setImmediate(() => {
        this.#scheduled = false
        this.flush()
      })
    }
  }

  flush(): void {
    if (this.#lines.length === 0) return
    const text = this.#lines.join('\n') + '\n'
    this.#lines = []
    this.#bytes = 0
    this.out.write(text)
  }
}

/** What to do before exiting when stdout's reader goes away (EPIPE); bounded by the caller. */
let stdoutGone: (() => Promise<void>) | null = null

/** Sets (or with null clears) the cleanup run when stdout's reader goes away, e.g. leaving a consumer group. */
export function onStdoutGone(cleanup: (() => Promise<void>) | null): void {
  stdoutGone = cleanup
}

export function stdoutGoneCleanup(): (() => Promise<void>) | null {
  return stdoutGone
}

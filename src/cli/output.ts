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

// `sluice produce <topic>`: one record per stdin line, optionally `key<sep>value`, through the SDK producer. Sends are
// pipelined up to a bounded window of unacknowledged records, then flushed; the count goes to stdout at the end.
// Lines are read as bytes: with the default utf8 encoding a line that is not valid UTF-8 stops the command (it would
// otherwise be stored with U+FFFD in place of its bytes). When produce stops early (a bad line, a refused send,
// SIGINT/SIGTERM) it still waits for what it sent, closes cleanly and says on stderr how many records were
// acknowledged, so that a script knows what a retry would duplicate.
import { isUtf8 } from 'node:buffer'
import type { Command } from 'commander'
import type { Acks, ProducerMessage, RecordMetadata } from '../../index.js'
import { parseInteger, UsageError, withClient, withTarget, type TargetOptions } from '../context.js'
import { parseEncoding, textToBytes } from '../encoding.js'
import { printJson, printLine } from '../output.js'

/** Unacknowledged sends at once; the producer batches within this window. */
const PENDING_SENDS_MAX = 10_000
/** A longer line cannot be a record (recordBytesMax is at most 1 MiB, base64 makes that ~1.4 MiB of text): it is
 *  refused when reached, so that a stream without newlines cannot grow memory without bound. */
export const LINE_BYTES_MAX = 8 * 1024 * 1024

interface ProduceOptions extends TargetOptions {
  keySeparator?: string
  encoding?: string
  partition?: number
  acks: string
  json?: boolean
}

function parseAcks(text: string): Acks {
  if (text === 'all') return 'all'
  if (text === '1') return 1
  if (text === '0') return 0
  throw new UsageError(`--acks must be all, 1 or 0, got "${text}"`)
}

/** A line that cannot be produced, named by its number. */
class LineError extends Error {}

/**
 * The lines of `input` as Buffers, without their `\n` (and a `\r` before it); a last line without a newline counts.
 * Bounded: a line over `maxBytes` throws a LineError naming it.
 */
export async function* readLines(input: AsyncIterable<Buffer>, maxBytes = LINE_BYTES_MAX): AsyncGenerator<Buffer> {
  let parts: Buffer[] = []
  let partBytes = 0
  let lineNumber = 0
  const line = (tail: Buffer): Buffer => {
    let buf = parts.length === 0 ? tail : Buffer.concat([...parts, tail])
    parts = []
    partBytes = 0
    lineNumber++
    if (buf.length > 0 && buf[buf.length - 1] === 0x0d) buf = buf.subarray(0, buf.length - 1)
    return buf
  }
  for await (const chunk of input) {
    let start = 0
    // Each turn consumes one newline of the chunk, or the rest of it.
    for (;;) {
      const nl = chunk.indexOf(0x0a, start)
      const end = nl < 0 ? chunk.length : nl
      if (partBytes + end - start > maxBytes)
        throw new LineError(`line ${lineNumber + 1} is longer than ${maxBytes} bytes, more than a record can hold`)
      if (nl < 0) {
        if (start < chunk.length) {
          parts.push(chunk.subarray(start))
          partBytes += chunk.length - start
        }
        break
      }
      yield line(chunk.subarray(start, nl))
      start = nl + 1
    }
  }
  if (partBytes > 0) yield line(Buffer.alloc(0))
}

export function registerProduce(program: Command): void {
  withTarget(program.command('produce <topic>').description('produce one record per stdin line'))
    .option('--key-separator <sep>', 'split each line at the first <sep> into key and value')
    .option('--partition <p>', 'send every record to this partition', parseInteger('--partition', 0))
    .option('--acks <acks>', 'all | 1 | 0', 'all')
    .option('--encoding <enc>', 'utf8 | base64 | hex: how keys and values are written on the lines', 'utf8')
    .option('--json', 'print a JSON summary')
    .action(async (topic: string, opts: ProduceOptions) => {
      const acks = parseAcks(opts.acks)
      if (opts.keySeparator === '') throw new UsageError('--key-separator must not be empty')
      const encoding = parseEncoding(opts.encoding)
      let signal: NodeJS.Signals | null = null
      const stop = (sig: NodeJS.Signals): void => {
        signal ??= sig
        // Ends the line loop: what was read is still sent and waited for.
        process.stdin.destroy()
      }
      const onInt = (): void => stop('SIGINT')
      const onTerm = (): void => stop('SIGTERM')
      process.once('SIGINT', onInt)
      process.once('SIGTERM', onTerm)
      let sent = 0
      let acked = 0
      /** The number of the last line sent (lines after a failed one may have been, before its failure came back). */
      let lastSent = 0
      let failure: { err: unknown; line: number } | null = null
      try {
        const result = await withClient(opts, async (sluice) => {
          const producer = sluice.producer({ acks, idempotent: acks !== 0 })
          const pending = new Set<Promise<RecordMetadata>>()
          let lineNumber = 0
          try {
            for await (const bytes of readLines(process.stdin)) {
              if (failure !== null) break
              lineNumber += 1
              if (encoding === 'utf8' && !isUtf8(bytes)) {
                failure = {
                  err: new LineError(
                    `line ${lineNumber} is not valid UTF-8; for bytes that are not text, write keys and values ` +
                      'as --encoding base64 or hex',
                  ),
                  line: lineNumber,
                }
                break
              }
              const text = bytes.toString(encoding === 'utf8' ? 'utf8' : 'latin1')
              const sep = opts.keySeparator
              const at = sep === undefined ? -1 : text.indexOf(sep)
              let message: ProducerMessage<string | Buffer, string | Buffer>
              try {
                const value = textToBytes(
                  at >= 0 ? text.slice(at + sep!.length) : text,
                  encoding,
                  `line ${lineNumber}: the value`,
                )
                message = { value }
                if (at >= 0) message.key = textToBytes(text.slice(0, at), encoding, `line ${lineNumber}: the key`)
              } catch (err) {
                failure = { err, line: lineNumber } // the lines before it are sent (and stay); none after it
                break
              }
              if (opts.partition !== undefined) message.partition = opts.partition
              const line = lineNumber
              const sending = producer.send(topic, message)
              pending.add(sending)
              sending.then(
                () => {
                  pending.delete(sending)
                  acked++
                },
                (err: unknown) => {
                  pending.delete(sending)
                  if (failure === null || line < failure.line) failure = { err, line }
                },
              )
              sent += 1
              lastSent = line
              if (pending.size >= PENDING_SENDS_MAX) await Promise.race(pending).catch(() => {})
            }
          } catch (err) {
            // stdin destroyed by a signal ends the loop; anything else (a line too long, a read error) stops it
            if (signal === null) failure ??= { err, line: lineNumber + 1 }
          }
          await Promise.allSettled(pending)
          await producer.close()
          return { topic, records: sent }
        })
        if (failure === null && signal === null) {
          if (opts.json === true) printJson(result)
          else printLine(`produced ${result.records} record${result.records === 1 ? '' : 's'} to ${topic}`)
          return
        }
      } finally {
        process.off('SIGINT', onInt)
        process.off('SIGTERM', onTerm)
      }
      const f = failure as { err: unknown; line: number } | null
      const why = f !== null ? `stopped at line ${f.line}` : `stopped by ${signal}`
      process.stderr.write(
        `produce ${why}: ${acked} record${acked === 1 ? '' : 's'} acknowledged to ${topic}` +
          (acked < sent ? ` (${sent - acked} sent but not acknowledged)` : '') +
          (lastSent === 0 ? '; no line was sent\n' : `; lines after line ${lastSent} were not sent\n`),
      )
      if (f === null) {
        process.exitCode = signal === 'SIGINT' ? 130 : 143
        return
      }
      const message = f.err instanceof Error ? f.err.message : String(f.err)
      throw new Error(message.startsWith(`line ${f.line}`) ? message : `line ${f.line}: ${message}`)
    })
}

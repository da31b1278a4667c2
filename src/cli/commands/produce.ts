// `sluice produce <topic>`: one record per stdin line, optionally `key<sep>value`, through the SDK producer. Sends are
// pipelined up to a bounded window of unacknowledged records, then flushed; the count goes to stdout at the end.
import { createInterface } from 'node:readline'
import type { Command } from 'commander'
import type { Acks, ProducerMessage, RecordMetadata } from '../../index.js'
import { parseInteger, UsageError, withClient, withTarget, type TargetOptions } from '../context.js'
import { parseEncoding, textToBytes } from '../encoding.js'
import { printJson, printLine } from '../output.js'

/** Unacknowledged sends at once; the producer batches within this window. */
const PENDING_SENDS_MAX = 10_000

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
      const result = await withClient(opts, async (sluice) => {
        const producer = sluice.producer({ acks, idempotent: acks !== 0 })
        const pending = new Set<Promise<RecordMetadata>>()
        let records = 0
        let failure: unknown = null
        const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
        let lineNumber = 0
        for await (const line of lines) {
          if (failure !== null) break
          lineNumber += 1
          const sep = opts.keySeparator
          const at = sep === undefined ? -1 : line.indexOf(sep)
          let message: ProducerMessage<string | Buffer, string | Buffer>
          try {
            const value = textToBytes(
              at >= 0 ? line.slice(at + sep!.length) : line,
              encoding,
              `line ${lineNumber}: the value`,
            )
            message = { value }
            if (at >= 0) message.key = textToBytes(line.slice(0, at), encoding, `line ${lineNumber}: the key`)
          } catch (err) {
            failure = err // the lines before it are sent (and stay); none after it
            break
          }
          if (opts.partition !== undefined) message.partition = opts.partition
          const sent = producer.send(topic, message)
          pending.add(sent)
          sent.then(
            () => pending.delete(sent),
            (err: unknown) => {
              pending.delete(sent)
              failure ??= err
            },
          )
          records += 1
          if (pending.size >= PENDING_SENDS_MAX) await Promise.race(pending).catch(() => {})
        }
        await Promise.allSettled(pending)
        await producer.close()
        if (failure !== null) throw failure
        return { topic, records }
      })
      if (opts.json === true) printJson(result)
      else printLine(`produced ${result.records} record${result.records === 1 ? '' : 's'} to ${topic}`)
    })
}

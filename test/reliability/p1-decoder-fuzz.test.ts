// P1: the decoders at the trust boundaries, fed seeded mutations of a corpus captured from real traffic: record
// batches (validateBatch, iterateBatches, decodeRecords), the frame decoder (random chunking), and msgpack bodies
// through the server's per-api request decoders. Every input must either decode or raise a typed SluiceError: an
// exception of any other class is a defect, and so is an input that takes more than HANG_MS. Failing inputs are
// written to a file (kept) and the seed printed.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { beforeAll, expect, test } from 'vitest'
import type { BrokerApi } from '../../src/broker/api.js'
import { SluiceError } from '../../src/errors.js'
import { allApiSpecs, ApiKey, decodeHandshake } from '../../src/protocol/api-keys.js'
import { decodeBody } from '../../src/protocol/codec.js'
import { FLAG_RESPONSE, FrameDecoder } from '../../src/protocol/frame.js'
import { decodeRecords, iterateBatches, validateBatch } from '../../src/storage/record-batch.js'
import { Random } from '../../src/testing/random.js'
import { captureCorpus, type Corpus } from './corpus.js'
import { mutate } from './mutator.js'
import { reportFigures, runSeed, testTimeoutMs, trials } from './settings.js'

const HANG_MS = 1_000
const FAILURES_KEPT_MAX = 50
/** The broker behind the request decoders: every call succeeds and does nothing (only decoding is under test). */
const stubBroker = new Proxy({}, { get: () => () => Promise.resolve(null) }) as BrokerApi
const SPECS = new Map(allApiSpecs().map((s) => [s.key as number, s]))

let corpus: Corpus

beforeAll(async () => {
  corpus = await captureCorpus()
}, testTimeoutMs(120_000))

interface FuzzFailure {
  target: string
  error: string
  inputHex: string
}

/** Decodes one request or response body the way the server (requests) or the client (responses) would. */
function decodeFrameBody(apiKey: number, flags: number, body: Buffer): void {
  const value = decodeBody(body)
  if ((flags & FLAG_RESPONSE) !== 0) {
    const batches: Buffer[] = []
    collect(value, batches, 0)
    for (const b of batches) decodeBatches(b)
    return
  }
  if (apiKey === ApiKey.HANDSHAKE) decodeHandshake(value)
  else void SPECS.get(apiKey)?.serve?.(stubBroker, value)
}

function collect(value: unknown, out: Buffer[], depth: number): void {
  if (depth > 8 || value === null || typeof value !== 'object') return
  if (Buffer.isBuffer(value)) out.push(value)
  else for (const v of Object.values(value)) collect(v, out, depth + 1)
}

/** The client's path over fetched bytes and the broker's over a produced batch. */
function decodeBatches(buf: Buffer): void {
  for (const { position, header } of iterateBatches(buf)) decodeRecords(buf, position, -Infinity, header)
}

function decodeOneBatch(buf: Buffer): void {
  const h = validateBatch(buf)
  decodeRecords(buf, 0, -Infinity, h)
}

function decodeStream(buf: Buffer, rng: Random): void {
  const decoder = new FrameDecoder()
  let position = 0
  // Each turn pushes at least one byte and drains the frames it completed.
  while (position < buf.length) {
    const n = rng.int(1, Math.max(1, buf.length - position))
    decoder.push(buf.subarray(position, position + n))
    position += n
    for (let frame = decoder.next(); frame !== null; frame = decoder.next()) {
      try {
        decodeFrameBody(frame.apiKey, frame.flags, frame.body)
      } catch (err) {
        if (!(err instanceof SluiceError)) throw err
      }
    }
  }
}

test(
  'P1: mutated batches, frames and bodies raise only typed errors and never hang',
  () => {
    const seed = runSeed('P1')
    const rng = new Random(seed)
    const total = trials(1_000_000, 100_000_000)
    const frames = [...corpus.requests, ...corpus.responses]
    const bodies = frames.map((f) => ({ apiKey: f.readUInt16BE(4), flags: f.readUInt8(12), body: f.subarray(13) }))
    const failures: FuzzFailure[] = []
    const tally = { batch: 0, stream: 0, body: 0, typedErrors: 0, decoded: 0, uncaught: 0, hangs: 0 }
    let maxInputMs = 0
    let slowest = ''
    for (let i = 0; i < total; i++) {
      const kind = i % 3 === 0 ? 'batch' : i % 3 === 1 ? 'stream' : 'body'
      let input: Buffer
      let run: () => void
      if (kind === 'batch') {
        input = mutate(rng.pick(corpus.batches), rng, corpus.batches)
        run = rng.bool() ? () => decodeOneBatch(input) : () => decodeBatches(input)
      } else if (kind === 'stream') {
        // One or two frames back to back, mutated together (a length can run into the next frame).
        const pair = rng.bool(0.3) ? Buffer.concat([rng.pick(frames), rng.pick(frames)]) : rng.pick(frames)
        input = mutate(pair, rng, frames)
        const chunkRng = new Random(rng.int(1, 2 ** 31))
        run = () => decodeStream(input, chunkRng)
      } else {
        const b = rng.pick(bodies)
        input = mutate(b.body, rng, [])
        run = () => decodeFrameBody(b.apiKey, b.flags, input)
      }
      tally[kind]++
      const started = performance.now()
      try {
        run()
        tally.decoded++
      } catch (err) {
        if (err instanceof SluiceError) tally.typedErrors++
        else {
          tally.uncaught++
          if (failures.length < FAILURES_KEPT_MAX)
            failures.push({
              target: kind,
              error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
              inputHex: input.toString('hex'),
            })
        }
      }
      const ms = performance.now() - started
      if (ms > maxInputMs) {
        // Run it again: a slow input that is fast the second time was a GC pause or JIT, not the decoder.
        const again = performance.now()
        try {
          run()
        } catch {
          // same outcome as above
        }
        maxInputMs = ms
        slowest = `${kind} #${i} (${input.length} bytes): ${ms.toFixed(1)} ms, again ${(performance.now() - again).toFixed(1)} ms; ${input.subarray(0, 64).toString('hex')}`
      }
      if (ms > HANG_MS) tally.hangs++
    }
    reportFigures('P1', {
      seed,
      inputs: total,
      corpus: { requests: corpus.requests.length, responses: corpus.responses.length, batches: corpus.batches.length },
      ...tally,
      maxInputMs: Math.round(maxInputMs * 10) / 10,
      slowest,
    })
    if (failures.length > 0) {
      const file = path.join(os.tmpdir(), `sluice-p1-failures-${seed}.json`)
      fs.writeFileSync(file, JSON.stringify(failures, null, 1))
      console.log(`[reliability] P1 failing inputs kept in ${file}`)
    }
    expect(failures.slice(0, 5).map((f) => `${f.target}: ${f.error}`)).toEqual([])
    expect(tally.hangs).toBe(0)
    // The corpus really reached the decoders: most inputs were refused and some still decoded.
    expect(tally.typedErrors).toBeGreaterThan(0)
    expect(tally.decoded).toBeGreaterThan(0)
  },
  testTimeoutMs(120_000),
)

// Sends the producer's closed batches: encodes each once, keeps up to `maxInFlight` batches of a partition in flight
// (dispatched in order, so the broker appends them in order and one group-commit fsync covers several), retries
// retriable failures with the very same bytes, and settles every record's request with its offset.
//
// Idempotence: each batch carries producerId/epoch and a baseSequence assigned in dispatch order. When a batch is
// refused as out of order because an earlier one of its partition failed or is being retried, it waits for those,
// then resends (same bytes if they landed; re-encoded under a renewed producer id if one failed for good). A batch
// that fails for good renews the producer id when later batches are already sequenced after it (or when it is unknown
// whether it landed); no batch of the new id is dispatched on a partition until that partition's older-id batches
// have settled, so records of one partition never overtake each other.
import type { ProduceResponse } from '../broker/api.js'
import { OutOfOrderSequenceError, SluiceError } from '../errors.js'
import { markChecksummed, POS, writeInt64 } from '../storage/record-batch.js'
import { crc32c } from '../util/crc32c.js'
import type { OpenBatch, PartitionQueue, PendingRequest } from './batch-accumulator.js'
import type { ProducerConfig } from './client-config.js'
import type { Transport } from './transport.js'

const SEQUENCE_MODULUS = 2 ** 31

/** One dispatched batch. */
export interface InFlightBatch {
  readonly batch: OpenBatch
  bytes: Buffer | null
  /** The bytes must be restamped with the current producer id and a new baseSequence before they are sent. */
  stale: boolean
  /** The bytes were copied under a new producer id at least once (the builder's own bytes were sent before). */
  restamped: boolean
  /** The producer-id generation the bytes were (or will be) encoded under. */
  generation: number
  baseSequence: number
  done: Promise<void>
  markDone: () => void
}

export interface SenderHooks {
  /** A batch settled (either way): its bytes leave the producer's buffer. */
  onSettled(q: PartitionQueue, batch: OpenBatch): void
  /** The broker no longer knows the topic or partition: drop cached metadata. */
  onUnknownTopic(topic: string): void
  /** The partition is offline (PartitionOfflineError): records without a key should go elsewhere. */
  onPartitionOffline(topic: string, partition: number): void
}

export class BatchSender {
  #producerId = -1
  #producerEpoch = -1
  /** Bumped when the producer id is renewed. */
  #generation = 0
  #initializing: Promise<void> | null = null
  #inFlight = 0

  constructor(
    private readonly transport: Transport,
    private readonly config: ProducerConfig,
    private readonly partitions: () => Iterable<PartitionQueue>,
    private readonly hooks: SenderHooks,
  ) {}

  get inFlightBatches(): number {
    return this.#inFlight
  }

  /** Dispatches ready batches of `q` while its window has room. */
  trySend(q: PartitionQueue): void {
    const window = q.window
    while (q.ready.length > 0 && window.length < this.config.maxInFlight) {
      for (const f of window) if (f.generation !== this.#generation) return
      const batch = q.ready.shift()!
      let markDone!: () => void
      const done = new Promise<void>((resolve) => (markDone = resolve))
      const f: InFlightBatch = {
        batch,
        bytes: null,
        stale: false,
        restamped: false,
        generation: this.#generation,
        baseSequence: -1,
        done,
        markDone,
      }
      window.push(f)
      this.#inFlight++
      void this.#run(q, f)
    }
  }

  async #run(q: PartitionQueue, f: InFlightBatch): Promise<void> {
    const config = this.config
    try {
      let retries = 0
      let reorders = 0
      let restarts = 0
      for (;;) {
        try {
          await this.#encode(q, f) // may wait for a producer id: its failures are retried like a produce's
          const response = await this.transport.produce({
            topic: q.topic,
            partition: q.partition,
            acks: config.acks,
            batch: f.bytes!,
          })
          complete(q, f.batch, config.acks === 0 ? null : response)
          // Answered: the broker wrote the bytes and the transport let go of them. With acks 0 there is no answer
          // (a TCP write may still be queued), and a restamped batch's first bytes may sit on an old connection.
          if (config.acks !== 0 && !f.restamped) f.batch.builder.release()
          return
        } catch (err) {
          if (
            config.idempotent &&
            err instanceof OutOfOrderSequenceError &&
            err.producerUnknown &&
            q.window.indexOf(f) === 0 &&
            restarts++ < 1
          ) {
            // The partition has no record of this producer though nothing of it is in flight before this batch: its
            // log was made anew (the topic deleted and created again). Nothing here can be a duplicate there, so
            // start over under a new producer id, as Kafka's producer bumps its epoch, instead of failing every
            // later batch of the partition.
            if (f.generation === this.#generation) this.#renew()
            f.stale = true
            continue
          }
          if (
            config.idempotent &&
            hasCode(err, 'OUT_OF_ORDER_SEQUENCE') &&
            reorders++ < config.maxInFlight + config.retries
          ) {
            // An earlier batch of this partition did not land (yet): wait for it, then resend the same bytes if it
            // landed after all, or re-encode under the renewed producer id if it failed for good.
            const earlier = q.window.slice(0, q.window.indexOf(f))
            await Promise.all(earlier.map((e) => e.done))
            if (f.generation !== this.#generation) {
              f.stale = true
              continue
            }
            if (earlier.length > 0) continue
          }
          if (!(err instanceof SluiceError && err.retriable) || retries >= config.retries) throw err
          await sleep(config.retryBackoffMs * 2 ** retries++)
        }
      }
    } catch (err) {
      this.#failed(q, f, err)
    } finally {
      const i = q.window.indexOf(f)
      if (i >= 0) q.window.splice(i, 1)
      this.#inFlight--
      f.markDone()
      this.hooks.onSettled(q, f.batch)
      this.trySend(q)
    }
  }

  /** Encodes `f` if it has no bytes for the current producer id; sequences are taken in call order. */
  async #encode(q: PartitionQueue, f: InFlightBatch): Promise<void> {
    const config = this.config
    if (f.bytes !== null && !f.stale) return
    if (config.idempotent) while (this.#producerId < 0) await this.#initProducer()
    const baseSequence = config.idempotent ? q.nextSequence : -1
    const producerId = config.idempotent ? this.#producerId : -1
    const producerEpoch = config.idempotent ? this.#producerEpoch : -1
    if (f.bytes === null)
      f.bytes = f.batch.builder.finish({
        compression: config.compression,
        producerId,
        producerEpoch,
        baseSequence,
        batchBytesMax: config.recordBytesMax,
      })
    else {
      f.bytes = restampBatch(f.bytes, producerId, producerEpoch, baseSequence)
      f.restamped = true
    }
    f.stale = false
    f.baseSequence = baseSequence
    f.generation = this.#generation
    if (config.idempotent) q.nextSequence = (baseSequence + f.batch.recordCount) % SEQUENCE_MODULUS
  }

  #failed(q: PartitionQueue, f: InFlightBatch, err: unknown): void {
    if (hasCode(err, 'UNKNOWN_TOPIC', 'UNKNOWN_PARTITION')) this.hooks.onUnknownTopic(q.topic)
    if (hasCode(err, 'PARTITION_OFFLINE')) this.hooks.onPartitionOffline(q.topic, q.partition)
    if (this.config.idempotent && f.bytes !== null && !f.stale && f.generation === this.#generation) {
      const later = q.window.indexOf(f) < q.window.length - 1
      // Unknown whether it landed (retries exhausted), or later batches are sequenced after it: start a new id.
      if (later || (err instanceof SluiceError && err.retriable)) this.#renew()
      else q.nextSequence = f.baseSequence
    }
    const error = err instanceof Error ? err : new Error(String(err))
    for (const request of f.batch.runRequests) settleError(request, error)
  }

  #initProducer(): Promise<void> {
    if (this.#initializing === null) {
      this.#initializing = this.transport.initProducer().then(
        (r) => {
          this.#producerId = r.producerId
          this.#producerEpoch = r.producerEpoch
          this.#initializing = null
        },
        (err: unknown) => {
          this.#initializing = null
          throw err
        },
      )
    }
    return this.#initializing
  }

  #renew(): void {
    this.#producerId = -1
    this.#producerEpoch = -1
    this.#generation++
    for (const q of this.partitions()) q.nextSequence = 0
  }
}

/** Resolves each record's request with its metadata (offset -1 with acks 0). */
function complete(q: PartitionQueue, batch: OpenBatch, response: ProduceResponse | null): void {
  const { runRequests, runCounts, runFirstSlots, slots } = batch
  const topic = q.topic
  const partition = q.partition
  const baseOffset = response === null ? -1 : response.baseOffset
  const appendTime = response === null ? -1 : response.logAppendTime
  let i = 0 // the record's index in the batch
  for (let r = 0; r < runRequests.length; r++) {
    const request = runRequests[r]!
    const end = i + runCounts[r]!
    if (request.settled) {
      i = end
      continue
    }
    const results = request.results
    if (results === null) {
      // send(): a run of one record
      request.settled = true
      request.resolve({
        topic,
        partition,
        offset: baseOffset < 0 ? -1 : baseOffset + i,
        timestamp: appendTime >= 0 ? appendTime : batch.timestampOf(i),
      })
      i = end
      continue
    }
    const { partitions, offsets, timestamps } = results
    const firstSlot = runFirstSlots[r]! - i // + i: the slot of record i while the run's slots are consecutive
    for (; i < end; i++) {
      const slot = slots === null ? firstSlot + i : slots[i]!
      partitions[slot] = partition
      offsets[slot] = baseOffset < 0 ? -1 : baseOffset + i
      timestamps[slot] = appendTime >= 0 ? appendTime : batch.timestampOf(i)
    }
    request.remaining -= runCounts[r]!
    if (request.remaining === 0) {
      request.settled = true
      request.resolve(results.toResult())
    }
  }
}

/** A copy of an encoded batch under another producer id, epoch and baseSequence (the records are the same; they are
 *  no longer held once encoded). These header fields are inside the CRC range, so the CRC is recomputed. A copy,
 *  because the bytes sent before may still be referenced by the transport. */
function restampBatch(bytes: Buffer, producerId: number, producerEpoch: number, baseSequence: number): Buffer {
  const out = Buffer.from(bytes)
  writeInt64(out, POS.producerId, producerId)
  out.writeInt16BE(producerEpoch, POS.producerEpoch)
  out.writeInt32BE(baseSequence, POS.baseSequence)
  out.writeUInt32BE(crc32c(out, POS.attributes), POS.crc)
  markChecksummed(out)
  return out
}

export function settleError(request: PendingRequest, err: unknown): void {
  if (request.settled) return
  request.settled = true
  request.reject(err instanceof Error ? err : new Error(String(err)))
}

function hasCode(err: unknown, ...codes: string[]): boolean {
  return err instanceof SluiceError && codes.includes(err.code)
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

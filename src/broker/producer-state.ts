// Idempotent-producer dedupe (issue #5). Per (producerId, partition) the broker keeps the epoch and the last
// PRODUCER_BATCHES_KEPT batches' sequence ranges with their offsets. A batch whose range equals a kept one is a retry:
// it is answered with the ORIGINAL offsets and not appended. The next batch must start right after the newest kept
// range (sequences wrap at 2^31 - 1 → 0); a gap is OutOfOrderSequenceError, an older epoch InvalidProducerEpochError.
// No state file: a partition's state is rebuilt from the batch headers of its newest bytes (at most
// producerStateScanBytesMax) the first time an idempotent batch reaches it after open.
import { BATCH_HEADER_BYTES, LIMITS } from '../config/limits.js'
import {
  DuplicateSequenceError,
  InvalidArgumentError,
  InvalidProducerEpochError,
  OutOfOrderSequenceError,
} from '../errors.js'
import type { PartitionLogApi } from '../storage/api.js'
import { readBatchHeader, type BatchHeader } from '../storage/record-batch.js'

/** Batches kept per producer and partition: the producer's in-flight limit (client-config IN_FLIGHT_MAX), so any
 *  batch a producer may retry is still known. Kafka keeps five; see client-config for why Sluice keeps sixteen. */
export const PRODUCER_BATCHES_KEPT = 16
const SEQUENCE_MODULUS = 2 ** 31
/** Bytes per read while rebuilding state. */
const SCAN_READ_BYTES = 1024 * 1024

export interface KeptBatch {
  firstSequence: number
  lastSequence: number
  baseOffset: number
  lastOffset: number
}

interface ProducerEntry {
  epoch: number
  batches: KeptBatch[]
}

export type SequenceVerdict = { duplicate: false } | { duplicate: true; batch: KeptBatch }

/** The sequence of the last record of a batch, wrapping as Kafka does. */
export function lastSequenceOf(baseSequence: number, recordCount: number): number {
  return (baseSequence + recordCount - 1) % SEQUENCE_MODULUS
}

function nextSequence(sequence: number): number {
  return (sequence + 1) % SEQUENCE_MODULUS
}

export interface PartitionProducerStateOptions {
  /** Where, for error messages: "orders/3". */
  where: string
  /** True when an unknown producer may start at a sequence other than 0 (its state may have been lost). */
  lenient: (producerId: number) => boolean
}

/** One partition's producer table; LRU-bounded at LIMITS.producerStatesMax. */
export class PartitionProducerState {
  readonly #producers = new Map<number, ProducerEntry>()
  #evicted = false

  constructor(readonly options: PartitionProducerStateOptions) {}

  get producerCount(): number {
    return this.#producers.size
  }

  /**
   * Decides what to do with an idempotent batch (producerId >= 0) before it is appended: append it, or answer it as
   * a duplicate of a kept batch. Throws OutOfOrderSequenceError, InvalidProducerEpochError or DuplicateSequenceError.
   */
  check(header: BatchHeader): SequenceVerdict {
    const { producerId, producerEpoch, baseSequence, recordCount } = header
    const where = this.options.where
    if (producerEpoch < 0 || baseSequence < 0)
      throw new InvalidArgumentError(
        `idempotent batch from producer ${producerId} to ${where} needs producerEpoch and baseSequence >= 0, ` +
          `got ${producerEpoch} and ${baseSequence}`,
      )
    const lastSequence = lastSequenceOf(baseSequence, recordCount)
    const entry = this.#producers.get(producerId)
    if (entry === undefined) {
      if (baseSequence === 0 || this.#evicted || this.options.lenient(producerId)) return { duplicate: false }
      throw new OutOfOrderSequenceError(
        `producer ${producerId} sent sequence ${baseSequence} to ${where}, where it has written nothing; expected 0`,
        { producerUnknown: true },
      )
    }
    if (producerEpoch < entry.epoch)
      throw new InvalidProducerEpochError(
        `producer ${producerId} epoch ${producerEpoch} is older than epoch ${entry.epoch} on ${where}`,
      )
    if (producerEpoch > entry.epoch) {
      if (baseSequence === 0) return { duplicate: false }
      throw new OutOfOrderSequenceError(
        `producer ${producerId} began epoch ${producerEpoch} on ${where} at sequence ${baseSequence}; expected 0`,
      )
    }
    for (const kept of entry.batches) {
      if (kept.firstSequence === baseSequence && kept.lastSequence === lastSequence)
        return { duplicate: true, batch: kept }
    }
    const newest = entry.batches.at(-1)
    const expected = newest === undefined ? 0 : nextSequence(newest.lastSequence)
    if (baseSequence === expected) return { duplicate: false }
    const behind = (expected - baseSequence + SEQUENCE_MODULUS) % SEQUENCE_MODULUS
    if (behind <= SEQUENCE_MODULUS / 2)
      throw new DuplicateSequenceError(
        `producer ${producerId} resent sequences ${baseSequence}..${lastSequence} to ${where}, which are older than ` +
          `the ${PRODUCER_BATCHES_KEPT} batches kept (next expected ${expected})`,
      )
    throw new OutOfOrderSequenceError(
      `producer ${producerId} sent sequence ${baseSequence} to ${where}; expected ${expected} (a batch is missing)`,
    )
  }

  /** Records an appended idempotent batch. */
  record(header: BatchHeader, baseOffset: number): void {
    const { producerId, producerEpoch, baseSequence, recordCount } = header
    let entry = this.#producers.get(producerId)
    if (entry === undefined || producerEpoch > entry.epoch) entry = { epoch: producerEpoch, batches: [] }
    this.#producers.delete(producerId)
    this.#producers.set(producerId, entry)
    entry.batches.push({
      firstSequence: baseSequence,
      lastSequence: lastSequenceOf(baseSequence, recordCount),
      baseOffset,
      lastOffset: baseOffset + recordCount - 1,
    })
    if (entry.batches.length > PRODUCER_BATCHES_KEPT) entry.batches.shift()
    if (this.#producers.size > LIMITS.producerStatesMax) {
      const oldest = this.#producers.keys().next().value
      if (oldest !== undefined) this.#producers.delete(oldest)
      this.#evicted = true
    }
  }

  /** Replays the idempotent batch headers of `log`'s newest bytes (at most `scanBytesMax`). Returns batches seen. */
  rebuildFrom(log: PartitionLogApi, scanBytesMax: number = LIMITS.producerStateScanBytesMax): number {
    const end = log.logEndOffset
    const startOffset = log.logStartOffset
    if (end <= startOffset) return 0
    let from = startOffset
    if (log.sizeBytes > scanBytesMax) {
      // Estimate where the newest scanBytesMax bytes begin from the average bytes per offset.
      const span = end - startOffset
      from = Math.max(startOffset, end - Math.ceil((span * scanBytesMax) / log.sizeBytes))
    }
    let offset = from
    let scanned = 0
    let batches = 0
    while (offset < end && scanned < 2 * scanBytesMax) {
      const { records } = log.read(offset, SCAN_READ_BYTES)
      if (records.length === 0) break
      scanned += records.length
      let pos = 0
      let advanced = false
      while (records.length - pos >= BATCH_HEADER_BYTES) {
        const header = readBatchHeader(records, pos)
        if (header.batchBytes <= 0 || pos + header.batchBytes > records.length) break
        pos += header.batchBytes
        if (header.lastOffset < offset) continue
        batches++
        if (header.producerId >= 0) this.record(header, header.baseOffset)
        offset = header.lastOffset + 1
        advanced = true
      }
      if (!advanced) break
    }
    return batches
  }
}

/** Producer tables per partition log. Keyed by the log object, so a deleted and re-created topic starts clean. */
export class ProducerStates {
  readonly #states = new WeakMap<PartitionLogApi, PartitionProducerState>()

  constructor(readonly lenient: (producerId: number) => boolean) {}

  /** The partition's state, rebuilt from the log the first time it is asked for. */
  forLog(log: PartitionLogApi, where: string): PartitionProducerState {
    let state = this.#states.get(log)
    if (state === undefined) {
      state = new PartitionProducerState({ where, lenient: this.lenient })
      state.rebuildFrom(log)
      this.#states.set(log, state)
    }
    return state
  }
}

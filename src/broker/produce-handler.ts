// The produce path: size check, idempotent-sequence check, one append, then the acknowledgement the producer asked
// for. The sequence check, the append and the recording of the new sequence run with no await between them, so two
// produces to one partition can never interleave there; only the durability wait (acks 'all') is asynchronous.
import type { ProduceRequest, ProduceResponse } from './api.js'
import { BATCH_HEADER_BYTES } from '../config/limits.js'
import { CorruptRecordError, InvalidArgumentError, InvalidTimestampError, RecordTooLargeError } from '../errors.js'
import type { PartitionLogApi } from '../storage/api.js'
import { readBatchHeader, validateBatch } from '../storage/record-batch.js'
import type { ProducerStates } from './producer-state.js'

export interface ProduceContext {
  recordBytesMax: number
  producerStates: ProducerStates
  /** Ids at or above this were never handed out by initProducer. */
  producerIdsIssuedEnd: () => number
}

export function checkProduceRequest(req: ProduceRequest): Buffer {
  if (req === null || typeof req !== 'object') throw new InvalidArgumentError('produce request must be an object')
  if (typeof req.topic !== 'string') throw new InvalidArgumentError('produce request needs a topic name')
  if (!Number.isInteger(req.partition) || req.partition < 0)
    throw new InvalidArgumentError(`partition must be an integer >= 0, got ${String(req.partition)}`)
  if (req.acks !== 'all' && req.acks !== 1 && req.acks !== 0)
    throw new InvalidArgumentError(`acks must be 'all', 1 or 0, got ${String(req.acks)}`)
  const batch: unknown = req.batch
  if (!(batch instanceof Uint8Array)) throw new InvalidArgumentError('produce request needs the batch as bytes')
  return Buffer.isBuffer(batch) ? batch : Buffer.from(batch.buffer, batch.byteOffset, batch.byteLength)
}

/** Appends (or recognises a retry of) one batch on `log` and waits as `acks` asks. */
export async function producePartition(
  ctx: ProduceContext,
  log: PartitionLogApi,
  where: string,
  acks: ProduceRequest['acks'],
  batch: Buffer,
  timestampAfterMaxMs: number,
): Promise<ProduceResponse> {
  if (batch.length > ctx.recordBytesMax)
    throw new RecordTooLargeError(
      `batch of ${batch.length} bytes to ${where} exceeds recordBytesMax of ${ctx.recordBytesMax} bytes`,
    )
  if (batch.length < BATCH_HEADER_BYTES)
    throw new CorruptRecordError(`batch to ${where} is ${batch.length} bytes, shorter than a batch header`)
  const header = readBatchHeader(batch)
  if (header.batchBytes !== batch.length)
    throw new CorruptRecordError(
      `batch to ${where} says it is ${header.batchBytes} bytes long but ${batch.length} bytes were sent`,
    )
  // A create time far in the future would hold its segment, and every later one, back from time retention for good.
  if (timestampAfterMaxMs >= 0 && header.timestampType !== 'logAppend') {
    const now = Date.now()
    if (header.maxTimestamp > now + timestampAfterMaxMs)
      throw new InvalidTimestampError(
        `batch to ${where} has a record timestamp ${header.maxTimestamp} (${isoOrRaw(header.maxTimestamp)}), ` +
          `more than timestampAfterMaxMs ${timestampAfterMaxMs} past the broker's clock ${now}`,
      )
  }
  const idempotent = header.producerId >= 0
  if (idempotent && header.producerId >= ctx.producerIdsIssuedEnd())
    throw new InvalidArgumentError(
      `producer id ${header.producerId} was never issued by this broker; call initProducer`,
    )
  const state = idempotent ? ctx.producerStates.forLog(log, where) : null
  if (state !== null) {
    const verdict = state.check(header)
    if (verdict.duplicate) {
      validateBatch(batch) // a retry must still be a well-formed batch before we vouch for it
      if (acks === 'all') await log.waitDurable(verdict.batch.lastOffset)
      return {
        baseOffset: verdict.batch.baseOffset,
        logAppendTime: -1,
        logStartOffset: log.logStartOffset,
        duplicate: true,
      }
    }
  }
  const appended = log.append(batch)
  if (state !== null) state.record(header, appended.baseOffset)
  if (acks === 'all') await log.waitDurable(appended.lastOffset)
  return {
    baseOffset: appended.baseOffset,
    logAppendTime: header.timestampType === 'logAppend' ? appended.timestamp : -1,
    logStartOffset: appended.logStartOffset,
    duplicate: false,
  }
}

/** A timestamp as an ISO date when it is one, else as is. */
function isoOrRaw(ms: number): string {
  const d = new Date(ms)
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString()
}

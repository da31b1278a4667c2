// The fetch path: read whole batches from each requested partition, within one byte budget shared by all of them
// (the first non-empty partition may overshoot it by one batch, so a large batch is never stuck). Problems with one
// partition (unknown, out of range, offline, not owned) become that partition's `error`; the others are still served.
// When nothing was found and nothing failed, the fetch long-polls until an append, its wait, or close. A fetch with
// visibility 'durable' reads only below each partition's durable offset and waits for that offset to move instead.
import type { FetchPartitionResponse, FetchRequest, FetchResponse, GroupFence } from './api.js'
import { BATCH_HEADER_BYTES, LIMITS } from '../config/limits.js'
import { errorToWire, InvalidArgumentError, OffsetOutOfRangeError, SluiceError } from '../errors.js'
import type { PartitionLogApi, ReadAllocator } from '../storage/api.js'
import { readBatchHeader } from '../storage/record-batch.js'
import { assert } from '../util/assert.js'
import type { TopicRegistry } from '../topics/topic-registry.js'
import type { LongPolls } from './long-poll.js'

/** A long-poll woken without new data for its partitions re-reads at most this many times. */
const WAKES_MAX = 1_000

export interface FetchContext {
  registry: TopicRegistry
  longPolls: LongPolls
  /** Throws NotOwnerError / FencedMemberEpochError when the member may not read this partition. */
  checkFence: (fence: GroupFence, topic: string, partition: number) => void
  isClosed: () => boolean
}

interface CheckedFetch {
  req: FetchRequest
  maxBytes: number
  maxWaitMs: number
  durable: boolean
}

function checkFetchRequest(req: FetchRequest): CheckedFetch {
  if (req === null || typeof req !== 'object' || !Array.isArray(req.partitions))
    throw new InvalidArgumentError('fetch request needs a partitions array')
  if (req.partitions.length > LIMITS.fetchPartitionsMax)
    throw new InvalidArgumentError(
      `fetch names ${req.partitions.length} partitions; at most ${LIMITS.fetchPartitionsMax} are allowed`,
    )
  for (const p of req.partitions) {
    if (p === null || typeof p !== 'object' || typeof p.topic !== 'string')
      throw new InvalidArgumentError('each fetched partition needs a topic name')
    if (!Number.isInteger(p.partition) || !Number.isSafeInteger(p.offset))
      throw new InvalidArgumentError(`fetch of ${p.topic} needs an integer partition and offset`)
    if (p.maxBytes != null && (!Number.isInteger(p.maxBytes) || p.maxBytes < 1))
      throw new InvalidArgumentError(`maxBytes of ${p.topic}/${p.partition} must be an integer >= 1`)
  }
  if (!Number.isInteger(req.maxBytes) || req.maxBytes < 1)
    throw new InvalidArgumentError(`fetch maxBytes must be an integer >= 1, got ${String(req.maxBytes)}`)
  if (!Number.isInteger(req.maxWaitMs) || req.maxWaitMs < 0)
    throw new InvalidArgumentError(`fetch maxWaitMs must be an integer >= 0, got ${String(req.maxWaitMs)}`)
  const visibility = req.visibility ?? 'written'
  if (visibility !== 'written' && visibility !== 'durable')
    throw new InvalidArgumentError(`fetch visibility must be 'written' or 'durable', got ${String(visibility)}`)
  return {
    req,
    maxBytes: Math.min(req.maxBytes, LIMITS.fetchBytesMax),
    maxWaitMs: Math.min(req.maxWaitMs, LIMITS.fetchWaitMsMax),
    durable: visibility === 'durable',
  }
}

/** The whole batches of `records` below offset `end` (a batch boundary: the durable offset). */
function batchesBelow(records: Buffer, end: number): Buffer {
  let pos = 0
  while (records.length - pos >= BATCH_HEADER_BYTES) {
    const header = readBatchHeader(records, pos)
    if (header.baseOffset >= end || header.batchBytes <= 0 || pos + header.batchBytes > records.length) break
    pos += header.batchBytes
  }
  return pos === records.length ? records : records.subarray(0, pos)
}

interface Pass {
  response: FetchResponse
  bytes: number
  errors: number
  logs: PartitionLogApi[]
}

function readOnce(ctx: FetchContext, checked: CheckedFetch, allocate: ReadAllocator | undefined): Pass {
  const { req } = checked
  let remaining = checked.maxBytes
  let bytes = 0
  let errors = 0
  const logs: PartitionLogApi[] = []
  const partitions: FetchPartitionResponse[] = req.partitions.map((p) => {
    const out: FetchPartitionResponse = {
      topic: p.topic,
      partition: p.partition,
      records: EMPTY,
      logStartOffset: -1,
      logEndOffset: -1,
      error: null,
    }
    try {
      if (req.fence != null) ctx.checkFence(req.fence, p.topic, p.partition)
      const log = ctx.registry.onlineLog(p.topic, p.partition)
      const start = log.logStartOffset
      const end = log.logEndOffset
      // What this fetch may see: everything written, or (durable) what an fsync covered.
      const visibleEnd = checked.durable ? Math.min(log.durableOffset, end) : end
      out.logStartOffset = start
      out.logEndOffset = visibleEnd
      if (p.offset < start || p.offset > end)
        throw new OffsetOutOfRangeError(p.offset, start, end, `${p.topic}/${p.partition}`, p)
      logs.push(log)
      const budget = Math.min(p.maxBytes ?? checked.maxBytes, remaining)
      if (p.offset < visibleEnd && budget > 0) {
        // Only the first partition with data may overshoot the budget (by its first batch); the others take whole
        // batches that fit, and read no more than that.
        const read = log.read(p.offset, budget, { allocate, atLeastOne: bytes === 0 })
        let records = read.records
        if (checked.durable) records = batchesBelow(records, visibleEnd)
        assert(bytes === 0 || records.length <= budget, 'a read after the first went past its budget')
        out.records = records
        out.logStartOffset = read.logStartOffset
        if (!checked.durable) out.logEndOffset = read.logEndOffset
        bytes += records.length
        remaining -= records.length
      } else if (checked.durable && p.offset >= visibleEnd && p.offset < end) {
        log.requestFlush() // records are there but not yet durable: this reader waits for their fsync
      }
    } catch (err) {
      if (!(err instanceof SluiceError)) throw err
      out.error = errorToWire(err)
      errors++
    }
    return out
  })
  return { response: { partitions }, bytes, errors, logs }
}
const EMPTY = Buffer.alloc(0)

/** `allocate`: where reads land (see BrokerApi.fetch); fresh memory without it. */
export async function fetchPartitions(
  ctx: FetchContext,
  req: FetchRequest,
  allocate?: ReadAllocator,
): Promise<FetchResponse> {
  const checked = checkFetchRequest(req)
  const deadline = Date.now() + checked.maxWaitMs
  let pass = readOnce(ctx, checked, allocate)
  for (let wakes = 0; wakes < WAKES_MAX; wakes++) {
    if (pass.bytes > 0 || pass.errors > 0 || pass.logs.length === 0 || ctx.isClosed()) return pass.response
    const waitMs = deadline - Date.now()
    if (waitMs <= 0) return pass.response
    const reason = await ctx.longPolls.wait(pass.logs, waitMs, checked.durable ? 'durable' : 'append')
    if (reason !== 'append' && reason !== 'changed') return pass.response
    pass = readOnce(ctx, checked, allocate)
  }
  return pass.response
}

// The replay iterator's fetch-ahead against a scripted transport: the next fetch goes out as soon as a response
// arrives (before its messages are used), never more than one fetch is outstanding, and the records come out whole
// and in order across fetches, partitions and the `to` bound; no fetch is sent past `to`.
import { expect, test } from 'vitest'
import type { FetchRequest, FetchResponse, ListOffsetsRequest, TopicDescription } from '../broker/api.js'
import { encodeRecordBatch, setBaseOffset } from '../storage/record-batch.js'
import { Replay } from './replay.js'
import type { Transport } from './transport.js'

const BATCH_RECORDS = 10

/** A log per partition of `batches` batches of BATCH_RECORDS records; value = `p<partition>-<offset>`. */
function makeLog(partition: number, batches: number): Buffer[] {
  return Array.from({ length: batches }, (_, b) => {
    const records = Array.from({ length: BATCH_RECORDS }, (_, i) => ({
      key: null,
      value: Buffer.from(`p${partition}-${b * BATCH_RECORDS + i}`),
      timestamp: 1_000 + b,
    }))
    const batch = encodeRecordBatch(records)
    setBaseOffset(batch, 0, b * BATCH_RECORDS)
    return batch
  })
}

/** Serves two batches per fetch, answering on a later turn of the event loop; counts calls and concurrency. */
function scriptedTransport(logs: Buffer[][]) {
  const stats = { calls: 0, inFlight: 0, inFlightMax: 0, offsets: [] as number[] }
  const transport = {
    describeTopic: async (name: string): Promise<TopicDescription> =>
      ({ name, partitions: logs.map((_, partition) => ({ partition })) }) as unknown as TopicDescription,
    listOffsets: async (req: ListOffsetsRequest) => ({
      offsets: (req.partitions ?? []).map((p) => ({
        partition: p,
        offset: req.timestamp === -2 ? 0 : logs[p]!.length * BATCH_RECORDS,
      })),
    }),
    fetch: async (req: FetchRequest): Promise<FetchResponse> => {
      stats.calls++
      stats.inFlight++
      stats.inFlightMax = Math.max(stats.inFlightMax, stats.inFlight)
      const { topic, partition, offset } = req.partitions[0]!
      stats.offsets.push(offset)
      await new Promise((resolve) => setImmediate(resolve))
      stats.inFlight--
      const first = Math.floor(offset / BATCH_RECORDS)
      const records = Buffer.concat(logs[partition]!.slice(first, first + 2))
      const logEndOffset = logs[partition]!.length * BATCH_RECORDS
      return { partitions: [{ topic, partition, records, logStartOffset: 0, logEndOffset, error: null }] }
    },
  }
  return { transport: transport as unknown as Transport, stats }
}

test('the next fetch is sent before the messages in hand are used, and only one is ever outstanding', async () => {
  const { transport, stats } = scriptedTransport([makeLog(0, 9)])
  const iterator = new Replay(transport, { topic: 't' })[Symbol.asyncIterator]()
  const first = await iterator.next()
  expect(first.value?.offset).toBe(0)
  expect(stats.calls).toBe(2) // the first answer, and the one after it already asked for
  const values: string[] = [String(first.value?.value)]
  for (let r = await iterator.next(); r.done !== true; r = await iterator.next()) values.push(String(r.value.value))
  expect(values).toEqual(Array.from({ length: 90 }, (_, i) => `p0-${i}`))
  expect(stats.inFlightMax).toBe(1)
  expect(stats.offsets).toEqual([0, 20, 40, 60, 80]) // nothing fetched past the end
})

test('with partitions and a `to` bound inside a batch: every record in [from, to) once, in partition order', async () => {
  const { transport, stats } = scriptedTransport([makeLog(0, 5), makeLog(1, 5)])
  const got: string[] = []
  for await (const m of new Replay(transport, { topic: 't', from: 15, to: 37 })) got.push(String(m.value))
  const expected = [0, 1].flatMap((p) => Array.from({ length: 22 }, (_, i) => `p${p}-${15 + i}`))
  expect(got).toEqual(expected)
  expect(stats.inFlightMax).toBe(1)
  expect(stats.offsets).toEqual([15, 30, 15, 30]) // 30..39 holds `to`: no fetch from 40
})

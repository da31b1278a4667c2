// The final read of the reliability tests: every partition of a topic from its log start to its end, through a
// client's transport (raw fetches, no consumer logic in between), as the checker takes it.
import { Sluice } from '../../src/sluice.js'
import { decodeRecords, iterateBatches } from '../../src/storage/record-batch.js'
import type { PartitionRead } from './checker.js'

/** Fetches per partition at most: a log of 4 MiB fetches this long is beyond any test's size. */
const READ_TURNS_MAX = 1_000_000
const FETCH_BYTES = 4 << 20

/** Reads every partition of `topic` through `sl`. */
export async function readPartitions(sl: Sluice, topic: string, partitions: number): Promise<PartitionRead[]> {
  const reads: PartitionRead[] = []
  for (let partition = 0; partition < partitions; partition++) {
    const read: PartitionRead = { partition, logStartOffset: 0, records: [] }
    let offset = 0
    for (let turn = 0; turn < READ_TURNS_MAX; turn++) {
      const res = await sl.transport.fetch({
        partitions: [{ topic, partition, offset }],
        maxBytes: FETCH_BYTES,
        maxWaitMs: 0,
      })
      const p = res.partitions[0]!
      if (p.error !== null) throw new Error(`fetch ${topic}/${partition}@${offset}: ${p.error.code} ${p.error.message}`)
      if (turn === 0) offset = read.logStartOffset = p.logStartOffset
      if (p.records.length === 0) break
      for (const { position, header } of iterateBatches(p.records))
        for (const r of decodeRecords(p.records, position, offset, header)) {
          read.records.push({ offset: r.offset, value: r.value?.toString() ?? '' })
          offset = r.offset + 1
        }
      if (offset >= p.logEndOffset) break
    }
    reads.push(read)
  }
  return reads
}

/** Reads every partition of `topic` with a fresh client of the broker at `address`. */
export async function readAllPartitions(address: string, topic: string, partitions: number): Promise<PartitionRead[]> {
  const reader = await Sluice.connect({ brokers: [address], requestTimeoutMs: 30_000 })
  try {
    return await readPartitions(reader, topic, partitions)
  } finally {
    await reader.close()
  }
}

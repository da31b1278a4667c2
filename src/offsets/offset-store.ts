// Committed offsets of every group, kept as records in the internal log `__consumer_offsets` and mirrored in memory.
// One record per (group, topic, partition); the latest record of a key wins on replay; a null value is a tombstone
// (deleted group or topic). The in-memory map is updated at append time, so the map always equals a replay of the log.
//
// | record part | msgpack encoding                                  |
// |-------------|---------------------------------------------------|
// | key         | [1, groupId, topic, partition]                    |
// | value       | [1, offset, metadata, commitTimestampMs] or null  |
//
// Compaction by snapshot: once more than max(snapshotRecordsMin, snapshotRatio × live keys) records follow the last
// snapshot (or the log start), the whole live map is appended again (synchronously, so no commit interleaves) and,
// once durable, deleteRecordsBefore(first snapshot offset) drops the history. A replay of any suffix of the log that
// holds a whole snapshot gives the same map (every key live at the snapshot is restated; every tombstone before it is
// replayed or superseded), so a crash between the snapshot and the delete, or a log start that storage rounds down to
// a segment, is harmless.
import { Packr } from 'msgpackr'
import { LIMITS } from '../config/limits.js'
import type { CommittedOffset } from '../broker/api.js'
import { CorruptRecordError, InvalidArgumentError } from '../errors.js'
import type { PartitionLogApi, StorageLogger } from '../storage/api.js'
import { decodeRecords, encodeRecordBatch, iterateBatches, type RecordInput } from '../storage/record-batch.js'
import { assert } from '../util/assert.js'

const FORMAT_VERSION = 1
/** Keep each appended batch well under recordBytesMax. */
const BATCH_BYTES_TARGET = LIMITS.recordBytesMax / 2
const REPLAY_READ_BYTES = 1024 * 1024

const packr = new Packr({ useRecords: false, mapsAsObjects: false, moreTypes: false, int64AsType: 'number' })

export interface OffsetEntry {
  offset: number
  metadata: string
  commitTimestampMs: number
}

export interface OffsetStoreOptions {
  /** No snapshot while the log holds fewer records than this. @default 10_000 */
  snapshotRecordsMin?: number
  /** Snapshot once the log holds this many records per live key. @default 4 */
  snapshotRatio?: number
  now?: () => number
  logger?: StorageLogger
}

export interface OffsetStoreStats {
  /** Records read by the replay at open. */
  replayedRecords: number
  liveKeys: number
  snapshots: number
}

function partitionKey(topic: string, partition: number): string {
  return `${topic}:${partition}`
}

export async function openOffsetStore(log: PartitionLogApi, options: OffsetStoreOptions = {}): Promise<OffsetStore> {
  const store = new OffsetStore(log, options)
  store.replay()
  return store
}

export class OffsetStore {
  /** groupId → `topic:partition` → entry. */
  private readonly groups = new Map<string, Map<string, OffsetEntry & { topic: string; partition: number }>>()
  private liveKeys = 0
  private snapshotting = false
  /** Where the latest snapshot (or, before any, the replay) starts: the records after it count toward the next one. */
  private historyStart = 0
  private readonly snapshotRecordsMin: number
  private readonly snapshotRatio: number
  private readonly now: () => number
  readonly stats: OffsetStoreStats = { replayedRecords: 0, liveKeys: 0, snapshots: 0 }

  constructor(
    private readonly log: PartitionLogApi,
    private readonly options: OffsetStoreOptions,
  ) {
    this.snapshotRecordsMin = options.snapshotRecordsMin ?? 10_000
    this.snapshotRatio = options.snapshotRatio ?? 4
    this.now = options.now ?? Date.now
    assert(this.snapshotRecordsMin >= 1 && this.snapshotRatio >= 1, 'snapshot thresholds are positive')
  }

  /** Rebuilds the map from the log (called once by openOffsetStore). */
  replay(): void {
    let offset = this.log.logStartOffset
    this.historyStart = offset
    const end = this.log.logEndOffset
    // Each read returns at least one batch and moves `offset` forward, so this ends within (end - start) rounds.
    for (let round = 0; offset < end; round++) {
      assert(round <= end - this.log.logStartOffset, 'offset replay makes progress')
      const { records } = this.log.read(offset, REPLAY_READ_BYTES)
      if (records.length === 0) break
      let next = offset
      for (const { position, header } of iterateBatches(records)) {
        for (const r of decodeRecords(records, position, offset, header)) {
          this.applyRecord(r.key, r.value)
          this.stats.replayedRecords++
        }
        next = header.lastOffset + 1
      }
      if (next <= offset) throw new CorruptRecordError(`offsets log ${this.log.name} does not advance past ${offset}`)
      offset = next
    }
  }

  private applyRecord(key: Buffer | null, value: Buffer | null): void {
    if (key === null) return
    const k = packr.unpack(key) as unknown
    if (!Array.isArray(k) || k[0] !== FORMAT_VERSION) {
      this.options.logger?.warn('skipping an offsets record of an unknown format', { log: this.log.name })
      return
    }
    const [, groupId, topic, partition] = k as [number, string, string, number]
    if (value === null) {
      this.remove(groupId, topic, partition)
      return
    }
    const [version, offset, metadata, commitTimestampMs] = packr.unpack(value) as [number, number, string, number]
    if (version !== FORMAT_VERSION) return
    this.set(groupId, { topic, partition, offset, metadata, commitTimestampMs })
  }

  private set(groupId: string, entry: OffsetEntry & { topic: string; partition: number }): void {
    let group = this.groups.get(groupId)
    if (group === undefined) {
      group = new Map()
      this.groups.set(groupId, group)
    }
    const key = partitionKey(entry.topic, entry.partition)
    if (!group.has(key)) this.stats.liveKeys = ++this.liveKeys
    group.set(key, entry)
  }

  private remove(groupId: string, topic: string, partition: number): void {
    const group = this.groups.get(groupId)
    if (group === undefined || !group.delete(partitionKey(topic, partition))) return
    this.stats.liveKeys = --this.liveKeys
    if (group.size === 0) this.groups.delete(groupId)
  }

  /** Appends the commits (one record each) and resolves once they are durable under the log's flush policy. */
  async commit(
    groupId: string,
    offsets: ReadonlyArray<{ topic: string; partition: number; offset: number; metadata?: string | undefined }>,
  ): Promise<void> {
    if (offsets.length === 0) return
    const now = this.now()
    const records: RecordInput[] = []
    for (const o of offsets) {
      if (!Number.isSafeInteger(o.offset) || o.offset < 0)
        throw new InvalidArgumentError(`committed offset for ${o.topic}/${o.partition} must be a safe integer >= 0`)
      const metadata = o.metadata ?? ''
      if (Buffer.byteLength(metadata) > LIMITS.commitMetadataBytesMax)
        throw new InvalidArgumentError(
          `commit metadata is over commitMetadataBytesMax ${LIMITS.commitMetadataBytesMax}`,
        )
      records.push(this.record(groupId, o.topic, o.partition, { offset: o.offset, metadata, commitTimestampMs: now }))
    }
    const last = this.appendRecords(records)
    for (const o of offsets)
      this.set(groupId, {
        topic: o.topic,
        partition: o.partition,
        offset: o.offset,
        metadata: o.metadata ?? '',
        commitTimestampMs: now,
      })
    await this.log.waitDurable(last)
    await this.maybeSnapshot()
  }

  get(groupId: string, topic: string, partition: number): OffsetEntry | null {
    return this.groups.get(groupId)?.get(partitionKey(topic, partition)) ?? null
  }

  /** Every committed offset of a group, sorted by topic then partition. */
  list(groupId: string): CommittedOffset[] {
    const group = this.groups.get(groupId)
    if (group === undefined) return []
    return [...group.values()]
      .map((e) => ({ topic: e.topic, partition: e.partition, offset: e.offset, metadata: e.metadata }))
      .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition))
  }

  groupIds(): string[] {
    return [...this.groups.keys()].sort()
  }

  hasGroup(groupId: string): boolean {
    return this.groups.has(groupId)
  }

  /** Groups with at least one committed offset. */
  get groupCount(): number {
    return this.groups.size
  }

  /** Tombstones every offset of the group. */
  async deleteGroup(groupId: string): Promise<void> {
    const group = this.groups.get(groupId)
    if (group === undefined) return
    await this.tombstone([...group.values()].map((e) => ({ groupId, topic: e.topic, partition: e.partition })))
  }

  /** Tombstones every group's offsets on the topic. */
  async deleteTopic(topic: string): Promise<void> {
    const keys: Array<{ groupId: string; topic: string; partition: number }> = []
    for (const [groupId, group] of this.groups)
      for (const e of group.values()) if (e.topic === topic) keys.push({ groupId, topic, partition: e.partition })
    await this.tombstone(keys)
  }

  private async tombstone(keys: ReadonlyArray<{ groupId: string; topic: string; partition: number }>): Promise<void> {
    if (keys.length === 0) return
    const last = this.appendRecords(keys.map((k) => this.record(k.groupId, k.topic, k.partition, null)))
    for (const k of keys) this.remove(k.groupId, k.topic, k.partition)
    await this.log.waitDurable(last)
    await this.maybeSnapshot()
  }

  private record(groupId: string, topic: string, partition: number, entry: OffsetEntry | null): RecordInput {
    const key = packr.pack([FORMAT_VERSION, groupId, topic, partition])
    const value =
      entry === null ? null : packr.pack([FORMAT_VERSION, entry.offset, entry.metadata, entry.commitTimestampMs])
    return { key, value, timestamp: this.now() }
  }

  /** Appends records in batches of about BATCH_BYTES_TARGET; returns the last offset written. */
  private appendRecords(records: readonly RecordInput[]): number {
    let last = -1
    let start = 0
    let bytes = 0
    for (let i = 0; i <= records.length; i++) {
      const r = records[i]
      const size = r === undefined ? 0 : (r.key?.length ?? 0) + (r.value?.length ?? 0) + 32
      if (i === records.length || (i > start && bytes + size > BATCH_BYTES_TARGET)) {
        if (i > start) last = this.log.append(encodeRecordBatch(records.slice(start, i))).lastOffset
        start = i
        bytes = 0
      }
      bytes += size
    }
    return last
  }

  private async maybeSnapshot(): Promise<void> {
    const logRecords = this.log.logEndOffset - this.historyStart
    if (this.snapshotting || logRecords < Math.max(this.snapshotRecordsMin, this.snapshotRatio * this.liveKeys)) return
    this.snapshotting = true
    try {
      await this.snapshot()
    } finally {
      this.snapshotting = false
    }
  }

  private async snapshot(): Promise<void> {
    const snapshotStart = this.log.logEndOffset
    this.historyStart = snapshotStart
    const records: RecordInput[] = []
    for (const [groupId, group] of this.groups)
      for (const e of group.values()) records.push(this.record(groupId, e.topic, e.partition, e))
    let last = snapshotStart - 1
    if (records.length > 0) last = this.appendRecords(records)
    this.stats.snapshots++
    await this.log.waitDurable(last)
    // Only after the snapshot is durable may the history before it go.
    if (snapshotStart > this.log.logStartOffset) this.log.deleteRecordsBefore(snapshotStart)
    this.options.logger?.info('offsets snapshot', { log: this.log.name, liveKeys: this.liveKeys, snapshotStart })
  }
}

// Picks the partition of a record (DESIGN.md §6): an explicit partition wins; a key goes to Kafka's murmur2 partition
// (`(murmur2(key) & 0x7fffffff) % partitionCount`), so a key lands on the same partition number as it would in Kafka;
// a null key goes to the topic's sticky partition (KIP-480), which stays put for a whole batch and moves to another
// partition when that batch is sent. Pure module with no I/O: the client SDK imports it.
import { InvalidArgumentError } from '../errors.js'
import { assert } from '../util/assert.js'
import { partitionForKey } from '../util/murmur2.js'

/** Topics whose sticky partition one partitioner remembers; past it the oldest is forgotten (and re-picked). */
export const STICKY_TOPICS_MAX = 10_000

function assertPartitionCount(partitionCount: number): void {
  assert(Number.isInteger(partitionCount) && partitionCount >= 1, `partitionCount must be >= 1, got ${partitionCount}`)
}

/**
 * Remembers one sticky partition per topic for records without a key. Call `partition` for each null-key record and
 * `onNewBatch` when the batch for that partition is sent (or full): the next null-key records then go elsewhere.
 */
export class StickyPartitioner {
  readonly #current = new Map<string, number>()
  readonly #random: () => number
  /** Partitions of a topic known to be offline: null-key records go elsewhere while another is available (as Kafka's
   *  partitioner skips partitions without a leader). */
  readonly #offline: (topic: string) => ReadonlySet<number> | undefined

  /** `random` returns [0, 1); injectable for tests. `offline`: the topic's partitions to avoid, if any. */
  constructor(
    random: () => number = Math.random,
    offline: (topic: string) => ReadonlySet<number> | undefined = () => undefined,
  ) {
    this.#random = random
    this.#offline = offline
  }

  /** The topic's current sticky partition, picked at random the first time (or when it went offline). */
  partition(topic: string, partitionCount: number): number {
    assertPartitionCount(partitionCount)
    const current = this.#current.get(topic)
    const offline = this.#offline(topic)
    if (current !== undefined && current < partitionCount && offline?.has(current) !== true) return current
    return this.#set(topic, this.#pickAvailable(partitionCount, current ?? -1, offline))
  }

  /** Uniformly among the partitions that are not offline (and not `avoid`, when another remains). */
  #pickAvailable(partitionCount: number, avoid: number, offline: ReadonlySet<number> | undefined): number {
    if (offline === undefined || offline.size === 0) return this.#pick(partitionCount, avoid)
    const available: number[] = []
    for (let p = 0; p < partitionCount; p++) if (!offline.has(p) && p !== avoid) available.push(p)
    if (available.length === 0) return this.#pick(partitionCount, avoid)
    return available[Math.floor(this.#random() * available.length) % available.length]!
  }

  /**
   * The batch for `sentPartition` has been sent: when it is still the sticky one, move to a different partition (any
   * other, uniformly). Returns the topic's sticky partition afterwards.
   */
  onNewBatch(topic: string, partitionCount: number, sentPartition: number): number {
    assertPartitionCount(partitionCount)
    const current = this.#current.get(topic)
    const offline = this.#offline(topic)
    if (
      current !== undefined &&
      current !== sentPartition &&
      current < partitionCount &&
      offline?.has(current) !== true
    )
      return current
    return this.#set(topic, this.#pickAvailable(partitionCount, sentPartition, offline))
  }

  #pick(partitionCount: number, avoid: number): number {
    if (partitionCount === 1) return 0
    if (avoid < 0 || avoid >= partitionCount) return Math.floor(this.#random() * partitionCount) % partitionCount
    const other = Math.floor(this.#random() * (partitionCount - 1)) % (partitionCount - 1)
    return other >= avoid ? other + 1 : other
  }

  #set(topic: string, partition: number): number {
    this.#current.delete(topic)
    if (this.#current.size >= STICKY_TOPICS_MAX) {
      const oldest = this.#current.keys().next().value
      if (oldest !== undefined) this.#current.delete(oldest)
    }
    this.#current.set(topic, partition)
    return partition
  }
}

export interface StickyChoice {
  partitioner: StickyPartitioner
  topic: string
}

/**
 * The partition for one record. `explicit` wins (InvalidArgumentError when outside [0, partitionCount)); else a key
 * picks Kafka's murmur2 partition; else the sticky partition when `sticky` is given, a uniformly random one otherwise.
 */
export function choosePartition(
  key: Uint8Array | null,
  partitionCount: number,
  explicit?: number,
  sticky?: StickyChoice,
): number {
  assertPartitionCount(partitionCount)
  if (explicit !== undefined) {
    if (!Number.isInteger(explicit) || explicit < 0 || explicit >= partitionCount)
      throw new InvalidArgumentError(
        `partition ${String(explicit)} is not in [0, ${partitionCount - 1}] (the topic has ${partitionCount} partitions)`,
      )
    return explicit
  }
  if (key !== null) return partitionForKey(key, partitionCount)
  if (sticky !== undefined) return sticky.partitioner.partition(sticky.topic, partitionCount)
  return Math.floor(Math.random() * partitionCount) % partitionCount
}

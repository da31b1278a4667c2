// The consumer: manual assignment (assign/seek/pause/resume) or a group subscription driven by a GroupMembership, with
// messages delivered through run({ eachMessage | eachBatch }) or `for await`. A partition's `position` is the next
// offset to deliver; it advances only after a handler returns (or, when iterating, when the next message is asked
// for), and commits store it, so a commit never passes a record that was not processed.
//
// Handler failure: when eachMessage/eachBatch throws, that partition stops at the failed record (its position stays
// on it, nothing past it is committed), the other partitions go on, and the error is emitted as an 'error' event
// `(err, { topic, partition, offset })` (a process warning when nobody listens). seek() or resume() on the partition
// restarts it, redelivering the failed record. A batch failing its CRC check, a value the codec cannot decode, or a
// partition the broker no longer knows stops the partition the same way. When iterating, those errors make the
// iterator throw; breaking out of the loop leaves the message in hand uncommitted (at-least-once).
import { EventEmitter } from 'node:events'
import type { GroupFence } from '../broker/api.js'
import {
  ClosedError,
  FencedMemberEpochError,
  InvalidArgumentError,
  NoCommittedOffsetError,
  NotOwnerError,
  OffsetOutOfRangeError,
  SluiceError,
  UnknownPartitionError,
} from '../errors.js'
import type { ConsumerConfig, TopicPartition } from './client-config.js'
import { decodeMessageWith } from './codecs.js'
import { type FetchedChunk, Fetcher, PartitionState } from './fetcher.js'
import { FAIR_SLICE_MESSAGES, isStale, MessageIterator } from './message-iterator.js'
import type { Message } from './message-decoder.js'
import type { AssignPartition, ErrorContext, PartitionSelector, RunOptions } from './consumer-types.js'
import { type MembershipFactory, type MembershipHandle, resolveStartOffsets } from './consumer-group.js'
export type { Message } from './message-decoder.js'
export type {
  AssignPartition,
  Batch,
  EachBatchPayload,
  EachMessagePayload,
  ErrorContext,
  PartitionSelector,
  RunOptions,
} from './consumer-types.js'
import type { Transport } from './transport.js'
import { assert } from '../util/assert.js'
import { linearRegExp } from '../util/linear-regexp.js'
import { checkKnownKeys, checkOffset, checkPartition, checkTopicName, toTimestamp, tpKey } from './validate.js'

type Mode = 'idle' | 'assigned' | 'subscribed'

const RUN_OPTION_KEYS = ['eachMessage', 'eachBatch']

/** Errors kept for the iterator to throw while nobody calls next(); the oldest go first. */
const ITERATOR_ERRORS_MAX = 100

/** The events a consumer emits: 'error', with where it happened (see ErrorContext). */
export interface ConsumerEvents {
  error: [err: Error, context: ErrorContext]
}

/** `K` and `V`: what the key and value codecs give (`Decoded<C>`); Sluice.consumer() infers them from its options. */
/** How long a commit goes on retrying retriable failures, and the longest wait between two tries. */
const COMMIT_RETRY_MS = 30_000

const COMMIT_BACKOFF_MS_MAX = 1_000

export class Consumer<K = unknown, V = unknown> extends EventEmitter<ConsumerEvents> {
  readonly #transport: Transport
  readonly #config: ConsumerConfig
  readonly #fetcher: Fetcher
  readonly #membershipFactory: MembershipFactory | null
  readonly #onClose: ((c: Consumer) => void) | null
  #mode: Mode = 'idle'
  #subscription: { topics: string[] } | { regex: RegExp } | null = null
  #membership: MembershipHandle | null = null
  #started: Promise<void> | null = null
  #consuming: 'run' | 'iterator' | null = null
  #processing: Promise<void> | null = null
  /** The partition whose handler runs now and the promise of that work, for revocation to wait on. */
  #activeState: PartitionState | null = null
  #activeWork: Promise<unknown> | null = null
  /** The iterator of `for await`, while that is how this consumer is consumed. */
  #iterator: MessageIterator | null = null
  #closing: Promise<void> | null = null
  /** Topics paused whole: partitions of them assigned later start paused. */
  readonly #pausedTopics = new Set<string>()
  /** False after close({ commit: false }): leaving commits nothing. */
  #finalCommit = true
  #closed = false
  #autoCommitTimer: NodeJS.Timeout | null = null
  /** Poll bookkeeping for maxPollIntervalMs: a counter bumped per delivery, sampled by lastPollMsAgo(). */
  #polls = 0
  #polledSeen = -1
  #polledAt = Date.now()
  #idle = true
  /** Errors for the iterator to throw. */
  readonly #iteratorErrors: Error[] = []

  constructor(
    transport: Transport,
    config: ConsumerConfig,
    membershipFactory: MembershipFactory | null,
    onClose?: (c: Consumer) => void,
  ) {
    super()
    this.#transport = transport
    this.#config = config
    this.#membershipFactory = membershipFactory
    this.#onClose = onClose ?? null
    this.#fetcher = new Fetcher(transport, config, {
      fence: (): GroupFence | null => this.#membership?.fence() ?? null,
      onPartitionError: (s, err) =>
        this.#reportError(err, { topic: s.topic, partition: s.partition, offset: s.position }),
      onFetchError: (err) => this.#reportError(err, null),
      onOffsetOutOfRange: async (s, logStartOffset, logEndOffset) => {
        if (this.#config.autoOffsetReset !== 'none') return this.#resetToDefault([s])
        const where = `the log of ${s.topic}/${s.partition} (autoOffsetReset 'none': seek() to go on)`
        this.#stopPartition(s, new OffsetOutOfRangeError(s.fetchOffset, logStartOffset, logEndOffset, where, s))
      },
    })
  }

  get config(): ConsumerConfig {
    return this.#config
  }

  // ---- assignment ---------------------------------------------------------------------------------------------------

  /** Joins `groupId` with this subscription when run() or iteration starts. A RegExp also matches later topics. */
  async subscribe(topics: string[] | RegExp): Promise<void> {
    this.#checkOpen()
    if (this.#config.groupId === null)
      throw new InvalidArgumentError('subscribe() needs a groupId; use assign() without one')
    if (this.#mode === 'assigned') throw new InvalidArgumentError('subscribe() cannot follow assign() on one consumer')
    if (this.#started !== null) throw new InvalidArgumentError('subscribe() must come before run() or iteration')
    if (topics instanceof RegExp) {
      // The broker matches the pattern's source, in linear time (as Kafka's broker matches with RE2): flags are not
      // sent, and a pattern that needs backtracking is refused here rather than by the first heartbeat.
      if (topics.flags !== '')
        throw new InvalidArgumentError(
          `subscribe() takes a RegExp without flags (the broker matches its source only), got /${topics.source}/${topics.flags}`,
        )
      try {
        linearRegExp(topics.source)
      } catch {
        throw new InvalidArgumentError(
          `subscribe() RegExp /${topics.source}/ cannot be matched in linear time ` +
            '(backreferences and lookaround are not supported)',
        )
      }
      this.#subscription = { regex: topics }
    } else {
      if (!Array.isArray(topics) || topics.length === 0)
        throw new InvalidArgumentError('subscribe() takes a non-empty array of topic names or a RegExp')
      for (const t of topics) checkTopicName(t)
      this.#subscription = { topics: [...new Set(topics)] }
    }
    this.#mode = 'subscribed'
  }

  /** Replaces the manual assignment. Resolves once every start position is known. */
  async assign(partitions: readonly AssignPartition[]): Promise<void> {
    this.#checkOpen()
    if (this.#mode === 'subscribed')
      throw new InvalidArgumentError('assign() cannot follow subscribe() on one consumer')
    if (!Array.isArray(partitions))
      throw new InvalidArgumentError('assign() takes an array of { topic, partition, offset? }')
    const counts = new Map<string, number>()
    for (const p of partitions) {
      checkTopicName(p?.topic)
      checkKnownKeys(p, ['topic', 'partition', 'offset'], 'an assign() entry')
      checkPartition(p.partition)
      if (p.offset !== undefined) checkOffset(p.offset)
      if (!counts.has(p.topic)) counts.set(p.topic, (await this.#transport.describeTopic(p.topic)).partitions.length)
      const count = counts.get(p.topic)!
      if (p.partition >= count) throw new UnknownPartitionError(p.topic, p.partition, count)
    }
    const wanted = new Set(partitions.map((p) => tpKey(p.topic, p.partition)))
    for (const s of [...this.#fetcher.states.values()]) if (!wanted.has(s.key)) this.#remove(s)
    const fresh: PartitionState[] = []
    for (const p of partitions) {
      let s = this.#fetcher.states.get(tpKey(p.topic, p.partition))
      if (s === undefined) {
        s = new PartitionState(p.topic, p.partition)
        this.#fetcher.states.set(s.key, s)
      }
      if (p.offset !== undefined) s.seek(p.offset)
      else if (s.position < 0) fresh.push(s)
    }
    await this.#resolveStart(fresh, (tps) =>
      this.#transport.fetchOffsets({ groupId: this.#config.groupId!, partitions: groupByTopic(tps) }),
    )
    this.#mode = 'assigned'
    this.#fetcher.wake()
  }

  /** The partitions this consumer reads now. */
  assignment(): TopicPartition[] {
    this.#checkNotClosed()
    return [...this.#fetcher.states.values()].map((s) => ({ topic: s.topic, partition: s.partition }))
  }

  /** Next read of the partition starts at `offset`; anything already fetched is dropped. Restarts a stopped partition. */
  seek(target: { topic: string; partition: number; offset: number }): void {
    this.#checkOpen()
    checkOffset(target?.offset)
    checkKnownKeys(target, ['topic', 'partition', 'offset'], 'seek()')
    this.#state(target.topic, target.partition).seek(target.offset)
    this.#fetcher.wake()
  }

  /** Seeks each assigned partition of `topic` (or those listed) to the first offset with a timestamp ≥ `timestamp`;
   *  the log end when there is none. */
  async seekToTimestamp(topic: string, timestamp: number | Date, partitions?: number[]): Promise<void> {
    this.#checkOpen()
    checkTopicName(topic)
    const ts = toTimestamp(timestamp, 'timestamp')
    const states =
      partitions === undefined
        ? [...this.#fetcher.states.values()].filter((s) => s.topic === topic)
        : partitions.map((p) => this.#state(topic, p))
    // A whole topic of which nothing is assigned (a typo, or before the group assigned anything) sought nothing and
    // said nothing; a topic this consumer does not read at all is an error, as for pause().
    if (states.length === 0 && !this.#reads(topic))
      throw new InvalidArgumentError(
        `seekToTimestamp() of topic "${topic}": this consumer neither subscribes to it nor is assigned it`,
      )
    if (states.length === 0) return
    const { offsets } = await this.#transport.listOffsets({
      topic,
      partitions: states.map((s) => s.partition),
      timestamp: ts,
    })
    for (const s of states) {
      const found = offsets.find((o) => o.partition === s.partition)
      if (found !== undefined && !s.removed) s.seek(found.offset)
    }
    this.#fetcher.wake()
  }

  /**
   * Stops fetching the partitions (fetched records are dropped and read again after resume). `{ topic }` without a
   * partition pauses the whole topic, including partitions assigned to this member later, until resumed; a topic
   * this consumer neither subscribes to nor is assigned is an error.
   */
  pause(selectors: readonly PartitionSelector[]): void {
    this.#checkNotClosed()
    const states = this.#select(selectors)
    for (const sel of selectors) if (sel.partition === undefined) this.#pausedTopics.add(sel.topic)
    for (const s of states) {
      s.paused = true
      s.dropFetched()
    }
  }

  /** Fetches the partitions again; also restarts a partition stopped by a handler error, from the failed record. */
  resume(selectors: readonly PartitionSelector[]): void {
    this.#checkNotClosed()
    const states = this.#select(selectors)
    for (const sel of selectors) if (sel.partition === undefined) this.#pausedTopics.delete(sel.topic)
    for (const s of states) {
      s.paused = false
      if (s.stopped !== null) {
        s.stopped = null
        s.rewind()
      }
    }
    this.#fetcher.wake()
  }

  paused(): TopicPartition[] {
    this.#checkNotClosed()
    return [...this.#fetcher.states.values()]
      .filter((s) => s.paused)
      .map((s) => ({ topic: s.topic, partition: s.partition }))
  }

  /**
   * Assigned partitions that deliver nothing until seek() or resume(): a handler threw, a record could not be decoded
   * or is corrupt, or (autoOffsetReset 'none') the position is gone. Each with its error and where it stopped.
   */
  stopped(): Array<{ topic: string; partition: number; offset: number; error: Error }> {
    this.#checkNotClosed()
    const out: Array<{ topic: string; partition: number; offset: number; error: Error }> = []
    for (const s of this.#fetcher.states.values())
      if (s.stopped !== null) out.push({ topic: s.topic, partition: s.partition, offset: s.position, error: s.stopped })
    return out
  }

  /** The next offset this consumer delivers for the partition. */
  position(tp: TopicPartition): number {
    this.#checkNotClosed()
    return this.#state(tp?.topic, tp?.partition).position
  }

  // ---- consuming ----------------------------------------------------------------------------------------------------

  /** Starts consumption (joining the group first when subscribed); resolves once started. Runs until close(). */
  async run(options: RunOptions<K, V>): Promise<void> {
    this.#checkOpen()
    if (typeof options !== 'object' || options === null)
      throw new InvalidArgumentError('run() takes { eachMessage } or { eachBatch }')
    // onAssign/onRevoke are consumer options: given here they would never be called.
    checkKnownKeys(options, RUN_OPTION_KEYS, 'run() options')
    const eachMessage = options?.eachMessage
    const eachBatch = options?.eachBatch
    if ((eachMessage === undefined) === (eachBatch === undefined))
      throw new InvalidArgumentError('run() takes exactly one of eachMessage and eachBatch')
    if (typeof (eachMessage ?? eachBatch) !== 'function')
      throw new InvalidArgumentError('the run() handler must be a function')
    if (this.#consuming !== null)
      throw new InvalidArgumentError(`this consumer is already consuming (${this.#consuming})`)
    // Checked before anything is marked started, so that subscribe() and run() can follow this error.
    this.#checkSubscribedOrAssigned()
    this.#consuming = 'run'
    await this.#start()
    // The handlers take messages decoded by this consumer's codecs, which is what K and V say they are.
    this.#processing = this.#runLoop(eachMessage as RunOptions['eachMessage'], eachBatch as RunOptions['eachBatch'])
  }

  [Symbol.asyncIterator](): AsyncIterator<Message<K, V>> {
    this.#checkOpen()
    const previous = this.#iterator
    if (this.#consuming === 'iterator' && previous !== null && previous.ended) {
      // A loop that was left (break, or an error) may be followed by another: what the old iterator had fetched but
      // not handed out is dropped, and fetching starts again at each position, so nothing is skipped.
      for (const s of this.#fetcher.states.values()) s.rewind()
    } else if (this.#consuming !== null)
      throw new InvalidArgumentError(`this consumer is already consuming (${this.#consuming})`)
    this.#checkSubscribedOrAssigned()
    this.#consuming = 'iterator'
    // Messages decoded by this consumer's codecs, which is what K and V say they are.
    this.#iterator = new MessageIterator({
      start: () => this.#start(),
      take: () => this.#take(),
      deliver: (m) => this.#decode(m),
      failed: (chunk, err) => this.#handlerFailed(chunk, chunk.state.position, err),
      polled: () => void this.#polls++,
      errors: this.#iteratorErrors,
      closed: () => this.#closed,
    })
    return this.#iterator as AsyncIterator<Message<K, V>>
  }

  /**
   * Commits every partition's position (the next offset to read), or exactly the `offsets` given (each the next offset
   * to read of an assigned partition: `message.offset + 1` to commit a message). Needs a groupId. With autoCommit on,
   * a later automatic commit stores the position again.
   */
  async commit(offsets?: ReadonlyArray<{ topic: string; partition: number; offset: number }>): Promise<void> {
    this.#checkNotClosed()
    if (this.#config.groupId === null) throw new InvalidArgumentError('commit() needs a groupId')
    if (offsets === undefined) {
      // Partitions being revoked are still held (their onRevoke is running) and count.
      await this.#commit([...this.#fetcher.states.values()], true, true)
      return
    }
    if (!Array.isArray(offsets))
      throw new InvalidArgumentError('commit() takes an array of { topic, partition, offset }, or nothing')
    // Every entry is checked before anything is sent.
    const entries = offsets.map((o) => {
      if (typeof o === 'object' && o !== null) checkKnownKeys(o, ['topic', 'partition', 'offset'], 'a commit() entry')
      const state = this.#fetcher.states.get(tpKey(String(o?.topic), Number(o?.partition)))
      if (state === undefined)
        throw new NotOwnerError(
          `partition ${String(o?.topic)}/${String(o?.partition)} is not this consumer's: revoked or lost in a ` +
            'rebalance (a handler can check isStale()), or never assigned',
        )
      checkOffset(o.offset, 'a commit() offset')
      return { state, offset: o.offset }
    })
    if (entries.length === 0) return
    await this.#send(
      entries.map((e) => ({ topic: e.state.topic, partition: e.state.partition, offset: e.offset })),
      true,
    )
    for (const e of entries) e.state.committed = e.offset
  }

  /**
   * Leaves the group at once and stops. With autoCommit, the positions reached are committed first, unless
   * `commit: false` (a reader that cannot vouch for what it delivered last, e.g. output that went nowhere).
   * Options count on the first call only. Called from inside an eachMessage/eachBatch handler, it resolves once
   * delivery has stopped: the rest of the close (the commit, which counts the message in hand once the handler
   * returns, and the leave) waits for the handler, which would otherwise be waiting for it. `Sluice.close()`, and a
   * close() from outside, wait for all of it.
   */
  async close(options: { commit?: boolean } = {}): Promise<void> {
    checkKnownKeys(options, ['commit'], 'close() options')
    if (options.commit !== undefined && typeof options.commit !== 'boolean')
      throw new InvalidArgumentError('close() options: commit must be a boolean')
    if (this.#closing === null) {
      if (options.commit === false) this.#finalCommit = false
      this.#closing = this.#close()
    }
    if (this.#activeWork !== null && calledFromHandler()) {
      // Awaiting the whole close here would wait for the handler that awaits this call: a deadlock that held the
      // member's partitions for good. Its later failures still reach the 'error' event.
      this.#closing.catch(() => undefined)
      return
    }
    return this.#closing
  }

  get closed(): boolean {
    return this.#closed
  }

  // ---- MembershipTarget (called by GroupMembership) -----------------------------------------------------------------

  /** @internal called by GroupMembership */
  async onPartitionsAssigned(partitions: TopicPartition[]): Promise<void> {
    const fresh: PartitionState[] = []
    for (const tp of partitions) {
      if (this.#fetcher.states.has(tpKey(tp.topic, tp.partition))) continue
      const s = new PartitionState(tp.topic, tp.partition)
      if (this.#pausedTopics.has(tp.topic)) s.paused = true
      this.#fetcher.states.set(s.key, s)
      fresh.push(s)
    }
    const membership = this.#membership
    await this.#resolveStart(fresh, (tps) =>
      membership === null ? Promise.resolve([]) : membership.fetchCommitted(tps),
    )
    this.#fetcher.wake()
    if (this.#config.onAssign !== null && partitions.length > 0) await this.#config.onAssign(partitions)
  }

  /** @internal called by GroupMembership */
  async onPartitionsRevoked(partitions: TopicPartition[]): Promise<void> {
    const states = this.#statesOf(partitions)
    // `removed` stops delivery and fetching; the generation stays, so a handler running now still advances the
    // position past its record and that progress is committed below.
    for (const s of states) s.removed = true
    const active = this.#activeState
    if (active !== null && states.includes(active)) await this.#activeWork?.catch(() => undefined)
    if (this.#config.autoCommit && (this.#closing === null || this.#finalCommit)) {
      try {
        await this.#commit(states, true)
      } catch (err) {
        this.#reportAutoCommitError(err)
      }
    }
    // onRevoke runs while the partitions are still this member's: with autoCommit off, a commit() or commit(offsets)
    // there is the last chance to record progress on them (Kafka's commitSync in onPartitionsRevoked). Before, the
    // partitions were dropped first and such a commit was refused as "not assigned".
    try {
      if (this.#config.onRevoke !== null && partitions.length > 0) await this.#config.onRevoke(partitions)
    } finally {
      for (const s of states) this.#fetcher.states.delete(s.key)
    }
  }

  /** @internal called by GroupMembership */
  async onPartitionsLost(partitions: TopicPartition[]): Promise<void> {
    const states = this.#statesOf(partitions)
    for (const s of states) this.#remove(s)
    // A handler still running on one of them (a stall is how a member loses its partitions) finishes first, as a
    // Kafka consumer calls onPartitionsLost from its poll: before, onRevoke closed per-partition state under it.
    const active = this.#activeState
    if (active !== null && states.includes(active)) await this.#activeWork?.catch(() => undefined)
    // They are gone as surely as revoked ones (only nothing was committed): per-partition state the application
    // opened in onAssign must be closed here too, as Kafka's default onPartitionsLost does by calling onRevoke.
    if (this.#config.onRevoke !== null && partitions.length > 0) await this.#config.onRevoke(partitions)
  }

  /** @internal called by GroupMembership */
  onReset(resets: Array<{ topic: string; partition: number; offset: number }>): void {
    for (const r of resets) {
      const s = this.#fetcher.states.get(tpKey(r.topic, r.partition))
      if (s === undefined) continue
      s.seek(r.offset)
      s.committed = r.offset // the reset wrote this commit; progress past it must be committed again
    }
    this.#fetcher.wake()
  }

  /** @internal called by GroupMembership */
  lastPollMsAgo(): number {
    if (this.#idle) return 0
    const now = Date.now()
    if (this.#polls !== this.#polledSeen) {
      this.#polledSeen = this.#polls
      this.#polledAt = now
    }
    return now - this.#polledAt
  }

  // ---- internals ----------------------------------------------------------------------------------------------------

  #checkOpen(): void {
    if (this.#closing !== null) throw new ClosedError('consumer')
  }

  /** For calls a handler or a rebalance callback may make while close() finishes its work (commit, pause,
   *  position, ...): they fail only once the consumer is closed. */
  #checkNotClosed(): void {
    if (this.#closed) throw new ClosedError('consumer')
  }

  #start(): Promise<void> {
    if (this.#started === null) this.#started = this.#doStart()
    return this.#started
  }

  #checkSubscribedOrAssigned(): void {
    if (this.#mode === 'idle') throw new InvalidArgumentError('call subscribe() or assign() before consuming')
  }

  async #doStart(): Promise<void> {
    this.#checkOpen()
    this.#checkSubscribedOrAssigned()
    if (this.#mode === 'subscribed') {
      if (this.#membershipFactory === null) throw new InvalidArgumentError('group consumption is not available here')
      const c = this.#config
      this.#membership = this.#membershipFactory(
        this.#transport,
        {
          groupId: c.groupId!,
          groupInstanceId: c.groupInstanceId,
          sessionTimeoutMs: c.sessionTimeoutMs,
          heartbeatIntervalMs: c.heartbeatIntervalMs,
          maxPollIntervalMs: c.maxPollIntervalMs,
          assignor: c.assignor,
          subscription: this.#subscription!,
          onError: (err) => this.#reportError(err instanceof Error ? err : new Error(String(err)), null),
        },
        this,
      )
      this.#fetcher.start()
      await this.#membership.start()
    } else this.#fetcher.start()
    if (this.#config.autoCommit && this.#config.groupId !== null) {
      this.#autoCommitTimer = setInterval(() => {
        this.#commit([...this.#fetcher.states.values()]).catch((err: unknown) => this.#reportAutoCommitError(err))
      }, this.#config.autoCommitIntervalMs)
      this.#autoCommitTimer.unref()
    }
  }

  async #take(): Promise<FetchedChunk[] | null> {
    this.#idle = true
    try {
      return await this.#fetcher.take()
    } finally {
      this.#idle = false
    }
  }

  async #runLoop(eachMessage: RunOptions['eachMessage'], eachBatch: RunOptions['eachBatch']): Promise<void> {
    for (;;) {
      const chunks = await this.#take()
      if (chunks === null) return
      // The partitions of one response take turns, a slice each (FAIR_SLICE_MESSAGES messages, or one eachBatch
      // call), so a partition with a backlog does not hold back the others of the same fetch. Before, each was
      // delivered whole in turn: 10 records of one partition waited 6.4 s behind 3,000 of another (a user's trial).
      // Each turn delivers at least one message of every chunk it keeps, and cursors are finite.
      let live = chunks
      while (live.length > 0) {
        const alone = live.length === 1
        const next: FetchedChunk[] = []
        for (const chunk of live) {
          if (this.#fetcher.stopped) return
          if (isStale(chunk)) continue
          this.#activeState = chunk.state
          const work =
            eachBatch !== undefined
              ? this.#deliverBatch(chunk, eachBatch, alone ? Infinity : 1)
              : this.#deliverEach(chunk, eachMessage!, alone ? Infinity : FAIR_SLICE_MESSAGES)
          this.#activeWork = work
          const more = await work
          this.#activeState = null
          this.#activeWork = null
          if (more) next.push(chunk)
        }
        live = next
      }
    }
  }

  /** Delivers up to `limit` messages of the chunk; true when it stopped at the limit (the chunk may have more). */
  async #deliverEach(
    chunk: FetchedChunk,
    handler: NonNullable<RunOptions['eachMessage']>,
    limit: number,
  ): Promise<boolean> {
    const s = chunk.state
    const { topic, partition } = s
    let delivered = 0
    for (;;) {
      if (isStale(chunk) || this.#fetcher.stopped) return false
      if (delivered >= limit) return true
      let r: Message | null
      try {
        r = chunk.cursor.next()
        if (r === null) return false
        if (r.offset < s.position) continue
        this.#decode(r)
      } catch (err) {
        this.#handlerFailed(chunk, s.position, err) // corrupt data or a codec failure: stop at the undelivered record
        return false
      }
      this.#polls++
      delivered++
      try {
        await handler({ topic, partition, message: r })
      } catch (err) {
        this.#handlerFailed(chunk, r.offset, err)
        return false
      }
      s.handled(chunk.generation, r.offset)
    }
  }

  /** Hands the chunk's messages to `handler` in calls of at most `maxBatchMessages`, in order. A handler that throws
   *  stops the partition at the first message of its call; a corrupt batch, after the messages decoded before it. */
  async #deliverBatch(
    chunk: FetchedChunk,
    handler: NonNullable<RunOptions['eachBatch']>,
    callsLimit: number,
  ): Promise<boolean> {
    const s = chunk.state
    const max = this.#config.maxBatchMessages
    let calls = 0
    // Each turn hands over up to `max` messages of the cursor, which is finite.
    for (;;) {
      if (isStale(chunk) || this.#fetcher.stopped) return false
      if (calls >= callsLimit) return true
      const messages: Message[] = []
      let failure: unknown = null
      try {
        while (messages.length < max) {
          const r = chunk.cursor.next()
          if (r === null) break
          if (r.offset >= s.position) messages.push(this.#decode(r))
        }
      } catch (err) {
        failure = err // deliver what decoded before it, then stop the partition after them
      }
      if (messages.length > 0) {
        this.#polls++
        const first = messages[0]!.offset
        const last = messages[messages.length - 1]!.offset
        // The next offset not resolved yet: where a failure of this call stops the partition.
        let unresolved = first
        const resolveOffset = (offset: number): void => {
          if (!Number.isSafeInteger(offset) || offset < first || offset > last)
            throw new InvalidArgumentError(
              `resolveOffset(${String(offset)}): not an offset of this eachBatch call (${first}-${last})`,
            )
          if (offset < unresolved) return
          s.handled(chunk.generation, offset)
          unresolved = offset + 1
        }
        try {
          await handler({
            batch: { topic: s.topic, partition: s.partition, messages, logEndOffset: chunk.logEndOffset },
            resolveOffset,
            // Lost (fenced, session expired, maxPollIntervalMs passed) or moved (seek, reset, stop) since the fetch.
            isStale: () => this.#fetcher.states.get(s.key) !== s || chunk.generation < s.positionGeneration,
          })
        } catch (err) {
          this.#handlerFailed(chunk, unresolved, err)
          return false
        }
        s.handled(chunk.generation, messages[messages.length - 1]!.offset)
        calls++
      }
      if (failure !== null) {
        this.#handlerFailed(chunk, s.position, failure)
        return false
      }
      if (messages.length < max) return false
    }
  }

  #handlerFailed(chunk: FetchedChunk, offset: number, err: unknown): void {
    const s = chunk.state
    const error = err instanceof Error ? err : new Error(String(err))
    if (chunk.generation === s.generation && !s.removed) {
      s.stopped = error
      s.rewind()
    }
    this.#reportError(error, { topic: s.topic, partition: s.partition, offset })
  }

  /** Applies the configured codecs in place (keys and values arrive as Buffers; the default codec keeps them). */
  #decode(m: Message): Message {
    return decodeMessageWith(m, this.#config.keyCodec, this.#config.valueCodec)
  }

  /** A failed automatic commit, reported unless an admin reset of the group's offsets is why: that refusal is the
   *  reset working (the positions read before it are not to be committed), not a fault of this consumer. */
  #reportAutoCommitError(err: unknown): void {
    if (err instanceof FencedMemberEpochError && err.afterReset) return
    this.#reportError(err instanceof Error ? err : new Error(String(err)), null)
  }

  #reportError(err: Error, at: ErrorContext | null): void {
    const context = at ?? { topic: null, partition: null, offset: -1 }
    // A loop ends only for what stops consuming. A retriable failure the consumer retries by itself (a heartbeat or
    // an automatic commit that met a broker restart) goes to 'error' listeners only: before, it ended every
    // `for await` loop, and so each `consume --group` of the CLI at a broker's clean restart.
    if (this.#consuming === 'iterator' && !(err instanceof SluiceError && err.retriable && at === null)) {
      if (this.#iteratorErrors.length >= ITERATOR_ERRORS_MAX) this.#iteratorErrors.shift()
      this.#iteratorErrors.push(err)
      // An iterator waiting for data throws it now: the partition that failed will not fetch again.
      this.#fetcher.interrupt()
    }
    if (this.listenerCount('error') > 0) {
      try {
        this.emit('error', err, context)
      } catch (thrown) {
        // A listener that throws must not take down the timer or loop that reported (the process, for a timer).
        process.emitWarning(`sluice consumer: an 'error' listener threw: ${(thrown as Error)?.message ?? thrown}`)
      }
    } else if (this.#consuming !== 'iterator')
      process.emitWarning(
        `sluice consumer: ${err.message}${at === null ? '' : ` (${at.topic}/${at.partition} at ${at.offset})`}`,
      )
  }

  async #commit(states: PartitionState[], includeRemoved = false, retry = false): Promise<void> {
    const groupId = this.#config.groupId
    if (groupId === null) return
    const todo = states.filter((s) => (includeRemoved || !s.removed) && s.position >= 0 && s.position !== s.committed)
    if (todo.length === 0) return
    const offsets = todo.map((s) => ({ topic: s.topic, partition: s.partition, offset: s.position }))
    await this.#send(offsets, retry)
    for (let i = 0; i < todo.length; i++) todo[i]!.committed = offsets[i]!.offset
  }

  /** Commits `offsets` for this consumer's group: fenced by the member epoch when it is a member, else as a plain
   *  client of the group (assign mode). */
  /**
   * Commits. With `retry` (the application's commit() calls), a retriable failure (a connection lost with the commit
   * in flight, as at a broker's restart) is retried with backoff for up to COMMIT_RETRY_MS, as Kafka's commitSync
   * does: before, such a commit() inside a handler threw, which stopped the partition while the group went on showing
   * it as owned. Automatic commits do not retry here: the next interval does, and close() stays bounded.
   */
  async #send(offsets: Array<{ topic: string; partition: number; offset: number }>, retry = false): Promise<void> {
    const groupId = this.#config.groupId
    assert(groupId !== null, 'commits need a groupId')
    const deadline = Date.now() + COMMIT_RETRY_MS
    let backoff = Math.max(1, this.#config.retryBackoffMs)
    // Bounded by the deadline: each turn waits at least retryBackoffMs (>= 1 ms) or ends.
    for (;;) {
      try {
        if (this.#membership !== null) await this.#membership.commit(offsets)
        else await this.#transport.commitOffsets({ groupId, memberId: '', memberEpoch: -1, offsets })
        return
      } catch (err) {
        const retriable = err instanceof SluiceError && err.retriable
        if (!retry || !retriable || this.#closed || Date.now() + backoff > deadline) throw err
      }
      await new Promise((resolve) => setTimeout(resolve, backoff))
      backoff = Math.min(backoff * 2, COMMIT_BACKOFF_MS_MAX)
    }
  }

  /** Start positions of new partitions: committed offsets first, then autoOffsetReset. */
  async #resolveStart(
    states: PartitionState[],
    fetchCommitted: (tps: TopicPartition[]) => Promise<Array<{ topic: string; partition: number; offset: number }>>,
  ): Promise<void> {
    if (states.length === 0) return
    const committed = this.#config.groupId === null ? [] : await fetchCommitted(states.map(toTp))
    const missing: PartitionState[] = []
    for (const s of states) {
      const c = committed.find((o) => o.topic === s.topic && o.partition === s.partition)
      if (c !== undefined && c.offset >= 0) {
        s.seek(c.offset)
        s.committed = c.offset
      } else missing.push(s)
    }
    await this.#resetToDefault(missing)
  }

  /** Stops delivering the partition (it fetches again after seek()) and reports why. */
  #stopPartition(s: PartitionState, err: Error): void {
    if (s.removed) return
    s.stopped = err
    s.dropFetched()
    this.#reportError(err, { topic: s.topic, partition: s.partition, offset: s.position })
  }

  async #resetToDefault(states: PartitionState[]): Promise<void> {
    if (this.#config.autoOffsetReset === 'none') {
      for (const s of states) this.#stopPartition(s, new NoCommittedOffsetError(s.topic, s.partition))
      return
    }
    const timestamp = this.#config.autoOffsetReset === 'earliest' ? -2 : -1
    const offsets = await resolveStartOffsets(this.#transport, states.map(toTp), timestamp)
    for (const s of states) {
      const offset = offsets.get(s.key)
      if (offset !== undefined && !s.removed) s.seek(offset)
    }
    this.#fetcher.wake()
  }

  #remove(s: PartitionState): void {
    s.removed = true
    s.generation++
    this.#fetcher.states.delete(s.key)
  }

  #state(topic: unknown, partition: unknown): PartitionState {
    const s = this.#fetcher.states.get(tpKey(String(topic), Number(partition)))
    if (s === undefined)
      throw new InvalidArgumentError(`partition ${String(topic)}/${String(partition)} is not assigned to this consumer`)
    return s
  }

  #statesOf(partitions: TopicPartition[]): PartitionState[] {
    const out: PartitionState[] = []
    for (const tp of partitions) {
      const s = this.#fetcher.states.get(tpKey(tp.topic, tp.partition))
      if (s !== undefined) out.push(s)
    }
    return out
  }

  /** The partitions the selectors name; every selector is checked before any is applied (all or nothing). */
  #select(selectors: readonly PartitionSelector[]): PartitionState[] {
    if (!Array.isArray(selectors))
      throw new InvalidArgumentError('pause()/resume() take an array of { topic, partition? }')
    const out: PartitionState[] = []
    for (const sel of selectors) {
      if (typeof sel === 'object' && sel !== null)
        checkKnownKeys(sel, ['topic', 'partition'], 'a pause()/resume() entry')
      if (sel?.partition === undefined) {
        checkTopicName(sel?.topic)
        let found = false
        for (const s of this.#fetcher.states.values())
          if (s.topic === sel.topic) {
            out.push(s)
            found = true
          }
        if (!found && !this.#reads(sel.topic))
          throw new InvalidArgumentError(
            `pause()/resume() of topic "${sel.topic}": this consumer neither subscribes to it nor is assigned it`,
          )
      } else out.push(this.#state(sel.topic, sel.partition))
    }
    return out
  }

  /** Whether the topic is part of what this consumer reads: subscribed (by name or pattern) or assigned. */
  #reads(topic: string): boolean {
    const sub = this.#subscription
    if (sub === null) return false
    return 'topics' in sub ? sub.topics.includes(topic) : sub.regex.test(topic)
  }

  async #close(): Promise<void> {
    if (this.#autoCommitTimer !== null) clearInterval(this.#autoCommitTimer)
    this.#fetcher.stop()
    await this.#processing?.catch(() => undefined)
    try {
      if (this.#membership !== null) await this.#membership.close()
      else if (this.#config.autoCommit && this.#finalCommit && this.#started !== null)
        await this.#commit([...this.#fetcher.states.values()])
    } finally {
      this.#closed = true
      this.#onClose?.(this)
    }
  }
}

function toTp(s: PartitionState): TopicPartition {
  return { topic: s.topic, partition: s.partition }
}

function groupByTopic(tps: TopicPartition[]): Array<{ topic: string; partitions: number[] }> {
  const byTopic = new Map<string, number[]>()
  for (const tp of tps) {
    const list = byTopic.get(tp.topic) ?? []
    list.push(tp.partition)
    byTopic.set(tp.topic, list)
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }))
}

/** A frame of the consumer's own delivery loops, as V8's async stack traces name it ('at async #deliverEach (…',
 *  or 'at Consumer.#deliverEach (…' once source-mapped): they await the handler, so a call made anywhere inside a
 *  handler, after any number of awaits, has one in its stack. */
const HANDLER_FRAME = /[\s.]#deliver(?:Each|Batch) \(/
/** Deep enough for a handler's own chain of async calls. */
const HANDLER_STACK_DEPTH = 200

/** Whether the current call runs inside an eachMessage/eachBatch handler of a consumer. Costs one stack capture, so it
 *  is only for rare calls (close()); tracking the handler's async context instead (AsyncLocalStorage) made every
 *  await in the process about twice as slow on Node 20. */
function calledFromHandler(): boolean {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = HANDLER_STACK_DEPTH
  try {
    const stack = new Error().stack ?? ''
    return HANDLER_FRAME.test(stack)
  } finally {
    Error.stackTraceLimit = limit
  }
}

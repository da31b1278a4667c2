// The consumer's fetch loop. One fetch request covers every fetchable partition (assigned, resolved, not paused, not
// stopped), each request starting one partition further on (the broker fills its byte budget in request order);
// each response becomes a MessageCursor that CRC-checks its batches as they are reached and skips the records
// below the requested offset. Fetching runs ahead of processing: at most PREFETCH_RESPONSES_MAX responses wait for the
// processing loop, so over TCP the next fetch is usually in flight while the consumer works on the previous ones.
// Each partition carries a `generation`, bumped by seek, pause, stop and revoke; data fetched under an older
// generation is dropped, so nothing stale is ever delivered. A pause only drops what is fetched: a message handed out
// before it still moves the position once handled (PartitionState.handled), so pausing from inside a handler, the usual
// way to hold back, does not deliver that message again after resume.
import type {
  FetchPartitionRequest,
  FetchPartitionResponse,
  FetchRequest,
  FetchResponse,
  GroupFence,
} from '../broker/api.js'
import { LIMITS } from '../config/limits.js'
import { errorFromWire, SluiceError } from '../errors.js'
import type { ErrorCode } from '../errors.js'
import type { ConsumerConfig } from './client-config.js'
import { MessageCursor } from './message-decoder.js'
import type { Transport } from './transport.js'
import { tpKey } from './validate.js'

/** Fetch responses buffered ahead of processing (each at most maxBytes). Two rather than one: the next fetch then
 *  goes out as soon as a response arrives, not only when processing takes the one queued before it (measured over
 *  TCP to a broker child process: ~1.3-1.7x the records/s of one, no change embedded). */
export const PREFETCH_RESPONSES_MAX = 2
/** A fetch in flight at least this long when a seek, resume or assignment comes is cut short (Fetcher.#unlessCut). */
const CUT_AFTER_MS = 20
/** Pause after an empty answer the broker did not long-poll for. */
const IDLE_PAUSE_MS = 10

export class PartitionState {
  readonly key: string
  /** The next offset to deliver (what a commit stores); -1 until resolved. */
  position = -1
  /** The next offset to fetch; ahead of `position` while fetched records wait. */
  fetchOffset = -1
  generation = 0
  /** The generation the latest seek, stop or restart set: a message handed out under it or a later one (only pauses
   *  came between) still moves the position once handled. */
  positionGeneration = 0
  paused = false
  /** Set when a handler failed or the partition's data is unusable; cleared by seek/resume. */
  stopped: Error | null = null
  removed = false
  /** Last committed position, to skip commits that change nothing. */
  committed = -1
  logEndOffset = -1
  /** The last fetch found no such topic or partition (deleted): reported once until it is there again. */
  missing = false

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {
    this.key = tpKey(topic, partition)
  }

  get fetchable(): boolean {
    return !this.removed && !this.paused && this.stopped === null && this.fetchOffset >= 0
  }

  /** Moves both positions and drops whatever was fetched before. */
  seek(offset: number): void {
    this.position = offset
    this.fetchOffset = offset
    this.stopped = null
    this.generation++
    this.positionGeneration = this.generation
  }

  /** Forgets fetched-but-undelivered data: the next fetch starts at `position`; messages handed out before it no
   *  longer move the position. */
  rewind(): void {
    this.dropFetched()
    this.positionGeneration = this.generation
  }

  /** Forgets fetched-but-undelivered data (a pause): the next fetch starts at `position`, and a message handed out
   *  before still counts once handled. */
  dropFetched(): void {
    this.fetchOffset = this.position
    this.generation++
  }

  /** A message at `offset`, handed out under `generation`, was handled: the position moves past it unless a seek,
   *  stop or restart came since. */
  handled(generation: number, offset: number): void {
    if (generation >= this.positionGeneration && offset >= this.position) this.position = offset + 1
  }
}

export interface FetchedChunk {
  state: PartitionState
  generation: number
  /** Decodes the response's messages one at a time (keys and values as Buffers; the consumer applies codecs). */
  cursor: MessageCursor
  logEndOffset: number
}

export interface FetcherHooks {
  /** The group fence for each fetch, or null without a group. */
  fence(): GroupFence | null
  /** A partition-level failure: the partition is already stopped. */
  onPartitionError(state: PartitionState, err: Error): void
  /** A whole-request failure that is not retriable. */
  onFetchError(err: Error): void
  /** The fetch offset is out of range: resolve a new start from autoOffsetReset. */
  onOffsetOutOfRange(state: PartitionState, logStartOffset: number, logEndOffset: number): Promise<void>
}

/** A one-shot wake-up for a loop that waits: `wait()` resolves at the next `notify()`. */
export class Signal {
  readonly #waiters = new Set<() => void>()
  /** Resolves at the next notify(), or after `timeoutMs` when given (the waiter is then dropped). */
  wait(timeoutMs?: number): Promise<void> {
    return new Promise((resolve) => {
      if (timeoutMs === undefined) {
        this.#waiters.add(resolve)
        return
      }
      const wake = (): void => {
        clearTimeout(timer)
        this.#waiters.delete(wake)
        resolve()
      }
      const timer = setTimeout(wake, timeoutMs)
      this.#waiters.add(wake)
    })
  }
  notify(): void {
    if (this.#waiters.size === 0) return
    const waiters = [...this.#waiters]
    this.#waiters.clear()
    for (const resolve of waiters) resolve()
  }
}

export class Fetcher {
  readonly states = new Map<string, PartitionState>()
  readonly #queue: FetchedChunk[][] = []
  readonly #wake = new Signal()
  readonly #data = new Signal()
  #stopped = false
  #started = false
  /** A pending or the next take() returns an empty list at once (interrupt()). */
  #interrupted = false
  /** Where the next fetch's partition list starts (round robin). */
  #rotation = 0
  /** Set while a fetch is in flight: wake() asks it to be cut short (see CUT_AFTER_MS). */
  #cut: (() => void) | null = null
  /** A fetch left to finish on its own after a cut; while it is pending no other fetch is cut (one extra at most). */
  #abandoned = false

  constructor(
    private readonly transport: Transport,
    private readonly config: ConsumerConfig,
    private readonly hooks: FetcherHooks,
  ) {}

  start(): void {
    if (this.#started) return
    this.#started = true
    void this.#run()
  }

  /** Stops fetching; a pending `take()` resolves null. A fetch still long-polling is not waited for: its answer is
   *  dropped (and its failure, when the transport closes under it, ignored). */
  stop(): void {
    this.#stopped = true
    this.#wake.notify()
    this.#data.notify()
  }

  /** Makes a pending take() (or the next) return an empty list at once: its caller has something else to attend to
   *  (an error for the async iterator to throw) and would otherwise wait for data that may never come. */
  interrupt(): void {
    this.#interrupted = true
    this.#data.notify()
  }

  /** Something changed (assignment, seek, resume): fetch again if idle, or instead of waiting out a long poll. */
  wake(): void {
    this.#wake.notify()
    this.#cut?.()
  }

  get stopped(): boolean {
    return this.#stopped
  }

  /** The next decoded response, or null once stopped. */
  async take(): Promise<FetchedChunk[] | null> {
    for (;;) {
      if (this.#stopped) return null
      const chunks = this.#queue.shift()
      if (chunks !== undefined) {
        this.#wake.notify()
        return chunks
      }
      if (this.#interrupted) {
        this.#interrupted = false
        return []
      }
      await this.#data.wait()
    }
  }

  async #run(): Promise<void> {
    const backoffMsMax = this.config.retryBackoffMs * 10
    let backoffMs = this.config.retryBackoffMs
    while (!this.#stopped) {
      if (this.#queue.length >= PREFETCH_RESPONSES_MAX) {
        await this.#wake.wait()
        continue
      }
      const requested: PartitionState[] = []
      const generations: number[] = []
      const partitions: FetchPartitionRequest[] = []
      // The broker fills its byte budget in request order, so each fetch starts one partition further on: with
      // several partitions behind, each gets its turn first instead of the first one being drained before the next.
      const fetchable = [...this.states.values()].filter((s) => s.fetchable)
      const first = fetchable.length === 0 ? 0 : this.#rotation++ % fetchable.length
      for (let i = 0; i < fetchable.length && partitions.length < LIMITS.fetchPartitionsMax; i++) {
        const s = fetchable[(first + i) % fetchable.length]!
        requested.push(s)
        generations.push(s.generation)
        partitions.push({ topic: s.topic, partition: s.partition, offset: s.fetchOffset })
      }
      if (partitions.length === 0) {
        await this.#wake.wait()
        continue
      }
      try {
        const fence = this.hooks.fence()
        const request: FetchRequest = { partitions, maxBytes: this.config.maxBytes, maxWaitMs: this.config.maxWaitMs }
        if (this.config.visibility === 'durable') request.visibility = 'durable'
        const fetching = this.transport.fetch(fence === null ? request : { ...request, fence })
        const response = await this.#unlessCut(fetching)
        if (response === null) continue // a seek, resume or new assignment: fetch again now (#unlessCut)
        backoffMs = this.config.retryBackoffMs
        if (this.#stopped) break
        const chunks: FetchedChunk[] = []
        const index = new Map<string, number>()
        for (let i = 0; i < requested.length; i++) index.set(requested[i]!.key, i)
        for (const pr of response.partitions) {
          const i = index.get(tpKey(pr.topic, pr.partition))
          const state = i === undefined ? undefined : requested[i]
          if (state === undefined || state.removed || state.generation !== generations[i!]) continue
          const chunk = await this.#accept(state, pr)
          if (chunk !== null) chunks.push(chunk)
        }
        if (chunks.length > 0) {
          this.#queue.push(chunks)
          this.#data.notify()
        } else if (this.config.maxWaitMs < IDLE_PAUSE_MS || response.partitions.some((p) => p.error !== null)) {
          // Nothing came back and the broker did not wait (short maxWaitMs, or errors): pause instead of spinning.
          await this.#pause(IDLE_PAUSE_MS)
        }
      } catch (err) {
        if (this.#stopped) break
        const error = err instanceof Error ? err : new Error(String(err))
        if (!(err instanceof SluiceError && err.retriable)) this.hooks.onFetchError(error)
        await sleep(backoffMs)
        backoffMs = Math.min(backoffMs * 2, backoffMsMax)
      }
    }
  }

  /**
   * The fetch's answer, or null when wake() came while it was in flight (a seek, a resume, a new assignment) and the
   * fetch had been out for CUT_AFTER_MS: it is then left to finish on its own, its answer dropped (nothing of it was
   * taken, so what it carried is fetched again), and the caller fetches at once. Before, such a change waited for
   * the long poll in flight: up to maxWaitMs (a user's trial: a seek took 9.8 s with maxWaitMs 10 s). A fetch younger
   * than CUT_AFTER_MS is likely to come back with data soon and is cut only once it reaches that age; while a cut
   * fetch is still pending, none is cut, so at most one extra is ever in flight.
   */
  async #unlessCut(fetching: Promise<FetchResponse>): Promise<FetchResponse | null> {
    if (this.#abandoned) return fetching
    const sentAt = Date.now()
    let timer: NodeJS.Timeout | null = null
    const cut = new Promise<null>((resolve) => {
      this.#cut = () => {
        this.#cut = null
        const wait = CUT_AFTER_MS - (Date.now() - sentAt)
        if (wait <= 0) resolve(null)
        else timer = setTimeout(() => resolve(null), wait)
      }
    })
    try {
      const winner = await Promise.race([fetching, cut])
      if (winner !== null) return winner
      this.#abandoned = true
      fetching.then(
        () => (this.#abandoned = false),
        () => (this.#abandoned = false),
      )
      return null
    } finally {
      this.#cut = null
      if (timer !== null) clearTimeout(timer)
    }
  }

  /** Sleeps `ms` unless woken first (a seek, resume or new assignment). */
  #pause(ms: number): Promise<void> {
    return this.#wake.wait(ms)
  }

  /** Validates and decodes one partition's answer; advances its fetch offset. */
  async #accept(state: PartitionState, pr: FetchPartitionResponse): Promise<FetchedChunk | null> {
    state.logEndOffset = pr.logEndOffset
    if (pr.error !== null) {
      if (pr.error.code === 'OFFSET_OUT_OF_RANGE')
        await this.hooks.onOffsetOutOfRange(state, pr.logStartOffset, pr.logEndOffset)
      else if (
        pr.error.code === 'NOT_OWNER' ||
        pr.error.code === 'FENCED_MEMBER_EPOCH' ||
        pr.error.code === 'UNKNOWN_MEMBER'
      ) {
        // The group membership reconciles ownership; until then this partition simply yields nothing.
      } else if (pr.error.code === 'UNKNOWN_TOPIC' || pr.error.code === 'UNKNOWN_PARTITION') {
        // The topic was deleted, perhaps to be created again (as Kafka's consumer does, keep asking): stopping here
        // left a member assigned the re-created partition fetching nothing, for good. Said once per absence; the
        // group revokes the partition if the topic stays gone.
        if (!state.missing) {
          state.missing = true
          this.hooks.onPartitionError(state, errorFromWire({ ...pr.error, code: pr.error.code as ErrorCode }))
        }
      } else {
        const err = errorFromWire({ ...pr.error, code: pr.error.code as ErrorCode })
        if (!err.retriable) this.#stop(state, err)
      }
      return null
    }
    state.missing = false
    // Batches are CRC-checked as the consumer reaches them (MessageCursor), so records die young.
    const cursor = new MessageCursor(pr.records, state.topic, state.partition, state.fetchOffset, Infinity)
    if (cursor.nextOffset === state.fetchOffset) return null
    state.fetchOffset = cursor.nextOffset
    return { state, generation: state.generation, cursor, logEndOffset: pr.logEndOffset }
  }

  #stop(state: PartitionState, err: Error): void {
    state.stopped = err
    state.rewind()
    this.hooks.onPartitionError(state, err)
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

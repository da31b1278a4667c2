// Partition counts of topics, as the producer needs them to place records. A count is loaded once with describeTopic
// and cached until a produce says the topic or partition is unknown. A topic the broker does not know may still be
// auto-created (broker option autoCreateTopics, which creates on produce): the cache then sends one empty produce (no
// bytes, so nothing can be appended: the broker creates the topic, then refuses the empty batch as corrupt) and asks
// describeTopic again; without auto-creation that produce answers UNKNOWN_TOPIC and the send fails with
// UnknownTopicError. Concurrent loads of one topic share one request. A count older than `maxAgeMs` is still answered,
// and looked up again in the background (partitions can be added to a topic): the new count is used once it arrives.
import { SluiceError, UnknownTopicError } from '../errors.js'
import type { Transport } from './transport.js'

/** Topics whose partition count one cache keeps; past it the oldest is forgotten (and reloaded on use). */
export const CACHED_TOPICS_MAX = 10_000

function hasCode(err: unknown, ...codes: string[]): boolean {
  return err instanceof SluiceError && codes.includes(err.code)
}

export class TopicMetadataCache {
  readonly #counts = new Map<string, number>()
  /** When each count was loaded (Date.now()). */
  readonly #loadedAt = new Map<string, number>()
  readonly #loading = new Map<string, Promise<number>>()

  /** Retriable failures of a load are retried `retries` times, waiting `retryBackoffMs` doubling. */
  constructor(
    private readonly transport: Transport,
    private readonly retries = 0,
    private readonly retryBackoffMs = 0,
    private readonly maxAgeMs = Infinity,
  ) {}

  /** The partition count when known; a stale one is answered and refreshed in the background. */
  cached(topic: string): number | undefined {
    const count = this.#counts.get(topic)
    if (count !== undefined && Date.now() - this.#loadedAt.get(topic)! >= this.maxAgeMs) this.#refresh(topic)
    return count
  }

  /** Looks the count up again unless a lookup is under way; a failed refresh keeps the old count (a send that then
   *  fails for an unknown topic forgets it, as before). */
  #refresh(topic: string): void {
    if (this.#loading.has(topic)) return
    this.#loadedAt.set(topic, Date.now()) // no second refresh before this one has had its time
    const loading = this.#describeWithRetries(topic).finally(() => this.#loading.delete(topic))
    this.#loading.set(topic, loading)
    loading.catch(() => undefined)
  }

  forget(topic: string): void {
    this.#counts.delete(topic)
    this.#loadedAt.delete(topic)
  }

  load(topic: string): Promise<number> {
    const cached = this.#counts.get(topic)
    if (cached !== undefined) return Promise.resolve(cached)
    let loading = this.#loading.get(topic)
    if (loading === undefined) {
      loading = this.#describeWithRetries(topic).finally(() => this.#loading.delete(topic))
      this.#loading.set(topic, loading)
    }
    return loading
  }

  async #describeWithRetries(topic: string): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#describe(topic)
      } catch (err) {
        if (!(err instanceof SluiceError && err.retriable) || attempt >= this.retries) throw err
        await new Promise((resolve) => setTimeout(resolve, this.retryBackoffMs * 2 ** attempt))
      }
    }
  }

  async #describe(topic: string): Promise<number> {
    let count: number
    try {
      count = (await this.transport.describeTopic(topic)).partitions.length
    } catch (err) {
      if (!hasCode(err, 'UNKNOWN_TOPIC')) throw err
      try {
        await this.transport.produce({ topic, partition: 0, acks: 1, batch: Buffer.alloc(0) })
      } catch (probeErr) {
        if (hasCode(probeErr, 'UNKNOWN_TOPIC')) throw new UnknownTopicError(topic)
        if (!hasCode(probeErr, 'CORRUPT_RECORD', 'UNKNOWN_PARTITION')) throw probeErr
      }
      count = (await this.transport.describeTopic(topic)).partitions.length
    }
    if (!this.#counts.has(topic) && this.#counts.size >= CACHED_TOPICS_MAX) {
      const oldest = this.#counts.keys().next().value
      if (oldest !== undefined) this.forget(oldest)
    }
    this.#counts.set(topic, count)
    this.#loadedAt.set(topic, Date.now())
    return count
  }
}

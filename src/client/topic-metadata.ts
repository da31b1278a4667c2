// Partition counts of topics, as the producer needs them to place records. A count is loaded once with describeTopic
// and cached until a produce says the topic or partition is unknown. A topic the broker does not know may still be
// auto-created (broker option autoCreateTopics, which creates on produce and fetch): one zero-wait fetch of partition 0
// lets the broker create it, and describeTopic is asked again; without auto-creation that fetch answers UNKNOWN_TOPIC
// and the send fails with UnknownTopicError. Concurrent loads of one topic share one request.
import { errorFromWire, SluiceError, UnknownTopicError } from '../errors.js'
import type { ErrorCode } from '../errors.js'
import type { Transport } from './transport.js'

/** Topics whose partition count one cache keeps; past it the oldest is forgotten (and reloaded on use). */
export const CACHED_TOPICS_MAX = 10_000

export class TopicMetadataCache {
  readonly #counts = new Map<string, number>()
  readonly #loading = new Map<string, Promise<number>>()

  constructor(private readonly transport: Transport) {}

  cached(topic: string): number | undefined {
    return this.#counts.get(topic)
  }

  forget(topic: string): void {
    this.#counts.delete(topic)
  }

  load(topic: string): Promise<number> {
    const cached = this.#counts.get(topic)
    if (cached !== undefined) return Promise.resolve(cached)
    let loading = this.#loading.get(topic)
    if (loading === undefined) {
      loading = this.#describe(topic).finally(() => this.#loading.delete(topic))
      this.#loading.set(topic, loading)
    }
    return loading
  }

  async #describe(topic: string): Promise<number> {
    let count: number
    try {
      count = (await this.transport.describeTopic(topic)).partitions.length
    } catch (err) {
      if (!(err instanceof SluiceError) || err.code !== 'UNKNOWN_TOPIC') throw err
      const probe = await this.transport.fetch({
        partitions: [{ topic, partition: 0, offset: 0 }],
        maxBytes: 1,
        maxWaitMs: 0,
      })
      const error = probe.partitions[0]?.error ?? null
      if (error !== null && error.code === 'UNKNOWN_TOPIC') throw new UnknownTopicError(topic)
      if (error !== null && error.code !== 'OFFSET_OUT_OF_RANGE')
        throw errorFromWire({ code: error.code as ErrorCode, message: error.message })
      count = (await this.transport.describeTopic(topic)).partitions.length
    }
    if (this.#counts.size >= CACHED_TOPICS_MAX) {
      const oldest = this.#counts.keys().next().value
      if (oldest !== undefined) this.#counts.delete(oldest)
    }
    this.#counts.set(topic, count)
    return count
  }
}

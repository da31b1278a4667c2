// The SDK's entry point. `Sluice.open` runs a broker in this process on a data directory (embedded: the in-process
// transport calls it directly); `Sluice.connect` reaches a broker over TCP. Both give the same API. A Sluice tracks the
// producers and consumers it made: close() closes producers first (flushing pending sends), then consumers (committing
// their positions), then the transport and, when embedded, the broker. Every call after close() throws ClosedError.
import type { BrokerApi } from './broker/api.js'
import { openBroker, type OpenBrokerOptions } from './broker/broker.js'
import type { BrokerConfigInput } from './broker/broker-config.js'
import { createJsonLogger } from './broker/logger.js'
import { Admin } from './client/admin.js'
import {
  type ConsumerOptions,
  type ProducerOptions,
  resolveConsumerConfig,
  resolveProducerConfig,
} from './client/client-config.js'
import type { CodecOption, Decoded, Encodable } from './client/codecs.js'
import { Consumer } from './client/consumer.js'
import type { MembershipFactory } from './client/consumer-group.js'
import { GroupMembership } from './client/group-membership.js'
import { InProcessTransport } from './client/in-process-transport.js'
import { Producer } from './client/producer.js'
import { Replay, type ReplayOptions } from './client/replay.js'
import { connectTcpTransport, type TcpTransportOptions } from './client/tcp-transport.js'
import type { Transport } from './client/transport.js'
import { ClosedError, InvalidArgumentError } from './errors.js'
import type { StorageLogger } from './storage/api.js'

export interface SluiceOpenOptions extends Omit<BrokerConfigInput, 'dataDir'> {
  /** The data directory this process owns (created if missing). */
  dataDir: string
  /** Where the embedded broker logs. @default JSON lines on stderr, warnings and errors only */
  logger?: StorageLogger
}

export type SluiceConnectOptions = TcpTransportOptions

const membershipFactory: MembershipFactory = (transport, options, target) =>
  new GroupMembership(transport, options, target)

export class Sluice {
  readonly #transport: Transport
  readonly #producers = new Set<Producer>()
  readonly #consumers = new Set<Consumer>()
  #closing: Promise<void> | null = null

  /** Wraps any transport (tests, custom transports). The Sluice owns it and closes it on close(). */
  constructor(transport: Transport) {
    this.#transport = transport
  }

  /** Embedded mode: opens (or creates) the data directory and runs the broker in this process. */
  /** `brokerOptions` swaps broker parts (storage engine, coordinator, clock) — for tests and tools. */
  static async open(options: SluiceOpenOptions, brokerOptions: OpenBrokerOptions = {}): Promise<Sluice> {
    if (typeof options !== 'object' || options === null || typeof options.dataDir !== 'string')
      throw new InvalidArgumentError('Sluice.open needs { dataDir }')
    const { logger, ...brokerConfig } = options
    const broker = await openBroker(brokerConfig, {
      logger: logger ?? createJsonLogger({ level: 'warn' }),
      ...brokerOptions,
    })
    return new Sluice(new InProcessTransport(broker))
  }

  /** Remote mode: connects to a running broker (`sluice serve`). */
  static async connect(options: SluiceConnectOptions): Promise<Sluice> {
    if (
      typeof options !== 'object' ||
      options === null ||
      !Array.isArray(options.brokers) ||
      options.brokers.length === 0
    )
      throw new InvalidArgumentError("Sluice.connect needs { brokers: ['host:port', ...] }")
    return new Sluice(await connectTcpTransport(options))
  }

  /** The transport this Sluice talks to (the broker contract), for tools that need a call the SDK does not wrap. */
  get transport(): BrokerApi {
    this.#check()
    return this.#transport
  }

  admin(): Admin {
    this.#check()
    return new Admin(this.#transport)
  }

  /** A producer. Its messages' key and value types follow its codecs: `keyCodec: 'string'` takes strings, a
   *  `Codec<T>` takes `T`s (Encodable). */
  producer<KC extends CodecOption | undefined = undefined, VC extends CodecOption | undefined = undefined>(
    options?: ProducerOptions & { keyCodec?: KC; valueCodec?: VC },
  ): Producer<Encodable<KC>, Encodable<VC>> {
    this.#check()
    const producer = new Producer<Encodable<KC>, Encodable<VC>>(this.#transport, resolveProducerConfig(options), (p) =>
      this.#producers.delete(p),
    )
    this.#producers.add(producer)
    return producer
  }

  /** A consumer. Its messages' key and value types follow its codecs: Buffers by default, strings for 'string', `T`
   *  for a `Codec<T>`, `unknown` for 'json' and 'msgpack' (Decoded). */
  consumer<KC extends CodecOption | undefined = undefined, VC extends CodecOption | undefined = undefined>(
    options?: ConsumerOptions & { keyCodec?: KC; valueCodec?: VC },
  ): Consumer<Decoded<KC>, Decoded<VC>> {
    this.#check()
    const consumer = new Consumer<Decoded<KC>, Decoded<VC>>(
      this.#transport,
      resolveConsumerConfig(options),
      membershipFactory,
      (c) => this.#consumers.delete(c),
    )
    this.#consumers.add(consumer)
    return consumer
  }

  /** A bounded read of `topic` without a group: [from, to) per partition, partitions one after the other. Its
   *  messages' key and value types follow its codecs, as a consumer's do. */
  replay<KC extends CodecOption | undefined = undefined, VC extends CodecOption | undefined = undefined>(
    options: ReplayOptions & { keyCodec?: KC; valueCodec?: VC },
  ): Replay<Decoded<KC>, Decoded<VC>> {
    this.#check()
    return new Replay<Decoded<KC>, Decoded<VC>>(this.#transport, options)
  }

  /** Closes producers (flushing), then consumers (committing), then the transport/broker. Idempotent. */
  close(): Promise<void> {
    if (this.#closing === null) this.#closing = this.#close()
    return this.#closing
  }

  get closed(): boolean {
    return this.#closing !== null
  }

  #check(): void {
    if (this.#closing !== null) throw new ClosedError('sluice')
  }

  async #close(): Promise<void> {
    const errors: unknown[] = []
    const settle = async (work: Array<Promise<void>>): Promise<void> => {
      for (const r of await Promise.allSettled(work)) if (r.status === 'rejected') errors.push(r.reason)
    }
    await settle([...this.#producers].map((p) => p.close()))
    await settle([...this.#consumers].map((c) => c.close()))
    await settle([this.#transport.close()])
    if (errors.length > 0) throw errors[0]
  }
}

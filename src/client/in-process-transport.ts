// The embedded-mode transport: every call goes straight to a Broker in this process, with no socket, no framing and
// no copy. The producer hands over a batch buffer it no longer needs (the broker writes `baseOffset` into it in
// place), so nothing is copied here either. After `close()` every call rejects with ClosedError; when the transport
// owns the broker it closes it too, once, after calls already made have settled.
import type {
  BrokerApi,
  BrokerInfo,
  CommittedOffset,
  AlterTopicConfigRequest,
  CreatePartitionsRequest,
  CreateTopicRequest,
  DeleteRecordsRequest,
  DeleteRecordsResponse,
  FetchRequest,
  FetchResponse,
  GroupDescription,
  GroupHeartbeatRequest,
  GroupHeartbeatResponse,
  GroupState,
  InitProducerResponse,
  ListOffsetsRequest,
  ListOffsetsResponse,
  OffsetCommitRequest,
  OffsetFetchRequest,
  ProduceRequest,
  ProduceResponse,
  ResetOffsetsRequest,
  ResetOffsetsResponse,
  TopicDescription,
} from '../broker/api.js'
import { ClosedError } from '../errors.js'
import type { Transport } from './transport.js'

/** A broker that can be closed (the embedded Broker). */
export type ClosableBroker = BrokerApi & { close(): Promise<void> }

export class InProcessTransport implements Transport {
  #closed = false
  #closing: Promise<void> | null = null

  /** `ownsBroker`: close the broker when the transport is closed. */
  constructor(
    private readonly broker: ClosableBroker,
    private readonly ownsBroker = true,
  ) {}

  #check(): void {
    if (this.#closed) throw new ClosedError('transport')
  }

  async info(): Promise<BrokerInfo> {
    this.#check()
    return this.broker.info()
  }
  async createTopic(req: CreateTopicRequest): Promise<TopicDescription> {
    this.#check()
    return this.broker.createTopic(req)
  }
  async alterTopicConfig(req: AlterTopicConfigRequest): Promise<TopicDescription> {
    this.#check()
    return this.broker.alterTopicConfig(req)
  }
  async createPartitions(req: CreatePartitionsRequest): Promise<TopicDescription> {
    this.#check()
    return this.broker.createPartitions(req)
  }
  async deleteRecords(req: DeleteRecordsRequest): Promise<DeleteRecordsResponse> {
    this.#check()
    return this.broker.deleteRecords(req)
  }
  async deleteTopic(name: string): Promise<void> {
    this.#check()
    return this.broker.deleteTopic(name)
  }
  async listTopics(includeInternal?: boolean): Promise<string[]> {
    this.#check()
    return this.broker.listTopics(includeInternal)
  }
  async describeTopic(name: string): Promise<TopicDescription> {
    this.#check()
    return this.broker.describeTopic(name)
  }
  produce(req: ProduceRequest): Promise<ProduceResponse> {
    // Not `async`: the hot path skips one promise wrapper.
    if (this.#closed) return Promise.reject(new ClosedError('transport'))
    return this.broker.produce(req)
  }
  fetch(req: FetchRequest): Promise<FetchResponse> {
    if (this.#closed) return Promise.reject(new ClosedError('transport'))
    // One event-loop turn per fetch (up to maxBytes of records). Without it a consumer or a replay catching up on a
    // backlog was one chain of microtasks: no timer, socket or other I/O of the process ran meanwhile (1.5 M records:
    // no 10 ms timer tick in 340-460 ms), and the stall grew with the backlog.
    return this.broker.fetch(req).then(afterTurn)
  }
  async listOffsets(req: ListOffsetsRequest): Promise<ListOffsetsResponse> {
    this.#check()
    return this.broker.listOffsets(req)
  }
  async initProducer(): Promise<InitProducerResponse> {
    this.#check()
    return this.broker.initProducer()
  }
  async groupHeartbeat(req: GroupHeartbeatRequest): Promise<GroupHeartbeatResponse> {
    this.#check()
    return this.broker.groupHeartbeat(req)
  }
  async commitOffsets(req: OffsetCommitRequest): Promise<void> {
    this.#check()
    return this.broker.commitOffsets(req)
  }
  async fetchOffsets(req: OffsetFetchRequest): Promise<CommittedOffset[]> {
    this.#check()
    return this.broker.fetchOffsets(req)
  }
  async listGroups(): Promise<Array<{ groupId: string; state: GroupState; memberCount: number }>> {
    this.#check()
    return this.broker.listGroups()
  }
  async describeGroup(groupId: string): Promise<GroupDescription> {
    this.#check()
    return this.broker.describeGroup(groupId)
  }
  async deleteGroup(groupId: string): Promise<void> {
    this.#check()
    return this.broker.deleteGroup(groupId)
  }
  async resetOffsets(req: ResetOffsetsRequest): Promise<ResetOffsetsResponse> {
    this.#check()
    return this.broker.resetOffsets(req)
  }

  close(): Promise<void> {
    if (this.#closing !== null) return this.#closing
    this.#closed = true
    this.#closing = this.ownsBroker ? this.broker.close() : Promise.resolve()
    return this.#closing
  }
}

/** Resolves with `value` on the next turn of the event loop (after timers and I/O that are due). */
function afterTurn<T>(value: T): Promise<T> {
  return new Promise((resolve) => setImmediate(resolve, value))
}

// The broker: composition root of storage, the topic registry, the internal __consumer_offsets topic and the group
// coordinator, and the one implementation of BrokerApi (the in-process transport calls it directly; the TCP server
// dispatches to it). It owns the retention timer and the parked long-polls. After `close()` every call throws
// ClosedError; close stops the timer, wakes the long-polls, closes the coordinator, then storage (flush, checkpoint,
// clean-shutdown marker, unlock).
import type {
  AlterTopicConfigRequest,
  CreatePartitionsRequest,
  DeleteRecordsRequest,
  DeleteRecordsResponse,
  BrokerApi,
  BrokerInfo,
  CommittedOffset,
  CreateTopicRequest,
  FetchRequest,
  FetchResponse,
  GroupDescription,
  GroupFence,
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
} from './api.js'
import { LIMITS } from '../config/limits.js'
import {
  ClosedError,
  DiskFullError,
  InternalError,
  InvalidArgumentError,
  OffsetOutOfRangeError,
  SluiceError,
  StorageError,
  TopicExistsError,
  UnknownPartitionError,
} from '../errors.js'
import type { PartitionLogApi, ReadAllocator, StorageApi, StorageLogger, StorageOptions } from '../storage/api.js'
import {
  openGroupCoordinator as openDefaultGroupCoordinator,
  type GroupTopicsView,
} from '../groups/group-coordinator.js'
import { openStorage as openDefaultStorage } from '../storage/storage.js'
import { CONSUMER_OFFSETS_TOPIC, validateTopicName, validateUserTopicName } from '../topics/topic-name.js'
import { openTopicRegistry, type TopicRegistry } from '../topics/topic-registry.js'
import { resolveBrokerConfig, type BrokerConfig, type BrokerConfigInput } from './broker-config.js'
import { durableEndsNow } from './durable-end.js'
import { fetchPartitions } from './fetch-handler.js'
import { RegistryGroupTopicsView } from './group-topics-view.js'
import { toLogger, type Logger } from './logger.js'
import { LongPolls } from './long-poll.js'
import { checkProduceRequest, producePartition, type ProduceContext } from './produce-handler.js'
import { ProducerIdAllocator } from './producer-ids.js'
import { ProducerStates } from './producer-state.js'
import { checkFdBudget } from '../util/fd-budget.js'
import { LogThrottle } from '../util/log-throttle.js'

export const BROKER_VERSION = '0.1.0'
/** A full disk's refused writes are logged at most this often. */
const DISK_FULL_LOG_INTERVAL_MS = 10_000

/** Version of each BrokerApi method this broker speaks. */
const API_VERSIONS: Readonly<Record<string, number>> = Object.freeze({
  info: 0,
  createTopic: 0,
  alterTopicConfig: 0,
  createPartitions: 0,
  deleteRecords: 0,
  deleteTopic: 0,
  listTopics: 0,
  describeTopic: 0,
  produce: 0,
  fetch: 0,
  listOffsets: 0,
  initProducer: 0,
  groupHeartbeat: 0,
  commitOffsets: 0,
  fetchOffsets: 0,
  listGroups: 0,
  describeGroup: 0,
  deleteGroup: 0,
  resetOffsets: 0,
})

/** The group coordinator as the broker uses it (src/groups/group-coordinator.ts). */
export interface GroupCoordinatorPort {
  heartbeat(req: GroupHeartbeatRequest): Promise<GroupHeartbeatResponse>
  commitOffsets(req: OffsetCommitRequest): Promise<void>
  fetchOffsets(req: OffsetFetchRequest): Promise<CommittedOffset[]>
  listGroups(): Promise<Array<{ groupId: string; state: GroupState; memberCount: number }>>
  describeGroup(groupId: string): Promise<GroupDescription>
  deleteGroup(groupId: string): Promise<void>
  resetOffsets(req: ResetOffsetsRequest): Promise<ResetOffsetsResponse>
  checkFetch(fence: GroupFence, topic: string, partition: number): void
  onTopicDeleted(topic: string): Promise<void>
  close(): Promise<void>
}

export type OpenStorage = (dataDir: string, options: StorageOptions) => Promise<StorageApi>
export type OpenGroupCoordinator = (options: {
  offsetsLog: PartitionLogApi
  topics: GroupTopicsView
  logger?: StorageLogger
  now?: () => number
}) => Promise<GroupCoordinatorPort>

export interface OpenBrokerOptions {
  /** @default JSON lines on stderr */
  logger?: StorageLogger
  /** The storage engine; tests may pass a double. @default openStorage from src/storage/storage.ts */
  openStorage?: OpenStorage
  /** @default openGroupCoordinator from src/groups/group-coordinator.ts; null runs without groups (tests). */
  openGroupCoordinator?: OpenGroupCoordinator | null
  /** Clock for retention and the coordinator. @default Date.now */
  now?: () => number
}

interface BrokerParts {
  config: BrokerConfig
  storage: StorageApi
  registry: TopicRegistry
  producerIds: ProducerIdAllocator
  coordinator: GroupCoordinatorPort | null
  logger: Logger
  now: () => number
}

export class Broker implements BrokerApi {
  readonly config: BrokerConfig
  readonly #storage: StorageApi
  readonly #registry: TopicRegistry
  readonly #producerIds: ProducerIdAllocator
  readonly #coordinator: GroupCoordinatorPort | null
  readonly #logger: Logger
  readonly #now: () => number
  readonly #longPolls = new LongPolls()
  readonly #produceContext: ProduceContext
  #retentionTimer: NodeJS.Timeout | null = null
  #closing: Promise<void> | null = null

  /** Use openBroker(); the constructor does no I/O. */
  constructor(parts: BrokerParts) {
    this.config = parts.config
    this.#storage = parts.storage
    this.#registry = parts.registry
    this.#producerIds = parts.producerIds
    this.#coordinator = parts.coordinator
    this.#logger = parts.logger
    this.#now = parts.now
    parts.registry.onTopicsChanged((change) => {
      if (change.type === 'deleted') this.#longPolls.wakeAll()
    })
    const ids = parts.producerIds
    this.#produceContext = {
      recordBytesMax: parts.config.recordBytesMax,
      producerStates: new ProducerStates((producerId) => producerId < ids.firstIdThisRun),
      producerIdsIssuedEnd: () => ids.issuedEnd,
    }
  }

  get closed(): boolean {
    return this.#closing !== null
  }

  get dataDir(): string {
    return this.#storage.dataDir
  }

  #enter(): void {
    if (this.#closing !== null) throw new ClosedError('broker')
  }

  #groups(): GroupCoordinatorPort {
    this.#enter()
    if (this.#coordinator === null)
      throw new InternalError('this broker was opened without a group coordinator (openGroupCoordinator: null)')
    return this.#coordinator
  }

  /** Starts the retention timer (unref'd: it never keeps the process alive). */
  startTimers(): void {
    if (this.#retentionTimer !== null) return
    this.#retentionTimer = setInterval(() => this.runRetention(), this.config.retentionCheckIntervalMs)
    this.#retentionTimer.unref()
  }

  /** Applies time and size retention to every online partition now; returns how many segments went. */
  runRetention(): { deletedSegments: number; deletedBytes: number } {
    let deletedSegments = 0
    let deletedBytes = 0
    if (this.#closing !== null) return { deletedSegments, deletedBytes }
    const nowMs = this.#now()
    for (const { topic, partition, log } of this.#registry.allLogs()) {
      if (log.offlineError !== null) continue
      try {
        const result = log.applyRetention(nowMs)
        if (result.deletedSegments > 0) {
          deletedSegments += result.deletedSegments
          deletedBytes += result.deletedBytes
          this.#logger.info('retention deleted segments', { topic, partition, ...result })
        }
      } catch (err) {
        this.#logger.error('retention failed', { topic, partition, error: err })
      }
    }
    return { deletedSegments, deletedBytes }
  }

  async info(): Promise<BrokerInfo> {
    this.#enter()
    return { nodeId: this.config.nodeId, version: BROKER_VERSION, apiVersions: { ...API_VERSIONS } }
  }

  // ---- topics ------------------------------------------------------------------------------------------------

  async createTopic(req: CreateTopicRequest): Promise<TopicDescription> {
    this.#enter()
    if (req === null || typeof req !== 'object') throw new InvalidArgumentError('createTopic needs a request object')
    const name = validateUserTopicName(req.name)
    if (Number.isSafeInteger(req.partitions) && !this.#registry.has(name))
      checkFdBudget(req.partitions, `topic "${name}" of ${req.partitions} partitions`)
    return this.#registry.create(name, req.partitions, req.config ?? {})
  }

  async alterTopicConfig(req: AlterTopicConfigRequest): Promise<TopicDescription> {
    this.#enter()
    if (req === null || typeof req !== 'object')
      throw new InvalidArgumentError('alterTopicConfig needs a request object')
    const name = validateUserTopicName(req.name)
    return this.#registry.alter(name, req.config)
  }

  async createPartitions(req: CreatePartitionsRequest): Promise<TopicDescription> {
    this.#enter()
    if (req === null || typeof req !== 'object')
      throw new InvalidArgumentError('createPartitions needs a request object')
    const name = validateUserTopicName(req.name)
    const current = this.#registry.partitionCount(name)
    if (current !== null && Number.isSafeInteger(req.count) && req.count > current)
      checkFdBudget(req.count - current, `growing topic "${name}" to ${req.count} partitions`)
    return this.#registry.addPartitions(name, req.count)
  }

  /** Every partition and offset is checked before any record is removed: a bad entry removes nothing. */
  async deleteRecords(req: DeleteRecordsRequest): Promise<DeleteRecordsResponse> {
    this.#enter()
    if (req === null || typeof req !== 'object') throw new InvalidArgumentError('deleteRecords needs a request object')
    const topic = validateUserTopicName(req.topic)
    if (!Array.isArray(req.partitions) || req.partitions.length === 0 || req.partitions.length > LIMITS.partitionsMax)
      throw new InvalidArgumentError(`deleteRecords needs 1 to ${LIMITS.partitionsMax} partitions`)
    const seen = new Set<number>()
    const plan = req.partitions.map(({ partition, offset }) => {
      if (seen.has(partition)) throw new InvalidArgumentError(`deleteRecords names partition ${partition} twice`)
      seen.add(partition)
      const log = this.#registry.onlineLog(topic, partition)
      if (!Number.isSafeInteger(offset) || offset < -1)
        throw new InvalidArgumentError(`offset must be -1 (the log end) or >= 0, got ${String(offset)}`)
      const before = offset === -1 ? log.logEndOffset : offset
      if (before > log.logEndOffset)
        throw new OffsetOutOfRangeError(before, log.logStartOffset, log.logEndOffset, `${topic}/${partition}`, {
          topic,
          partition,
        })
      return { partition, log, before }
    })
    const partitions = plan.map(({ partition, log, before }) => {
      log.deleteRecordsBefore(before)
      return { partition, logStartOffset: log.logStartOffset }
    })
    this.#logger.info('records deleted', { topic, partitions })
    return { partitions }
  }

  async deleteTopic(name: string): Promise<void> {
    this.#enter()
    validateUserTopicName(name)
    await this.#registry.delete(name)
    if (this.#coordinator !== null) await this.#coordinator.onTopicDeleted(name)
  }

  async listTopics(includeInternal = false): Promise<string[]> {
    this.#enter()
    return this.#registry.list(includeInternal === true)
  }

  async describeTopic(name: string): Promise<TopicDescription> {
    this.#enter()
    validateTopicName(name)
    return this.#registry.describe(name)
  }

  // ---- data plane --------------------------------------------------------------------------------------------

  async #logForProduce(topic: string, partition: number): Promise<PartitionLogApi> {
    validateTopicName(topic)
    if (this.#registry.isInternal(topic))
      throw new InvalidArgumentError(`topic "${topic}" is internal; only the broker writes to it`)
    if (!this.#registry.has(topic) && this.config.autoCreateTopics) {
      validateUserTopicName(topic)
      try {
        checkFdBudget(this.config.partitions, `auto-created topic "${topic}" of ${this.config.partitions} partitions`)
        await this.#registry.create(topic, this.config.partitions)
      } catch (err) {
        if (!(err instanceof TopicExistsError)) throw err
      }
      this.#enter()
    }
    return this.#registry.onlineLog(topic, partition)
  }

  async produce(req: ProduceRequest): Promise<ProduceResponse> {
    this.#enter()
    const batch = checkProduceRequest(req)
    const log = await this.#logForProduce(req.topic, req.partition)
    try {
      return await producePartition(
        this.#produceContext,
        log,
        `${req.topic}/${req.partition}`,
        req.acks,
        batch,
        this.#registry.config(req.topic).timestampAfterMaxMs,
      )
    } catch (err) {
      if (err instanceof DiskFullError) this.#noteDiskFull(`${req.topic}/${req.partition}`, err)
      throw err
    }
  }

  readonly #diskFull = new LogThrottle(DISK_FULL_LOG_INTERVAL_MS)

  /** Writes refused for a full disk are retriable for the client, and were silent for the operator: said here, at most
   *  every 10 s with how many were refused meanwhile. */
  #noteDiskFull(where: string, err: DiskFullError): void {
    const refused = this.#diskFull.note()
    if (refused !== null)
      this.#logger.error('disk full: writes refused', { where, error: err.message, refusedSinceLastError: refused })
  }

  async fetch(req: FetchRequest, allocate?: ReadAllocator): Promise<FetchResponse> {
    this.#enter()
    if (req?.fence != null && this.#coordinator === null)
      throw new InternalError('this broker was opened without a group coordinator (openGroupCoordinator: null)')
    return fetchPartitions(
      {
        registry: this.#registry,
        longPolls: this.#longPolls,
        checkFence: (fence, topic, partition) => this.#coordinator?.checkFetch(fence, topic, partition),
        isClosed: () => this.#closing !== null,
      },
      req,
      allocate,
    )
  }

  async listOffsets(req: ListOffsetsRequest): Promise<ListOffsetsResponse> {
    this.#enter()
    if (req === null || typeof req !== 'object') throw new InvalidArgumentError('listOffsets needs a request object')
    validateTopicName(req.topic)
    const timestamp = req.timestamp
    if (!Number.isSafeInteger(timestamp) || timestamp < -2)
      throw new InvalidArgumentError(`timestamp must be -2 (earliest), -1 (latest) or >= 0, got ${String(timestamp)}`)
    const visibility = req.visibility ?? 'written'
    if (visibility !== 'written' && visibility !== 'durable')
      throw new InvalidArgumentError(`listOffsets visibility must be 'written' or 'durable', got ${String(visibility)}`)
    const count = this.#registry.partitionCount(req.topic)
    if (count === null) this.#registry.log(req.topic, 0) // throws UnknownTopicError
    const partitions = req.partitions ?? Array.from({ length: count ?? 0 }, (_, i) => i)
    if (!Array.isArray(partitions)) throw new InvalidArgumentError('partitions must be an array of partition numbers')
    if (partitions.length > LIMITS.partitionsMax)
      throw new InvalidArgumentError(
        `listOffsets of ${partitions.length} partitions, more than ${LIMITS.partitionsMax}`,
      )
    const logs = partitions.map((partition) => {
      if (!Number.isInteger(partition)) throw new UnknownPartitionError(req.topic, partition, count ?? 0)
      return this.#registry.onlineLog(req.topic, partition)
    })
    const offsets = logs.map((log, i) => {
      let offset: number
      if (timestamp === -2) offset = log.logStartOffset
      else if (timestamp === -1) offset = log.logEndOffset
      else offset = log.offsetForTimestamp(timestamp) ?? log.logEndOffset
      return { partition: partitions[i]!, offset }
    })
    if (visibility === 'durable' && timestamp !== -2) {
      // Where a durable reader stops: at most the durable end, once what is appended now is fsynced.
      const ends = await durableEndsNow(this.#longPolls, logs, LIMITS.listOffsetsDurableWaitMsMax)
      ends.forEach((end, i) => (offsets[i]!.offset = Math.min(offsets[i]!.offset, end)))
    }
    return { offsets }
  }

  async initProducer(): Promise<InitProducerResponse> {
    this.#enter()
    const producerId = await this.#producerIds.next()
    this.#logger.debug('producer id issued', { producerId })
    return { producerId, producerEpoch: 0 }
  }

  // ---- groups (delegated to the coordinator) ------------------------------------------------------------------

  groupHeartbeat(req: GroupHeartbeatRequest): Promise<GroupHeartbeatResponse> {
    return this.#call(() => this.#groups().heartbeat(req))
  }
  commitOffsets(req: OffsetCommitRequest): Promise<void> {
    return this.#call(() =>
      this.#groups()
        .commitOffsets(req)
        .catch((err: unknown) => {
          if (err instanceof DiskFullError) this.#noteDiskFull(`offset commit of group ${req.groupId}`, err)
          throw err
        }),
    )
  }
  fetchOffsets(req: OffsetFetchRequest): Promise<CommittedOffset[]> {
    return this.#call(() => this.#groups().fetchOffsets(req))
  }
  listGroups(): Promise<Array<{ groupId: string; state: GroupState; memberCount: number }>> {
    return this.#call(() => this.#groups().listGroups())
  }
  describeGroup(groupId: string): Promise<GroupDescription> {
    return this.#call(() => this.#groups().describeGroup(groupId))
  }
  deleteGroup(groupId: string): Promise<void> {
    return this.#call(() => this.#groups().deleteGroup(groupId))
  }
  resetOffsets(req: ResetOffsetsRequest): Promise<ResetOffsetsResponse> {
    return this.#call(() => this.#groups().resetOffsets(req))
  }

  /** Turns a synchronous throw into a rejection, as an async method would. */
  async #call<T>(fn: () => Promise<T>): Promise<T> {
    return fn()
  }

  // ---- lifecycle ---------------------------------------------------------------------------------------------

  /** Stops timers, wakes long-polls, closes the coordinator and storage. Idempotent; later calls get ClosedError. */
  close(): Promise<void> {
    if (this.#closing === null) this.#closing = this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    if (this.#retentionTimer !== null) clearInterval(this.#retentionTimer)
    this.#retentionTimer = null
    this.#longPolls.close()
    await this.#registry.settle()
    try {
      if (this.#coordinator !== null) await this.#coordinator.close()
    } finally {
      await this.#storage.close()
      this.#logger.info('broker closed', { dataDir: this.#storage.dataDir })
    }
  }
}

/** Opens storage, reloads every topic, creates __consumer_offsets when absent, starts the coordinator and the timer. */
export async function openBroker(input: BrokerConfigInput = {}, options: OpenBrokerOptions = {}): Promise<Broker> {
  const config = resolveBrokerConfig(input)
  const logger = toLogger(options.logger)
  const now = options.now ?? Date.now
  const openStorage = options.openStorage ?? openDefaultStorage
  const storage = await openStorage(config.dataDir, {
    logger,
    flushIntervalMs: config.topicDefaults.flushIntervalMs,
  }).catch((err: unknown) => {
    throw withDescriptorHint(err)
  })
  try {
    const registry = await openTopicRegistry(storage, config.topicDefaults, logger)
    if (!registry.has(CONSUMER_OFFSETS_TOPIC))
      await registry.create(
        CONSUMER_OFFSETS_TOPIC,
        1,
        { flush: 'sync', retentionMs: -1, retentionBytes: -1 },
        { internal: true },
      )
    const producerIds = await ProducerIdAllocator.open(config.dataDir, (message) =>
      logger.error('producer id file damaged', { detail: message }),
    )
    const openCoordinator =
      options.openGroupCoordinator === undefined ? openDefaultGroupCoordinator : options.openGroupCoordinator
    const coordinator =
      openCoordinator === null
        ? null
        : await openCoordinator({
            offsetsLog: registry.log(CONSUMER_OFFSETS_TOPIC, 0),
            topics: new RegistryGroupTopicsView(registry),
            logger,
            now,
            dataDir: config.dataDir,
          })
    const broker = new Broker({ config, storage, registry, producerIds, coordinator, logger, now })
    broker.startTimers()
    logger.info('broker open', {
      dataDir: config.dataDir,
      topics: registry.list(true).length,
      cleanShutdown: storage.wasCleanShutdown,
    })
    return broker
  } catch (err) {
    await storage.close().catch(() => {})
    throw withDescriptorHint(err)
  }
}

/** A raw EMFILE/ENFILE while opening (listing a directory, opening a segment) as a StorageError that says what to do
 *  (a user's trial got "EMFILE: too many open files, scandir ..." from Sluice.open, nothing more). */
function withDescriptorHint(err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException | null)?.code
  if (err instanceof SluiceError || (code !== 'EMFILE' && code !== 'ENFILE')) return err
  return new StorageError(
    `opening the data dir ran out of file descriptors (${code}: ${(err as Error).message}): each partition holds ` +
      'about 3 plus one per sealed segment; raise the limit (ulimit -n, LimitNOFILE=)',
    { cause: err },
  )
}

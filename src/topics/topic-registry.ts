// The broker's catalogue of topics: name, partition count, per-topic config overrides, and one open PartitionLogApi per
// partition (storage log name `topics/<topic>/<partition>`). Each topic is persisted as `<dataDir>/topics/<topic>/
// topic.json` (tmp → fsync → rename → fsync dir) before its logs are opened, and every topic is reloaded at open.
// Deleting renames topic.json to `.deleting` first, so a crash mid-delete is finished at the next open, never undone.
// Altering a topic's config rewrites topic.json the same way before the open logs take the new config.
// Adding partitions rewrites topic.json with the new count first, then opens the new logs (a crash between the two
// opens them at the next load). Mutations (create/alter/add partitions/delete) run one at a time; reads are synchronous
// and see only fully created topics.
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import type { AlterTopicConfigRequest, PartitionDescription, TopicConfig, TopicDescription } from '../broker/api.js'
import { LIMITS } from '../config/limits.js'
import {
  InvalidArgumentError,
  PartitionOfflineError,
  StorageError,
  TopicExistsError,
  UnknownPartitionError,
  UnknownTopicError,
} from '../errors.js'
import type { PartitionLogApi, StorageApi, StorageLogger } from '../storage/api.js'
import { resolveTopicConfig, toLogConfig } from './topic-config.js'
import { isInternalTopic, validateTopicName } from './topic-name.js'
import { fsyncDirAsync as fsyncDir, writeFileAtomicAsync as writeFileAtomic } from '../storage/atomic-file.js'

const TOPIC_FILE = 'topic.json'
const DELETING_FILE = '.deleting'
const TOPIC_FILE_VERSION = 1
/** The config of a topic whose own was lost: nothing deleted by retention, every ack after an fsync. */
const RETAIN_ALL_OVERRIDES: Partial<TopicConfig> = Object.freeze({ retentionMs: -1, retentionBytes: -1, flush: 'sync' })
/** Partition logs opened at once while loading or creating a topic. */
const OPEN_CONCURRENCY_MAX = 16

export type TopicChange = { type: 'created' | 'deleted' | 'resized'; topic: string }

interface TopicFile {
  version: number
  name: string
  partitions: number
  internal: boolean
  /** Only the overrides given at creation or by an alter: broker defaults apply to the rest, as they are at each
   *  open. */
  overrides: Partial<TopicConfig>
  createdAtMs: number
}

interface Topic {
  name: string
  internal: boolean
  overrides: Partial<TopicConfig>
  config: TopicConfig
  logs: PartitionLogApi[]
  createdAtMs: number
}

export interface CreateTopicOptions {
  /** Internal topics may (and must) use the "__" prefix and are hidden from user listings. */
  internal?: boolean
}

/** A stand-in for a partition whose log failed to open: every call throws why. */
function offlineLog(name: string, cause: unknown): PartitionLogApi {
  const error = new PartitionOfflineError(`partition ${name} could not be opened: ${(cause as Error).message}`, {
    cause,
  })
  const fail = (): never => {
    throw error
  }
  return {
    name,
    logStartOffset: 0,
    logEndOffset: 0,
    sizeBytes: 0,
    segmentCount: 0,
    offlineError: error,
    append: fail,
    waitDurable: () => Promise.reject(error),
    read: fail,
    offsetForTimestamp: fail,
    truncateTo: fail,
    deleteRecordsBefore: fail,
    applyRetention: fail,
    reconfigure: fail,
    onAppend: fail,
    durableOffset: 0,
    onDurable: fail,
    requestFlush: () => undefined,
  }
}

async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i]!)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}

export function logNameFor(topic: string, partition: number): string {
  return `topics/${topic}/${partition}`
}

export class TopicRegistry {
  readonly #topics = new Map<string, Topic>()
  readonly #listeners = new Set<(change: TopicChange) => void>()
  readonly #topicsDir: string
  #mutation: Promise<unknown> = Promise.resolve()

  constructor(
    readonly storage: StorageApi,
    readonly defaults: TopicConfig,
    readonly logger: StorageLogger,
  ) {
    this.#topicsDir = path.join(storage.dataDir, 'topics')
  }

  /** Runs mutations one at a time, in call order. */
  #serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#mutation.then(fn, fn)
    this.#mutation = run.catch(() => {})
    return run
  }

  async load(): Promise<void> {
    await mkdir(this.#topicsDir, { recursive: true })
    const entries = await readdir(this.#topicsDir, { withFileTypes: true })
    for (const entry of entries) {
      if (!entry.isDirectory()) continue
      const dir = path.join(this.#topicsDir, entry.name)
      const files = await readdir(dir)
      // Temporary files of a topic.json write killed before its rename: never read, so removed (the broker holds the
      // data dir's lock, so no writer is alive).
      for (const f of files) if (f.endsWith('.tmp')) await rm(path.join(dir, f), { force: true })
      if (files.includes(DELETING_FILE)) {
        this.logger.warn('finishing the deletion of a topic interrupted by a crash', { topic: entry.name })
        const partitions = files.filter((f) => /^\d+$/.test(f)).map(Number)
        await this.#removeTopicFiles(entry.name, dir, partitions)
        continue
      }
      if (!files.includes(TOPIC_FILE)) {
        this.logger.warn('ignoring a topic directory without topic.json', { dir })
        continue
      }
      const fileName = path.join(dir, TOPIC_FILE)
      let file: TopicFile
      let config: TopicConfig
      try {
        file = await this.#readTopicFile(fileName, entry.name)
        try {
          config = resolveTopicConfig(file.overrides, this.defaults)
        } catch (cause) {
          throw new StorageError(`${fileName} holds an invalid config: ${(cause as Error).message}`, { cause })
        }
      } catch (err) {
        // A file that could not be read at all (EACCES, EIO: its cause has an errno code) may be intact: stop, as
        // before, rather than replace it.
        if ((err as Error).cause instanceof Error && ((err as Error).cause as NodeJS.ErrnoException).code !== undefined)
          throw err
        // One damaged topic.json stopped the whole broker. The topic is rebuilt from its partition directories
        // instead, with settings that lose nothing (below); the others never depended on it.
        const rebuilt = await this.#rebuildTopicFile(dir, entry.name, files, err as Error)
        if (rebuilt === null) continue
        file = rebuilt
        config = resolveTopicConfig(file.overrides, this.defaults)
      }
      if (this.#topics.size >= LIMITS.topicsMax)
        throw new StorageError(`the data dir holds more than topicsMax (${LIMITS.topicsMax}) topics`)
      const logs = await this.#openLogs(file.name, file.partitions, config)
      this.#topics.set(file.name, {
        name: file.name,
        internal: file.internal,
        overrides: file.overrides,
        config,
        logs,
        createdAtMs: file.createdAtMs,
      })
    }
    this.logger.info('topics loaded', { topics: this.#topics.size })
  }

  /**
   * A topic.json that cannot be read is kept as topic.json.damaged and replaced by one rebuilt from what the directory
   * shows: the partition count from its partition directories (0..n-1), and overrides that lose nothing whatever the
   * lost ones were (no retention, fsync before acks: RETAIN_ALL_OVERRIDES). Null (the directory skipped, logged) when
   * the directory is not a topic's or its partitions are not 0..n-1.
   */
  async #rebuildTopicFile(dir: string, name: string, files: string[], cause: Error): Promise<TopicFile | null> {
    const partitions = files
      .filter((f) => /^\d+$/.test(f))
      .map(Number)
      .sort((a, b) => a - b)
    let legalName = true
    try {
      validateTopicName(name)
    } catch {
      legalName = false
    }
    if (!legalName || partitions.length === 0 || partitions.some((p, i) => p !== i)) {
      this.logger.error('topic directory skipped: its topic.json cannot be read and it cannot be rebuilt', {
        dir,
        error: cause.message,
        partitionDirs: partitions.length,
        repair: `write ${TOPIC_FILE} by hand (see a healthy topic's), then restart`,
      })
      return null
    }
    const file: TopicFile = {
      version: TOPIC_FILE_VERSION,
      name,
      partitions: partitions.length,
      internal: isInternalTopic(name),
      overrides: { ...RETAIN_ALL_OVERRIDES },
      createdAtMs: Date.now(),
    }
    await rename(path.join(dir, TOPIC_FILE), path.join(dir, `${TOPIC_FILE}.damaged`)).catch(() => undefined)
    await this.#writeTopicFile(file)
    this.logger.error('topic.json could not be read: rebuilt from the partition directories', {
      topic: name,
      error: cause.message,
      partitions: partitions.length,
      config:
        'retention off and flush sync until set again (topic alter); the damaged file is kept as topic.json.damaged',
    })
    return file
  }

  async #readTopicFile(file: string, dirName: string): Promise<TopicFile> {
    let parsed: unknown
    try {
      parsed = JSON.parse(await readFile(file, 'utf8'))
    } catch (cause) {
      throw new StorageError(`cannot read ${file}: ${(cause as Error).message}`, { cause })
    }
    try {
      validateTopicName(dirName)
    } catch (cause) {
      throw new StorageError(`${file} is in a directory that is not a legal topic name`, { cause })
    }
    const f = parsed as Partial<TopicFile> | null
    if (
      f === null ||
      typeof f !== 'object' ||
      f.version !== TOPIC_FILE_VERSION ||
      f.name !== dirName ||
      !Number.isInteger(f.partitions) ||
      (f.partitions ?? 0) < 1 ||
      (f.partitions ?? 0) > LIMITS.partitionsMax ||
      typeof f.internal !== 'boolean' ||
      typeof f.overrides !== 'object' ||
      f.overrides === null
    )
      throw new StorageError(`${file} is not a valid version ${TOPIC_FILE_VERSION} topic file`)
    return f as TopicFile
  }

  /** Writes `<topic>/topic.json` atomically (tmp → fsync → rename → fsync dir). */
  async #writeTopicFile(file: TopicFile): Promise<void> {
    await writeFileAtomic(path.join(this.#topicsDir, file.name, TOPIC_FILE), JSON.stringify(file, null, 2) + '\n')
  }

  /** Opens the logs of partitions [from, to) of `topic`; a log that fails to open stands offline. */
  async #openLogs(topic: string, to: number, config: TopicConfig, from = 0): Promise<PartitionLogApi[]> {
    const logConfig = toLogConfig(config)
    const indexes = Array.from({ length: to - from }, (_, i) => from + i)
    return mapLimited(indexes, OPEN_CONCURRENCY_MAX, async (partition) => {
      const name = logNameFor(topic, partition)
      try {
        return await this.storage.openLog(name, logConfig)
      } catch (cause) {
        this.logger.error('partition log failed to open; it is offline', { log: name, error: cause })
        return offlineLog(name, cause)
      }
    })
  }

  /** Creates a topic: validates name, count and config, persists topic.json, opens every partition log. */
  create(
    name: string,
    partitions: number,
    overrides: Partial<TopicConfig> = {},
    options: CreateTopicOptions = {},
  ): Promise<TopicDescription> {
    validateTopicName(name)
    const internal = options.internal ?? false
    if (isInternalTopic(name) !== internal)
      throw new InvalidArgumentError(
        internal
          ? `internal topic "${name}" must start with "__"`
          : `topic name "${name}" starts with "__", which is reserved for internal topics`,
      )
    if (!Number.isInteger(partitions) || partitions < 1 || partitions > LIMITS.partitionsMax)
      throw new InvalidArgumentError(
        `partitions must be an integer in [1, ${LIMITS.partitionsMax}], got ${String(partitions)}`,
      )
    const config = resolveTopicConfig(overrides, this.defaults)
    const stored = Object.fromEntries(Object.entries(overrides ?? {}).filter(([, v]) => v !== undefined))
    return this.#serialize(async () => {
      if (this.#topics.has(name)) throw new TopicExistsError(name)
      if (this.#topics.size >= LIMITS.topicsMax)
        throw new InvalidArgumentError(`the broker already holds topicsMax (${LIMITS.topicsMax}) topics`)
      const dir = path.join(this.#topicsDir, name)
      await mkdir(dir, { recursive: true })
      await fsyncDir(this.#topicsDir)
      const file: TopicFile = {
        version: TOPIC_FILE_VERSION,
        name,
        partitions,
        internal,
        overrides: stored,
        createdAtMs: Date.now(),
      }
      await this.#writeTopicFile(file)
      const logs = await this.#openLogs(name, partitions, config)
      this.#topics.set(name, { name, internal, overrides: stored, config, logs, createdAtMs: file.createdAtMs })
      this.logger.info('topic created', { topic: name, partitions, internal })
      this.#emit({ type: 'created', topic: name })
      return this.describe(name)
    })
  }

  /**
   * Changes a user topic's config: each key of `changes` sets its override, or removes it when null. The whole result
   * is validated first (InvalidConfigError listing every problem; nothing changes), then topic.json is rewritten and
   * every online partition log takes the new config at once (retention at its next check, segment sizes at the next
   * roll, a flush policy for every acknowledgement not yet given). Offline partitions take it when they next open.
   */
  alter(name: string, changes: AlterTopicConfigRequest['config']): Promise<TopicDescription> {
    if (typeof changes !== 'object' || changes === null || Array.isArray(changes))
      throw new InvalidArgumentError('topic config changes must be an object')
    return this.#serialize(async () => {
      const topic = this.#get(name)
      if (topic.internal) throw new InvalidArgumentError(`the config of internal topic "${name}" cannot be altered`)
      const overrides: Record<string, unknown> = { ...topic.overrides }
      for (const [key, value] of Object.entries(changes)) {
        if (value === null) delete overrides[key]
        else if (value !== undefined) overrides[key] = value
      }
      const config = resolveTopicConfig(overrides as Partial<TopicConfig>, this.defaults)
      const file: TopicFile = {
        version: TOPIC_FILE_VERSION,
        name,
        partitions: topic.logs.length,
        internal: false,
        overrides: overrides as Partial<TopicConfig>,
        createdAtMs: topic.createdAtMs,
      }
      await this.#writeTopicFile(file)
      const logConfig = toLogConfig(config)
      for (const log of topic.logs) if (log.offlineError === null) log.reconfigure(logConfig)
      this.#topics.set(name, { ...topic, overrides: file.overrides, config })
      this.logger.info('topic config altered', { topic: name, changes })
      return this.describe(name)
    })
  }

  /**
   * Grows a user topic to `count` partitions (never shrinks: Kafka's createPartitions). The new partitions start
   * empty; records already written stay where they are, and keys hash over the new count from then on, so a key's
   * later records may land on another partition than its earlier ones. Listeners hear 'resized' (groups reassign).
   */
  addPartitions(name: string, count: number): Promise<TopicDescription> {
    if (!Number.isInteger(count) || count < 1 || count > LIMITS.partitionsMax)
      throw new InvalidArgumentError(
        `partitions must be an integer in [1, ${LIMITS.partitionsMax}], got ${String(count)}`,
      )
    return this.#serialize(async () => {
      const topic = this.#get(name)
      if (topic.internal) throw new InvalidArgumentError(`internal topic "${name}" cannot be given partitions`)
      const current = topic.logs.length
      if (count <= current)
        throw new InvalidArgumentError(
          `topic "${name}" has ${current} partitions; a new count must be larger (partitions are never removed)`,
        )
      const file: TopicFile = {
        version: TOPIC_FILE_VERSION,
        name,
        partitions: count,
        internal: false,
        overrides: topic.overrides,
        createdAtMs: topic.createdAtMs,
      }
      await this.#writeTopicFile(file)
      const added = await this.#openLogs(name, count, topic.config, current)
      this.#topics.set(name, { ...topic, logs: [...topic.logs, ...added] })
      this.logger.info('topic partitions added', { topic: name, from: current, to: count })
      this.#emit({ type: 'resized', topic: name })
      return this.describe(name)
    })
  }

  /** Deletes a topic and its logs; UnknownTopicError when absent. */
  delete(name: string): Promise<void> {
    return this.#serialize(async () => {
      const topic = this.#topics.get(name)
      if (topic === undefined) throw new UnknownTopicError(name)
      const dir = path.join(this.#topicsDir, name)
      await rename(path.join(dir, TOPIC_FILE), path.join(dir, DELETING_FILE))
      await fsyncDir(dir)
      this.#topics.delete(name)
      await this.#removeTopicFiles(
        name,
        dir,
        topic.logs.map((_, partition) => partition),
      )
      this.logger.info('topic deleted', { topic: name })
      this.#emit({ type: 'deleted', topic: name })
    })
  }

  async #removeTopicFiles(name: string, dir: string, partitions: readonly number[]): Promise<void> {
    for (const partition of partitions) {
      const log = logNameFor(name, partition)
      try {
        await this.storage.deleteLog(log)
      } catch (cause) {
        this.logger.warn('storage could not delete a partition log; removing its files', { log, error: cause })
      }
    }
    await rm(dir, { recursive: true, force: true })
    await fsyncDir(this.#topicsDir)
  }

  has(name: string): boolean {
    return this.#topics.has(name)
  }

  isInternal(name: string): boolean {
    return this.#topics.get(name)?.internal ?? false
  }

  /** Sorted topic names; internal ones only when asked. */
  list(includeInternal = false): string[] {
    const names: string[] = []
    for (const t of this.#topics.values()) if (includeInternal || !t.internal) names.push(t.name)
    return names.sort()
  }

  partitionCount(name: string): number | null {
    return this.#topics.get(name)?.logs.length ?? null
  }

  config(name: string): TopicConfig {
    return this.#get(name).config
  }

  #get(name: string): Topic {
    const topic = this.#topics.get(name)
    if (topic === undefined) throw new UnknownTopicError(name)
    return topic
  }

  /** The partition's log; UnknownTopicError / UnknownPartitionError when absent. */
  log(topic: string, partition: number): PartitionLogApi {
    const t = this.#get(topic)
    const log = Number.isInteger(partition) ? t.logs[partition] : undefined
    if (log === undefined) throw new UnknownPartitionError(topic, partition, t.logs.length)
    return log
  }

  /** Like `log`, but throws the partition's offline error (PartitionOfflineError) when it is offline. */
  onlineLog(topic: string, partition: number): PartitionLogApi {
    const log = this.log(topic, partition)
    if (log.offlineError !== null) throw log.offlineError
    return log
  }

  /** Every partition log of every topic (retention, close). */
  *allLogs(): Generator<{ topic: string; partition: number; log: PartitionLogApi }> {
    for (const t of [...this.#topics.values()]) {
      for (let partition = 0; partition < t.logs.length; partition++)
        yield { topic: t.name, partition, log: t.logs[partition]! }
    }
  }

  describe(name: string): TopicDescription {
    const t = this.#get(name)
    const partitions: PartitionDescription[] = t.logs.map((log, partition) => {
      const offline = log.offlineError
      // Unknown, not zero: a script summing record counts got 0 for a partition holding records (as describeGroup's
      // lag, -1 says the partition is offline).
      if (offline !== null)
        return {
          partition,
          logStartOffset: -1,
          logEndOffset: -1,
          sizeBytes: -1,
          segmentCount: -1,
          offline: offline.message,
        }
      return {
        partition,
        logStartOffset: log.logStartOffset,
        logEndOffset: log.logEndOffset,
        sizeBytes: log.sizeBytes,
        segmentCount: log.segmentCount,
        offline: null,
      }
    })
    return { name: t.name, internal: t.internal, config: t.config, partitions }
  }

  /** Topic created/deleted notifications; returns an unsubscribe function. */
  onTopicsChanged(listener: (change: TopicChange) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  #emit(change: TopicChange): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(change)
      } catch (err) {
        this.logger.error('topic change listener threw', { change, error: err })
      }
    }
  }

  /** Waits for a running create/delete to finish (close). */
  async settle(): Promise<void> {
    await this.#mutation
  }
}

export async function openTopicRegistry(
  storage: StorageApi,
  defaults: TopicConfig,
  logger: StorageLogger,
): Promise<TopicRegistry> {
  const registry = new TopicRegistry(storage, defaults, logger)
  await registry.load()
  return registry
}

/** True when `<dataDir>/topics/<topic>/topic.json` exists (tests and tools). */
export async function topicFileExists(dataDir: string, topic: string): Promise<boolean> {
  return stat(path.join(dataDir, 'topics', topic, TOPIC_FILE)).then(
    () => true,
    () => false,
  )
}

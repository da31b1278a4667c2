// Consumer-group state that outlives the broker: one file per group under `<dataDir>/groups/`, named by the SHA-256 of
// the group id (ids may be 255 characters of anything), holding the group's snapshot (group-state.ts) as JSON, and
// replaced atomically (temporary file, fsync, rename, directory fsync). Writes of one group are coalesced: while one
// is in flight, later snapshots wait and only the newest is written after it; `save` resolves once a snapshot at
// least as new as the one it was given is durable. A group with no members has its file removed. At open, leftover
// temporary files of a killed write are removed and every snapshot is read; one that cannot be read or parsed is
// logged and skipped (its members rejoin, as they would have before snapshots existed).
import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, rm } from 'node:fs/promises'
import path from 'node:path'
import { StorageError } from '../errors.js'
import type { StorageLogger } from '../storage/api.js'
import { fsyncDirAsync, writeFileAtomicAsync } from '../storage/atomic-file.js'

export const GROUPS_DIR = 'groups'
const SUFFIX = '.json'
/** Snapshot files read at open at most; more is not a state this broker wrote. */
const FILES_MAX = 100_000
/** A snapshot larger than this is not read (bounded memory at open). */
const FILE_BYTES_MAX = 64 * 1024 * 1024

interface GroupWrites {
  /** The newest snapshot handed to save(). */
  latest: string
  /** The snapshot durable on disk ('' when none or removed). */
  durable: string
  /** The write in flight, which writes `latest` as it was when it started. */
  inFlight: Promise<void> | null
  /** A write queued behind the one in flight (it takes `latest` when it starts). */
  next: Promise<void> | null
}

export class GroupSnapshots {
  readonly #dir: string
  readonly #groups = new Map<string, GroupWrites>()
  readonly #logger: StorageLogger | undefined

  private constructor(dir: string, logger: StorageLogger | undefined) {
    this.#dir = dir
    this.#logger = logger
  }

  /** Opens `<dataDir>/groups`, creating it, and returns the store with every readable snapshot (parsed JSON). */
  static async open(dataDir: string, logger?: StorageLogger): Promise<{ store: GroupSnapshots; snapshots: unknown[] }> {
    const dir = path.join(dataDir, GROUPS_DIR)
    await mkdir(dir, { recursive: true })
    await fsyncDirAsync(dataDir)
    const store = new GroupSnapshots(dir, logger)
    const snapshots: unknown[] = []
    const names = await readdir(dir)
    if (names.length > FILES_MAX)
      throw new StorageError(`${dir} holds ${names.length} entries, more than ${FILES_MAX} group snapshots`)
    for (const name of names) {
      const file = path.join(dir, name)
      if (name.endsWith('.tmp')) {
        await rm(file, { force: true }) // a write killed before its rename: the file it was replacing is intact
        continue
      }
      if (!name.endsWith(SUFFIX)) continue
      try {
        const text = await readFile(file, 'utf8')
        if (text.length > FILE_BYTES_MAX) throw new Error(`${text.length} bytes`)
        const parsed: unknown = JSON.parse(text)
        snapshots.push(parsed)
        const groupId = (parsed as { groupId?: unknown }).groupId
        if (typeof groupId === 'string' && fileNameOf(groupId) === name)
          store.#groups.set(groupId, { latest: text, durable: text, inFlight: null, next: null })
      } catch (err) {
        logger?.warn('group snapshot skipped', { file, error: String(err) })
      }
    }
    return { store, snapshots }
  }

  /** Makes `json` the group's durable snapshot ('' removes it); resolves once it (or a newer one) is durable. */
  save(groupId: string, json: string): Promise<void> {
    let w = this.#groups.get(groupId)
    if (w === undefined) {
      if (json === '') return Promise.resolve()
      w = { latest: '', durable: '', inFlight: null, next: null }
      this.#groups.set(groupId, w)
    }
    if (json === w.latest) {
      // Nothing new: wait for whatever still carries it to disk.
      return w.next ?? w.inFlight ?? Promise.resolve()
    }
    w.latest = json
    if (w.inFlight === null) return this.#start(groupId, w)
    w.next ??= w.inFlight
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        w.next = null
        return this.#start(groupId, w)
      })
    return w.next
  }

  /** Resolves once the newest snapshot handed to save() for this group is durable (at once when it already is). */
  pending(groupId: string): Promise<void> {
    const w = this.#groups.get(groupId)
    return w?.next ?? w?.inFlight ?? Promise.resolve()
  }

  /** The newest snapshot handed to save() for this group ('' when none). */
  latest(groupId: string): string {
    return this.#groups.get(groupId)?.latest ?? ''
  }

  /** Writes `w.latest` now; `w.inFlight` is that write until it settles. */
  #start(groupId: string, w: GroupWrites): Promise<void> {
    const write: Promise<void> = this.#write(groupId, w).finally(() => {
      if (w.inFlight === write) w.inFlight = null
      if (w.latest === '' && w.durable === '' && w.inFlight === null && w.next === null) this.#groups.delete(groupId)
    })
    w.inFlight = write
    return write
  }

  /** Resolves once every write started or queued so far has finished (either way). */
  async settled(): Promise<void> {
    // Bounded: one wait per group with a write pending.
    for (const w of [...this.#groups.values()]) await (w.next ?? w.inFlight)?.catch(() => undefined)
  }

  async #write(groupId: string, w: GroupWrites): Promise<void> {
    const json = w.latest
    const file = path.join(this.#dir, fileNameOf(groupId))
    try {
      if (json === w.durable) return
      if (json === '') {
        await rm(file, { force: true })
        await fsyncDirAsync(this.#dir)
      } else await writeFileAtomicAsync(file, json)
      w.durable = json
    } catch (err) {
      // The next save() of this group tries again (it will differ from `durable`).
      if (w.latest === json) w.latest = w.durable
      this.#logger?.warn('group snapshot not written', { groupId, error: String(err) })
      throw err
    }
  }
}

function fileNameOf(groupId: string): string {
  return createHash('sha256').update(groupId, 'utf8').digest('hex') + SUFFIX
}

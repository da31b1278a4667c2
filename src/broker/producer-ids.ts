// Hands out idempotent-producer ids that are never reused across restarts. Ids are reserved in blocks of
// PRODUCER_ID_BLOCK: `<dataDir>/producer-ids.json` holds the first id of the next unreserved block and is rewritten
// (tmp → fsync → rename → fsync dir) before any id of a new block is handed out, so a crash only skips ids.
// `firstIdThisRun` lets the sequence check tell producers from an earlier run (whose state may be lost) from new ones.
import { readdir, readFile, rename, rm } from 'node:fs/promises'
import path from 'node:path'
import { InvalidArgumentError, StorageError } from '../errors.js'
import { writeFileAtomicAsync as writeFileAtomic } from '../storage/atomic-file.js'

export const PRODUCER_ID_BLOCK = 1_000
export const FILE_NAME = 'producer-ids.json'
/** Ids per millisecond since 1970 that a damaged file's replacement start leaves room for. */
const DAMAGED_START_PER_MS = 1_000
const FILE_VERSION = 1

export class ProducerIdAllocator {
  #next: number
  #reservedEnd: number
  #reserving: Promise<void> | null = null

  private constructor(
    readonly file: string,
    readonly firstIdThisRun: number,
  ) {
    this.#next = firstIdThisRun
    this.#reservedEnd = firstIdThisRun
  }

  /**
   * `onDamaged`: told when the file exists but cannot be read. It is then kept as producer-ids.json.damaged, and ids
   * go on from a time-based start far above any id a sequential run can have handed out (Date.now() x 1000: more than
   * a thousand ids per millisecond since 1970), so none is ever reused. Before, one damaged file stopped the broker.
   */
  static async open(dataDir: string, onDamaged: (message: string) => void = () => {}): Promise<ProducerIdAllocator> {
    const file = path.join(dataDir, FILE_NAME)
    // Temporary files of a write killed before its rename (writeFileAtomicAsync names them .<file>.<pid>.tmp).
    for (const name of await readdir(dataDir))
      if (name.startsWith(`.${FILE_NAME}.`) && name.endsWith('.tmp'))
        await rm(path.join(dataDir, name), { force: true })
    let start = 0
    try {
      const parsed = JSON.parse(await readFile(file, 'utf8')) as { version?: unknown; nextBlockStart?: unknown }
      if (
        parsed.version !== FILE_VERSION ||
        !Number.isSafeInteger(parsed.nextBlockStart) ||
        (parsed.nextBlockStart as number) < 0
      )
        throw new Error(`not a version ${FILE_VERSION} producer id file`)
      start = parsed.nextBlockStart as number
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code
      if (code !== undefined && code !== 'ENOENT')
        throw new StorageError(`cannot read ${file}: ${(cause as Error).message}`, { cause }) // an I/O failure
      if (code === undefined) {
        start = Date.now() * DAMAGED_START_PER_MS
        await rename(file, `${file}.damaged`)
        onDamaged(
          `${file} could not be read (${(cause as Error).message}): kept as ${FILE_NAME}.damaged; producer ids go on ` +
            `from ${start}, above any handed out before`,
        )
      }
    }
    return new ProducerIdAllocator(file, start)
  }

  /** Every id below this may have been handed out (now or in an earlier run). */
  get issuedEnd(): number {
    return this.#reservedEnd
  }

  async next(): Promise<number> {
    while (this.#next >= this.#reservedEnd) {
      if (this.#reserving === null) {
        const end = this.#reservedEnd + PRODUCER_ID_BLOCK
        if (!Number.isSafeInteger(end)) throw new InvalidArgumentError('producer ids are exhausted')
        this.#reserving = writeFileAtomic(
          this.file,
          JSON.stringify({ version: FILE_VERSION, nextBlockStart: end }) + '\n',
        )
          .then(() => {
            this.#reservedEnd = end
          })
          .finally(() => {
            this.#reserving = null
          })
      }
      await this.#reserving
    }
    return this.#next++
  }
}

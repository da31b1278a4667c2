// Hands out idempotent-producer ids that are never reused across restarts. Ids are reserved in blocks of
// PRODUCER_ID_BLOCK: `<dataDir>/producer-ids.json` holds the first id of the next unreserved block and is rewritten
// (tmp → fsync → rename → fsync dir) before any id of a new block is handed out, so a crash only skips ids.
// `firstIdThisRun` lets the sequence check tell producers from an earlier run (whose state may be lost) from new ones.
import { readdir, readFile, rm } from 'node:fs/promises'
import path from 'node:path'
import { InvalidArgumentError, StorageError } from '../errors.js'
import { writeFileAtomicAsync as writeFileAtomic } from '../storage/atomic-file.js'

export const PRODUCER_ID_BLOCK = 1_000
export const FILE_NAME = 'producer-ids.json'
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

  static async open(dataDir: string): Promise<ProducerIdAllocator> {
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
      if ((cause as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new StorageError(`cannot read ${file}: ${(cause as Error).message}`, { cause })
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

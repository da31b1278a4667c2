// Failpoints: named places in the storage engine where a test can make the process kill itself with SIGKILL, to crash
// it between two steps of a durability protocol (written but not fsynced, fsynced but not acked, ...). They are armed
// only by the environment, read once at module load: `SLUICE_FAILPOINTS=name[:hitNumber],...` kills the process on the
// hitNumber-th hit (default 1) of that point, after appending `name hitNumber pid` to the file named by
// `SLUICE_FAILPOINT_LOG` (fsynced, so the test can count what fired). An unknown name or a bad hit number is refused at
// load with InvalidConfigError: a typo must never silently disarm a test. Unarmed, `failpoint()` is one boolean check.
import fs from 'node:fs'
import { InvalidConfigError } from '../errors.js'

/** Every failpoint, in the order a write goes through them (recovery last). */
export const FAILPOINT_NAMES = [
  /** A batch is written to the segment, not yet fsynced. */
  'write-fsync',
  /** A group-commit fdatasync returned; its waiters (acks) are not resolved yet. */
  'fsync-ack',
  /** A roll created the new segment's files; the directory is not fsynced yet. */
  'roll-dirsync',
  /** Index entries were written to an active segment's index file (every INDEX_WRITE_ENTRIES, and at a roll, checkpoint
   *  or close). */
  'index-write',
  /** An atomic small-file write (checkpoint, topic.json, producer ids) fsynced its temp file, not yet renamed. */
  'checkpoint-rename',
  /** Recovery re-validated a segment (a torn tail cut, indexes rebuilt in memory); recovery has not finished. */
  'recovery',
] as const

export type FailpointName = (typeof FAILPOINT_NAMES)[number]

export const FAILPOINTS_ENV = 'SLUICE_FAILPOINTS'
export const FAILPOINT_LOG_ENV = 'SLUICE_FAILPOINT_LOG'
/** Highest hit number accepted: a larger one would never fire in any run and is surely a mistake. */
export const FAILPOINT_HIT_MAX = 1_000_000_000

export interface FailpointSpec {
  name: FailpointName
  /** 1-based: the hit on which the process dies. */
  hitNumber: number
}

function isFailpointName(name: string): name is FailpointName {
  return (FAILPOINT_NAMES as readonly string[]).includes(name)
}

/** Parses `name[:hitNumber],...`; InvalidConfigError lists every problem (unknown names, bad numbers, repeats). */
export function parseFailpoints(text: string): FailpointSpec[] {
  const problems: string[] = []
  const specs: FailpointSpec[] = []
  for (const part of text.split(',')) {
    const item = part.trim()
    if (item.length === 0) {
      problems.push(`an empty entry in ${JSON.stringify(text)}`)
      continue
    }
    const [name = '', hit, ...rest] = item.split(':')
    const hitNumber = hit === undefined ? 1 : /^\d+$/.test(hit) ? Number(hit) : NaN
    if (!isFailpointName(name)) problems.push(`unknown failpoint ${JSON.stringify(name)}`)
    else if (specs.some((s) => s.name === name)) problems.push(`failpoint ${name} is named twice`)
    if (rest.length > 0 || !Number.isSafeInteger(hitNumber) || hitNumber < 1 || hitNumber > FAILPOINT_HIT_MAX)
      problems.push(`failpoint ${JSON.stringify(item)}: the hit number must be an integer in [1, ${FAILPOINT_HIT_MAX}]`)
    else if (isFailpointName(name)) specs.push({ name, hitNumber })
  }
  if (problems.length > 0)
    throw new InvalidConfigError([...problems, `known failpoints: ${FAILPOINT_NAMES.join(', ')}`], FAILPOINTS_ENV)
  return specs
}

/** Appends `name hitNumber pid` to `file` and fsyncs it, so the line survives the SIGKILL that follows. */
export function logFailpointHit(file: string, name: FailpointName, hitNumber: number): void {
  const fd = fs.openSync(file, 'a')
  try {
    fs.appendFileSync(fd, `${name} ${hitNumber} ${process.pid}\n`)
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

/** The armed failpoints of one process: counts hits of each armed point and calls `fire` on the chosen one. */
export class FailpointRegistry {
  #armed = new Map<FailpointName, { hitNumber: number; hits: number }>()

  constructor(
    specs: readonly FailpointSpec[],
    private readonly fire: (name: FailpointName, hitNumber: number) => void,
  ) {
    for (const s of specs) this.#armed.set(s.name, { hitNumber: s.hitNumber, hits: 0 })
  }

  /** Hits of `name` so far (0 for a point that is not armed: those are not counted). */
  hits(name: FailpointName): number {
    return this.#armed.get(name)?.hits ?? 0
  }

  hit(name: FailpointName): void {
    const point = this.#armed.get(name)
    if (point === undefined) return
    point.hits++
    if (point.hits === point.hitNumber) this.fire(name, point.hitNumber)
  }
}

/** The registry armed by the environment, or null (the normal case). */
export function failpointsFromEnv(env: NodeJS.ProcessEnv): FailpointRegistry | null {
  const text = env[FAILPOINTS_ENV]
  if (text === undefined || text === '') return null
  const logFile = env[FAILPOINT_LOG_ENV]
  return new FailpointRegistry(parseFailpoints(text), (name, hitNumber) => {
    if (logFile !== undefined && logFile !== '') logFailpointHit(logFile, name, hitNumber)
    fs.writeSync(2, `failpoint ${name} hit ${hitNumber}: SIGKILL (pid ${process.pid})\n`)
    process.kill(process.pid, 'SIGKILL')
  })
}

const registry = failpointsFromEnv(process.env)
const armed = registry !== null

/** Marks a failpoint; the process dies here when the environment armed this hit of it. */
export function failpoint(name: FailpointName): void {
  if (armed) registry!.hit(name)
}

// Client-side checks of caller input that the SDK can make before any request: topic names (Kafka's rule, DESIGN.md
// §11, the broker's own validator), partition numbers, offsets and timestamps. Each `check*` helper throws
// InvalidArgumentError naming the bad value.
import { LIMITS } from '../config/limits.js'
import { InvalidArgumentError } from '../errors.js'
import { validateTopicName } from '../topics/topic-name.js'

/** Throws InvalidArgumentError naming what is wrong with the topic name (Kafka's rule, shared with the broker). */
export function checkTopicName(name: unknown): asserts name is string {
  validateTopicName(name)
}

/** The own keys of `value` that are not in `known`: a misspelt option (`ofset`, `dryrun`, `partiton`) would otherwise
 *  be ignored and its default silently used. */
function unknownKeys(value: object, known: readonly string[]): string[] {
  return Object.keys(value).filter((key) => !known.includes(key))
}

/** One problem per unknown key of an options object, for an InvalidConfigError listing every problem. */
export function unknownOptionProblems(value: object, known: readonly string[]): string[] {
  return unknownKeys(value, known).map((key) => `unknown option "${key}" (known: ${known.join(', ')})`)
}

/** Throws InvalidArgumentError naming the first key of `value` that is not in `known`. */
export function checkKnownKeys(value: object, known: readonly string[], what: string): void {
  const [key] = unknownKeys(value, known)
  if (key !== undefined)
    throw new InvalidArgumentError(`${what} has an unknown key "${key}" (known: ${known.join(', ')})`)
}

export function isNonNegativeInt(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
}

export function checkPartition(partition: unknown, what = 'partition'): asserts partition is number {
  if (!isNonNegativeInt(partition) || partition >= LIMITS.partitionsMax)
    throw new InvalidArgumentError(
      `${what} must be an integer in [0, ${LIMITS.partitionsMax}), got ${String(partition)}`,
    )
}

export function checkOffset(offset: unknown, what = 'offset'): asserts offset is number {
  if (!isNonNegativeInt(offset))
    throw new InvalidArgumentError(`${what} must be a non-negative safe integer, got ${String(offset)}`)
}

/** A timestamp in ms since the epoch, as a number or a Date. */
export function toTimestamp(value: unknown, what: string): number {
  const ms = value instanceof Date ? value.getTime() : value
  if (typeof ms !== 'number' || !Number.isSafeInteger(ms) || ms < 0)
    throw new InvalidArgumentError(`${what} must be a valid Date or non-negative ms timestamp, got ${String(value)}`)
  return ms
}

export function tpKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`
}

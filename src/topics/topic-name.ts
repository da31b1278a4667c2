// Topic names follow Kafka's rule exactly: 1 to 249 characters of [a-zA-Z0-9._-], and neither "." nor "..". Because a
// name becomes a directory under <dataDir>/topics, this rule is also what keeps every topic path inside the data dir.
// Names that start with "__" are internal (the broker's own topics, such as __consumer_offsets): users may not create
// them, and listTopics hides them unless asked.
import { LIMITS } from '../config/limits.js'
import { InvalidArgumentError } from '../errors.js'

const LEGAL_CHARS = /^[a-zA-Z0-9._-]+$/
const INTERNAL_PREFIX = '__'

/** The internal topic that holds committed offsets (one partition, flush 'sync'). */
export const CONSUMER_OFFSETS_TOPIC = '__consumer_offsets'

/** Throws InvalidArgumentError naming what is wrong with `name`; returns it unchanged when legal. */
export function validateTopicName(name: unknown): string {
  if (typeof name !== 'string') throw new InvalidArgumentError(`topic name must be a string, got ${typeof name}`)
  if (name.length === 0) throw new InvalidArgumentError('topic name is empty')
  if (name.length > LIMITS.topicNameLengthMax)
    throw new InvalidArgumentError(
      `topic name is ${name.length} characters long; at most ${LIMITS.topicNameLengthMax} are allowed`,
    )
  if (name === '.' || name === '..') throw new InvalidArgumentError(`topic name may not be "${name}"`)
  if (!LEGAL_CHARS.test(name)) {
    const bad = [...new Set([...name].filter((c) => !LEGAL_CHARS.test(c)))]
    const shown = bad.map((c) => JSON.stringify(c)).join(', ')
    throw new InvalidArgumentError(
      `topic name "${name}" contains illegal character(s) ${shown}; only a-z, A-Z, 0-9, ".", "_" and "-" are allowed`,
    )
  }
  return name
}

/** True for the broker's own topics ("__" prefix). */
export function isInternalTopic(name: string): boolean {
  return name.startsWith(INTERNAL_PREFIX)
}

/** Validates a name a user wants to create: legal and not internal. */
export function validateUserTopicName(name: unknown): string {
  const legal = validateTopicName(name)
  if (isInternalTopic(legal))
    throw new InvalidArgumentError(
      `topic name "${legal}" starts with "${INTERNAL_PREFIX}", which is reserved for internal topics`,
    )
  return legal
}

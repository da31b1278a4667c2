// Shape checks for message bodies decoded at the server boundary. Each helper either returns the value with its
// TypeScript type or throws InvalidArgumentError naming the field path ("fetch.partitions[2].offset") and what was
// expected. Semantics (does the topic exist, is the name legal) stay with the broker; this only guarantees that what
// reaches it has the declared types, bounded array lengths and no unknown fields.
import { InvalidArgumentError } from '../errors.js'

export type Obj = Record<string, unknown>

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (Buffer.isBuffer(value)) return 'bytes'
  return typeof value === 'string' ? 'a string' : typeof value
}

function fail(path: string, expected: string, value: unknown): never {
  throw new InvalidArgumentError(`${path}: expected ${expected}, got ${describe(value)}`)
}

/** A plain object with no keys outside `allowed`. */
export function object(value: unknown, path: string, allowed: readonly string[]): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || Buffer.isBuffer(value)) {
    fail(path, 'an object', value)
  }
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw new InvalidArgumentError(`${path}: unknown field "${key}"`)
  }
  return value as Obj
}

export function string(o: Obj, key: string, path: string, lengthMax = 64 * 1024): string {
  const v = o[key]
  if (typeof v !== 'string') fail(`${path}.${key}`, 'a string', v)
  if (v.length > lengthMax) throw new InvalidArgumentError(`${path}.${key}: longer than ${lengthMax} characters`)
  return v
}

export function stringOrNull(o: Obj, key: string, path: string, lengthMax?: number): string | null {
  return o[key] === null ? null : string(o, key, path, lengthMax)
}

export function optionalString(o: Obj, key: string, path: string, lengthMax?: number): string | undefined {
  return o[key] === undefined ? undefined : string(o, key, path, lengthMax)
}

/** A safe integer in [min, max]. */
export function integer(
  o: Obj,
  key: string,
  path: string,
  min = Number.MIN_SAFE_INTEGER,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const v = o[key]
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) fail(`${path}.${key}`, 'an integer', v)
  if (v < min || v > max) throw new InvalidArgumentError(`${path}.${key}: ${v} is outside [${min}, ${max}]`)
  return v
}

export function optionalInteger(o: Obj, key: string, path: string, min?: number, max?: number): number | undefined {
  return o[key] === undefined ? undefined : integer(o, key, path, min, max)
}

export function boolean(o: Obj, key: string, path: string): boolean {
  const v = o[key]
  if (typeof v !== 'boolean') fail(`${path}.${key}`, 'a boolean', v)
  return v
}

export function bytes(o: Obj, key: string, path: string): Buffer {
  const v = o[key]
  if (!Buffer.isBuffer(v)) fail(`${path}.${key}`, 'bytes', v)
  return v
}

export function oneOf<T extends string | number>(o: Obj, key: string, path: string, values: readonly T[]): T {
  const v = o[key]
  if (!values.includes(v as T)) {
    throw new InvalidArgumentError(`${path}.${key}: expected one of ${values.map((x) => JSON.stringify(x)).join(', ')}`)
  }
  return v as T
}

/** An array of at most `lengthMax` items, each checked by `item`. */
export function array<T>(
  o: Obj,
  key: string,
  path: string,
  lengthMax: number,
  item: (value: unknown, path: string) => T,
): T[] {
  const v = o[key]
  if (!Array.isArray(v)) fail(`${path}.${key}`, 'an array', v)
  if (v.length > lengthMax) throw new InvalidArgumentError(`${path}.${key}: more than ${lengthMax} items`)
  return v.map((x, i) => item(x, `${path}.${key}[${i}]`))
}

export function optionalArray<T>(
  o: Obj,
  key: string,
  path: string,
  lengthMax: number,
  item: (value: unknown, path: string) => T,
): T[] | undefined {
  return o[key] === undefined ? undefined : array(o, key, path, lengthMax, item)
}

export function arrayOrNull<T>(
  o: Obj,
  key: string,
  path: string,
  lengthMax: number,
  item: (value: unknown, path: string) => T,
): T[] | null {
  return o[key] === null ? null : array(o, key, path, lengthMax, item)
}

export function stringItem(lengthMax = 64 * 1024): (value: unknown, path: string) => string {
  return (value, path) => {
    if (typeof value !== 'string') fail(path, 'a string', value)
    if (value.length > lengthMax) throw new InvalidArgumentError(`${path}: longer than ${lengthMax} characters`)
    return value
  }
}

export function integerItem(min: number, max: number): (value: unknown, path: string) => number {
  return (value, path) => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) fail(path, 'an integer', value)
    if (value < min || value > max) throw new InvalidArgumentError(`${path}: ${value} is outside [${min}, ${max}]`)
    return value
  }
}

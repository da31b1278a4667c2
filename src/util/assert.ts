// Assertions for programmer errors: a failed one means the code is wrong, not the input. They throw an
// AssertionError that is never mapped to a wire error code (it surfaces as INTERNAL and should crash tests).

export class AssertionError extends Error {
  override name = 'AssertionError'
}

export function assert(condition: unknown, message = 'assertion failed'): asserts condition {
  if (!condition) throw new AssertionError(message)
}

export function unreachable(value: never, message = 'unreachable'): never {
  throw new AssertionError(`${message}: ${String(value)}`)
}

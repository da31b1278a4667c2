// Regular expressions from clients (consumer group subscriptions), compiled for V8's linear-time engine: a pattern
// such as ^(a+)+$ against a 40-character topic name takes hours with the backtracking engine, on the event loop,
// for every partition of the broker; with this one, time linear in pattern times input. The engine is V8's (the 'l'
// flag), enabled once per process with --enable-experimental-regexp-engine, which only makes that flag available:
// every other RegExp is compiled as before. It refuses what it cannot run in linear time (backreferences,
// lookaround), as Kafka's broker refuses what RE2 cannot run. Should a Node build lack the engine, patterns compile
// with the backtracking one, and only their length bounds the damage.
import v8 from 'node:v8'

/** V8's flag for its linear-time engine (a variable: linters know only the standard flags). */
const LINEAR_FLAG = 'l'

function probeLinearEngine(): boolean {
  try {
    v8.setFlagsFromString('--enable-experimental-regexp-engine')
    return new RegExp('^(a+)+$', LINEAR_FLAG).test('aa')
  } catch {
    return false
  }
}

/** Whether patterns compile for the linear-time engine, probed (and the V8 flag set) on first use only: a process that
 *  imports the SDK but never subscribes by pattern keeps its V8 flags as they were. */
let linearEngine: boolean | null = null

/** True when `source` is a valid pattern for the ordinary (backtracking) engine. */
export function isValidRegExp(source: string): boolean {
  try {
    new RegExp(source)
    return true
  } catch {
    return false
  }
}

/** `source` compiled for linear-time matching; throws SyntaxError for a pattern that is invalid or needs
 *  backtracking (backreferences, lookahead, lookbehind). */
export function linearRegExp(source: string): RegExp {
  linearEngine ??= probeLinearEngine()
  return new RegExp(source, linearEngine ? LINEAR_FLAG : '')
}

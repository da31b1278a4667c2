// The fs call catalogue of the simulated power cut (test-only): which node:fs calls only look (passed through, EIO
// once the disk is frozen), how open flags and path arguments are read, the errors the layer raises, and the loop that
// replaces every function of a module table: modeled calls go to their handler, look-only calls to the original, and
// any other call on the simulated disk throws, so nothing reaches the disk untracked.
import fs from 'node:fs'
import path from 'node:path'

export type AnyFn = (...args: unknown[]) => unknown
export type FsTable = Record<string, unknown>

export const { O_CREAT, O_TRUNC, O_APPEND, O_WRONLY, O_RDWR } = fs.constants
/** The access-mode bits (fs.constants has no O_ACCMODE). */
export const O_ACCMODE = O_WRONLY | O_RDWR

/** Calls that only look: passed through (they fail with EIO on the tree once it is frozen). */
const READ_CALLS = new Set([
  'access',
  'accessSync',
  'exists',
  'existsSync',
  'fstat',
  'fstatSync',
  'lstat',
  'lstatSync',
  'stat',
  'statSync',
  'statfs',
  'statfsSync',
  'read',
  'readSync',
  'readv',
  'readvSync',
  'readdir',
  'readdirSync',
  'readFile',
  'readFileSync',
  'readlink',
  'readlinkSync',
  'realpath',
  'realpathSync',
  'opendir',
  'opendirSync',
  'createReadStream',
  'watch',
  'watchFile',
  'unwatchFile',
])

const STRING_FLAGS: Record<string, number> = {
  r: fs.constants.O_RDONLY,
  'r+': O_RDWR,
  w: O_TRUNC | O_CREAT | O_WRONLY,
  wx: O_TRUNC | O_CREAT | O_WRONLY | fs.constants.O_EXCL,
  'w+': O_TRUNC | O_CREAT | O_RDWR,
  a: O_APPEND | O_CREAT | O_WRONLY,
  ax: O_APPEND | O_CREAT | O_WRONLY | fs.constants.O_EXCL,
  'a+': O_APPEND | O_CREAT | O_RDWR,
}

export interface OpenFile {
  path: string
  isDir: boolean
  append: boolean
  writable: boolean
  /** The file offset of non-positional writes (the model cannot ask the kernel). */
  offset: number
}

export function eio(what: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`EIO: simulated power cut, ${what}`)
  err.code = 'EIO'
  err.errno = -5
  return err
}

export function unmodeled(name: string): Error {
  return new Error(
    `power-cut-fs: fs.${name} on the simulated disk is not modeled; add it to src/testing/power-cut-fs.ts`,
  )
}

export function toFlags(flags: unknown): number {
  if (flags === undefined || flags === null) return fs.constants.O_RDONLY
  if (typeof flags === 'number') return flags
  const n = STRING_FLAGS[String(flags)]
  if (n === undefined) throw new Error(`power-cut-fs: open flags ${String(flags)} are not modeled`)
  return n
}

export function asPath(p: unknown): string | null {
  if (typeof p === 'string') return path.resolve(p)
  if (Buffer.isBuffer(p)) return path.resolve(p.toString())
  if (p instanceof URL) return path.resolve(p.pathname)
  return null
}

/** What the patch loop needs from the layer. */
export interface PatchHooks {
  /** Wraps a replacement so calls Node makes from inside a patched call go straight to the original. */
  entry(original: AnyFn, fn: AnyFn): AnyFn
  /** Runs before a modeled call (an armed cut throws from here). */
  beforeModeled(name: string, args: unknown[]): void
  /** True when the disk is frozen. */
  frozen(): boolean
  /** True for a path under the tree or an fd the layer knows. */
  isTracked(arg: unknown): boolean
  /** Replaces `table[name]`, remembering the original for uninstall. */
  set(table: FsTable, name: string, value: AnyFn): void
}

/** Replaces every function of `table` (node:fs or node:fs/promises): see the header. */
export function patchTable(
  table: FsTable,
  handlers: Record<string, AnyFn>,
  promised: boolean,
  hooks: PatchHooks,
): void {
  const fail = (err: Error): Promise<never> => {
    if (promised) return Promise.reject(err)
    throw err
  }
  for (const name of Object.keys(table)) {
    if (name === 'promises' || name === 'constants') continue
    const value = table[name]
    if (typeof value !== 'function' || /^[A-Z]/.test(name)) continue
    const original = value as AnyFn
    const handler = handlers[name]
    if (handler !== undefined)
      hooks.set(
        table,
        name,
        hooks.entry(original, (...args) => {
          try {
            hooks.beforeModeled(name, args)
          } catch (err) {
            return fail(err as Error)
          }
          return handler(...args)
        }),
      )
    else if (READ_CALLS.has(name))
      hooks.set(
        table,
        name,
        hooks.entry(original, (...args) => {
          if (!hooks.frozen() || !hooks.isTracked(args[0])) return original(...args)
          if (name === 'existsSync') return false
          return fail(eio(`${name} ${String(args[0])}`))
        }),
      )
    else
      hooks.set(
        table,
        name,
        hooks.entry(original, (...args) => {
          if (hooks.isTracked(args[0]) || hooks.isTracked(args[1])) return fail(unmodeled(name))
          return original(...args)
        }),
      )
  }
}

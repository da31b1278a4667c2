// A simulated power cut for one directory tree (test-only; reliability rows D3/D4). `PowerCutFs.install(root)`
// monkeypatches the `node:fs` and `node:fs/promises` module objects (and re-syncs named ESM imports) so every call on a
// path or fd under `root` is recorded in a PowerCutDisk model; `cut()` freezes the tree (every later call on it fails
// with EIO) and rewrites it to what a disk would hold after losing power: only fsynced bytes, only directory entries
// whose directory was fsynced. fsyncs are bookkeeping only (nothing really reaches the platter; the model decides).
// Any fs call on the tree the model does not understand throws, so nothing is ever silently untracked (the call
// catalogue is power-cut-calls.ts). Worker threads are not patched: they only read (segment verification).
import fs from 'node:fs'
import { syncBuiltinESMExports } from 'node:module'
import path from 'node:path'
import { assert } from '../util/assert.js'
import {
  O_ACCMODE,
  O_APPEND,
  O_TRUNC,
  asPath,
  eio,
  patchTable,
  toFlags,
  unmodeled,
  type AnyFn,
  type FsTable,
  type OpenFile,
} from './power-cut-calls.js'
import { PowerCutDisk, captureRawFs, type CutOptions, type CutReport, type RawFs } from './power-cut-disk.js'

export type { CutOptions, CutReport } from './power-cut-disk.js'

/** Counts of the calls the layer recorded (figures for the reports). */
export interface PowerCutStats {
  writes: number
  fileSyncs: number
  dirSyncs: number
  creates: number
  removes: number
  renames: number
  cuts: number
}

let installed: PowerCutFs | null = null

export class PowerCutFs {
  readonly disk: PowerCutDisk
  readonly stats: PowerCutStats = { writes: 0, fileSyncs: 0, dirSyncs: 0, creates: 0, removes: 0, renames: 0, cuts: 0 }
  #raw: RawFs
  #fds = new Map<number, OpenFile>()
  /** fds the cut closed: calls on them fail until a new open reuses the number. */
  #deadFds = new Set<number>()
  #handles = new Set<fs.promises.FileHandle>()
  #frozen = false
  /** Bumped by each cut: an fsync started before it completes with EIO. */
  #generation = 0
  #depth = 0
  /** Modeled calls left before an armed cut (0: none armed). */
  #callsToCut = 0
  #armedOptions: CutOptions = {}
  /** The report of the latest cut, armed or not. */
  lastCut: CutReport | null = null
  /** When the latest cut happened (performance.now()). */
  lastCutAtMs = -1
  /** How long a callback fsync takes, in ms (a real fdatasync is not instant); null: the next turn. */
  fsyncLatencyMs: (() => number) | null = null
  /** Called when an fsync of a file under the tree completes, with when it started (performance.now()). */
  onFileSync: ((file: string, startedAtMs: number) => void) | null = null
  #saved: Array<{ table: FsTable; name: string; value: unknown }> = []

  private constructor(root: string) {
    this.#raw = captureRawFs()
    this.disk = new PowerCutDisk(root, this.#raw)
  }

  get root(): string {
    return this.disk.root
  }

  get frozen(): boolean {
    return this.#frozen
  }

  /** Patches node:fs for `root` (created when missing; what it holds now counts as durable). One at a time. */
  static install(root: string): PowerCutFs {
    assert(installed === null, 'a power-cut fs is already installed')
    const layer = new PowerCutFs(root)
    layer.#patch()
    installed = layer
    return layer
  }

  /** Restores node:fs and removes the side directory. */
  uninstall(): void {
    if (installed !== this) return
    for (const { table, name, value } of this.#saved.reverse()) table[name] = value
    this.#saved = []
    syncBuiltinESMExports()
    installed = null
    this.#closeAll()
    this.disk.dispose()
  }

  /**
   * The power goes off: the tree is frozen (every call on it fails with EIO, open fds are closed) and rewritten to
   * its durable image. `resume()` lets a new process image (a new broker instance) use it again.
   */
  cut(options: CutOptions = {}): CutReport {
    this.#callsToCut = 0
    this.lastCutAtMs = performance.now()
    this.#frozen = true
    this.#generation++
    this.stats.cuts++
    this.#depth++ // Node's own recursive rm calls the patched exports: let them through
    try {
      this.#closeAll()
      this.lastCut = this.disk.cut(options)
      return this.lastCut
    } finally {
      this.#depth--
    }
  }

  /**
   * Cuts the power in the middle of the `calls`-th modeled call from now (opens, writes, truncates, fsyncs, renames,
   * removes, mkdirs): that call fails with EIO after the cut, like every later one. Lands inside synchronous
   * sequences (a segment roll, a checkpoint write) that a cut from a timer can never split.
   */
  armCut(calls: number, options: CutOptions = {}): void {
    assert(Number.isSafeInteger(calls) && calls > 0, 'armCut needs a positive call count')
    this.#callsToCut = calls
    this.#armedOptions = options
  }

  #tick(name: string, args: unknown[]): void {
    if (this.#callsToCut === 0 || this.#frozen || !this.#isTrackedArg(args[0])) return
    if (--this.#callsToCut > 0) return
    this.cut(this.#armedOptions)
    throw eio(`${name} (the armed cut)`)
  }

  /** Unfreezes the tree after a cut (the previous instance must be gone: its fds are dead). */
  resume(): void {
    this.#frozen = false
    this.#deadFds.clear() // their numbers may now belong to anyone (vitest, sockets): no longer ours to refuse
  }

  #closeAll(): void {
    const handleFds = new Set([...this.#handles].map((h) => h.fd))
    for (const fd of this.#fds.keys()) {
      this.#deadFds.add(fd)
      if (handleFds.has(fd)) continue // closed below through the handle, which owns the number until then
      try {
        this.#raw.closeSync(fd)
      } catch {
        // already closed
      }
    }
    this.#fds.clear()
    for (const handle of [...this.#handles]) handle.close().catch(() => undefined)
  }

  // ---- helpers ----------------------------------------------------------------------------------------------

  #tracked(p: unknown): string | null {
    const abs = asPath(p)
    return abs !== null && this.disk.tracks(abs) ? abs : null
  }

  /** The open file of a tracked fd; throws EIO when frozen or dead; null for fds outside the tree. */
  #file(fd: unknown, what: string): OpenFile | null {
    if (typeof fd !== 'number') return null
    const file = this.#fds.get(fd)
    if (file === undefined) {
      if (this.#deadFds.has(fd)) throw eio(`${what} on an fd closed by the cut`)
      return null
    }
    if (this.#frozen) throw eio(`${what} ${file.path}`)
    return file
  }

  #checkPath(p: unknown, what: string): string | null {
    const abs = this.#tracked(p)
    if (abs !== null && this.#frozen) throw eio(`${what} ${abs}`)
    return abs
  }

  #isTrackedArg(arg: unknown): boolean {
    if (typeof arg === 'number') return this.#fds.has(arg) || this.#deadFds.has(arg)
    return this.#tracked(arg) !== null
  }

  // ---- modeled calls ----------------------------------------------------------------------------------------

  #openSync(p: string, flagsArg: unknown, mode: unknown): number {
    const flags = toFlags(flagsArg)
    const before = this.#exists(p)
    const writable = (flags & O_ACCMODE) !== fs.constants.O_RDONLY
    if (before !== null && before.isFile() && writable && (flags & O_TRUNC) !== 0) this.disk.willTruncate(p, 0)
    const fd = this.#raw.openSync(p, flags, mode as fs.Mode | undefined)
    this.#deadFds.delete(fd)
    if (before === null) {
      this.disk.created(p, true)
      this.stats.creates++
    }
    this.#fds.set(fd, {
      path: p,
      isDir: before?.isDirectory() ?? false,
      append: (flags & O_APPEND) !== 0,
      writable,
      offset: 0,
    })
    return fd
  }

  #exists(p: string): fs.Stats | null {
    try {
      return this.#raw.lstatSync(p)
    } catch {
      return null
    }
  }

  /** Where a write of `length` bytes lands; records the overwrite. */
  #beforeWrite(file: OpenFile, fd: number, length: number, position: unknown): number {
    assert(!file.isDir, 'write to a directory fd')
    let at: number
    if (file.append) at = this.#raw.fstatSync(fd).size
    else if (typeof position === 'number' && position >= 0) at = position
    else at = file.offset
    this.disk.willWrite(file.path, at, length)
    this.stats.writes++
    return at
  }

  #writeSync(fd: number, args: unknown[]): number {
    const file = this.#file(fd, 'write')
    const raw = this.#raw.writeSync as unknown as AnyFn
    if (file === null) return raw(fd, ...args) as number
    const [data, a, b, c] = args
    let length: number
    let position: unknown
    if (typeof data === 'string') {
      length = Buffer.byteLength(data, typeof b === 'string' ? (b as BufferEncoding) : 'utf8')
      position = a
    } else if (ArrayBuffer.isView(data)) {
      if (typeof a === 'object' && a !== null) {
        const o = a as { offset?: number; length?: number; position?: number | null }
        length = o.length ?? data.byteLength - (o.offset ?? 0)
        position = o.position
      } else {
        length = typeof b === 'number' ? b : data.byteLength - (typeof a === 'number' ? a : 0)
        position = c
      }
    } else throw unmodeled('writeSync with this data')
    const positional = typeof position === 'number' && position >= 0
    this.#beforeWrite(file, fd, length, position)
    const n = raw(fd, ...args) as number
    if (!positional && !file.append) file.offset += n
    return n
  }

  /** writeFileSync through the modeled primitives (Node's own fast paths would bypass them). */
  #writeFileSync(target: unknown, data: unknown, options: unknown): void {
    const encoding =
      typeof options === 'string'
        ? (options as BufferEncoding)
        : ((options as { encoding?: BufferEncoding } | undefined)?.encoding ?? 'utf8')
    const flag = typeof options === 'object' && options !== null ? (options as { flag?: string }).flag : undefined
    const bytes = typeof data === 'string' ? Buffer.from(data, encoding) : Buffer.from(data as Uint8Array)
    const ownFd = typeof target !== 'number'
    const fd = ownFd ? this.#openSync(this.#tracked(target)!, flag ?? 'w', 0o666) : (target as number)
    try {
      let done = 0
      // Each turn writes at least one byte (writeSync throws otherwise).
      while (done < bytes.length) done += this.#writeSync(fd, [bytes, done, bytes.length - done])
    } finally {
      if (ownFd) this.#closeSync(fd)
    }
  }

  #closeSync(fd: number): void {
    const file = this.#file(fd, 'close')
    if (file !== null) this.#fds.delete(fd)
    this.#raw.closeSync(fd)
  }

  #ftruncateSync(fd: number, len: unknown): void {
    const file = this.#file(fd, 'ftruncate')
    const size = typeof len === 'number' ? len : 0
    if (file !== null) this.disk.willTruncate(file.path, size)
    this.#raw.ftruncateSync(fd, size)
  }

  /** The bookkeeping of an fsync/fdatasync; `size` is the file's size when it started. */
  #synced(file: OpenFile, size: number, startedAtMs: number, startSeq: number): void {
    if (file.isDir) {
      this.disk.dirSynced(file.path)
      this.stats.dirSyncs++
    } else {
      this.disk.fileSynced(file.path, size, startSeq)
      this.stats.fileSyncs++
      this.onFileSync?.(file.path, startedAtMs)
    }
  }

  #syncSync(fd: number, original: AnyFn): void {
    const file = this.#file(fd, 'fsync')
    if (file === null) {
      original(fd)
      return
    }
    this.#synced(file, file.isDir ? 0 : this.#raw.fstatSync(fd).size, performance.now(), this.disk.syncStarted())
  }

  /** Callback fsync/fdatasync: completes on the next turn, with EIO if a cut came first. */
  #syncAsync(fd: number, cb: unknown, original: AnyFn): void {
    const done = cb as (err: NodeJS.ErrnoException | null) => void
    let file: OpenFile | null
    try {
      file = this.#file(fd, 'fsync')
    } catch (err) {
      setImmediate(() => done(err as NodeJS.ErrnoException))
      return
    }
    if (file === null) {
      original(fd, cb)
      return
    }
    const started = this.#generation
    const startedAtMs = performance.now()
    const startSeq = this.disk.syncStarted()
    const size = file.isDir ? 0 : this.#raw.fstatSync(fd).size
    const f = file
    const complete = (): void => {
      if (started !== this.#generation || this.#frozen) return done(eio(`fsync ${f.path}`))
      this.#synced(f, size, startedAtMs, startSeq)
      done(null)
    }
    const latencyMs = this.fsyncLatencyMs?.() ?? 0
    if (latencyMs > 0) setTimeout(complete, latencyMs)
    else setImmediate(complete)
  }

  #renameSync(from: string, to: string): void {
    if (path.dirname(from) !== path.dirname(to)) throw unmodeled('rename across directories')
    if (this.#exists(from) === null) {
      this.#raw.renameSync(from, to) // fails as the real call would
      return
    }
    this.disk.rename(from, to)
    for (const file of this.#fds.values()) if (file.path === from) file.path = to
    this.stats.renames++
  }

  #rmSync(p: string, options: unknown): void {
    const st = this.#exists(p)
    const o = (options ?? {}) as { force?: boolean; recursive?: boolean }
    if (st === null || (st.isDirectory() && o.recursive !== true)) {
      this.#raw.rmSync(p, o) // a no-op with force, else the real error
      return
    }
    this.disk.remove(p)
    this.stats.removes++
  }

  #mkdirSync(p: string, options: unknown): string | undefined {
    const recursive = typeof options === 'object' && options !== null && (options as { recursive?: boolean }).recursive
    const missing: string[] = []
    for (let dir = p; this.disk.tracks(dir) && this.#exists(dir) === null; dir = path.dirname(dir)) {
      missing.unshift(dir)
      if (recursive !== true) break
    }
    const result = this.#raw.mkdirSync(p, options as fs.MakeDirectoryOptions)
    for (const dir of missing) {
      this.disk.created(dir, false)
      this.stats.creates++
    }
    return result
  }

  // ---- FileHandle ---------------------------------------------------------------------------------------------

  #wrapHandle(handle: fs.promises.FileHandle, p: string, flagsArg: unknown): fs.promises.FileHandle {
    const flags = toFlags(flagsArg)
    const fd = handle.fd
    this.#deadFds.delete(fd)
    const st = this.#exists(p)
    const file: OpenFile = {
      path: p,
      isDir: st?.isDirectory() ?? false,
      append: (flags & O_APPEND) !== 0,
      writable: (flags & O_ACCMODE) !== fs.constants.O_RDONLY,
      offset: 0,
    }
    this.#fds.set(fd, file)
    this.#handles.add(handle)
    const h = handle as unknown as Record<string, AnyFn>
    const original = (name: string): AnyFn => (h[name] as AnyFn).bind(handle)
    const closeOriginal = original('close')
    const writeFileOriginal = original('writeFile')
    const live = (what: string): void => {
      if (!this.#fds.has(fd) || this.#fds.get(fd) !== file) throw eio(`${what} on a handle closed by the cut`)
      if (this.#frozen) throw eio(`${what} ${file.path}`)
    }
    const guard =
      (what: string, fn: AnyFn): AnyFn =>
      async (...args: unknown[]) => {
        live(what)
        return fn(...args)
      }
    h.writeFile = guard('writeFile', async (data: unknown, options: unknown) => {
      const bytes = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data as Uint8Array)
      this.#beforeWrite(file, fd, bytes.length, undefined)
      await writeFileOriginal(bytes, options)
      if (!file.append) file.offset += bytes.length
    })
    const sync = guard('sync', async () =>
      this.#synced(file, file.isDir ? 0 : this.#raw.fstatSync(fd).size, performance.now(), this.disk.syncStarted()),
    )
    h.sync = sync
    h.datasync = sync
    for (const name of ['read', 'stat', 'readFile'] as const) h[name] = guard(name, original(name))
    for (const name of ['write', 'writev', 'truncate', 'appendFile', 'chmod', 'chown', 'utimes'])
      h[name] = async () => {
        throw unmodeled(`FileHandle.${name}`)
      }
    h.close = async () => {
      if (this.#fds.get(fd) === file) this.#fds.delete(fd)
      if (!this.#handles.delete(handle)) return
      await closeOriginal()
    }
    return handle
  }

  // ---- patching -----------------------------------------------------------------------------------------------

  #set(table: FsTable, name: string, value: unknown): void {
    this.#saved.push({ table, name, value: table[name] })
    table[name] = value
  }

  /** Runs `fn` for calls from outside; calls Node makes from inside a patched call go straight to the original. */
  #entry(original: AnyFn, fn: AnyFn): AnyFn {
    const wrapper = (...args: unknown[]): unknown => {
      if (this.#depth > 0) return original(...args)
      this.#depth++
      try {
        return fn(...args)
      } finally {
        this.#depth--
      }
    }
    Object.assign(wrapper, original)
    return wrapper
  }

  #patch(): void {
    const sync = fs as unknown as FsTable
    const prom = fs.promises as unknown as FsTable
    const orig = (table: FsTable, name: string): AnyFn => table[name] as AnyFn
    const modeled: Record<string, AnyFn> = {
      openSync: (p, flags, mode) => {
        const abs = this.#checkPath(p, 'open')
        if (abs !== null) return this.#openSync(abs, flags, mode)
        const fd = orig(sync, 'openSync')(p, flags, mode) as number
        this.#deadFds.delete(fd)
        return fd
      },
      closeSync: (fd) => this.#closeSync(fd as number),
      writeSync: (fd, ...args) => this.#writeSync(fd as number, args),
      writeFileSync: (target, data, options) => {
        const tracked =
          typeof target === 'number'
            ? this.#file(target, 'writeFile') !== null
            : this.#checkPath(target, 'writeFile') !== null
        if (!tracked) return orig(sync, 'writeFileSync')(target, data, options)
        return this.#writeFileSync(target, data, options)
      },
      ftruncateSync: (fd, len) => this.#ftruncateSync(fd as number, len),
      fsyncSync: (fd) => this.#syncSync(fd as number, orig(sync, 'fsyncSync')),
      fdatasyncSync: (fd) => this.#syncSync(fd as number, orig(sync, 'fdatasyncSync')),
      fsync: (fd, cb) => this.#syncAsync(fd as number, cb, orig(sync, 'fsync')),
      fdatasync: (fd, cb) => this.#syncAsync(fd as number, cb, orig(sync, 'fdatasync')),
      renameSync: (from, to) => {
        const a = this.#checkPath(from, 'rename')
        const b = this.#checkPath(to, 'rename')
        if (a === null && b === null) return orig(sync, 'renameSync')(from, to)
        if (a === null || b === null) throw unmodeled('rename into or out of the tree')
        return this.#renameSync(a, b)
      },
      rmSync: (p, options) => {
        const abs = this.#checkPath(p, 'rm')
        return abs === null ? orig(sync, 'rmSync')(p, options) : this.#rmSync(abs, options)
      },
      unlinkSync: (p) => {
        const abs = this.#checkPath(p, 'unlink')
        return abs === null ? orig(sync, 'unlinkSync')(p) : this.#rmSync(abs, {})
      },
      mkdirSync: (p, options) => {
        const abs = this.#checkPath(p, 'mkdir')
        return abs === null ? orig(sync, 'mkdirSync')(p, options) : this.#mkdirSync(abs, options)
      },
    }
    const promised: Record<string, AnyFn> = {
      open: async (p, flags, mode) => {
        const abs = this.#checkPath(p, 'open')
        if (abs === null) return orig(prom, 'open')(p, flags, mode)
        const before = this.#exists(abs)
        const flagBits = toFlags(flags)
        if (before !== null && before.isFile() && (flagBits & O_TRUNC) !== 0) this.disk.willTruncate(abs, 0)
        const handle = (await orig(prom, 'open')(p, flags, mode)) as fs.promises.FileHandle
        if (before === null) {
          this.disk.created(abs, true)
          this.stats.creates++
        }
        return this.#wrapHandle(handle, abs, flags)
      },
      rename: async (from, to) => modeled.renameSync!(from, to),
      rm: async (p, options) => modeled.rmSync!(p, options),
      unlink: async (p) => modeled.unlinkSync!(p),
      mkdir: async (p, options) => modeled.mkdirSync!(p, options),
    }
    const hooks = {
      entry: (original: AnyFn, fn: AnyFn) => this.#entry(original, fn),
      beforeModeled: (name: string, args: unknown[]) => this.#tick(name, args),
      frozen: () => this.#frozen,
      isTracked: (arg: unknown) => this.#isTrackedArg(arg),
      set: (table: FsTable, name: string, value: AnyFn) => this.#set(table, name, value),
    }
    patchTable(sync, modeled, false, hooks)
    patchTable(prom, promised, true, hooks)
    syncBuiltinESMExports()
  }
}

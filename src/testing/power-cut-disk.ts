// The model behind the simulated power cut (test-only): what of a directory tree a disk would still hold if the power
// went off now. Per file: the size at its last fsync and an undo log of older bytes overwritten or truncated away
// since then. Per directory: the entry changes (create, unlink, rename) not yet made durable by an fsync of that
// directory, in one global order; an unlinked or replaced file is kept under a hidden side directory (same file
// system, outside the tree) so a cut can bring it back. `cut()` rewrites the real files to that durable image.
// Invariant: a path with no FileState holds exactly its durable bytes; every pending entry change has an undo.
import fs from 'node:fs'
import path from 'node:path'
import type { Random } from './random.js'

const ZERO_TAIL_BYTES_MAX = 4096
const GARBAGE_TAIL_BYTES_MAX = 300

interface FileState {
  durableSize: number
  /** Older bytes of the durable region, in the order they were overwritten (applied in reverse at a cut). */
  undo: Array<{ position: number; bytes: Buffer; seq: number }>
  /** The start sequence of the latest fsync applied: an older one finishing later changes nothing. */
  syncedSeq: number
}

type EntryOp =
  | { kind: 'create'; dir: string; path: string }
  | { kind: 'unlink'; dir: string; path: string; stash: string }
  | { kind: 'rename'; dir: string; from: string; to: string; stash: string | null }

export interface CutOptions {
  /** Keep a random prefix of each file's unsynced appended bytes, sometimes followed by zeros or garbage. */
  tornTail?: boolean
  random?: Random
}

/** What a cut undid (figures for the reports). */
export interface CutReport {
  filesRolledBack: number
  bytesDropped: number
  tornBytesKept: number
  junkBytesAdded: number
  overwritesUndone: number
  createsReverted: number
  unlinksReverted: number
  renamesReverted: number
}

/** The originals of the fs calls the model itself makes (never the patched ones). */
export interface RawFs {
  openSync: typeof fs.openSync
  closeSync: typeof fs.closeSync
  readSync: typeof fs.readSync
  writeSync: typeof fs.writeSync
  ftruncateSync: typeof fs.ftruncateSync
  fstatSync: typeof fs.fstatSync
  lstatSync: typeof fs.lstatSync
  renameSync: typeof fs.renameSync
  rmSync: typeof fs.rmSync
  mkdirSync: typeof fs.mkdirSync
}

export function captureRawFs(): RawFs {
  return {
    openSync: fs.openSync,
    closeSync: fs.closeSync,
    readSync: fs.readSync,
    writeSync: fs.writeSync,
    ftruncateSync: fs.ftruncateSync,
    fstatSync: fs.fstatSync,
    lstatSync: fs.lstatSync,
    renameSync: fs.renameSync,
    rmSync: fs.rmSync,
    mkdirSync: fs.mkdirSync,
  }
}

export class PowerCutDisk {
  readonly root: string
  readonly sideDir: string
  #files = new Map<string, FileState>()
  #pending: EntryOp[] = []
  #stashes = 0
  /** Orders recorded changes and fsync starts. */
  #seq = 0

  constructor(
    root: string,
    readonly raw: RawFs,
  ) {
    this.root = path.resolve(root)
    this.sideDir = path.join(path.dirname(this.root), `.power-cut-${path.basename(this.root)}`)
    raw.mkdirSync(this.root, { recursive: true })
    raw.rmSync(this.sideDir, { recursive: true, force: true })
    raw.mkdirSync(this.sideDir)
  }

  /** True for the root and every path below it. */
  tracks(p: string): boolean {
    return p === this.root || p.startsWith(this.root + path.sep)
  }

  /** Entry changes not yet made durable (tests). */
  get pendingEntries(): number {
    return this.#pending.length
  }

  #exists(p: string): fs.Stats | null {
    try {
      return this.raw.lstatSync(p)
    } catch {
      return null
    }
  }

  #sizeOf(p: string): number {
    return this.#exists(p)?.size ?? 0
  }

  /** The state of a regular file, created on first touch as "all of it is durable". */
  #state(p: string): FileState {
    let st = this.#files.get(p)
    if (st === undefined) {
      st = { durableSize: this.#sizeOf(p), undo: [], syncedSeq: 0 }
      this.#files.set(p, st)
    }
    return st
  }

  #readRange(p: string, position: number, length: number): Buffer {
    const out = Buffer.alloc(Math.max(0, length))
    if (length <= 0) return out
    const fd = this.raw.openSync(p, 'r')
    try {
      let done = 0
      // Each turn reads at least one byte or stops at EOF.
      while (done < length) {
        const n = this.raw.readSync(fd, out, done, length - done, position + done)
        if (n === 0) break
        done += n
      }
      return out.subarray(0, done)
    } finally {
      this.raw.closeSync(fd)
    }
  }

  /** Moves the states of `from` (a file or a whole subtree) to `to`. */
  #moveStates(from: string, to: string): void {
    for (const [p, st] of [...this.#files]) {
      if (p === from || p.startsWith(from + path.sep)) {
        this.#files.delete(p)
        this.#files.set(to + p.slice(from.length), st)
      }
    }
  }

  #dropStates(under: string): void {
    for (const p of [...this.#files.keys()]) if (p === under || p.startsWith(under + path.sep)) this.#files.delete(p)
  }

  #stashPath(): string {
    return path.join(this.sideDir, String(++this.#stashes))
  }

  // ---- recording (called before the real operation, or right after for creations) ---------------------------

  /** `p` was just created (file or directory): its entry lives until its directory is fsynced. */
  created(p: string, isFile: boolean): void {
    this.#pending.push({ kind: 'create', dir: path.dirname(p), path: p })
    if (isFile) this.#files.set(p, { durableSize: 0, undo: [], syncedSeq: 0 })
  }

  /** Bytes [position, position + length) of `p` are about to be overwritten. */
  willWrite(p: string, position: number, length: number): void {
    const st = this.#state(p)
    if (position >= st.durableSize || length <= 0) return
    const end = Math.min(position + length, st.durableSize)
    st.undo.push({ position, bytes: this.#readRange(p, position, end - position), seq: ++this.#seq })
  }

  /** `p` is about to be cut to `size` bytes. */
  willTruncate(p: string, size: number): void {
    const st = this.#state(p)
    if (size >= st.durableSize) return
    st.undo.push({ position: size, bytes: this.#readRange(p, size, st.durableSize - size), seq: ++this.#seq })
  }

  /** An fsync starts: its sequence number, for fileSynced. */
  syncStarted(): number {
    return ++this.#seq
  }

  /**
   * An fsync of file `p` that started at `startSeq` finished: the file as it was then (`size` bytes) is durable.
   * Changes made after the start may or may not be (their undo entries stay); an fsync that started before one
   * already applied changes nothing (a roll's synchronous fsync may finish before an earlier group-commit one).
   */
  fileSynced(p: string, size: number, startSeq: number): void {
    const st = this.#state(p)
    if (startSeq < st.syncedSeq) return
    st.syncedSeq = startSeq
    st.durableSize = size
    st.undo = st.undo.filter((u) => u.seq > startSeq)
  }

  /** An fsync of directory `dir` finished: its entry changes so far are durable. */
  dirSynced(dir: string): void {
    const keep: EntryOp[] = []
    for (const op of this.#pending) {
      if (op.dir !== dir) keep.push(op)
      else if (op.kind !== 'create' && op.stash !== null) {
        this.raw.rmSync(op.stash, { recursive: true, force: true })
        this.#dropStates(op.stash)
      }
    }
    this.#pending = keep
  }

  /** Removes `p` (file, or directory with everything below it) as unlink/rm would, keeping it for a cut. */
  remove(p: string): void {
    const stash = this.#stashPath()
    this.raw.renameSync(p, stash)
    this.#moveStates(p, stash)
    this.#pending.push({ kind: 'unlink', dir: path.dirname(p), path: p, stash })
  }

  /** Renames `from` to `to` (same directory), keeping a replaced `to` for a cut. */
  rename(from: string, to: string): void {
    let stash: string | null = null
    if (from === to) return
    if (this.#exists(to) !== null) {
      stash = this.#stashPath()
      this.raw.renameSync(to, stash)
      this.#moveStates(to, stash)
    }
    try {
      this.raw.renameSync(from, to)
    } catch (err) {
      if (stash !== null) {
        this.raw.renameSync(stash, to)
        this.#moveStates(stash, to)
      }
      throw err
    }
    this.#moveStates(from, to)
    this.#pending.push({ kind: 'rename', dir: path.dirname(to), from, to, stash })
  }

  // ---- the cut ----------------------------------------------------------------------------------------------

  /** Rewrites the tree to its durable image; afterwards every file is clean and nothing is pending. */
  cut(options: CutOptions = {}): CutReport {
    const report: CutReport = {
      filesRolledBack: 0,
      bytesDropped: 0,
      tornBytesKept: 0,
      junkBytesAdded: 0,
      overwritesUndone: 0,
      createsReverted: 0,
      unlinksReverted: 0,
      renamesReverted: 0,
    }
    // Entry changes, newest first, so each undo sees the tree as it was right after its change.
    for (const op of this.#pending.reverse()) {
      if (op.kind === 'create') {
        this.raw.rmSync(op.path, { recursive: true, force: true })
        this.#dropStates(op.path)
        report.createsReverted++
      } else if (op.kind === 'unlink') {
        this.raw.rmSync(op.path, { recursive: true, force: true })
        this.#dropStates(op.path)
        this.raw.renameSync(op.stash, op.path)
        this.#moveStates(op.stash, op.path)
        report.unlinksReverted++
      } else {
        this.raw.renameSync(op.to, op.from)
        this.#moveStates(op.to, op.from)
        if (op.stash !== null) {
          this.raw.renameSync(op.stash, op.to)
          this.#moveStates(op.stash, op.to)
        }
        report.renamesReverted++
      }
    }
    this.#pending = []
    // File contents: undo overwrites, then cut back to the durable size (or a torn prefix of the unsynced tail).
    for (const [p, st] of this.#files) {
      if (this.#exists(p)?.isFile() !== true) continue
      const fd = this.raw.openSync(p, 'r+')
      try {
        for (const u of st.undo.reverse()) {
          this.raw.writeSync(fd, u.bytes, 0, u.bytes.length, u.position)
          report.overwritesUndone++
        }
        const size = this.raw.fstatSync(fd).size
        if (size <= st.durableSize) continue
        let keep = 0
        let junk: Buffer | null = null
        const unsynced = size - st.durableSize
        if (options.tornTail === true && options.random !== undefined) {
          const rng = options.random
          keep = rng.int(0, unsynced)
          const mode = rng.int(0, 2)
          if (mode === 1) junk = Buffer.alloc(rng.int(1, ZERO_TAIL_BYTES_MAX))
          else if (mode === 2) junk = rng.bytes(rng.int(1, GARBAGE_TAIL_BYTES_MAX))
        }
        this.raw.ftruncateSync(fd, st.durableSize + keep)
        if (junk !== null) this.raw.writeSync(fd, junk, 0, junk.length, st.durableSize + keep)
        report.filesRolledBack++
        report.bytesDropped += unsynced - keep
        report.tornBytesKept += keep
        report.junkBytesAdded += junk?.length ?? 0
      } finally {
        this.raw.closeSync(fd)
      }
    }
    this.#files.clear()
    this.raw.rmSync(this.sideDir, { recursive: true, force: true })
    this.raw.mkdirSync(this.sideDir)
    return report
  }

  /** Removes the side directory (the tree itself stays). */
  dispose(): void {
    this.raw.rmSync(this.sideDir, { recursive: true, force: true })
  }
}

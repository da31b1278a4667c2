// The simulated power cut keeps exactly what a disk would after losing power: fsynced bytes and directory entries
// whose directory was fsynced; everything else (unsynced appends, overwrites, truncations, creates, renames, unlinks)
// is rolled back, torn tails keep only a prefix, and calls the layer does not model fail loudly.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { fsyncDir, writeFileAtomic, writeFileAtomicAsync, fsyncDirAsync } from '../storage/atomic-file.js'
import { PowerCutFs } from './power-cut-fs.js'
import { Random } from './random.js'

let dir: string
let root: string
let layer: PowerCutFs

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-power-cut-'))
  root = path.join(dir, 'disk')
  fs.mkdirSync(root)
  layer = PowerCutFs.install(root)
})

afterEach(() => {
  layer.uninstall()
  fs.rmSync(dir, { recursive: true, force: true })
})

const at = (...parts: string[]) => path.join(root, ...parts)

/** Creates `name` with `content`, fsyncs it and its directory. */
function durableFile(name: string, content: string): string {
  const file = at(name)
  const fd = fs.openSync(file, 'w')
  fs.writeSync(fd, content)
  fs.fsyncSync(fd)
  fs.closeSync(fd)
  fsyncDir(path.dirname(file))
  return file
}

function append(file: string, content: string, sync: boolean): void {
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_APPEND)
  fs.writeSync(fd, content)
  if (sync) fs.fdatasyncSync(fd)
  fs.closeSync(fd)
}

const read = (file: string) => fs.readFileSync(file, 'utf8')

describe('file contents', () => {
  test('an append not fsynced is gone after a cut; an fsynced one stays', () => {
    const file = durableFile('a.log', 'base|')
    append(file, 'synced|', true)
    append(file, 'lost', false)
    expect(read(file)).toBe('base|synced|lost')
    const report = layer.cut()
    layer.resume()
    expect(read(file)).toBe('base|synced|')
    expect(report.bytesDropped).toBe(4)
  })

  test('an fsynced overwrite stays, an unsynced one is undone', () => {
    const file = durableFile('b.dat', 'aaaaaaaaaa')
    const fd = fs.openSync(file, 'r+')
    fs.writeSync(fd, Buffer.from('XX'), 0, 2, 2)
    fs.fsyncSync(fd)
    fs.writeSync(fd, Buffer.from('YYY'), 0, 3, 6)
    fs.writeSync(fd, Buffer.from('ZZZZ'), 0, 4, 5) // overlaps the previous unsynced overwrite
    fs.closeSync(fd)
    expect(read(file)).toBe('aaXXaZZZZa')
    const report = layer.cut()
    layer.resume()
    expect(read(file)).toBe('aaXXaaaaaa')
    expect(report.overwritesUndone).toBe(2)
  })

  test('a truncation below the synced size is undone, as is a rewrite through open(w)', () => {
    const file = durableFile('c.dat', '0123456789')
    const fd = fs.openSync(file, 'r+')
    fs.ftruncateSync(fd, 4)
    fs.closeSync(fd)
    const index = durableFile('e.index', 'old-index')
    fs.writeFileSync(at('d.dat'), 'x') // created, its directory never synced after
    fs.writeFileSync(index, 'new') // open(w) truncates, then writes; no fsync
    expect(read(file)).toBe('0123')
    layer.cut()
    layer.resume()
    expect(read(file)).toBe('0123456789')
    expect(read(index)).toBe('old-index')
    expect(fs.existsSync(at('d.dat'))).toBe(false)
  })

  test('a torn tail keeps only a prefix of the unsynced bytes (then maybe zeros or garbage)', () => {
    const rng = new Random(7)
    const unsynced = 'abcdefghijklmnopqrstuvwxyz'.repeat(20)
    let kept = 0
    let junk = 0
    for (let i = 0; i < 30; i++) {
      const file = durableFile(`t${i}.log`, 'synced|')
      append(file, unsynced, false)
      const report = layer.cut({ tornTail: true, random: rng })
      layer.resume()
      const bytes = fs.readFileSync(file)
      expect(bytes.subarray(0, 7).toString()).toBe('synced|')
      expect(bytes.subarray(7, 7 + report.tornBytesKept).toString()).toBe(unsynced.slice(0, report.tornBytesKept))
      expect(bytes.length).toBe(7 + report.tornBytesKept + report.junkBytesAdded)
      kept += report.tornBytesKept
      junk += report.junkBytesAdded
    }
    expect(kept).toBeGreaterThan(0)
    expect(junk).toBeGreaterThan(0)
  })

  test('the fsync callback counts only once it completes: a cut before that loses the bytes', async () => {
    const file = durableFile('f.log', 'a')
    const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_APPEND)
    fs.writeSync(fd, 'b')
    const done = new Promise<NodeJS.ErrnoException | null>((resolve) => fs.fdatasync(fd, resolve))
    layer.cut()
    expect((await done)?.code).toBe('EIO')
    layer.resume()
    expect(read(file)).toBe('a')
    const fd2 = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_APPEND)
    fs.writeSync(fd2, 'c')
    expect(await new Promise((resolve) => fs.fdatasync(fd2, resolve))).toBeNull()
    fs.closeSync(fd2)
    layer.cut()
    layer.resume()
    expect(read(file)).toBe('ac')
  })

  test('an fsync that started earlier but finishes after a later one does not shrink what is durable', async () => {
    const file = durableFile('g.log', 'a')
    const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_APPEND)
    fs.writeSync(fd, 'b')
    layer.fsyncLatencyMs = () => 5
    const early = new Promise<NodeJS.ErrnoException | null>((resolve) => fs.fdatasync(fd, resolve)) // covers 'ab'
    fs.writeSync(fd, 'c')
    fs.fdatasyncSync(fd) // covers 'abc', done first
    expect(await early).toBeNull()
    fs.closeSync(fd)
    layer.cut()
    layer.resume()
    expect(read(file)).toBe('abc')
  })
})

describe('directory entries', () => {
  test('a file created without an fsync of its directory is gone, even when its bytes were fsynced', () => {
    const fd = fs.openSync(at('new.log'), 'wx')
    fs.writeSync(fd, 'data')
    fs.fsyncSync(fd)
    fs.closeSync(fd)
    durableFile('kept.log', 'kept') // fsyncs the directory after: both entries are durable
    fs.writeFileSync(at('late.log'), 'late')
    const lateFd = fs.openSync(at('late.log'), 'r')
    fs.fsyncSync(lateFd)
    fs.closeSync(lateFd)
    layer.cut()
    layer.resume()
    expect(fs.readdirSync(root).sort()).toEqual(['kept.log', 'new.log'])
    expect(read(at('new.log'))).toBe('data')
  })

  test('a rename without an fsync of the directory is reverted, the replaced file comes back', () => {
    const target = durableFile('meta.json', 'old')
    const tmp = at('meta.json.tmp')
    const fd = fs.openSync(tmp, 'w')
    fs.writeSync(fd, 'new')
    fs.fsyncSync(fd)
    fs.closeSync(fd)
    fs.renameSync(tmp, target)
    expect(read(target)).toBe('new')
    const report = layer.cut()
    layer.resume()
    expect(read(target)).toBe('old')
    expect(fs.readdirSync(root)).toEqual(['meta.json']) // the tmp's creation was not durable either
    expect(report.renamesReverted).toBe(1)
    writeFileAtomic(target, 'newer') // tmp, fsync, rename, fsync dir: durable
    layer.cut()
    layer.resume()
    expect(read(target)).toBe('newer')
    expect(fs.readdirSync(root)).toEqual(['meta.json'])
  })

  test('an unlink without an fsync of the directory is reverted with the bytes the file had', () => {
    const file = durableFile('gone.log', 'durable')
    append(file, '+unsynced', false)
    fs.rmSync(file)
    expect(fs.existsSync(file)).toBe(false)
    layer.cut()
    layer.resume()
    expect(read(file)).toBe('durable')
    fs.unlinkSync(file)
    fsyncDir(root)
    layer.cut()
    layer.resume()
    expect(fs.existsSync(file)).toBe(false)
  })

  test('a directory whose own entry was not synced vanishes with everything in it', () => {
    fs.mkdirSync(at('topics', 't', '0'), { recursive: true })
    durableFile(path.join('topics', 't', '0', 'seg.log'), 'synced and in a synced dir')
    fsyncDir(at('topics', 't'))
    layer.cut()
    layer.resume()
    expect(fs.readdirSync(root)).toEqual([])
    fs.mkdirSync(at('topics', 't', '0'), { recursive: true })
    fsyncDir(root)
    fsyncDir(at('topics'))
    fsyncDir(at('topics', 't'))
    durableFile(path.join('topics', 't', '0', 'seg.log'), 'kept')
    layer.cut()
    layer.resume()
    expect(read(at('topics', 't', '0', 'seg.log'))).toBe('kept')
  })

  test('a recursive rm of a durable directory is reverted unless its parent was fsynced', () => {
    durableFile('x.log', 'x')
    fs.mkdirSync(at('sub'))
    fsyncDir(root)
    durableFile('sub/y.log', 'y')
    fs.rmSync(at('sub'), { recursive: true, force: true })
    layer.cut()
    layer.resume()
    expect(read(at('sub', 'y.log'))).toBe('y')
    fs.rmSync(at('sub'), { recursive: true, force: true })
    fsyncDir(root)
    layer.cut()
    layer.resume()
    expect(fs.readdirSync(root)).toEqual(['x.log'])
  })

  test('the promise API (named imports of node:fs/promises) is tracked too', async () => {
    await writeFileAtomicAsync(at('topic.json'), 'v1') // tmp → sync → rename → fsync dir
    await fs.promises.mkdir(at('d'))
    await fsyncDirAsync(root)
    await fs.promises.rename(at('topic.json'), at('d-not-synced.json'))
    layer.cut()
    layer.resume()
    expect(fs.readdirSync(root).sort()).toEqual(['d', 'topic.json'])
    expect(read(at('topic.json'))).toBe('v1')
  })
})

describe('the layer itself', () => {
  test('after a cut every call on the tree fails with EIO until resume; other paths work', async () => {
    const file = durableFile('a.log', 'a')
    const fd = fs.openSync(file, 'r+')
    layer.cut()
    expect(() => fs.writeSync(fd, 'x')).toThrow(/EIO/)
    expect(() => fs.readFileSync(file)).toThrow(/EIO/)
    expect(() => fs.openSync(file, 'r')).toThrow(/EIO/)
    await expect(fs.promises.readFile(file)).rejects.toThrow(/EIO/)
    expect(fs.existsSync(file)).toBe(false)
    fs.writeFileSync(path.join(dir, 'outside'), 'fine')
    expect(fs.readFileSync(path.join(dir, 'outside'), 'utf8')).toBe('fine')
    layer.resume()
    expect(read(file)).toBe('a')
  })

  test('an armed cut lands inside the chosen call: that call and every later one fail, earlier fsyncs hold', () => {
    const file = durableFile('a.log', 'a')
    const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_APPEND) // not counted: armed after
    layer.armCut(3)
    fs.writeSync(fd, 'b') // 1
    fs.fdatasyncSync(fd) // 2
    expect(() => fs.writeSync(fd, 'c')).toThrow(/EIO/) // 3: the cut, before the write
    expect(layer.frozen).toBe(true)
    expect(() => fs.fdatasyncSync(fd)).toThrow(/EIO/)
    layer.resume()
    expect(read(file)).toBe('ab')
  })

  test('a call the layer does not model fails loudly on the tree and passes elsewhere', async () => {
    const file = durableFile('a.log', 'a')
    expect(() => fs.appendFileSync(file, 'b')).toThrow(/not modeled/)
    expect(() => fs.copyFileSync(file, at('b.log'))).toThrow(/not modeled/)
    expect(() => fs.renameSync(file, path.join(dir, 'out'))).toThrow(/not modeled/)
    await expect(fs.promises.appendFile(file, 'b')).rejects.toThrow(/not modeled/)
    fs.appendFileSync(path.join(dir, 'outside'), 'b')
    expect(fs.readdirSync(root)).toEqual(['a.log']) // the side directory lives outside the tree
  })

  test('uninstall restores node:fs', () => {
    const patched = fs.openSync
    layer.uninstall()
    expect(fs.openSync).not.toBe(patched)
    layer = PowerCutFs.install(root)
    expect(fs.openSync).not.toBe(patched)
  })
})

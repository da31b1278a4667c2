// A5: topic-name fuzz and traversal. Seeded random names built from a nasty alphabet ('/', '\\', '..', '.', NUL,
// percent-encodings, look-alike and other Unicode, Windows device names, a leading '__', very long runs) plus a fixed
// traversal list go (1) through the public SDK (Sluice.open on a temp dir: admin createTopic / describeTopic /
// deleteTopic, producer.send, and the same calls on the raw transport so the broker's own check is hit too), and
// (2) through the storage engine's log names (openStorage(...).openLog / deleteLog). An independent oracle says which
// names are valid: Kafka's rule for topics (1-249 of [a-zA-Z0-9._-], not '.' or '..'; '__' is internal, so users may
// not create it), the storage rule for log names ('/'-separated components of that alphabet, each at most 255 (the
// file systems' NAME_MAX), at most 1024 characters in all, no reserved first component). Every invalid name must get a typed InvalidArgumentError (also from delete, which must
// never remove anything), every valid one must work, and afterwards nothing may exist outside the data dir (the
// directories around it are snapshotted before and after) and inside it nothing but the engine's own files plus
// topics/ (SDK) or the accepted logs' directories (storage).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { silentLogger } from '../../src/broker/logger.js'
import { InvalidArgumentError, SluiceError, UnknownTopicError } from '../../src/errors.js'
import { Sluice } from '../../src/sluice.js'
import { makeBatch, logConfig } from '../../src/testing/storage-data.js'
import { openStorage, resolveLogDir } from '../../src/storage/storage.js'
import { validateTopicName } from '../../src/topics/topic-name.js'
import { Random } from '../../src/testing/random.js'
import { reportFigures, runSeed, testTimeoutMs, trials } from './settings.js'

const LEGAL = /^[a-zA-Z0-9._-]+$/
const ENGINE_FILES = new Set([
  'meta.json',
  '.lock',
  'checkpoints',
  '.clean-shutdown',
  'topics',
  'producer-ids.json',
  'groups',
])

const TRAVERSAL = [
  '',
  '.',
  '..',
  '...',
  '/',
  '\\',
  '../x',
  '..\\x',
  '../../../../../../../../tmp/a5-escape',
  '/tmp/a5-escape',
  'a/../../a5-escape',
  'a/./b',
  'a//b',
  '%2e',
  '%2e%2e',
  '%2e%2e%2fa5-escape',
  '..%2fa5-escape',
  '%00',
  'a\0b',
  '\0',
  '..\0',
  'CON',
  'NUL',
  'COM1',
  'LPT9',
  'AUX',
  'PRN',
  'con.txt',
  '__consumer_offsets',
  '__x',
  '_',
  '-',
  '.hidden',
  'meta.json',
  'checkpoints',
  '.lock',
  '.clean-shutdown',
  'topics',
  '\u2024\u2024', // one dot leaders, look like '..'
  '\uff0e\uff0e', // fullwidth full stops
  '\u2215a5-escape', // division slash
  'ａ', // fullwidth a
  'é',
  'e\u0301',
  '\ud800',
  '😀',
  ' a',
  'a ',
  'a\n',
  'a:b',
  'a*b',
  'a?b',
  'x'.repeat(249),
  'x'.repeat(250),
  '.'.repeat(249),
  'x'.repeat(1024),
  'x'.repeat(1025),
  'x'.repeat(100_000),
]

const PIECES = [
  '/',
  '\\',
  '..',
  '.',
  '\0',
  '%2e',
  '%2f',
  '%5c',
  '%00',
  '%',
  'é',
  '\u2024',
  '\uff0e',
  '\u2215',
  '\u200b',
  'ａ',
  '😀',
  '\ud800',
  ' ',
  '\n',
  ':',
  '*',
  'CON',
  'NUL',
  'COM1',
  'LPT1',
  '__',
  '_',
  '-',
]
const SAFE = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-'

function safeRun(rng: Random, n: number): string {
  let s = ''
  for (let i = 0; i < n; i++) s += SAFE[rng.int(0, SAFE.length - 1)]
  return s
}

/** A random name: mostly legal characters, with a nasty piece now and then, sometimes very long. */
function randomName(rng: Random): string {
  const roll = rng.next()
  if (roll < 0.05) return safeRun(rng, rng.int(240, 260))
  if (roll < 0.07) return rng.pick(PIECES).repeat(rng.int(1, 300))
  const parts = rng.int(1, 4)
  let s = rng.bool(0.1) ? '__' : ''
  for (let p = 0; p < parts; p++) {
    s += safeRun(rng, rng.int(0, 12))
    if (rng.bool(0.35)) s += rng.pick(PIECES)
  }
  return s
}

/** Kafka's rule, written independently of src/topics/topic-name.ts. */
function kafkaValid(name: string): boolean {
  return name.length >= 1 && name.length <= 249 && LEGAL.test(name) && name !== '.' && name !== '..'
}

/** The storage engine's documented log-name rule, written independently of resolveLogDir. */
function storageValid(name: string): boolean {
  if (name.length < 1 || name.length > 1024) return false
  const parts = name.split('/')
  if (parts.some((p) => !LEGAL.test(p) || p === '.' || p === '..' || p.length > 255)) return false
  return !['meta.json', '.clean-shutdown', 'checkpoints', '.lock'].includes(parts[0]!)
}

/** Every path under `dir` (relative), recursively. */
function listTree(dir: string, skip: string | null = null, prefix = ''): string[] {
  const out: string[] = []
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const rel = path.join(prefix, entry.name)
    const full = path.join(dir, entry.name)
    if (full === skip) continue
    out.push(rel)
    if (entry.isDirectory()) out.push(...listTree(full, skip, rel))
  }
  return out.sort()
}

/** Top-level entries of every directory from the data dir's parent up to '/'. */
function ancestorsSnapshot(dataDir: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>()
  let dir = path.dirname(dataDir)
  for (;;) {
    try {
      out.set(dir, new Set(fs.readdirSync(dir)))
    } catch {
      // unreadable: skip
    }
    const up = path.dirname(dir)
    if (up === dir) break
    dir = up
  }
  return out
}

/**
 * Entries that appeared outside the data dir. Around the temp dir (os.tmpdir(), '/') other processes create files,
 * so there only new entries named like a component of a fuzzed name count; inside our own temp root everything does.
 */
function escapes(
  before: Map<string, Set<string>>,
  after: Map<string, Set<string>>,
  root: string,
  names: readonly string[],
): string[] {
  const components = new Set<string>()
  for (const n of names) for (const c of n.split(/[/\\]/)) if (c !== '') components.add(c)
  const out: string[] = []
  for (const [dir, entries] of after) {
    const old = before.get(dir) ?? new Set<string>()
    const ours = dir === root || dir.startsWith(root + path.sep)
    for (const e of entries)
      if (!old.has(e) && (ours || components.has(e) || e.includes('a5-escape'))) out.push(path.join(dir, e))
  }
  return out
}

let root = ''
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-a5-'))
}, testTimeoutMs(60_000))
afterAll(() => {
  if (root !== '') fs.rmSync(root, { recursive: true, force: true })
}, testTimeoutMs(60_000))

function names(rng: Random, count: number): string[] {
  const out = new Set<string>(TRAVERSAL)
  // Each turn adds at most one name; duplicates only cost a turn, and at most 50 × count turns run.
  for (let i = 0; out.size < TRAVERSAL.length + count && i < 50 * count; i++) out.add(randomName(rng))
  return [...out]
}

/** 'ok', or the class name of a typed error, or 'UNTYPED <message>'. */
async function outcome(work: () => Promise<unknown>): Promise<string> {
  try {
    await work()
    return 'ok'
  } catch (err) {
    if (err instanceof SluiceError) return err.constructor.name
    return `UNTYPED ${err instanceof Error ? err.message : String(err)}`.slice(0, 200)
  }
}

test(
  'A5: topic names through the SDK: exactly Kafka rule, typed errors for the rest, nothing outside the data dir',
  async () => {
    const seed = runSeed('A5 sdk')
    const rng = new Random(seed)
    const list = names(rng, trials(1_000, 50_000))
    // Nested, so a '../' that got through would land inside our temp root, where every new entry counts.
    const dataDir = path.join(root, 'sdk', 'p1', 'p2', 'data')
    fs.mkdirSync(dataDir, { recursive: true })
    const before = ancestorsSnapshot(dataDir)
    const treeBefore = listTree(root)
    const sluice = await Sluice.open({ dataDir, logger: silentLogger })
    const admin = sluice.admin()
    const producer = sluice.producer({ acks: 'all', lingerMs: 0 })
    const totals = {
      names: list.length,
      valid: 0,
      created: 0,
      internalRefused: 0,
      invalidRefused: 0,
      sent: 0,
      mismatches: [] as string[],
    }
    const expectThat = (name: string, call: string, got: string, want: readonly string[]): void => {
      if (!want.includes(got) && totals.mismatches.length < 50)
        totals.mismatches.push(`${call}(${JSON.stringify(name.slice(0, 60))}${name.length > 60 ? '…' : ''}): ${got}`)
    }
    const transport = sluice.transport
    const invalid = ['InvalidArgumentError']
    for (const name of list) {
      if (!kafkaValid(name)) {
        totals.invalidRefused++
        expectThat(name, 'createTopic', await outcome(() => admin.createTopic(name)), invalid)
        expectThat(name, 'describeTopic', await outcome(() => admin.describeTopic(name)), invalid)
        expectThat(name, 'send', await outcome(() => producer.send(name, { value: 'v' })), invalid)
        expectThat(name, 'deleteTopic', await outcome(() => admin.deleteTopic(name)), invalid)
        expectThat(
          name,
          'transport.createTopic',
          await outcome(() => transport.createTopic({ name, partitions: 1 })),
          invalid,
        )
        expectThat(name, 'transport.describeTopic', await outcome(() => transport.describeTopic(name)), invalid)
        expectThat(name, 'transport.deleteTopic', await outcome(() => transport.deleteTopic(name)), invalid)
        continue
      }
      totals.valid++
      if (name.startsWith('__')) {
        totals.internalRefused++
        expectThat(name, 'createTopic', await outcome(() => admin.createTopic(name)), invalid)
        expectThat(
          name,
          'transport.createTopic',
          await outcome(() => transport.createTopic({ name, partitions: 1 })),
          invalid,
        )
        // exists only for the broker's own topics (__consumer_offsets)
        expectThat(name, 'describeTopic', await outcome(() => admin.describeTopic(name)), ['ok', 'UnknownTopicError'])
        continue
      }
      expectThat(name, 'createTopic', await outcome(() => admin.createTopic(name)), ['ok'])
      totals.created++
      let described = ''
      expectThat(
        name,
        'describeTopic',
        await outcome(async () => {
          described = (await admin.describeTopic(name)).name
        }),
        ['ok'],
      )
      if (described !== name) expectThat(name, 'describeTopic.name', described, [name])
      let offset = -1
      expectThat(
        name,
        'send',
        await outcome(async () => {
          offset = (await producer.send(name, { value: 'v' })).offset
        }),
        ['ok'],
      )
      if (offset === 0) totals.sent++
      // The topic's directory is exactly <dataDir>/topics/<name>.
      if (!fs.existsSync(path.join(dataDir, 'topics', name))) expectThat(name, 'topic dir', 'missing', ['present'])
      expectThat(name, 'deleteTopic', await outcome(() => admin.deleteTopic(name)), ['ok'])
      expectThat(name, 'describe after delete', await outcome(() => admin.describeTopic(name)), [
        UnknownTopicError.name,
      ])
    }
    await sluice.close()
    const after = ancestorsSnapshot(dataDir)
    const treeAfter = listTree(root, dataDir)
    const outside = [
      ...escapes(before, after, root, list),
      ...treeAfter.filter((p) => !treeBefore.includes(p) && !p.startsWith(path.join('sdk', 'p1', 'p2', 'data'))),
    ]
    const strayInside = fs.readdirSync(dataDir).filter((e) => !ENGINE_FILES.has(e))
    const topicDirs = fs.readdirSync(path.join(dataDir, 'topics'))
    const badTopicDirs = topicDirs.filter((d) => !kafkaValid(d))
    reportFigures('A5 sdk', {
      seed,
      ...totals,
      mismatches: totals.mismatches.length,
      outside: outside.length,
      strayInside: strayInside.length,
      topicDirsLeft: topicDirs,
    })
    expect(totals.mismatches).toEqual([])
    expect(outside).toEqual([])
    expect(strayInside).toEqual([])
    expect(badTopicDirs).toEqual([])
    expect(totals.sent).toBe(totals.created)
    expect(InvalidArgumentError.name).toBe('InvalidArgumentError')
  },
  testTimeoutMs(60_000),
)

test(
  'A5: storage log names: exactly the storage rule, typed errors for the rest, every log inside the data dir',
  async () => {
    const seed = runSeed('A5 storage')
    const rng = new Random(seed)
    // Storage names may hold '/' between components: add some multi-component names built from random ones.
    const base = names(rng, trials(1_000, 50_000))
    const list = [...base]
    for (let i = 0; i < base.length / 4; i++) list.push(`${rng.pick(base)}/${rng.pick(base)}`)
    const dataDir = path.join(root, 'storage', 'p1', 'p2', 'data')
    fs.mkdirSync(dataDir, { recursive: true })
    const before = ancestorsSnapshot(dataDir)
    const treeBefore = listTree(root)
    const storage = await openStorage(dataDir)
    const meta = fs.readFileSync(path.join(dataDir, 'meta.json'), 'utf8')
    const totals = { names: list.length, valid: 0, opened: 0, invalidRefused: 0, mismatches: [] as string[] }
    const mismatch = (name: string, what: string): void => {
      if (totals.mismatches.length < 50) totals.mismatches.push(`${JSON.stringify(name.slice(0, 60))}: ${what}`)
    }
    const firstComponents = new Set<string>()
    for (const name of list) {
      if (!storageValid(name)) {
        totals.invalidRefused++
        const open = await outcome(() => storage.openLog(name, logConfig()))
        if (open !== 'InvalidArgumentError') mismatch(name, `openLog: ${open}`)
        const del = await outcome(() => storage.deleteLog(name))
        if (del !== 'InvalidArgumentError') mismatch(name, `deleteLog: ${del}`)
        continue
      }
      totals.valid++
      firstComponents.add(name.split('/')[0]!)
      const open = await outcome(async () => {
        const log = await storage.openLog(name, logConfig())
        const real = fs.realpathSync(path.join(dataDir, name))
        if (!real.startsWith(fs.realpathSync(dataDir) + path.sep)) throw new Error(`log dir ${real} is outside`)
        log.append(makeBatch('a5'))
        await log.waitDurable(0)
      })
      if (open !== 'ok') mismatch(name, `openLog: ${open}`)
      else totals.opened++
      const del = await outcome(() => storage.deleteLog(name))
      if (del !== 'ok') mismatch(name, `deleteLog: ${del}`)
    }
    await storage.close()
    const after = ancestorsSnapshot(dataDir)
    const treeAfter = listTree(root, dataDir)
    const outside = [
      ...escapes(before, after, root, list),
      ...treeAfter.filter((p) => !treeBefore.includes(p) && !p.startsWith(path.join('storage', 'p1', 'p2', 'data'))),
    ]
    const strayInside = fs.readdirSync(dataDir).filter((e) => !ENGINE_FILES.has(e) && !firstComponents.has(e))
    const metaKept = fs.readFileSync(path.join(dataDir, 'meta.json'), 'utf8') === meta
    reportFigures('A5 storage', {
      seed,
      ...totals,
      mismatches: totals.mismatches.length,
      outside: outside.length,
      strayInside: strayInside.length,
      metaKept,
    })
    expect(totals.mismatches).toEqual([])
    expect(outside).toEqual([])
    expect(strayInside).toEqual([])
    expect(metaKept).toBe(true)
  },
  testTimeoutMs(60_000),
)

test(
  'A5: 100,000 random names: the broker accepts exactly Kafka rule, storage exactly its rule, every accepted path inside',
  () => {
    // The two SDK/storage tests above take each name through every call and the file system (about 1,000 names
    // each in CI); this one takes 10^5 names (10^6 in soak) through the checks themselves: the broker's topic-name
    // check and, for each accepted topic, the log directory of its partition 0 as the storage engine resolves it.
    const seed = runSeed('A5 rule')
    const rng = new Random(seed)
    const list = names(rng, trials(100_000, 1_000_000))
    const dataDir = path.resolve(root, 'rule', 'data')
    const totals = {
      names: list.length,
      kafkaValid: 0,
      accepted: 0,
      storageValid: 0,
      stored: 0,
      mismatches: [] as string[],
    }
    const accepts = (check: () => unknown): boolean => {
      try {
        check()
        return true
      } catch (err) {
        if (!(err instanceof InvalidArgumentError)) totals.mismatches.push(`untyped error: ${String(err)}`)
        return false
      }
    }
    for (const name of list) {
      const expected = kafkaValid(name)
      if (expected) totals.kafkaValid++
      const accepted = accepts(() => validateTopicName(name))
      if (accepted) totals.accepted++
      if (accepted !== expected)
        totals.mismatches.push(`topic ${JSON.stringify(name).slice(0, 80)}: accepted ${accepted}`)
      if (accepted) {
        const dir = resolveLogDir(dataDir, `topics/${name}/0`)
        if (!dir.startsWith(dataDir + path.sep)) totals.mismatches.push(`topic ${name} resolves outside: ${dir}`)
      }
      const storageExpected = storageValid(name)
      if (storageExpected) totals.storageValid++
      let resolved: string | null = null
      const stored = accepts(() => (resolved = resolveLogDir(dataDir, name)))
      if (stored) totals.stored++
      if (stored !== storageExpected)
        totals.mismatches.push(`log ${JSON.stringify(name).slice(0, 80)}: accepted ${stored}`)
      if (resolved !== null && !(resolved as string).startsWith(dataDir + path.sep))
        totals.mismatches.push(`log ${name} resolves outside: ${String(resolved)}`)
    }
    reportFigures('A5 rule', { seed, ...totals, mismatches: totals.mismatches.length })
    expect(totals.mismatches.slice(0, 10)).toEqual([])
    // The generator really mixes legal and illegal names.
    expect(totals.accepted).toBeGreaterThan(list.length / 10)
    expect(totals.accepted).toBeLessThan(list.length * 0.9)
  },
  testTimeoutMs(60_000),
)

// The `sluice` CLI end to end, each command spawned as a real process: topic admin, produce from stdin and consume
// (embedded and remote), group list/describe/reset-offsets (dry run vs --execute), log verify/dump (clean and
// corrupted), user add + an authenticated serve, exit codes (0 ok, 1 operational, 2 usage) and the message that a data
// dir held by a running broker must be reached with --broker. serve shuts down cleanly on SIGTERM with exit 0, also
// when the signal goes to the `npm start` that runs it; consume ends quietly when its reader goes away.
import { spawn } from 'node:child_process'
import { promises as fs } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { afterEach, describe, expect, test } from 'vitest'
import { Sluice } from '../src/index.js'
import { until } from '../src/testing/sdk-harness.js'
import { REPO_ROOT, runCli, spawnCli, startServe, type ServeChild } from './cli-helpers.js'
import { makeSelfSignedCert, makeTempDir, removeDir } from './wire-helpers.js'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function tempDir(): Promise<string> {
  const dir = await makeTempDir('sluice-cli-')
  cleanups.push(() => removeDir(dir))
  return dir
}

async function serve(args: string[], env: Record<string, string> = {}): Promise<ServeChild> {
  const s = await startServe(['--port', '0', ...args], env)
  cleanups.push(async () => {
    if (s.child.exitCode === null && s.child.signalCode === null) {
      s.child.kill('SIGKILL')
      await s.exited
    }
  })
  return s
}

describe('sluice CLI', () => {
  test('embedded: topic create/list/describe/delete, produce from stdin, consume from the beginning; exit codes', async () => {
    const dataDir = path.join(await tempDir(), 'data')
    const d = ['--data-dir', dataDir]
    const created = await runCli(['topic', 'create', 'orders', '--partitions', '3', '--flush', 'os', ...d])
    expect(created).toMatchObject({ code: 0, stdout: 'created topic orders with 3 partitions\n' })
    const single = await runCli(['topic', 'create', 'single', ...d]) // one partition, as createTopic's default
    expect(single).toMatchObject({ code: 0, stdout: 'created topic single with 1 partition\n' })
    expect((await runCli(['topic', 'delete', 'single', ...d])).code).toBe(0)
    const produced = await runCli(['produce', 'orders', '--key-separator', ':', ...d], {
      input: 'user-1:a\nuser-2:b\nuser-1:c\nuser-3:d\n',
    })
    expect(produced).toMatchObject({ code: 0, stdout: 'produced 4 records to orders\n' })
    // records produced after `mid` are the only ones a --from-time consumer sees
    await new Promise((r) => setTimeout(r, 20))
    const mid = new Date()
    await new Promise((r) => setTimeout(r, 20))
    await runCli(['produce', 'orders', '--key-separator', ':', ...d], { input: 'user-9:late-1\nuser-9:late-2\n' })
    const late = await runCli(['consume', 'orders', '--from-time', mid.toISOString(), '--max-messages', '2', ...d])
    expect(late).toMatchObject({ code: 0, stdout: 'late-1\nlate-2\n' })
    // Bounded reads exit at their bound without --max-messages: to the end as of the start, before a time, from a
    // time (durable: this flush 'os' topic gets the fsync the read asks for), one partition's offset range.
    const all = await runCli(['consume', 'orders', '--until-end', '--json', ...d])
    expect(all.code).toBe(0)
    const allRecords = all.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { value: string; partition: number; offset: number })
    expect(allRecords.map((r) => r.value).sort()).toEqual(['a', 'b', 'c', 'd', 'late-1', 'late-2'])
    const before = await runCli(['consume', 'orders', '--to-time', mid.toISOString(), ...d])
    expect([before.code, before.stdout.trim().split('\n').sort()]).toEqual([0, ['a', 'b', 'c', 'd']])
    const after = await runCli([
      'consume',
      'orders',
      '--from-time',
      mid.toISOString(),
      '--until-end',
      '--durable',
      ...d,
    ])
    expect(after).toMatchObject({ code: 0, stdout: 'late-1\nlate-2\n' })
    const first = allRecords[0]!
    const one = ['--partition', String(first.partition), '--offset', String(first.offset)]
    const ranged = await runCli(['consume', 'orders', ...one, '--to-offset', String(first.offset + 1), ...d])
    expect(ranged).toMatchObject({ code: 0, stdout: `${first.value}\n` })
    expect((await runCli(['consume', 'orders', '--group', 'g', '--until-end', ...d])).stderr).toMatch(/drop --group/)
    expect((await runCli(['consume', 'orders', '--to-offset', '1', ...d])).code).toBe(2)
    expect((await runCli(['consume', 'orders', '--until-end', '--to-time', mid.toISOString(), ...d])).code).toBe(2)
    const described = JSON.parse((await runCli(['topic', 'describe', 'orders', '--json', ...d])).stdout) as {
      partitions: Array<{ logEndOffset: number }>
      config: { flush: string }
    }
    expect(described.config.flush).toBe('os')
    expect(described.partitions.reduce((n, p) => n + p.logEndOffset, 0)).toBe(6)
    // alter: set, give back to the default, refuse what is wrong (usage: 2; a bad value: 1), change nothing then
    const altered = await runCli(['topic', 'alter', 'orders', '--retention-ms', '60000', '--flush', 'sync', ...d])
    expect(altered.code).toBe(0)
    expect(altered.stdout).toContain('retentionMs=60000')
    expect(altered.stdout).toContain('flush=sync')
    const reset = await runCli(['topic', 'alter', 'orders', '--delete-config', 'retention-ms', '--json', ...d])
    expect((JSON.parse(reset.stdout) as { config: object }).config).toMatchObject({
      retentionMs: 604_800_000,
      flush: 'sync',
    })
    expect((await runCli(['topic', 'alter', 'orders', ...d])).code).toBe(2)
    expect((await runCli(['topic', 'alter', 'orders', '--delete-config', 'colour', ...d])).code).toBe(2)
    const bad = await runCli(['topic', 'alter', 'orders', '--segment-bytes', '5', ...d])
    // A value the broker's config checks refuse is a usage error (exit 2), as one the flag parser refuses is.
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/segmentBytes must be an integer in \[1024/)])
    // Flag ranges are the config's own, not 2^53 (--segment-ms takes at most a year).
    const longSegments = await runCli(['topic', 'alter', 'orders', '--segment-ms', String(366 * 86_400_000), ...d])
    expect([longSegments.code, longSegments.stderr]).toEqual([
      2,
      expect.stringMatching(/--segment-ms must be an integer in \[1, 31536000000\]/),
    ])
    // A time before 1970 is a usage error (exit 2) like any bad time, not an operational one.
    const early = await runCli([
      'consume',
      'orders',
      '--from-time',
      '1960-01-01T00:00:00Z',
      '--max-messages',
      '1',
      ...d,
    ])
    expect([early.code, early.stderr]).toEqual([2, expect.stringMatching(/--from-time must be at or after 1970/)])
    const badServe = await runCli(['serve', '--segment-bytes', '10', '--port', '0', ...d])
    expect([badServe.code, badServe.stderr]).toEqual([2, expect.stringMatching(/segmentBytes must be an integer/)])
    // --partitions only applies to auto-created topics: alone it would have been accepted and done nothing.
    const lonePartitions = await runCli(['serve', '--partitions', '6', '--port', '0', ...d])
    expect([lonePartitions.code, lonePartitions.stderr]).toEqual([
      2,
      expect.stringMatching(/needs --auto-create-topics/),
    ])
    const text = (await runCli(['topic', 'describe', 'orders', ...d])).stdout
    expect(text).toContain('segmentBytes=134217728')
    expect(text).toMatch(
      /^config: retentionMs=\S+ retentionBytes=\S+ segmentBytes=\S+ segmentMs=\S+ flush=\S+ flushIntervalMs=\S+ timestampAfterMaxMs=\S+$/m,
    )
    const grown = await runCli(['topic', 'alter', 'orders', '--partitions', '5', '--json', ...d])
    expect((JSON.parse(grown.stdout) as { partitions: unknown[] }).partitions).toHaveLength(5)
    const shrink = await runCli(['topic', 'alter', 'orders', '--partitions', '2', ...d])
    expect([shrink.code, shrink.stderr]).toEqual([
      1,
      expect.stringMatching(/has 5 partitions; a new count must be larger/),
    ])
    // With a config change too: refused whole, the config left as it was.
    const configAndCount = await runCli([
      'topic',
      'alter',
      'orders',
      '--segment-bytes',
      '2048',
      '--partitions',
      '3',
      ...d,
    ])
    expect([configAndCount.code, configAndCount.stderr]).toEqual([
      1,
      expect.stringMatching(/must be larger.*nothing was changed/),
    ])
    expect((await runCli(['topic', 'describe', 'orders', ...d])).stdout).toContain('segmentBytes=134217728')
    const consumed = await runCli(['consume', 'orders', '--from-beginning', '--max-messages', '6', '--json', ...d])
    expect(consumed.code).toBe(0)
    const records = consumed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { key: string; value: string; partition: number })
    expect(records.map((r) => `${r.key}:${r.value}`).sort()).toEqual([
      'user-1:a',
      'user-1:c',
      'user-2:b',
      'user-3:d',
      'user-9:late-1',
      'user-9:late-2',
    ])
    // one key, one partition, in order
    const user1 = records.filter((r) => r.key === 'user-1')
    expect(new Set(user1.map((r) => r.partition)).size).toBe(1)
    expect(user1.map((r) => r.value)).toEqual(['a', 'c'])
    // delete-records: every partition up to its end, then nothing is left to read
    const purged = await runCli(['topic', 'delete-records', 'orders', '--all', '--json', ...d])
    expect(JSON.parse(purged.stdout)).toEqual(
      [0, 1, 2, 3, 4].map((partition) => ({
        partition,
        logStartOffset: described.partitions[partition]?.logEndOffset ?? 0,
      })),
    )
    expect((await runCli(['consume', 'orders', '--until-end', ...d])).stdout).toBe('')
    expect((await runCli(['topic', 'delete-records', 'orders', ...d])).code).toBe(2)
    const past = await runCli(['topic', 'delete-records', 'orders', '--partition', '0', '--before', '99', ...d])
    expect([past.code, past.stderr]).toEqual([1, expect.stringMatching(/offset 99/)])
    // operational error: exit 1, one line, no stack
    const missing = await runCli(['topic', 'describe', 'nope', ...d])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toBe('error: unknown topic "nope"\n')
    // usage errors: exit 2
    expect((await runCli(['topic', 'create', 'x', '--partitions', 'many', ...d])).code).toBe(2)
    // A name the broker would refuse is a bad argument too (it was exit 1).
    const badName = await runCli(['topic', 'create', 'bad name', ...d])
    expect([badName.code, badName.stderr]).toEqual([2, expect.stringMatching(/^error: topic name "bad name"/)])
    const badUser = await runCli(['user', 'add', 'bad name', '--users-file', path.join(dataDir, 'u.json')], {
      input: 'secret-1\n',
    })
    expect(badUser.code).toBe(2)
    expect((await runCli(['topic', 'list', '--data-dir', dataDir, '--broker', '127.0.0.1:1'])).code).toBe(2)
    const both = await runCli(['topic', 'list', '--broker', '127.0.0.1:1', '--token', 'a-token-x', '--user', 'u'])
    expect([both.code, both.stderr]).toEqual([2, 'error: give either --token or --user, not both\n'])
    expect((await runCli(['topic', 'delete', 'orders', ...d])).stdout).toBe('deleted topic orders\n')
    expect((await runCli(['topic', 'list', '--json', ...d])).stdout).toBe('[]\n')
    // Nothing on stdout for no topics or groups (a loop over the output must not see a topic called "(none)").
    const empty = await runCli(['topic', 'list', ...d])
    expect([empty.code, empty.stdout, empty.stderr]).toEqual([0, '', 'no topics\n'])
    const noGroups = await runCli(['group', 'list', ...d])
    expect([noGroups.code, noGroups.stdout, noGroups.stderr]).toEqual([0, '', 'no groups\n'])
    // A --tls-ca file that cannot be read is named with its flag.
    const ca = await runCli(['topic', 'list', '--broker', '127.0.0.1:1', '--tls-ca', 'no-such-ca.pem'])
    expect([ca.code, ca.stderr]).toEqual([1, 'error: --tls-ca no-such-ca.pem cannot be read: ENOENT\n'])
  })

  test('remote: serve, then topic/produce/consume/group through --broker; the held data dir says to use --broker; SIGTERM exits 0', async () => {
    const dataDir = path.join(await tempDir(), 'data')
    // serve's topic flags are the defaults of topics created without them
    const s = await serve(['--data-dir', dataDir, '--segment-ms', '3600000', '--retention-check-interval-ms', '5000'])
    const b = ['--broker', s.address]
    expect((await runCli(['topic', 'create', 'jobs', '--partitions', '2', ...b])).code).toBe(0)
    expect((await runCli(['topic', 'describe', 'jobs', ...b])).stdout).toContain(' segmentMs=3600000 ')
    const lines = Array.from({ length: 20 }, (_, i) => `k${i % 5}:v${i}`).join('\n') + '\n'
    expect((await runCli(['produce', 'jobs', '--key-separator', ':', ...b], { input: lines })).code).toBe(0)
    const consumed = await runCli([
      'consume',
      'jobs',
      '--group',
      'billing',
      '--from-beginning',
      '--max-messages',
      '20',
      '--durable',
      ...b,
    ])
    expect(consumed.code).toBe(0)
    expect(consumed.stdout.trim().split('\n').sort()).toEqual(Array.from({ length: 20 }, (_, i) => `v${i}`).sort())
    const groups = JSON.parse((await runCli(['group', 'list', '--json', ...b])).stdout) as Array<{ groupId: string }>
    expect(groups.map((g) => g.groupId)).toEqual(['billing'])
    const described = JSON.parse((await runCli(['group', 'describe', 'billing', '--json', ...b])).stdout) as {
      offsets: Array<{ partition: number; lag: number; committedOffset: number }>
    }
    expect(described.offsets.reduce((n, o) => n + o.committedOffset, 0)).toBe(20)
    expect(described.offsets.every((o) => o.lag === 0)).toBe(true)
    const dry = await runCli([
      'group',
      'reset-offsets',
      'billing',
      '--topic',
      'jobs',
      '--shift-by',
      '-2',
      '--json',
      ...b,
    ])
    const dryPlan = JSON.parse(dry.stdout) as { executed: boolean; plan: Array<{ from: number; to: number }> }
    expect(dryPlan.executed).toBe(false)
    expect(dryPlan.plan.every((p) => p.to === p.from - 2)).toBe(true)
    const toOffset = await runCli([
      'group',
      'reset-offsets',
      'billing',
      '--topic',
      'jobs',
      '--partitions',
      '0',
      '--to-offset',
      '1',
      '--execute',
      '--json',
      ...b,
    ])
    // the dry run changed nothing: this plan starts from the offset committed before it
    const committed0 = described.offsets.find((o) => o.partition === 0)?.committedOffset
    expect((JSON.parse(toOffset.stdout) as { plan: unknown[] }).plan).toEqual([
      { topic: 'jobs', partition: 0, from: committed0, to: 1 },
    ])
    const exec = await runCli([
      'group',
      'reset-offsets',
      'billing',
      '--topic',
      'jobs',
      '--to-earliest',
      '--execute',
      ...b,
    ])
    expect(exec.code).toBe(0)
    expect(exec.stdout).toContain('offsets reset')
    const reset = JSON.parse(
      (await runCli(['group', 'describe', 'billing', '--json', ...b])).stdout,
    ) as typeof described
    expect(reset.offsets.reduce((n, o) => n + o.committedOffset, 0)).toBe(0)
    const locked = await runCli(['topic', 'list', '--data-dir', dataDir])
    expect(locked.code).toBe(1)
    expect(locked.stderr).toMatch(/--broker/)
    // log verify reads without the lock, and says when a broker holds the dir
    const live = await runCli(['log', 'verify', '--data-dir', dataDir])
    expect(live.stderr).toContain(`warning: process ${s.child.pid} holds ${dataDir}`)
    s.child.kill('SIGTERM')
    expect(await s.exited).toBe(0)
    const logLines = s
      .stderr()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string })
    expect(logLines.map((l) => l.msg)).toContain('shutdown complete')
    // clean shutdown released the data dir: embedded access works again
    expect((await runCli(['topic', 'list', '--data-dir', dataDir])).stdout).toBe('jobs\n')
  })

  test('serve: a shutdown that cannot write its checkpoint exits 1 with a logged error, not an uncaught stack trace', async () => {
    const dataDir = path.join(await tempDir(), 'data')
    const s = await serve(['--data-dir', dataDir])
    // A directory where the checkpoint's temp file goes makes its write fail (EISDIR), as a read-only or foreign-owned
    // data dir does (EACCES, EROFS) for a broker that cannot use chmod tricks as root.
    await fs.mkdir(path.join(dataDir, 'checkpoints', 'recovery-point.tmp'), { recursive: true })
    s.child.kill('SIGTERM')
    expect(await s.exited).toBe(1)
    const stderr = s.stderr()
    expect(stderr).not.toMatch(/^\s+at /m) // no stack trace
    const lines = stderr
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string; error?: string })
    expect(lines.find((l) => l.msg === 'shutdown incomplete: the broker could not close cleanly')?.error).toMatch(
      /EISDIR/,
    )
    expect(stderr).toMatch(/^error: shutdown incomplete: .*EISDIR/m)
    // The data is intact: the next start serves again.
    await fs.rm(path.join(dataDir, 'checkpoints', 'recovery-point.tmp'), { recursive: true })
    const again = await serve(['--data-dir', dataDir])
    again.child.kill('SIGTERM')
    expect(await again.exited).toBe(0)
  })

  test('consume --offset below the log start starts at the log start, with a note on stderr', async () => {
    const dataDir = path.join(await tempDir(), 'data')
    const d = ['--data-dir', dataDir]
    await runCli(['topic', 'create', 'trimmed', '--partitions', '1', '--flush', 'os', ...d])
    await runCli(['produce', 'trimmed', ...d], { input: 'r0\nr1\nr2\n' })
    expect((await runCli(['topic', 'delete-records', 'trimmed', '--before', '1', ...d])).code).toBe(0)
    const read = await runCli(['consume', 'trimmed', '--partition', '0', '--offset', '0', '--max-messages', '2', ...d])
    expect(read).toEqual({
      code: 0,
      stdout: 'r1\nr2\n',
      stderr: 'note: offset 0 is below the log start 1 of trimmed/0: starting at 1\n',
    })
    // The same note for a bounded read (--until-end), below the log start and past the log end.
    const bounded = await runCli(['consume', 'trimmed', '--partition', '0', '--offset', '0', '--until-end', ...d])
    expect(bounded).toEqual({
      code: 0,
      stdout: 'r1\nr2\n',
      stderr: 'note: offset 0 is below the log start 1 of trimmed/0: starting at 1\n',
    })
    const past = await runCli(['consume', 'trimmed', '--partition', '0', '--offset', '99', '--until-end', ...d])
    expect(past).toEqual({
      code: 0,
      stdout: '',
      stderr: 'note: offset 99 is past the log end 3 of trimmed/0: starting at 3\n',
    })
    // Binary-safe output: --encoding base64 / hex for keys, values and header values.
    const hex = await runCli(['consume', 'trimmed', '--until-end', '--encoding', 'hex', '--json', ...d])
    expect(
      hex.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { value: string }).value),
    ).toEqual(['7231', '7232'])
    const b64 = await runCli(['consume', 'trimmed', '--until-end', '--encoding', 'base64', ...d])
    expect(b64.stdout).toBe('cjE=\ncjI=\n')
    const bad = await runCli(['consume', 'trimmed', '--until-end', '--encoding', 'latin1', ...d])
    expect([bad.code, bad.stderr]).toEqual([2, 'error: --encoding must be one of utf8, base64, hex, got "latin1"\n'])
  })

  test('under a low descriptor limit, topic create refuses a topic that would not fit, naming the limit; nothing is left', async () => {
    const dataDir = path.join(await tempDir(), 'data')
    // The CLI under `ulimit -n 400` (a shell, as a process manager would set it).
    const underLimit = (args: string[]) =>
      new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
        const cli = ['node', '--import', 'tsx', path.join(REPO_ROOT, 'src/cli/main.ts'), ...args]
        const child = spawn('bash', ['-c', 'ulimit -n 400 && exec "$@"', 'bash', ...cli], { cwd: REPO_ROOT })
        let stderr = ''
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
        child.on('error', reject)
        child.on('close', (code) => resolve({ code, stderr }))
      })
    const huge = await underLimit(['topic', 'create', 'huge', '--partitions', '200', '--data-dir', dataDir])
    expect(huge.code).toBe(1)
    expect(huge.stderr).toMatch(/needs about 600 more file descriptors .* limit of 400 .*ulimit -n/)
    const small = await underLimit(['topic', 'create', 'small', '--partitions', '10', '--data-dir', dataDir])
    expect(small.code).toBe(0)
    expect((await runCli(['topic', 'list', '--data-dir', dataDir])).stdout).toBe('small\n')
    await expect(fs.stat(path.join(dataDir, 'topics', 'huge'))).rejects.toThrow(/ENOENT/)
  })

  test('produce --encoding base64|hex takes binary keys and values, as consume --encoding prints them; a bad line stops it', async () => {
    const dataDir = path.join(await tempDir(), 'data')
    const d = ['--data-dir', dataDir]
    await runCli(['topic', 'create', 'bin', '--partitions', '1', '--flush', 'os', ...d])
    // Bytes that are not UTF-8 (ff fe) and a NUL: read as text lines they would be altered.
    const hexLines = '00ff:fffe00\n:\n'
    expect(
      (await runCli(['produce', 'bin', '--encoding', 'hex', '--key-separator', ':', ...d], { input: hexLines })).code,
    ).toBe(0)
    const b64 = Buffer.from([0xff, 0xfe, 0x00, 0x41]).toString('base64')
    expect((await runCli(['produce', 'bin', '--encoding', 'base64', ...d], { input: `${b64}\n` })).code).toBe(0)
    const out = await runCli(['consume', 'bin', '--until-end', '--encoding', 'hex', '--key-separator', ':', ...d])
    expect(out.stdout).toBe('00ff:fffe00\n:\n:fffe0041\n')
    // A line that is not valid in the encoding: the lines before it are produced, then exit 1 naming it.
    const bad = await runCli(['produce', 'bin', '--encoding', 'hex', ...d], { input: 'aa\nzz\nbb\n' })
    expect([bad.code, bad.stderr]).toEqual([
      1,
      'produce stopped at line 2: 1 record acknowledged to bin; lines after line 1 were not sent\n' +
        'error: line 2: the value is not valid hex\n',
    ])
    const after = await runCli(['consume', 'bin', '--until-end', '--encoding', 'hex', ...d])
    expect(after.stdout.trim().split('\n').slice(-1)).toEqual(['aa'])
    const badFlag = await runCli(['produce', 'bin', '--encoding', 'latin1', ...d], { input: 'x\n' })
    expect([badFlag.code, badFlag.stderr]).toEqual([
      2,
      'error: --encoding must be one of utf8, base64, hex, got "latin1"\n',
    ])
  })

  test('produce refuses a line that is not UTF-8 and a record too large, naming the line and what was acknowledged', async () => {
    const dataDir = path.join(await tempDir(), 'data')
    const d = ['--data-dir', dataDir]
    await runCli(['topic', 'create', 'text', '--partitions', '1', '--flush', 'os', ...d])
    // Before, the bytes c3 and e9 were stored as U+FFFD (ef bf bd) and produce said it succeeded.
    const input = Buffer.concat([
      Buffer.from('ok-1\r\nok-2\n'),
      Buffer.from([0x6b, 0xc3, 0x3a, 0x76, 0xe9, 0x0a]),
      Buffer.from('ok-3\n'),
    ])
    const bad = await runCli(['produce', 'text', ...d], { input })
    expect(bad.code).toBe(1)
    expect(bad.stderr).toBe(
      'produce stopped at line 3: 2 records acknowledged to text; lines after line 2 were not sent\n' +
        'error: line 3 is not valid UTF-8; for bytes that are not text, write keys and values as --encoding base64 or hex\n',
    )
    const big = 'x'.repeat(1_100_000)
    const tooLarge = await runCli(['produce', 'text', ...d], { input: `ok-4\n${big}\nok-5\n` })
    expect(tooLarge.code).toBe(1)
    expect(tooLarge.stderr).toMatch(/^produce stopped at line 2: 1 record acknowledged to text/)
    expect(tooLarge.stderr).toMatch(/\nerror: line 2: message is about 1100\d\d\d bytes/)
    const out = await runCli(['consume', 'text', '--until-end', ...d])
    // A CRLF line ends before its \r, as a LF line does.
    expect(out.stdout).toBe('ok-1\nok-2\nok-4\n')
  })

  test('SIGINT or SIGTERM of produce sends what it read, closes the data dir cleanly and says how many records were acknowledged', async () => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const dataDir = path.join(await tempDir(), 'data')
      const d = ['--data-dir', dataDir]
      await runCli(['topic', 'create', 'sig', '--partitions', '1', ...d])
      const child = spawnCli(['produce', 'sig', ...d], 'pipe')
      let stderr = ''
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
      child.stdin!.write('r-0\nr-1\nr-2\n') // stdin stays open, as at a terminal
      const log = path.join(dataDir, 'topics', 'sig', '0', '00000000000000000000.log')
      // Bounded: 300 polls of 50 ms; acks 'all' on a flush 'sync' topic, so the bytes are written once acknowledged.
      for (let i = 0; i < 300 && ((await fs.stat(log).catch(() => null))?.size ?? 0) < 150; i++)
        await new Promise((r) => setTimeout(r, 50))
      child.kill(signal)
      // Before, the signal killed it: no summary, the data dir left locked and re-validated at the next open.
      expect(await exited).toBe(signal === 'SIGINT' ? 130 : 143)
      expect(stderr).toBe(
        `produce stopped by ${signal}: 3 records acknowledged to sig; lines after line 3 were not sent\n`,
      )
      const next = await runCli(['consume', 'sig', '--until-end', ...d])
      expect([next.stdout, next.stderr]).toEqual(['r-0\nr-1\nr-2\n', ''])
    }
  })

  test('serve --connections-max and --idle-timeout-ms bound the connections; a refused one is logged', async () => {
    const s = await serve([
      '--data-dir',
      path.join(await tempDir(), 'data'),
      '--connections-max',
      '1',
      '--idle-timeout-ms',
      '300',
    ])
    const open = (): Promise<net.Socket> =>
      new Promise((resolve, reject) => {
        const socket = net.connect({ host: s.host, port: s.port }, () => resolve(socket))
        socket.on('error', reject)
      })
    const closed = (socket: net.Socket): Promise<number> => {
      const at = Date.now()
      return new Promise((resolve) => socket.on('close', () => resolve(Date.now() - at)))
    }
    const first = await open()
    const firstClosed = closed(first)
    await new Promise((r) => setTimeout(r, 50))
    const second = await open()
    await closed(second) // refused: past --connections-max 1
    expect(s.stderr()).toMatch(/connection refused: connectionsMax reached.*"connectionsMax":1/)
    // The first, idle, is closed by --idle-timeout-ms (300 ms, not the default 10 minutes).
    expect(await firstClosed).toBeLessThan(10_000)
    expect(s.stderr()).toMatch(/idle timeout/)
  })

  test('a reader that goes away (consume | head) ends consume quietly with exit 0, not an EPIPE stack trace; a group member leaves first', async () => {
    const s = await serve(['--data-dir', path.join(await tempDir(), 'data')])
    const d = ['--broker', s.address]
    await runCli(['topic', 'create', 'lines', '--partitions', '1', '--flush', 'os', ...d])
    const input = Array.from({ length: 30_000 }, (_, i) => `line-${i}-${'x'.repeat(40)}`).join('\n') + '\n'
    expect((await runCli(['produce', 'lines', ...d], { input })).code).toBe(0)
    for (const json of [false, true]) {
      const child = spawnCli(['consume', 'lines', '--until-end', ...d].concat(json ? ['--json'] : []))
      let stderr = ''
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
      // Like `head -1`: read the first chunk, then close the pipe while ~1.5 MB are still to come.
      child.stdout.once('data', () => child.stdout.destroy())
      const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)))
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' })
    }
    // With --group, the member leaves its group before exiting (committing nothing): before, it stayed a member of a
    // dead process for the session timeout (10 s), its partitions delivered to no one.
    const member = spawnCli(['consume', 'lines', '--group', 'readers', '--from-beginning', ...d])
    member.stdout.once('data', () => member.stdout.destroy())
    const memberCode = await new Promise<number | null>((resolve) => member.on('close', (c) => resolve(c)))
    expect(memberCode).toBe(0)
    const described = await runCli(['group', 'describe', 'readers', '--json', ...d])
    // No member and (within the 5 s auto-commit interval) no commit: the group is gone altogether.
    expect([described.code, described.stderr]).toEqual([1, expect.stringMatching(/unknown group "readers"/)])
  })

  test('consume --group --from-time places a partition once: one that comes back after a rebalance goes on from the commit', async () => {
    const s = await serve(['--data-dir', path.join(await tempDir(), 'data')])
    const d = ['--broker', s.address]
    const sl = await Sluice.connect({ brokers: [s.address] })
    cleanups.push(() => sl.close())
    await sl.admin().createTopic('timed', { partitions: 4 })
    await sl.producer().sendBatch(
      'timed',
      Array.from({ length: 400 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })),
    )
    const a = spawnCli(['consume', 'timed', '--group', 'timed-g', '--from-time', '2000-01-01T00:00:00Z', ...d])
    const aExited = new Promise<void>((resolve) => a.on('close', () => resolve()))
    cleanups.push(async () => {
      a.kill('SIGKILL')
      await aExited
    })
    let lines = 0
    a.stdout.on('data', (c: Buffer) => (lines += c.toString().split('\n').length - 1))
    await until(() => lines === 400, 'member A to print the 400 records')
    const membersOf = async () => (await sl.admin().describeGroup('timed-g')).members
    // B joins (A hands over two partitions, committing them) and leaves (A gets them back).
    const b = sl.consumer({ groupId: 'timed-g', heartbeatIntervalMs: 100 })
    await b.subscribe(['timed'])
    await b.run({ eachMessage: () => {} })
    await until(() => b.assignment().length === 2, 'B to get two partitions')
    await b.close()
    for (let i = 0; ; i++) {
      const members = await membersOf()
      if (members.length === 1 && members[0]!.assignment.length === 4) break
      if (i === 150) throw new Error('A did not get all four partitions back')
      await new Promise((r) => setTimeout(r, 100))
    }
    await new Promise((r) => setTimeout(r, 1500))
    // Before, A sought the returning partitions back to --from-time and printed their 200 records again.
    expect(lines).toBe(400)
    a.kill('SIGINT')
    await aExited
  })

  test('consume --until-end reads the healthy partitions of a topic with a damaged one, names it, and exits 1', async () => {
    const dataDir = path.join(await tempDir(), 'data')
    const d = ['--data-dir', dataDir]
    await runCli(['topic', 'create', 'mixed', '--partitions', '2', '--segment-bytes', '1024', '--flush', 'os', ...d])
    const input = Array.from({ length: 60 }, (_, i) => `${i % 2}:v${i}-${'x'.repeat(40)}`).join('\n') + '\n'
    expect((await runCli(['produce', 'mixed', '--key-separator', ':', ...d], { input })).code).toBe(0)
    // Damage one partition's log in its middle: a reader meets a batch whose CRC fails.
    const topicDir = path.join(dataDir, 'topics', 'mixed')
    // Partition 0 is read first: the healthy partition 1 after it must still be read.
    const [damaged, healthy] = ['0', '1']
    const first = path.join(topicDir, damaged, '00000000000000000000.log')
    const bytes = await fs.readFile(first)
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff
    await fs.writeFile(first, bytes)
    const r = await runCli(['consume', 'mixed', '--until-end', '--json', ...d])
    expect(r.code).toBe(1)
    const printed = r.stdout
      .trim()
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { partition: number })
    // Before, the first offline partition ended the read with nothing printed of the healthy one.
    expect(printed.filter((m) => m.partition === Number(healthy)).length).toBe(30)
    expect(r.stderr).toMatch(new RegExp(`error: mixed/${damaged} is damaged or offline, skipped: .*CRC mismatch`))
  })

  test('npm start: SIGTERM to npm (as a process manager sends it) shuts the broker down cleanly', async () => {
    // The start script execs the broker, so npm's signal reaches it instead of an `sh` that would leave it running.
    const dataDir = path.join(await tempDir(), 'data')
    const npm = spawn('npm', ['start', '--silent', '--', '--data-dir', dataDir, '--port', '0'], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // a process group of its own, so the cleanup also reaches a broker npm left behind
    })
    cleanups.push(() => {
      try {
        process.kill(-npm.pid!, 'SIGKILL')
      } catch {
        // the group is gone
      }
    })
    const exited = new Promise<void>((resolve) => npm.on('exit', () => resolve()))
    let out = ''
    let logs = ''
    npm.stderr.on('data', (c: Buffer) => (logs += c.toString()))
    await new Promise<void>((resolve, reject) => {
      npm.stdout.on('data', (c: Buffer) => {
        out += c.toString()
        if (/listening on/.test(out)) resolve()
      })
      void exited.then(() => reject(new Error(`npm start exited before listening: ${out}`)))
    })
    npm.kill('SIGTERM')
    await exited
    // The clean-shutdown marker is written last, after the data dir is flushed and before its lock is released.
    for (let i = 0; i < 200; i++) {
      if (
        await fs.stat(path.join(dataDir, '.clean-shutdown')).then(
          () => true,
          () => false,
        )
      )
        break
      await new Promise((r) => setTimeout(r, 50))
    }
    const marker = await fs.stat(path.join(dataDir, '.clean-shutdown')).then(
      (s) => s.isFile(),
      () => false,
    )
    expect(marker, `no clean-shutdown marker; the broker's log:\n${logs}`).toBe(true)
    expect(logs).toContain('shutdown complete')
  })

  test('an embedded command given a data dir that does not exist is refused and creates nothing; topic create starts one', async () => {
    const dataDir = path.join(await tempDir(), 'data')
    const d = ['--data-dir', dataDir]
    for (const args of [
      ['topic', 'list'],
      ['topic', 'describe', 'orders'],
      ['group', 'list'],
      ['consume', 'orders', '--until-end'],
      ['produce', 'orders'],
    ]) {
      const r = await runCli([...args, ...d], { input: 'x\n' })
      expect([r.code, r.stderr]).toEqual([1, expect.stringMatching(/does not exist: check --data-dir/)])
    }
    await expect(fs.stat(dataDir)).rejects.toMatchObject({ code: 'ENOENT' })
    // serve starts one only if it can serve: a short token, or a port in use, leaves no new data dir behind.
    const short = await runCli(['serve', '--token', 'short', '--port', '0', ...d])
    expect([short.code, short.stderr]).toEqual([2, expect.stringMatching(/token must be at least 8 characters/)])
    const taken = net.createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const port = String((taken.address() as net.AddressInfo).port)
    const busy = await runCli(['serve', '--port', port, ...d])
    taken.close()
    expect([busy.code, busy.stderr]).toEqual([1, expect.stringMatching(/EADDRINUSE/)])
    await expect(fs.stat(dataDir)).rejects.toMatchObject({ code: 'ENOENT' })
    expect((await runCli(['topic', 'create', 'orders', ...d])).code).toBe(0)
    expect((await runCli(['topic', 'list', ...d])).stdout).toBe('orders\n')
  })

  test('log verify passes a clean data dir, names file and byte of a corrupted batch, and log dump lists batches', async () => {
    const dataDir = path.join(await tempDir(), 'data')
    const d = ['--data-dir', dataDir]
    await runCli(['topic', 'create', 'audit', '--partitions', '1', ...d])
    const input = Array.from({ length: 50 }, (_, i) => `line-${i}`).join('\n') + '\n'
    await runCli(['produce', 'audit', ...d], { input })
    const ok = await runCli(['log', 'verify', ...d])
    expect(ok.code).toBe(0)
    expect(ok.stdout).toMatch(/: ok\n$/)
    // A directory that is not a data dir is not walked and passed.
    const other = await runCli(['log', 'verify', '--data-dir', path.dirname(dataDir)])
    expect([other.code, other.stderr]).toEqual([
      1,
      `error: ${path.dirname(dataDir)} is not a Sluice data dir (it has no meta.json)\n`,
    ])
    const missing = await runCli(['log', 'verify', '--data-dir', path.join(dataDir, 'nope')])
    expect([missing.code, missing.stderr]).toEqual([1, `error: ${path.join(dataDir, 'nope')} does not exist\n`])
    const segment = path.join(dataDir, 'topics', 'audit', '0', '00000000000000000000.log')
    const dump = await runCli(['log', 'dump', segment, '--json'])
    expect(dump.code).toBe(0)
    const batches = dump.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { recordCount: number; problem: string | null })
    expect(batches.reduce((n, x) => n + x.recordCount, 0)).toBe(50)
    expect(batches.every((x) => x.problem === null)).toBe(true)
    // flip one byte inside the first batch's records (covered by the CRC)
    const bytes = await fs.readFile(segment)
    bytes[70] = (bytes[70] ?? 0) ^ 0xff
    await fs.writeFile(segment, bytes)
    const bad = await runCli(['log', 'verify', ...d])
    expect(bad.code).toBe(1)
    expect(bad.stdout).toMatch(/PROBLEM .*00000000000000000000\.log at byte 0/)
    expect((await runCli(['log', 'dump', segment])).code).toBe(1)
  })

  test('user add stores a user that serve --users-file (over TLS) accepts; a wrong password or none fails with exit 1; user add/remove apply to the running broker', async () => {
    const dir = await tempDir()
    const usersFile = path.join(dir, 'users.json')
    const added = await runCli(['user', 'add', 'alice', '--users-file', usersFile], { input: 'alice-pass\n' })
    expect(added.code).toBe(0)
    expect(await fs.readFile(usersFile, 'utf8')).not.toContain('alice-pass')
    const cert = makeSelfSignedCert(dir)
    const tls = ['--tls-cert', cert.certFile, '--tls-key', cert.keyFile]
    const s = await serve(['--data-dir', path.join(dir, 'data'), '--users-file', usersFile, ...tls])
    const args = ['topic', 'list', '--broker', s.address, '--tls-ca', cert.certFile, '--user', 'alice']
    const good = await runCli(args, { env: { SLUICE_PASSWORD: 'alice-pass' } })
    expect(good).toMatchObject({ code: 0, stdout: '', stderr: 'no topics\n' })
    const wrong = await runCli(args, { env: { SLUICE_PASSWORD: 'nope' } })
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toMatch(/invalid username or password/)
    const noCredentials = await runCli(['topic', 'list', '--broker', s.address, '--tls-ca', cert.certFile])
    expect(noCredentials.code).toBe(1)
    expect(noCredentials.stderr).toMatch(
      /requires a username and password .*--user, with the password in SLUICE_PASSWORD/,
    )
    // Users added and removed while the broker runs count from the next handshake, without a restart.
    expect((await runCli(['user', 'add', 'bob', '--users-file', usersFile], { input: 'bob-pass\n' })).code).toBe(0)
    expect((await runCli(['user', 'list', '--users-file', usersFile])).stdout).toBe('alice\nbob\n')
    // A misspelt path is an error, not an empty list; a file in a missing directory is named as given.
    const nofile = await runCli(['user', 'list', '--users-file', `${usersFile}.typo`])
    expect([nofile.code, nofile.stdout, nofile.stderr]).toEqual([
      1,
      '',
      expect.stringMatching(/users file .*\.typo does not exist/),
    ])
    const nodir = await runCli(
      ['user', 'add', 'carol', '--users-file', path.join(path.dirname(usersFile), 'no-such-dir', 'u.json')],
      {
        input: 'carol-pass\n',
      },
    )
    expect([nodir.code, nodir.stderr]).toEqual([
      1,
      expect.stringMatching(/cannot write users file .*u\.json: directory .* does not exist\n$/),
    ])
    expect(nodir.stderr).not.toMatch(/\.tmp/)
    const removed = await runCli(['user', 'remove', 'alice', '--users-file', usersFile])
    expect(removed).toMatchObject({ code: 0, stdout: `user alice removed from ${usersFile}\n` })
    expect((await runCli(['user', 'remove', 'alice', '--users-file', usersFile])).code).toBe(1)
    const bobArgs = ['topic', 'list', '--broker', s.address, '--tls-ca', cert.certFile, '--user', 'bob']
    expect((await runCli(bobArgs, { env: { SLUICE_PASSWORD: 'bob-pass' } })).code).toBe(0)
    const gone = await runCli(args, { env: { SLUICE_PASSWORD: 'alice-pass' } })
    expect([gone.code, gone.stderr]).toEqual([1, expect.stringMatching(/invalid username or password/)])
    // Certificate and key swapped: refused before the data dir is opened, naming both files.
    const swapped = await runCli([
      'serve',
      '--data-dir',
      path.join(dir, 'data2'),
      '--port',
      '0',
      '--tls-cert',
      cert.keyFile,
      '--tls-key',
      cert.certFile,
    ])
    expect(swapped.code).toBe(1)
    expect(swapped.stderr).toContain(`error: --tls-cert ${cert.keyFile} and --tls-key ${cert.certFile} do not load: `)
    await expect(fs.stat(path.join(dir, 'data2'))).rejects.toThrow()
    // A users file that is not there is named with its flag, before the data dir is opened.
    const missing = path.join(dir, 'no-such-users.json')
    const noUsers = await runCli([
      'serve',
      '--data-dir',
      path.join(dir, 'data3'),
      '--port',
      '0',
      '--users-file',
      missing,
    ])
    expect([noUsers.code, noUsers.stderr]).toEqual([
      1,
      expect.stringMatching(new RegExp(`^error: --users-file ${missing} cannot be used: ENOENT`)),
    ])
    await expect(fs.stat(path.join(dir, 'data3'))).rejects.toThrow()
    // A client without the CA is told at once why the connection failed.
    const untrusted = await runCli(['topic', 'list', '--broker', s.address, '--tls'])
    expect(untrusted.code).toBe(1)
    expect(untrusted.stderr).toMatch(/certificate is not trusted: pass its CA/)
  })
})

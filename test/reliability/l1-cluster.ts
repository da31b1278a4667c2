// The processes of the L1 load-and-churn test as the parent sees them: the `sluice serve` broker (killed with SIGKILL
// and restarted on the same port and data dir) and the consumer-group member processes (test/fixtures/l1-member.ts),
// each parsed from its JSON-lines stdout into the history and the ownership and commit records the analysis needs.
// The caller kills every child it started here.
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { startServe, type ServeChild } from '../cli-helpers.js'
import type { HistoryRecorder } from './history.js'
import type { CommitAck, OwnershipEvent, Redelivery } from './l1-analysis.js'

const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'l1-member.ts')
/** Member client ids in the history start here (producers are 0..). */
export const MEMBER_CLIENT_BASE = 100
/** Bytes of an unfinished stdout line kept from a member; a longer line is a fixture bug. */
const LINE_BYTES_MAX = 1 << 20
/** Fetches of one partition in the final read. */

export interface MemberSettings {
  broker: string
  group: string
  topic: string
  partitions: number
  sessionTimeoutMs: number
  heartbeatIntervalMs: number
  commitMs: number
}

/** What every member reports into, shared by all member processes of a run. */
export class GroupRecord {
  readonly ownership: OwnershipEvent[] = []
  readonly commitAcks: CommitAck[] = []
  readonly redeliveries: Redelivery[] = []
  /** `${partition}:${offset}` of every record delivered to some member. */
  readonly delivered = new Set<string>()
  deliveries = 0
  commitReports = 0
  readonly deaths = new Map<number, number>()

  constructor(readonly history: HistoryRecorder) {}
}

export class MemberProcess {
  readonly child: ChildProcess
  readonly exited: Promise<void>
  alive = true
  joined = false
  memberId = ''
  /** Every member id this process reported, with when it was first reported. */
  readonly memberIds: Array<{ id: string; t: number }> = []
  /** Partition → start of the current ownership (the `assign` report). */
  readonly ownedSince = new Map<number, number>()
  stderr = ''
  /** Exited on its own (not SIGKILLed by the parent, not asked to exit): a crash. */
  crashed = false
  private exitRequested = false

  constructor(
    readonly index: number,
    settings: MemberSettings,
    private readonly record: GroupRecord,
  ) {
    this.child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
      env: {
        ...process.env,
        BROKER: settings.broker,
        GROUP: settings.group,
        TOPIC: settings.topic,
        PARTITIONS: String(settings.partitions),
        SESSION_MS: String(settings.sessionTimeoutMs),
        HEARTBEAT_MS: String(settings.heartbeatIntervalMs),
        COMMIT_MS: String(settings.commitMs),
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    this.exited = new Promise((resolve) =>
      this.child.once('exit', () => {
        if (this.alive) {
          this.crashed = !this.exitRequested
          this.died(Date.now())
        }
        resolve()
      }),
    )
    this.child.stderr!.setEncoding('utf8')
    this.child.stderr!.on('data', (chunk: string) => {
      if (this.stderr.length < 64 * 1024) this.stderr += chunk
    })
    let pending = ''
    this.child.stdout!.setEncoding('utf8')
    this.child.stdout!.on('data', (chunk: string) => {
      pending += chunk
      let newline: number
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline)
        pending = pending.slice(newline + 1)
        if (line.length > 0) this.onLine(JSON.parse(line) as Report)
      }
      if (pending.length > LINE_BYTES_MAX) throw new Error(`member ${index}: stdout line over ${LINE_BYTES_MAX} bytes`)
    })
    this.child.stdin!.on('error', () => undefined) // a killed member's stdin
  }

  get client(): number {
    return MEMBER_CLIENT_BASE + this.index
  }

  /** Member ids first reported at or after `t`. */
  idsSince(t: number): Set<string> {
    return new Set(this.memberIds.filter((m) => m.t >= t).map((m) => m.id))
  }

  private onLine(r: Report): void {
    const rec = this.record
    switch (r.e) {
      case 'd': {
        rec.deliveries++
        rec.history.poll(this.client, r.p, r.o, r.v)
        const key = `${r.p}:${r.o}`
        if (rec.delivered.has(key))
          rec.redeliveries.push({
            member: this.index,
            partition: r.p,
            offset: r.o,
            ownedSince: this.ownedSince.get(r.p) ?? Date.now(),
          })
        else rec.delivered.add(key)
        break
      }
      case 'member':
        this.memberId = r.memberId
        if (!this.memberIds.some((m) => m.id === r.memberId)) this.memberIds.push({ id: r.memberId, t: r.t })
        break
      case 'assign':
      case 'revoke':
      case 'lost':
        rec.ownership.push({ member: this.index, t: r.t, kind: r.e, memberId: r.memberId, partitions: r.ps })
        for (const p of r.ps) {
          // The checker: the position may jump at an assignment change.
          rec.history.assign(this.client, p)
          if (r.e === 'assign') this.ownedSince.set(p, r.t)
          else this.ownedSince.delete(p)
        }
        break
      case 'commit':
        rec.commitReports++
        for (const [partition, offset] of r.offsets) {
          rec.commitAcks.push({ partition, offset, t: r.t })
          rec.history.commit(this.client, partition, offset)
        }
        break
      case 'joined':
        this.joined = true
        break
      case 'left':
        this.memberId = ''
        break
    }
  }

  private died(t: number): void {
    this.alive = false
    this.memberId = ''
    this.record.deaths.set(this.index, t)
  }

  kill(): void {
    if (!this.alive) return
    this.died(Date.now())
    this.child.kill('SIGKILL')
  }

  send(command: 'rejoin' | 'exit'): void {
    if (!this.alive) return
    if (command === 'exit') this.exitRequested = true
    this.child.stdin!.write(command + '\n')
  }
}

type Report =
  | { e: 'd'; p: number; o: number; v: string }
  | { e: 'member'; t: number; memberId: string; epoch: number }
  | { e: 'assign' | 'revoke' | 'lost'; t: number; memberId: string; ps: number[] }
  | { e: 'commit'; t: number; offsets: Array<[number, number]> }
  | { e: 'joined' | 'left'; t: number }

/** The broker child: started, SIGKILLed and restarted on one port and data dir; its logs kept across lives. */
export class BrokerProcess {
  private lives: ServeChild[] = []
  readonly kills: number[] = []

  private constructor(
    private readonly dataDir: string,
    private current: ServeChild,
  ) {
    this.lives.push(current)
  }

  static async start(dataDir: string): Promise<BrokerProcess> {
    return new BrokerProcess(dataDir, await startServe(BrokerProcess.args(dataDir, 0)))
  }

  private static args(dataDir: string, port: number): string[] {
    // Info level: the coordinator's `group member removed` lines (with their time) feed the ownership rule.
    return ['--data-dir', dataDir, '--port', String(port), '--log-level', 'info']
  }

  get address(): string {
    return this.current.address
  }

  async kill(): Promise<void> {
    const s = this.current
    if (s.child.exitCode === null && s.child.signalCode === null) {
      this.kills.push(Date.now())
      s.child.kill('SIGKILL')
    }
    await s.exited
  }

  async restart(): Promise<void> {
    this.current = await startServe(BrokerProcess.args(this.dataDir, this.current.port))
    this.lives.push(this.current)
  }

  /** Member id → when the coordinator removed it (session or revocation timeout), from every life's log. */
  removals(): Map<string, number> {
    const out = new Map<string, number>()
    for (const life of this.lives)
      for (const line of life.stderr().split('\n')) {
        if (!line.includes('group member removed')) continue
        try {
          const entry = JSON.parse(line) as { time: string; memberId: string }
          out.set(entry.memberId, Date.parse(entry.time))
        } catch {
          // a line cut by the SIGKILL
        }
      }
    return out
  }

  /** Log lines at warn or error level (for the report on failure). */
  problems(): string[] {
    return this.lives.flatMap((l) => l.stderr().split('\n')).filter((l) => /"level":"(warn|error)"/.test(l))
  }
}

// The worker pool for CPU-only jobs over bytes (segment verification, index rebuild); the only piscina import. The
// pool is created on first use (at most 2 threads) and destroyed by close(). From source (vitest, tsx) the worker
// file is the .ts beside this module, loaded through ts-worker-entry.mjs, which registers tsx inside the thread (Node
// 20 does not pass `--import tsx` loader hooks on to workers); from dist/ it is the compiled .js beside it.
import { Piscina } from 'piscina'
import type { SegmentScan } from './segment-scan.js'
import type { BuildIndexesTask, VerifySegmentTask } from './segment.worker.js'

const WORKER_THREADS_MAX = 2
const WORKER_IDLE_TIMEOUT_MS = 5_000
const fromSource = import.meta.url.endsWith('.ts')
const workerUrl = new URL(fromSource ? './segment.worker.ts' : './segment.worker.js', import.meta.url)
const entryUrl = fromSource ? new URL('./ts-worker-entry.mjs', import.meta.url) : workerUrl

export class WorkerPool {
  #pool: Piscina | null = null
  #closed = false

  #get(): Piscina {
    if (this.#closed) throw new Error('worker pool is closed')
    if (this.#pool === null) {
      this.#pool = new Piscina({
        filename: entryUrl.href,
        workerData: { sluiceWorkerModule: workerUrl.href },
        maxThreads: WORKER_THREADS_MAX,
        minThreads: 0,
        idleTimeout: WORKER_IDLE_TIMEOUT_MS,
      })
      // A worker that fails to start rejects the tasks it was given; the pool itself must not throw an unhandled
      // error. Once per pool (it was added on every task: a listener leak Node warned about at the 11th).
      this.#pool.on('error', () => {})
    }
    return this.#pool
  }

  /** 'error' listeners on the pool (tests: exactly one, however many tasks ran). */
  get errorListenerCount(): number {
    return this.#pool?.listenerCount('error') ?? 0
  }

  /** Verifies a whole segment file in a worker thread (and derives its index entries when given an interval). */
  verifySegmentFile(file: string, baseOffset: number, indexIntervalBytes?: number): Promise<SegmentScan> {
    const task: VerifySegmentTask =
      indexIntervalBytes === undefined ? { file, baseOffset } : { file, baseOffset, indexIntervalBytes }
    return this.#get().run(task, { name: 'verifySegmentFile' }) as Promise<SegmentScan>
  }

  /** Builds the indexes of trusted segment bytes in a worker thread (the bytes are copied, not transferred). */
  buildIndexes(bytes: Uint8Array, baseOffset: number, indexIntervalBytes: number): Promise<SegmentScan> {
    const task: BuildIndexesTask = { bytes, baseOffset, indexIntervalBytes }
    return this.#get().run(task, { name: 'buildIndexesTask' }) as Promise<SegmentScan>
  }

  async close(): Promise<void> {
    this.#closed = true
    const pool = this.#pool
    this.#pool = null
    if (pool !== null) await pool.destroy()
  }
}

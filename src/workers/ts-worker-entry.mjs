// Worker entry used only when running from TypeScript source (vitest, `node --import tsx`): Node 20 does not carry
// the parent's tsx loader hooks into worker threads, so this plain-JS file registers tsx inside the worker and then
// loads the .ts worker module named by the pool. From dist/ the pool loads the compiled .js worker directly.
import { register } from 'tsx/esm/api'
import { workerData } from 'node:worker_threads'

register()
const mod = await import(workerData.sluiceWorkerModule)

export function verifySegmentFile(task) {
  return mod.verifySegmentFile(task)
}

export function buildIndexesTask(task) {
  return mod.buildIndexesTask(task)
}

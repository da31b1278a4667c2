// How many threads libuv's pool runs in the `sluice` command (bin/sluice.cjs sets it; the number is written there
// too, and test/cli-launcher.test.ts checks the two agree). The pool runs every fdatasync: with Node's default of 4, a
// broker whose flush 'sync' partitions outnumber it queues group commits behind each other, and an acks 'all' call
// spread over more partitions waits for rounds of fsyncs. Measured (1,600 x 100 B sendBatch calls, one at a time, to
// `sluice serve`): 64 partitions 0.27-0.29 M/s with 4 threads against 0.31-0.35 M/s with 16 (fsync p50 1.95 ms
// against 1.03-1.16 ms, the rest of it queueing); 6 partitions, call p50 1.23-1.30 ms against 1.13-1.26 ms (four
// alternating pairs). 64 threads did no better than 16. Idle pool threads cost a stack each and no CPU.
export const BROKER_THREADPOOL_SIZE = 16

/** `env` with UV_THREADPOOL_SIZE set to the command's default unless it is set already (as the launcher does). */
export function withBrokerThreadpool(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return env.UV_THREADPOOL_SIZE === undefined ? { ...env, UV_THREADPOOL_SIZE: String(BROKER_THREADPOOL_SIZE) } : env
}

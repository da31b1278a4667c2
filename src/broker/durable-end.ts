// The durable ends of partitions as of now: where a reader that sees fsynced records only ('durable' visibility)
// would stop if it read every record appended so far. On a flush 'sync' topic the records past the durable offset
// are already on their way to an fdatasync; on 'interval'/'os' topics nothing may ask for one, so this does, as a
// durable fetch does. The wait is a long-poll (LongPolls: bounded in number, ended by the broker's close) of at most
// `waitMs`; whatever happens, an answer is never past a log's durable offset, so never an offset a power cut could
// take: when the fsync does not come in time (a stalled disk, the log going offline), it is the durable offset as it
// stands then.
import type { PartitionLogApi } from '../storage/api.js'
import type { LongPolls } from './long-poll.js'

/** Wake-ups one call waits through at most (each is a durable offset moving, or the end of the wait). */
const WAKES_MAX = 1_000

export async function durableEndsNow(
  longPolls: LongPolls,
  logs: readonly PartitionLogApi[],
  waitMs: number,
): Promise<number[]> {
  const targets = logs.map((log) => log.logEndOffset)
  const behind = (): PartitionLogApi[] => logs.filter((log, i) => log.durableOffset < targets[i]!)
  const deadline = Date.now() + waitMs
  for (let wakes = 0; wakes < WAKES_MAX; wakes++) {
    const waiting = behind()
    const left = deadline - Date.now()
    if (waiting.length === 0 || left <= 0) break
    for (const log of waiting) log.requestFlush()
    const reason = await longPolls.wait(waiting, left, 'durable')
    if (reason === 'closed' || reason === 'full' || reason === 'timeout') break
  }
  return logs.map((log, i) => Math.min(log.durableOffset, targets[i]!))
}

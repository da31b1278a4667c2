// The durable end of a partition as of now: where a reader that sees fsynced records only ('durable' visibility)
// would stop if it read every record appended so far. On a flush 'sync' topic the records past the durable offset
// are already on their way to an fdatasync; on 'interval'/'os' topics nothing may ask for one, so this does, as a
// durable fetch does. Never an offset a power cut could take: when the fsync does not come within `waitMs` (a
// stalled disk, the partition going offline), the answer is the durable offset as it stands then.
import type { PartitionLogApi } from '../storage/api.js'

export async function durableEndNow(log: PartitionLogApi, waitMs: number): Promise<number> {
  const target = log.logEndOffset
  if (log.durableOffset >= target) return target
  await new Promise<void>((resolve) => {
    let timer: NodeJS.Timeout | null = null
    const unsubscribe = log.onDurable((durable) => {
      if (durable < target) return
      if (timer !== null) clearTimeout(timer)
      unsubscribe()
      resolve()
    })
    timer = setTimeout(() => {
      unsubscribe()
      resolve()
    }, waitMs)
    log.requestFlush()
  })
  return Math.min(log.durableOffset, target)
}

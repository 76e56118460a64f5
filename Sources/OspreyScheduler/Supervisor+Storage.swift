import Logging
import OspreyCore
import OspreyStore

/// What the supervisor does when the store cannot record a task (its disk full, a lock held elsewhere, its database
/// out of reach): the task is interrupted, not failed, and tried again later.
extension Supervisor {
    /// Writes a task's outcome; while the store cannot record it (a full disk), tries again every
    /// ``Limits/storageRetry``, the task's slot kept, until it can, the task is cancelled, or the gateway stops (then
    /// the task, still `running`, resumes at the next start).
    func record(_ id: TaskRecord.ID, result: String?, error: String?, tokens: Int, costUSD: Double) async {
        while true {
            do {
                _ = try await store.tasks.finish(id, result: result, error: error, tokens: tokens, costUSD: costUSD)
                return
            } catch let storeError as StoreError where storeError.isUnavailable {
                Logger.current.error(
                    "task's outcome not recorded; tried again",
                    metadata: ["task.id": "\(id)", "error": "\(storeError)"]
                )
                do { try await sleep(limits.storageRetry) } catch { return }
            } catch {
                // Cancelled meanwhile (the store says so), or shutting down.
                return
            }
        }
    }

    /// The store could not record the task's start or its progress (a full disk): the task is not failed for it;
    /// it is started again after ``Limits/storageRetry``, doubled with each failure in a row up to 5 minutes (a run
    /// that could start but not record its step has paid for a model call: the wait bounds what a disk that stays
    /// full costs), resumed from its transcript if it had run. A cancel meanwhile drops it.
    func retryLater(_ entry: Entry, because error: StoreError) {
        var entry = entry
        entry.storageFailures += 1
        let delay = Backoff(first: limits.storageRetry, longest: .seconds(300)).delay(after: entry.storageFailures)
        Logger.current.warning(
            "task interrupted: the store could not record it; started again later",
            metadata: ["task.id": "\(entry.task.id)", "error": "\(error)", "retry.after": "\(delay)"]
        )
        retrying[entry.task.id] = entry
        let sleep = self.sleep
        Task { [weak self] in
            do { try await sleep(delay) } catch {}
            await self?.retry(entry.task.id)
        }
    }

    func retry(_ id: TaskRecord.ID) {
        guard let entry = retrying.removeValue(forKey: id) else { return }  // cancelled meanwhile
        enqueue(entry.task, resume: entry.resume, storageFailures: entry.storageFailures)
    }
}

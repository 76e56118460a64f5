import OspreyStore

/// The supervisor's queued tasks: for each provider a binary heap ordered by priority (highest first), then by
/// the order they were queued, so choosing the next task looks at one head per provider (O(providers + log n))
/// instead of scanning the whole queue for every task it starts.
///
/// Removal is lazy: a removed id leaves the set of live ids at once, and its heap entry is dropped when it
/// reaches the head. An id queued again gets a new sequence, so its old entry is dropped the same way.
struct TaskQueue {
    private var heaps: [String: [Supervisor.Entry]] = [:]
    /// The sequence of the live entry of each queued id.
    private var live: [TaskRecord.ID: Int] = [:]

    var count: Int { live.count }

    func contains(_ id: TaskRecord.ID) -> Bool { live[id] != nil }

    mutating func push(_ entry: Supervisor.Entry, provider: String) {
        live[entry.task.id] = entry.sequence
        var heap = heaps.removeValue(forKey: provider) ?? []
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.precedes(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
        heaps[provider] = heap
    }

    mutating func remove(_ id: TaskRecord.ID) { live[id] = nil }

    /// Takes every live entry `predicate` picks out of the queue (lazily, as ``remove(_:)`` does); O(n).
    mutating func removeAll(where predicate: (Supervisor.Entry) -> Bool) -> [Supervisor.Entry] {
        var taken: [Supervisor.Entry] = []
        for heap in heaps.values {
            for entry in heap where live[entry.task.id] == entry.sequence && predicate(entry) {
                live[entry.task.id] = nil
                taken.append(entry)
            }
        }
        return taken.sorted { $0.sequence < $1.sequence }
    }

    /// Takes the best queued task among the providers `eligible` admits, with its provider.
    mutating func popBest(eligible: (String) -> Bool) -> (entry: Supervisor.Entry, provider: String)? {
        var best: (entry: Supervisor.Entry, provider: String)?
        for provider in Array(heaps.keys) where eligible(provider) {
            guard let head = liveHead(provider) else { continue }
            if let current = best, !Self.precedes(head, current.entry) { continue }
            best = (head, provider)
        }
        guard let best else { return nil }
        popHead(best.provider)
        live[best.entry.task.id] = nil
        return best
    }

    static func precedes(_ a: Supervisor.Entry, _ b: Supervisor.Entry) -> Bool {
        a.task.priority != b.task.priority ? a.task.priority > b.task.priority : a.sequence < b.sequence
    }

    /// The head of a provider's heap after dropping removed entries; nil (and the heap gone) when none is left.
    private mutating func liveHead(_ provider: String) -> Supervisor.Entry? {
        while let head = heaps[provider]?.first {
            if live[head.task.id] == head.sequence { return head }
            popHead(provider)
        }
        return nil
    }

    private mutating func popHead(_ provider: String) {
        guard var heap = heaps.removeValue(forKey: provider), !heap.isEmpty else { return }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                let right = left + 1
                var first = parent
                if left < heap.count, Self.precedes(heap[left], heap[first]) { first = left }
                if right < heap.count, Self.precedes(heap[right], heap[first]) { first = right }
                if first == parent { break }
                heap.swapAt(parent, first)
                parent = first
            }
        }
        if !heap.isEmpty { heaps[provider] = heap }
    }
}

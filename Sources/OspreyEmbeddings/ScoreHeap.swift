/// A binary min-heap of scored nodes: the k best results so far (popping the worst), or, with negated scores,
/// the candidates still to visit (popping the best).
struct ScoreHeap {
    struct Element {
        var score: Float
        var node: Int32
    }

    private(set) var elements: [Element] = []

    init(capacity: Int = 0) { elements.reserveCapacity(capacity) }

    var count: Int { elements.count }
    var isEmpty: Bool { elements.isEmpty }
    /// The lowest-scoring element.
    var minimum: Element? { elements.first }

    mutating func push(_ element: Element) {
        elements.append(element)
        var child = elements.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard elements[child].score < elements[parent].score else { break }
            elements.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popMinimum() -> Element? {
        guard let first = elements.first else { return nil }
        let last = elements.removeLast()
        if !elements.isEmpty {
            elements[0] = last
            siftDown(from: 0)
        }
        return first
    }

    /// Replaces the lowest-scoring element, which must exist, with `element`.
    mutating func replaceMinimum(with element: Element) {
        elements[0] = element
        siftDown(from: 0)
    }

    private mutating func siftDown(from start: Int) {
        var parent = start
        let count = elements.count
        while true {
            let left = 2 * parent + 1
            guard left < count else { return }
            var smallest = left
            if left + 1 < count, elements[left + 1].score < elements[left].score { smallest = left + 1 }
            guard elements[smallest].score < elements[parent].score else { return }
            elements.swapAt(parent, smallest)
            parent = smallest
        }
    }
}

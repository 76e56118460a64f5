import Synchronization

/// A value read once and kept (the bot's own name or id).
final class Cached<Value: Sendable>: Sendable {
    private let box = Mutex<Value?>(nil)
    var value: Value? { box.withLock { $0 } }
    func set(_ value: Value) { box.withLock { $0 = value } }
}

/// State a connector (a value type) shares between its copies and tasks.
final class Shared<Value: Sendable>: Sendable {
    private let box: Mutex<Value>
    init(_ value: Value) { box = Mutex(value) }
    func withLock<Result: Sendable>(_ body: (inout Value) -> Result) -> Result { box.withLock { body(&$0) } }
}

/// Reconnect waits: 1 s, 2 s, 4 s, … up to 30 s.
enum Backoff {
    static func delay(after failures: Int) -> Duration {
        .milliseconds(min(30_000, 500 << min(max(failures, 1), 6)))
    }
}

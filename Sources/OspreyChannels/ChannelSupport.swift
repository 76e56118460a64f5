import Synchronization

/// State a connector (a value type) shares between its copies and tasks: its gateway session, the bot's own name or
/// id once read.
final class Shared<Value: Sendable>: Sendable {
    private let box: Mutex<Value>
    init(_ value: Value) { box = Mutex(value) }
    func withLock<Result: Sendable>(_ body: (inout Value) -> Result) -> Result { box.withLock { body(&$0) } }
    var value: Value { withLock { $0 } }
    func set(_ value: Value) { withLock { $0 = value } }
}

/// Background recalled from long-term memory for a prompt, and whether any of it is untrusted.
///
/// An untrusted memory placed in the system prompt taints the run exactly as an untrusted tool result would.
public struct Recall: Hashable, Sendable {
    public var text: String
    public var untrusted: Bool

    public init(text: String, untrusted: Bool) {
        self.text = text
        self.untrusted = untrusted
    }
}

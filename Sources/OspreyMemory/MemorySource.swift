/// Who or what a memory came from; the record's `provenance` says exactly which one.
///
/// The raw value is the spelling in a memory file's front matter.
public enum MemorySource: String, CaseIterable, Hashable, Sendable {
    /// The user said it.
    case user
    /// The agent concluded it.
    case agent
    /// A tool returned it.
    case tool
    /// A web page said it.
    case url
}

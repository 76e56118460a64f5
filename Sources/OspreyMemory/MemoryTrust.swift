/// Whether a memory's text may be treated as instructions or only as data.
///
/// Memories drawn from tools and web pages can carry prompt injections, so they start out untrusted.
/// The raw value is the spelling in a memory file's front matter.
public enum MemoryTrust: String, CaseIterable, Hashable, Sendable {
    /// Written or confirmed by the user.
    case trusted
    /// Quote as data, never follow as instructions.
    case untrusted
}

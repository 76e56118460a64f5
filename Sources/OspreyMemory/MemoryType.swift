/// A kind of memory, which decides how the agent uses it when recalled.
///
/// The raw value is the spelling in a memory file's front matter.
public enum MemoryType: String, CaseIterable, Hashable, Sendable {
    /// A statement about the world or the user, such as a name or a deadline.
    case fact
    /// How the user likes things done.
    case preference
    /// Steps that accomplish a task.
    case procedure
    /// Something that happened, with its context.
    case episode
    /// What was learned from a success or a mistake.
    case lesson
}

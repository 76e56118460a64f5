/// Where a background task is: `queued`, `running`, then one of the three end states.
///
/// Stored in `tasks.status` and sent on the wire as its raw value.
public enum TaskStatus: String, Hashable, Sendable, CaseIterable, Codable, SQLValueConvertible,
    CustomStringConvertible
{
    case queued, running, completed, failed, cancelled

    /// True for `completed`, `failed` and `cancelled`: a task in one of them can change no more.
    public var isFinished: Bool {
        switch self {
        case .queued, .running: false
        case .completed, .failed, .cancelled: true
        }
    }

    public var description: String { rawValue }
}

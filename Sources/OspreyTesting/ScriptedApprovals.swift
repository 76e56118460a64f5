public import OspreyCore
public import OspreyTools
import Synchronization

/// An approval gate that answers every request the same scripted way and remembers what it was asked.
public final class ScriptedApprovals: ApprovalGate {
    /// How the fake answers.
    public enum Answer: Sendable {
        case grant, deny, expire
    }

    private let answer: Answer
    private let asked = Mutex<[ApprovalRequest]>([])

    public init(_ answer: Answer) { self.answer = answer }

    /// The requests seen so far, in order.
    public var requests: [ApprovalRequest] { asked.withLock { $0 } }

    public func decide(_ request: ApprovalRequest) async throws -> ApprovalOutcome {
        let number = asked.withLock { requests in
            requests.append(request)
            return requests.count
        }
        switch answer {
        case .grant: return .granted(approvalID: "apr_scripted\(number)", scope: "once")
        case .deny: return .denied(approvalID: "apr_scripted\(number)", by: "user:test")
        case .expire: return .expired(approvalID: "apr_scripted\(number)")
        }
    }
}

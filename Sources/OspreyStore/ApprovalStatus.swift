/// Where an approval is: `pending` until a human decides or it expires; a once-grant becomes `used` after its call.
///
/// Stored in `approvals.status` and sent on the wire as its raw value.
public enum ApprovalStatus: String, Hashable, Sendable, CaseIterable, Codable, SQLValueConvertible,
    CustomStringConvertible
{
    case pending, granted, denied, expired, used

    public var description: String { rawValue }
}

/// A background agent job, named here so events can carry its identifier; its record (`TaskRecord`) is kept by the
/// store.
public enum BackgroundTask {
    /// A background task's identifier (`tsk_…`); `TaskRecord.ID` is this type.
    public typealias ID = Identifier<BackgroundTask>
}

import GRDB

extension GroupCommit {
    /// A failure of the disk under the database (full, a write that failed, a file size limit reached), or its write
    /// lock held by another process past the busy timeout (a `sqlite3` shell left in a transaction), as the store's
    /// own error, which says so and that nothing was recorded (a client is answered 503, not an internal error); any
    /// other error as it is.
    static func storageFailure(_ error: any Error) -> any Error {
        guard let error = error as? DatabaseError else { return error }
        let detail = error.message ?? "\(error.resultCode)"
        switch error.resultCode {
        case .SQLITE_FULL:
            return StoreError.unavailable("the home's disk is full: nothing was recorded (\(detail))")
        case .SQLITE_IOERR:
            return StoreError.unavailable("the home's disk could not be written: nothing was recorded (\(detail))")
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return StoreError.unavailable(
                "the database is held by another process (its write lock): nothing was recorded (\(detail))"
            )
        default:
            return error
        }
    }
}

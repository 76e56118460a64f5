public import OspreyCore

/// A `sessions` row, with its `message_count` when the query counts them, decodes through `Session`'s own
/// `Decodable` form: its keys are the columns.
extension Session: SQLRecord {}

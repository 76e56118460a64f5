import OspreyCore

extension Principal {
    /// The actor of test set-up steps whose actor no test reads.
    static let test = Principal(rawValue: "test")
}

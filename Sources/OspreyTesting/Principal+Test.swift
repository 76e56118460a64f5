public import OspreyCore

extension Principal {
    /// The actor of test set-up steps whose actor no test reads.
    public static let test = Principal(rawValue: "test")
}

/// Everything that can go wrong while loading or running the embedding model.
public enum EmbeddingError: Error, Hashable, Sendable {
    /// A model file is missing, unreadable or malformed.
    case modelFile(path: String, reason: String)
    /// The weights lack a tensor the encoder needs.
    case missingTensor(name: String)
    /// A tensor has a shape the encoder can't use.
    case tensorShape(name: String, expected: [Int], actual: [Int])
    /// A tensor is stored in an element type this reader doesn't convert.
    case unsupportedDataType(name: String, dataType: String)
    /// The vocabulary lacks a token the tokenizer needs, such as `[CLS]`.
    case missingToken(String)
}

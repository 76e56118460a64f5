public import OspreyCore

/// What a session offers the host: its tools, prompts and resources, each with the work behind it.
extension MCPServerSession {
    /// A tool the session offers: what the host sees, and what a call does.
    public struct ServedTool: Sendable {
        public var name: String
        public var description: String
        public var inputSchema: JSONValue
        public var call: @Sendable (JSONValue, MCPProgress) async throws -> String

        public init(
            name: String,
            description: String,
            inputSchema: JSONValue,
            call: @escaping @Sendable (JSONValue, MCPProgress) async throws -> String
        ) {
            self.name = name
            self.description = description
            self.inputSchema = inputSchema
            self.call = call
        }
    }

    /// A prompt the session offers: its arguments, and the messages it expands to.
    public struct ServedPrompt: Sendable {
        public var name: String
        public var description: String
        /// Each argument's name, description and whether it is required.
        public var arguments: [(name: String, description: String, required: Bool)]
        public var messages: @Sendable ([String: String]) async throws -> [JSONValue]

        public init(
            name: String,
            description: String,
            arguments: [(name: String, description: String, required: Bool)],
            messages: @escaping @Sendable ([String: String]) async throws -> [JSONValue]
        ) {
            self.name = name
            self.description = description
            self.arguments = arguments
            self.messages = messages
        }
    }

    /// The resources the session offers: a listing, templates for the rest, and how a URI is read.
    public struct ServedResources: Sendable {
        /// `{uri, name, description?, mimeType?}` objects.
        public var list: @Sendable () async throws -> [JSONValue]
        /// `{uriTemplate, name, description?, mimeType?}` objects (RFC 6570 level 1).
        public var templates: [JSONValue]
        /// The `contents` of a URI (`{uri, mimeType, text}` objects); ``MCPResourceNotFound`` for an unknown one.
        public var read: @Sendable (String) async throws -> [JSONValue]

        public init(
            list: @escaping @Sendable () async throws -> [JSONValue],
            templates: [JSONValue],
            read: @escaping @Sendable (String) async throws -> [JSONValue]
        ) {
            self.list = list
            self.templates = templates
            self.read = read
        }
    }
}

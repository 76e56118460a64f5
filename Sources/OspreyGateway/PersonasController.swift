import Foundation
import Hummingbird
import OspreyCore
import OspreyStore
import OspreyTools

/// `/api/personas`: the personas a run may act in (built-in, configured, files in the home), and the file ones
/// written or removed by an admin.
struct PersonasController {
    let catalog: PersonaCatalog
    /// Why a persona's model is no route this gateway can call, or nil.
    let modelProblem: @Sendable (String) -> String?
    /// Refuses a persona's tool list that names a tool there is none of (``AgentRuntime/checkTools(_:)``).
    let checkTools: @Sendable ([String]) throws -> Void

    var operations: [Operation] { [list, show, set, remove] }

    func add(to routes: inout RouteTable) {
        let id = ["id": "id"]
        routes.bind(.get, "/api/personas", list)
        routes.bind(.get, "/api/personas/:id", show, parameters: id)
        routes.bind(.put, "/api/personas/:id", set, parameters: id, body: true)
        routes.bind(.delete, "/api/personas/:id", remove, parameters: id, status: { _ in .noContent })
    }

    var list: Operation {
        Operation("personas.list", role: .viewer) { (_: NoFields, _) in
            let (personas, failures) = catalog.all()
            return [
                "personas": .array(personas.map(\.json)),
                "failures": .object(failures.mapValues(JSONValue.string)),
            ]
        }
    }

    var show: Operation {
        Operation("personas.get", role: .viewer) { (request: RecordID, _) in
            guard let persona = catalog.persona(named: request.id) else {
                throw APIError(.notFound, "not_found", "No persona named '\(request.id)'.")
            }
            return persona.json
        }
    }

    struct Change: OperationRequest {
        static let fields: Set<String> = [
            "id", "description", "instructions", "model", "tools", "temperature", "read_only",
        ]
        let persona: Persona

        init(_ fields: Fields) throws {
            let name = try fields.string("id")
            guard Persona.isName(name) else {
                throw APIError.badRequest("A persona's name is 1-32 lower-case letters, digits, - and _.")
            }
            var temperature: Double?
            if let value = fields["temperature"], value != .null {
                guard let number = value.doubleValue, (0...2).contains(number) else {
                    throw APIError.badRequest("Field 'temperature' must be a number in 0...2.")
                }
                temperature = number
            }
            var readOnly = false
            if let value = fields["read_only"], value != .null {
                guard let flag = value.boolValue else {
                    throw APIError.badRequest("Field 'read_only' must be a boolean.")
                }
                readOnly = flag
            }
            let description = try fields.string("description")
            let instructions = try fields.string("instructions")
            guard !description.contains("\n") else {
                throw APIError.badRequest("Field 'description' must be one line.")
            }
            persona = Persona(
                name: name,
                description: description,
                instructions: instructions,
                model: try fields.optionalString("model"),
                tools: try fields.optionalStrings("tools"),
                temperature: temperature,
                readOnly: readOnly
            )
        }
    }

    var set: Operation {
        Operation("personas.set", role: .admin) { (request: Change, _) in
            // Checked when written, not when a run first takes the persona up and fails.
            if let model = request.persona.model, let problem = modelProblem(model) {
                throw APIError.badRequest(problem)
            }
            try checkTools(request.persona.tools ?? [])
            do {
                try catalog.write(request.persona)
            } catch let error as SkillError {
                throw APIError(.conflict, "conflict", error.description)
            }
            return request.persona.json
        }
    }

    var remove: Operation {
        Operation("personas.remove", role: .admin) { (request: RecordID, _) in
            guard try catalog.remove(request.id) else {
                throw APIError(
                    .notFound,
                    "not_found",
                    "No persona file named '\(request.id)' (built-in and configured ones stay)."
                )
            }
            return .null
        }
    }
}

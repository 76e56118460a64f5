import Foundation
public import HTTPTypes
public import Hummingbird
import Logging
import NIOCore
import OspreyAgent
import OspreyChannels
import OspreyCore
import OspreyEmbeddings
import OspreyHost
import OspreyMemory
import OspreyProviders
import OspreySandbox
import OspreyScheduler
import OspreyStore
import OspreyTools

/// An error as the API reports it: a status and `{"error":{"code","message"}}`.
///
/// This file is the one place where domain errors become HTTP.
public struct APIError: Error, HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json"
        // The OpenAI-compatible door answers in OpenAI's error shape, so its clients read the error as they expect.
        let body = body(openAI: request.uri.path.hasPrefix("/v1/"))
        return Response(
            status: status,
            headers: headers,
            body: .init(byteBuffer: ByteBuffer(string: body.canonicalJSON))
        )
    }

    /// The error's JSON: `{"error":{"code","message"}}`, or OpenAI's `{"error":{"message","type","param","code"}}`.
    func body(openAI: Bool = false) -> JSONValue {
        openAI
            ? [
                "error": [
                    "message": .string(message), "type": .string(openAIType), "param": .null, "code": .string(code),
                ]
            ]
            : ["error": ["code": .string(code), "message": .string(message)]]
    }

    /// What a client is told of any error: its API form, or a bare 500 for one that has none.
    static func answering(_ error: any Error) -> APIError {
        from(error) ?? APIError(.internalServerError, "internal_error", "Internal error.")
    }

    /// OpenAI's error `type` for this status.
    var openAIType: String {
        switch status.code {
        case 401: "authentication_error"
        case 403: "permission_error"
        case 404: "not_found_error"
        case 429: "rate_limit_error"
        case 400..<500: "invalid_request_error"
        default: "api_error"
        }
    }

    static func badRequest(_ message: String) -> APIError { APIError(.badRequest, "invalid_request", message) }

    /// Translates any error into what the client sees; unknown failures become a bare 500.
    ///
    /// Every module's error type is mapped here, so a module throws its own domain error and never borrows
    /// another's (`StoreError.invalid`) to get a status.
    static func from(_ error: any Error) -> APIError? {
        switch error {
        case let error as APIError:
            return error
        case let error as StoreError:
            switch error {
            case .notFound(let kind, _):
                return APIError(
                    .notFound,
                    "not_found",
                    error.description.replacingOccurrences(of: "no \(kind)", with: "No \(kind)")
                )
            case .invalid(let message): return .badRequest(message)
            case .unavailable(let message): return APIError(.serviceUnavailable, "unavailable", message)
            case .conflict(let message): return APIError(.conflict, "conflict", message)
            }
        case let error as AgentError:
            let status: HTTPResponse.Status =
                switch error {
                case .budgetExceeded: .tooManyRequests
                case .model: .badGateway
                case .timeLimit: .gatewayTimeout
                case .tooManyTurns: .unprocessableContent
                }
            return APIError(status, error.code, error.description)
        case let error as ScheduleError:
            return .badRequest(error.description)
        case let error as ScheduleRequestError:
            return .badRequest(error.description)
        case let error as MemoryRecordError:
            return .badRequest(error.description)
        case let error as MemoryRequestError:
            return .badRequest(error.description)
        case is VectorIndexError:
            // The index, not the request, is at fault: a 500 the middleware logs.
            return nil
        case let error as EmbeddingError:
            return APIError(
                .serviceUnavailable,
                "embedder_unavailable",
                "The embedding model cannot be used: \(error)."
            )
        case let error as ProviderError:
            switch error {
            case .rateLimited(_, let retryAfter, _):
                var headers = HTTPFields()
                if let retryAfter { headers[.retryAfter] = String(Int(retryAfter.rounded(.up))) }
                return APIError(.tooManyRequests, "provider_rate_limited", error.description, headers: headers)
            case .circuitOpen: return APIError(.serviceUnavailable, "provider_unavailable", error.description)
            case .timedOut: return APIError(.gatewayTimeout, "provider_timeout", error.description)
            default: return APIError(.badGateway, "provider_error", error.description)
            }
        case let error as SwitchPlan.Invalid:
            return .badRequest(error.description)
        case let error as PlatformError:
            return APIError(.badGateway, "channel_error", error.description)
        case let error as ToolArgumentError:
            return .badRequest(error.description)
        case let error as ShellParseError:
            return .badRequest(error.description)
        case let error as SandboxError:
            return APIError(.forbidden, "sandbox_refused", error.description)
        case let error as ConfigError:
            return APIError(.serviceUnavailable, "configuration_error", error.message)
        case let error as TOMLError:
            return APIError(.serviceUnavailable, "configuration_error", "config.toml \(error.description)")
        case let error as SecretError:
            return APIError(.serviceUnavailable, "configuration_error", error.message)
        case let error as HomeError:
            return APIError(.serviceUnavailable, "unavailable", error.message)
        case let error as FileWriteError:
            return APIError(.serviceUnavailable, "unavailable", error.message)
        case let error as JSONParseError:
            return APIError(.badRequest, "malformed_json", "Request body is not valid JSON: \(error)")
        case let error as any HTTPResponseError:
            switch error.status {
            case .notFound: return APIError(.notFound, "not_found", "No such route.")
            case .contentTooLarge: return APIError(.contentTooLarge, "payload_too_large", "Request body is too large.")
            case .methodNotAllowed: return APIError(.methodNotAllowed, "method_not_allowed", "Method not allowed.")
            default: return APIError(error.status, "http_error", error.status.reasonPhrase)
            }
        default:
            return nil
        }
    }
}

/// Turns every error into a JSON error response, so no handler can leak a stack trace or an empty 500.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    @concurrent func handle(
        _ request: Request,
        context: Context,
        next: @concurrent (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            if let apiError = APIError.from(error) {
                return try apiError.response(from: request, context: context)
            }
            context.logger.error(
                "Request failed",
                metadata: ["http.path": "\(request.uri.path)", "error": "\(String(reflecting: error))"]
            )
            return try APIError.answering(error).response(from: request, context: context)
        }
    }
}

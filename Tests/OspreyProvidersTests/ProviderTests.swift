import AsyncHTTPClient
import Foundation
import OspreyCore
import OspreyTesting
import Synchronization
import Testing

@testable import OspreyProviders

@Suite(.serialized)
struct ProviderTests {
    static let request = ModelRequest(
        model: "gpt-test",
        instructions: "Be brief.",
        messages: [.user("Read a.txt and b.txt")],
        tools: [ToolDefinition(name: "read_file", description: "Read a file.", parameters: ["type": "object"])]
    )

    static func collect(
        _ provider: some ModelProvider,
        _ request: ModelRequest = request
    ) async throws -> (ModelReply, [ModelEvent]) {
        let events = Mutex<[ModelEvent]>([])
        let reply = try await provider.respond(to: request) { event in events.withLock { $0.append(event) } }
        return (reply, events.withLock { $0 })
    }

    // Chunks in the shape of OpenAI's documented streaming example, with two parallel tool calls.
    static let openAIToolStream = ScriptedHTTPServer.Response.sse([
        #"{"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"Reading "},"finish_reason":null}]}"#,
        #"{"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"both."},"finish_reason":null}]}"#,
        #"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"read_file","arguments":""}}]}}]}"#,
        #"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"read_file","arguments":"{\"pa"}}]}}]}"#,
        #"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"path\":\"a.txt\"}"}}]}}]}"#,
        #"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"th\":\"b.txt\"}"}}]}}]}"#,
        #"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        #"{"choices":[],"usage":{"prompt_tokens":42,"completion_tokens":17,"total_tokens":59}}"#,
        "[DONE]",
    ])

    @Test func openAIStreamsTextAndParallelToolCallsAndReportsUsage() async throws {
        let server = ScriptedHTTPServer(responses: [Self.openAIToolStream])
        try await server.run { server in
            let provider = OpenAIProvider(name: "openai", baseURL: server.baseURL + "/v1", apiKey: "sk-test")
            let (reply, events) = try await Self.collect(provider)
            #expect(reply.message.text == "Reading both.")
            #expect(
                reply.message.toolCalls == [
                    ToolCall(id: ToolCall.ID("call_a"), name: "read_file", arguments: #"{"path":"a.txt"}"#),
                    ToolCall(id: ToolCall.ID("call_b"), name: "read_file", arguments: #"{"path":"b.txt"}"#),
                ]
            )
            #expect(reply.usage == Usage(inputTokens: 42, outputTokens: 17))
            #expect(reply.stopReason == .toolUse)
            #expect(
                events == [
                    .textDelta("Reading "), .textDelta("both."),
                    .toolCallStarted(id: ToolCall.ID("call_a"), name: "read_file"),
                    .toolCallStarted(id: ToolCall.ID("call_b"), name: "read_file"),
                ]
            )
            let sent = try #require(server.requests.first)
            #expect(sent.path == "/v1/chat/completions")
            #expect(sent.headers["authorization"] == "Bearer sk-test")
            let body = try JSONValue.parse(sent.body)
            #expect(body["stream"] == true)
            #expect(body["stream_options"]?["include_usage"] == true)
            #expect(body["messages"]?.arrayValue?.first == ["role": "system", "content": "Be brief."])
            #expect(body["tools"]?.arrayValue?.first?["function"]?["name"] == "read_file")
            #expect(body["tool_choice"] == "auto")
        }
    }

    @Test func openAIRequestsCarryToolCallsAndResultsInItsFormat() throws {
        let call = ToolCall(id: ToolCall.ID("call_1"), name: "read_file", arguments: #"{"path":"a"}"#)
        let request = ModelRequest(
            model: "m",
            messages: [
                .user("go"), Message(role: .assistant, content: [.toolCall(call)]),
                Message(role: .tool, content: [.toolResult(ToolResult(callID: call.id, output: "A", isError: false))]),
            ],
            toolChoice: "read_file"
        )
        let messages = try #require(OpenAIProvider.body(for: request)["messages"]?.arrayValue)
        #expect(messages[1]["content"] == "")
        #expect(messages[1]["tool_calls"]?.arrayValue?.first?["function"]?["arguments"] == #"{"path":"a"}"#)
        #expect(messages[2] == ["role": "tool", "tool_call_id": "call_1", "content": "A"])
        let asUser = try #require(OpenAIProvider.body(for: request, toolResultsAsUser: true)["messages"]?.arrayValue)
        #expect(asUser[2] == ["role": "user", "content": "Result of read_file:\nA"])
    }

    static let anthropicStream = ScriptedHTTPServer.Response.sse(
        [
            #"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-test","stop_reason":null,"usage":{"input_tokens":25,"output_tokens":1}}}"#,
            #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            #"{"type":"ping"}"#,
            #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me read it."}}"#,
            #"{"type":"content_block_stop","index":0}"#,
            #"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"read_file","input":{}}}"#,
            #"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"path\":"}}"#,
            #"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":" \"a.txt\"}"}}"#,
            #"{"type":"content_block_stop","index":1}"#,
            #"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}"#,
            #"{"type":"message_stop"}"#,
        ],
        events: [
            "message_start", "content_block_start", "ping", "content_block_delta", "content_block_stop",
            "content_block_start",
            "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop",
        ]
    )

    @Test func anthropicStreamsTextAndToolUseBlocks() async throws {
        let server = ScriptedHTTPServer(responses: [Self.anthropicStream])
        try await server.run { server in
            let provider = AnthropicProvider(name: "anthropic", baseURL: server.baseURL, apiKey: "sk-ant-test")
            let call = ToolCall(id: ToolCall.ID("toolu_0"), name: "read_file", arguments: #"{"path":"x"}"#)
            var request = Self.request
            request.messages += [
                Message(role: .assistant, content: [.toolCall(call)]),
                Message(role: .tool, content: [.toolResult(ToolResult(callID: call.id, output: "X", isError: true))]),
            ]
            let (reply, events) = try await Self.collect(provider, request)
            #expect(reply.message.text == "Let me read it.")
            #expect(
                reply.message.toolCalls == [
                    ToolCall(id: ToolCall.ID("toolu_1"), name: "read_file", arguments: #"{"path": "a.txt"}"#)
                ]
            )
            #expect(reply.usage == Usage(inputTokens: 25, outputTokens: 89))
            #expect(reply.stopReason == .toolUse)
            #expect(events.first == .textDelta("Let me read it."))
            let sent = try #require(server.requests.first)
            #expect(sent.path == "/v1/messages")
            #expect(sent.headers["x-api-key"] == "sk-ant-test")
            #expect(sent.headers["anthropic-version"] == "2023-06-01")
            let body = try JSONValue.parse(sent.body)
            #expect(body["system"] == "Be brief.")
            #expect(body["tools"]?.arrayValue?.first?["input_schema"] == ["type": "object"])
            let messages = try #require(body["messages"]?.arrayValue)
            #expect(messages[1]["content"]?.arrayValue?.first?["type"] == "tool_use")
            #expect(messages[1]["content"]?.arrayValue?.first?["input"] == ["path": "x"])
            #expect(messages[2]["role"] == "user")
            #expect(
                messages[2]["content"]?.arrayValue?.first
                    == ["type": "tool_result", "tool_use_id": "toolu_0", "content": "X", "is_error": true]
            )
        }
    }

    struct ErrorCase: Sendable, CustomTestStringConvertible {
        var status: Int
        var headers: [String: String]
        var outcome: String
        var retryable: Bool
        var testDescription: String { "HTTP \(status) -> \(outcome)" }
    }

    @Test(arguments: [
        ErrorCase(status: 401, headers: [:], outcome: "config_error", retryable: false),
        ErrorCase(status: 403, headers: [:], outcome: "config_error", retryable: false),
        ErrorCase(status: 429, headers: ["Retry-After": "7"], outcome: "rate_limited", retryable: true),
        ErrorCase(status: 500, headers: [:], outcome: "server_error", retryable: true),
        ErrorCase(status: 529, headers: [:], outcome: "server_error", retryable: true),
    ])
    func httpErrorsAreClassifiedForBothProviders(_ error: ErrorCase) async throws {
        let body = #"{"type":"error","error":{"type":"some_error","message":"scripted failure"}}"#
        let server = ScriptedHTTPServer(responses: [
            .error(error.status, body, headers: error.headers), .error(error.status, body, headers: error.headers),
        ])
        try await server.run { server in
            let providers: [any ModelProvider] = [
                OpenAIProvider(name: "openai", baseURL: server.baseURL + "/v1", apiKey: "k"),
                AnthropicProvider(name: "anthropic", baseURL: server.baseURL, apiKey: "k"),
            ]
            for provider in providers {
                do {
                    _ = try await Self.collect(provider)
                    Issue.record("expected a failure")
                } catch let failure as ProviderError {
                    #expect(failure.outcome.rawValue == error.outcome)
                    #expect(failure.isRetryable == error.retryable)
                    #expect(failure.description.contains("scripted failure"))
                    if error.status == 401 { #expect(failure.description.contains("Check its api_key")) }
                    if case .rateLimited(_, let after, _) = failure { #expect(after == 7) }
                }
            }
        }
    }

    @Test func anErrorEventInsideTheStreamIsAServerError() async throws {
        let server = ScriptedHTTPServer(responses: [
            .sse([
                #"{"type":"message_start","message":{"usage":{"input_tokens":3,"output_tokens":0}}}"#,
                #"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            ])
        ])
        try await server.run { server in
            await #expect(throws: ProviderError.server(provider: "anthropic", status: 529, message: "Overloaded")) {
                _ = try await Self.collect(AnthropicProvider(name: "anthropic", baseURL: server.baseURL, apiKey: "k"))
            }
        }
    }

    /// Some OpenAI-compatible servers and proxies ignore `stream` and answer whole, as `application/json`: the
    /// answer is taken as it is (text, tool calls, usage), not reported as a cut stream. An Anthropic endpoint that
    /// does so is refused, saying what came.
    @Test func aServerThatIgnoresStreamAndAnswersWholeIsUnderstood() async throws {
        let whole = ScriptedHTTPServer.Response(
            headers: ["Content-Type": "application/json; charset=utf-8"],
            chunks: [
                #"{"id":"chatcmpl-9","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","#
                    + #""content":"Reading it.","tool_calls":[{"id":"call_a","type":"function","function":"#
                    + #"{"name":"read_file","arguments":"{\"path\":\"a.txt\"}"}}]},"finish_reason":"tool_calls"}],"#
                    + #""usage":{"prompt_tokens":42,"completion_tokens":17,"total_tokens":59}}"#
            ]
        )
        let page = ScriptedHTTPServer.Response(
            headers: ["Content-Type": "text/html"],
            chunks: ["<!doctype html><title>Welcome</title>"]
        )
        let server = ScriptedHTTPServer(responses: [whole, whole, page])
        try await server.run { server in
            let openAI = OpenAIProvider(name: "proxy", baseURL: server.baseURL + "/v1", apiKey: nil)
            let (reply, events) = try await Self.collect(openAI)
            #expect(reply.message.text == "Reading it.")
            #expect(reply.message.toolCalls.map(\.name) == ["read_file"])
            #expect(reply.message.toolCalls.first?.arguments == #"{"path":"a.txt"}"#)
            #expect(reply.usage.inputTokens == 42 && reply.usage.outputTokens == 17)
            #expect(events.contains(.textDelta("Reading it.")))
            // The request asked for a stream
            #expect(server.requests.first?.body.contains(#""stream":true"#) == true)
            let anthropic = AnthropicProvider(name: "claude", baseURL: server.baseURL, apiKey: nil)
            await #expect(
                throws: ProviderError.invalidResponse(
                    provider: "claude",
                    message: "it answered with JSON, not the event stream it was asked for"
                )
            ) { _ = try await Self.collect(anthropic) }
            // A web page where the API should be (a base_url that points at a site) says so.
            await #expect(
                throws: ProviderError.invalidResponse(
                    provider: "proxy",
                    message: "it answered with a web page (text/html), not an event stream; check its base_url"
                )
            ) { _ = try await Self.collect(openAI) }
        }
    }

    @Test func aStreamedAnswerPastItsSizeLimitIsRefusedNotHeldInMemory() async throws {
        // Given a server that streams 40 MiB that never make an event (no line end), as a broken or hostile one may
        let megabyte = String(repeating: "a", count: 1 << 20)
        let server = ScriptedHTTPServer(responses: [
            .init(
                headers: ["Content-Type": "text/event-stream"],
                chunks: ["data: "] + Array(repeating: megabyte, count: 40)
            )
        ])
        try await server.run { server in
            do {
                _ = try await Self.collect(OpenAIProvider(name: "openai", baseURL: server.baseURL + "/v1", apiKey: nil))
                Issue.record("an answer past the limit must not produce a reply")
            } catch let error as ProviderError {
                // Then the call fails at the limit (32 MiB, as a whole answer), saying so, and is not retried
                #expect(
                    error == .invalidResponse(provider: "openai", message: "the streamed answer is larger than 32 MiB")
                )
                #expect(!error.isRetryable)
            }
        }
    }

    /// Answers that are no reply: usage counts no call can have (summed into a run's and a day's totals they
    /// overflowed them and stopped the gateway), no choices, no events at all, a whole answer past the size limit.
    /// Each fails the call as an invalid response, saying what came, for both formats.
    @Test func answersThatAreNoReplyFailAsInvalidResponses() async throws {
        let huge = ScriptedHTTPServer.Response(
            headers: ["Content-Type": "application/json"],
            chunks: [
                #"{"choices":[{"index":0,"message":{"content":"#, String(repeating: " ", count: 33 << 20), #""x"}}]}"#,
            ]
        )
        let cases: [(ScriptedHTTPServer.Response, String)] = [
            (
                .sse([
                    #"{"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]}"#,
                    #"{"choices":[],"usage":{"prompt_tokens":9223372036854775807,"completion_tokens":1}}"#, "[DONE]",
                ]),
                "its usage reports prompt_tokens = 9223372036854775807, not a token count from 0 to 100000000"
            ),
            (
                .sse([
                    #"{"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":-100,"completion_tokens":5}}"#
                ]),
                "its usage reports prompt_tokens = -100, not a token count from 0 to 100000000"
            ),
            (
                .init(headers: ["Content-Type": "application/json"], chunks: [#"{"id":"x","choices":[]}"#]),
                "its answer held no choices"
            ),
            (
                .init(headers: ["Content-Type": "text/event-stream"], chunks: ["{not json at all\n\n"]),
                "its answer held no server-sent events"
            ),
            (
                .init(headers: ["Content-Type": "text/plain"], chunks: ["{not json at all"]),
                "it answered with text/plain, not the event stream it was asked for"
            ),
            (huge, "its answer is larger than 32 MiB"),
        ]
        let server = ScriptedHTTPServer(responses: cases.map(\.0))
        try await server.run { server in
            let provider = OpenAIProvider(name: "odd", baseURL: server.baseURL + "/v1", apiKey: nil)
            for (_, message) in cases {
                await #expect(throws: ProviderError.invalidResponse(provider: "odd", message: message)) {
                    _ = try await Self.collect(provider)
                }
            }
        }
        let anthropic = ScriptedHTTPServer(responses: [
            .sse([#"{"type":"message_start","message":{"usage":{"input_tokens":3,"output_tokens":"many"}}}"#]),
            .sse([
                #"{"type":"message_start","message":{"usage":{"input_tokens":3,"output_tokens":0}}}"#,
                #"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":1e300}}"#,
            ]),
        ])
        try await anthropic.run { server in
            let provider = AnthropicProvider(name: "claude", baseURL: server.baseURL, apiKey: nil)
            for message in [
                "its usage reports output_tokens = \"many\", not a token count from 0 to 100000000",
                "its usage reports output_tokens = 1e+300, not a token count from 0 to 100000000",
            ] {
                await #expect(throws: ProviderError.invalidResponse(provider: "claude", message: message)) {
                    _ = try await Self.collect(provider)
                }
            }
        }
    }

    @Test func aStreamCutInsideAToolCallIsAnErrorNotAPartialCall() async throws {
        let server = ScriptedHTTPServer(responses: [
            .sse(
                [
                    #"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_x","function":{"name":"run_command","arguments":"{\"command\":\"rm -"}}]}}]}"#
                ],
                cut: true
            )
        ])
        try await server.run { server in
            do {
                _ = try await Self.collect(OpenAIProvider(name: "openai", baseURL: server.baseURL + "/v1", apiKey: nil))
                Issue.record("a cut stream must not produce a reply")
            } catch let error as ProviderError {
                #expect(error == .streamCut(provider: "openai", usage: nil, emittedOutput: true))
                #expect(!error.isRetryable)
            }
        }
    }

    @Test(arguments: [
        // (failures before, then: allowed now?, state name after)
        (0, true, "closed"), (2, true, "closed"), (3, false, "open"),
    ])
    func theBreakerOpensAfterTheThreshold(failures: Int, allowed: Bool, state: String) {
        var breaker = CircuitBreaker(failureThreshold: 3, cooldown: 10)
        for _ in 0..<failures { breaker.recordFailure(now: 100) }
        let allowsNow = breaker.allowsCall(now: 101)
        #expect(allowsNow == allowed)
        #expect(breaker.name == state)
    }

    @Test func anOpenBreakerLetsOneProbeThroughAfterItsCooldown() {
        var breaker = CircuitBreaker(failureThreshold: 1, cooldown: 10)
        breaker.recordFailure(now: 0)
        let duringCooldown = breaker.allowsCall(now: 9)
        #expect(!duringCooldown)
        let probe = breaker.allowsCall(now: 10)
        #expect(probe)
        #expect(breaker.name == "half_open")
        let secondProbe = breaker.allowsCall(now: 10.5)
        #expect(!secondProbe)  // one probe at a time
        breaker.recordFailure(now: 11)
        #expect(breaker.name == "open")
        let nextProbe = breaker.allowsCall(now: 21)
        #expect(nextProbe)
        breaker.recordSuccess()
        #expect(breaker.name == "closed")
    }

    @Test(arguments: [(0, 0.25, 0.5), (1, 0.5, 1.0), (3, 2.0, 4.0), (20, 15.0, 30.0)])
    func backoffIsExponentialWithJitterAndCapped(attempt: Int, low: Double, high: Double) {
        let policy = RetryPolicy(maxAttempts: 5, baseDelay: 0.5, maxDelay: 30)
        let error = ProviderError.server(provider: "p", status: 500, message: "")
        #expect(policy.delay(afterAttempt: attempt, error: error, random: 0) == low)
        #expect(policy.delay(afterAttempt: attempt, error: error, random: 0.9999) <= high)
        let limited = ProviderError.rateLimited(provider: "p", retryAfter: 7, message: "")
        #expect(policy.delay(afterAttempt: attempt, error: limited, random: 0.5) == 7)
    }

    static let okStream = ScriptedHTTPServer.Response.sse([
        #"{"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}"#,
        #"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#, "[DONE]",
    ])

    /// A call cut on our side, by a caller that cannot take what streamed or by cancellation, is reported as made
    /// (outcome `cancelled`), ends with the cut's own cause, and is no failure of the provider's: its breaker stays
    /// closed and nothing is retried (before: the caller's error opened the provider's breaker as a transport error).
    @Test func aCallCutOnOurSideIsReportedAndIsNoFailureOfTheProviders() async throws {
        struct Refused: Error {}
        let server = ScriptedHTTPServer(responses: [Self.okStream], fallback: Self.okStream)
        try await server.run { server in
            let router = Router(
                providers: ["p": OpenAIProvider(name: "p", baseURL: server.baseURL + "/v1", apiKey: nil)],
                policy: RetryPolicy(maxAttempts: 3, baseDelay: 0.5, maxDelay: 30),
                breaker: CircuitBreaker(failureThreshold: 1, cooldown: 60),
                sleep: { _ in }
            )
            let attempts = Mutex<[CallAttempt]>([])
            await #expect(throws: Refused.self) {
                _ = try await router.respond(
                    to: Self.request,
                    routes: [ModelRoute(provider: "p", model: "a")],
                    onEvent: { _ in throw Refused() },
                    onAttempt: { attempt in attempts.withLock { $0.append(attempt) } }
                )
            }
            #expect(attempts.withLock { $0.map(\.outcome) } == [.cancelled])
            #expect(attempts.withLock { $0.first?.error?.contains("Refused") } == true)
            #expect(router.breakerStates()["p"] == "closed")
            #expect(server.requests.count == 1)
            // A cancelled caller: the same report, and CancellationError
            attempts.withLock { $0.removeAll() }
            let cancelled = Task {
                try await router.respond(
                    to: Self.request,
                    routes: [ModelRoute(provider: "p", model: "a")],
                    onEvent: { _ in
                        withUnsafeCurrentTask { $0?.cancel() }
                        try Task.checkCancellation()
                    },
                    onAttempt: { attempt in attempts.withLock { $0.append(attempt) } }
                )
            }
            await #expect(throws: CancellationError.self) { _ = try await cancelled.value }
            #expect(attempts.withLock { $0.map(\.outcome) } == [.cancelled])
            #expect(router.breakerStates()["p"] == "closed")
        }
    }

    @Test func theRouterHonoursRetryAfterRetriesServerErrorsAndFallsBack() async throws {
        let limited = ScriptedHTTPServer.Response.error(
            429,
            #"{"error":{"message":"slow down"}}"#,
            headers: ["Retry-After": "3"]
        )
        let broken = ScriptedHTTPServer.Response.error(500, #"{"error":{"message":"boom"}}"#)
        let denied = ScriptedHTTPServer.Response.error(401, #"{"error":{"message":"bad key"}}"#)
        let primary = ScriptedHTTPServer(responses: [limited, broken, Self.okStream, denied])
        let backup = ScriptedHTTPServer(responses: [Self.okStream])
        try await primary.run { primary in
            try await backup.run { backup in
                let slept = Mutex<[Double]>([])
                let router = Router(
                    providers: [
                        "primary": OpenAIProvider(name: "primary", baseURL: primary.baseURL + "/v1", apiKey: nil),
                        "backup": OpenAIProvider(name: "backup", baseURL: backup.baseURL + "/v1", apiKey: nil),
                    ],
                    policy: RetryPolicy(maxAttempts: 3, baseDelay: 0.5, maxDelay: 30),
                    sleep: { seconds in slept.withLock { $0.append(seconds) } }
                )
                let routes = [ModelRoute(provider: "primary", model: "a"), ModelRoute(provider: "backup", model: "b")]
                let attempts = Mutex<[String]>([])
                let (reply, route) = try await router.respond(
                    to: Self.request,
                    routes: routes,
                    onEvent: { _ in },
                    onAttempt: { attempt in
                        attempts.withLock { $0.append("\(attempt.route.provider):\(attempt.outcome)") }
                    }
                )
                // 429 waited exactly Retry-After, 500 was retried with backoff, the third attempt succeeded.
                #expect(reply.message.text == "ok")
                #expect(route.provider == "primary")
                #expect(attempts.withLock { $0 } == ["primary:rate_limited", "primary:server_error", "primary:ok"])
                #expect(slept.withLock { $0 }.first == 3)
                #expect(slept.withLock { $0 }.count == 2)
                // A 401 is not retried: the router falls back to the next route at once.
                attempts.withLock { $0.removeAll() }
                let (_, fallback) = try await router.respond(
                    to: Self.request,
                    routes: routes,
                    onEvent: { _ in },
                    onAttempt: { attempt in
                        attempts.withLock { $0.append("\(attempt.route.provider):\(attempt.outcome)") }
                    }
                )
                #expect(fallback.provider == "backup")
                #expect(attempts.withLock { $0 } == ["primary:config_error", "backup:ok"])
            }
        }
    }

    /// A provider that never answers (the kernel takes its connections, nothing reads them) and one that goes silent
    /// within its answer: each fails once its timeout has passed, is not tried again (another wait as long would
    /// come before any fallback), and the next route answers. Alone, the call fails saying so.
    @Test func aSilentProviderTimesOutOnceAndTheNextRouteAnswers() async throws {
        let mute = try LoopbackListener()
        let stalls = ScriptedHTTPServer(responses: [
            .init(
                headers: ["Content-Type": "text/event-stream"],
                chunks: [": thinking\n\n", "data: [DONE]\n\n"],
                pause: .seconds(5)
            )
        ])
        let backup = ScriptedHTTPServer(responses: [Self.okStream, Self.okStream])
        try await stalls.run { stalls in
            try await backup.run { backup in
                let transport = HTTPTransport.silentAtMost(seconds: 1)
                let slept = Mutex<[Double]>([])
                let router = Router(
                    providers: [
                        "mute": OpenAIProvider(
                            name: "mute",
                            baseURL: "http://127.0.0.1:\(mute.port)/v1",
                            apiKey: nil,
                            transport: transport
                        ),
                        "stalls": OpenAIProvider(
                            name: "stalls",
                            baseURL: stalls.baseURL + "/v1",
                            apiKey: nil,
                            transport: transport
                        ),
                        "backup": OpenAIProvider(name: "backup", baseURL: backup.baseURL + "/v1", apiKey: nil),
                    ],
                    policy: RetryPolicy(maxAttempts: 3, baseDelay: 0.5, maxDelay: 30),
                    sleep: { seconds in slept.withLock { $0.append(seconds) } }
                )
                for silent in ["mute", "stalls"] {
                    let attempts = Mutex<[String]>([])
                    let (reply, route) = try await router.respond(
                        to: Self.request,
                        routes: [ModelRoute(provider: silent, model: "a"), ModelRoute(provider: "backup", model: "b")],
                        onEvent: { _ in },
                        onAttempt: { attempt in
                            attempts.withLock { $0.append("\(attempt.route.provider):\(attempt.outcome)") }
                        }
                    )
                    #expect(reply.message.text == "ok" && route.provider == "backup")
                    #expect(attempts.withLock { $0 } == ["\(silent):timeout", "backup:ok"])
                }
                #expect(slept.withLock { $0 }.isEmpty)
                await #expect(throws: ProviderError.timedOut(provider: "mute", seconds: 1)) {
                    _ = try await router.respond(
                        to: Self.request,
                        routes: [ModelRoute(provider: "mute", model: "a")],
                        onEvent: { _ in },
                        onAttempt: { _ in }
                    )
                }
                #expect(
                    ProviderError.timedOut(provider: "mute", seconds: 1).description
                        == "provider 'mute' did not answer within 1 s (its timeout_seconds in config.toml)"
                )
                // A connection not made within the connect limit is a transport failure, retried with back-off like
                // a refused one, not a silent provider: only a timeout after the connection skips the retries.
                for (error, retried) in [
                    (HTTPClientError.connectTimeout, true), (HTTPClientError.readTimeout, false),
                    (HTTPClientError.deadlineExceeded, false),
                ] {
                    let failure = try #require(transport.failure(error, provider: "far") as? ProviderError)
                    #expect(failure.isRetryable == retried, "\(error) → \(failure)")
                }
            }
        }
    }

    @Test func theRouterStopsCallingAProviderWhoseBreakerIsOpen() async throws {
        let broken = ScriptedHTTPServer.Response.error(503, #"{"error":{"message":"down"}}"#)
        let server = ScriptedHTTPServer(responses: [], fallback: broken)
        try await server.run { server in
            let router = Router(
                providers: ["p": OpenAIProvider(name: "p", baseURL: server.baseURL + "/v1", apiKey: nil)],
                policy: RetryPolicy(maxAttempts: 2),
                breaker: CircuitBreaker(failureThreshold: 2, cooldown: 60),
                sleep: { _ in }
            )
            let route = [ModelRoute(provider: "p", model: "m")]
            for _ in 0..<2 {
                await #expect(throws: ProviderError.self) {
                    _ = try await router.respond(
                        to: Self.request,
                        routes: route,
                        onEvent: { _ in },
                        onAttempt: { _ in }
                    )
                }
            }
            #expect(router.breakerStates()["p"] == "open")
            let before = server.requests.count
            await #expect(throws: ProviderError.circuitOpen(provider: "p")) {
                _ = try await router.respond(to: Self.request, routes: route, onEvent: { _ in }, onAttempt: { _ in })
            }
            #expect(server.requests.count == before)
        }
    }
}

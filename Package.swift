// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "osprey",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "osprey", targets: ["OspreyCLI"]),
        .executable(name: "osprey-jail", targets: ["OspreyJail"]),
        .executable(name: "osprey-bench", targets: ["OspreyBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        // Already in the graph through Hummingbird; named because the gateway uses its types directly.
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
    ],
    targets: [
        // Linux system calls Swift cannot make directly (Landlock, later seccomp): a few lines of C.
        .target(name: "COspreySystem"),
        // `osprey-jail`, the last step before a sandboxed command: Landlock, seccomp, no-new-privileges, cgroup
        // join, then exec. A few hundred lines of C, so it starts in a millisecond and never runs in the daemon.
        .executableTarget(name: "OspreyJail"),
        // Domain values: IDs, JSON, events, config, errors. Crypto for the hash chain.
        .target(
            name: "OspreyCore",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]
        ),
        // SQLite through GRDB: migrations, the hash-chained ledger, sessions and messages.
        .target(
            name: "OspreyStore",
            dependencies: [
                "OspreyCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // LLM drivers (OpenAI-compatible, Anthropic), retries, circuit breakers, the router.
        .target(
            name: "OspreyProviders",
            dependencies: [
                "OspreyCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // Built-in tools, the workspace jail, the command runner, the Toolbox check point.
        // The shell-line parser and command policy (later: the sandbox ladder).
        .target(name: "OspreySandbox", dependencies: ["COspreySystem"]),
        .target(
            name: "OspreyTools",
            dependencies: [
                "OspreyCore", "OspreySandbox", "COspreySystem",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // The agent loop (a pure state machine), its driver, context compaction, budgets.
        .target(
            name: "OspreyAgent",
            dependencies: [
                "OspreyCore", "OspreyProviders", "OspreyTools", "OspreyStore", "OspreySandbox",
            ]
        ),
        // The ML runtime behind memory: all-MiniLM-L6-v2 in Swift (WordPiece, safetensors, the BERT encoder), the
        // vector indexes (flat and HNSW), NumPy archives for evaluation. Its hot loops (matrix products, SIMD dot
        // products) are optimized even in debug builds, or tests would take minutes.
        .target(
            name: "OspreyEmbeddings",
            dependencies: ["OspreyCore"],
            swiftSettings: [.unsafeFlags(["-O"])]
        ),
        // Long-term memory: Markdown records as the truth, hybrid keyword + vector search fused by RRF, recall.
        .target(
            name: "OspreyMemory",
            dependencies: [
                "OspreyCore", "OspreyStore", "OspreyTools", "OspreyEmbeddings",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Background work: the task supervisor (priority queue, caps, lanes, crash recovery), cron and event
        // triggers, and the agent tools that reach them. The schedule expressions are pure values.
        .target(
            name: "OspreyScheduler",
            dependencies: [
                "OspreyCore", "OspreyStore", "OspreyTools", "OspreySandbox",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Kernel assembly and the HTTP/SSE/WebSocket surface.
        .target(
            name: "OspreyGateway",
            dependencies: [
                "OspreyCore",
                "OspreyStore",
                "OspreyProviders",
                "OspreyTools",
                "OspreyAgent",
                "OspreyScheduler",
                "OspreyMemory",
                "OspreyEmbeddings",
                "OspreySandbox",
                "COspreySystem",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ]
        ),
        // The `osprey` executable: the daemon and every client command. Store, Tools, Sandbox, Memory and
        // COspreySystem are for the offline commands: `audit` reads the ledger with the gateway down, `doctor` opens
        // the store and probes the memory files and the sandbox. `osprey bench` only execs `osprey-bench`.
        .executableTarget(
            name: "OspreyCLI",
            dependencies: [
                "OspreyCore",
                "OspreyStore",
                "OspreyGateway",
                "COspreySystem",
                "OspreyTools",
                "OspreySandbox",
                "OspreyMemory",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // `osprey-bench`: the benchmarks, also run as `osprey bench`. A target of this package kept under
        // Benchmarks/, not a package of its own there: a separate package would need library products for every
        // module it measures and would build the whole dependency graph a second time (a cold build is ~10 min on
        // CI's 2 cores), while a target shares this package's one build and its settings below.
        .executableTarget(
            name: "OspreyBench",
            dependencies: [
                "OspreyCore",
                "OspreyStore",
                "OspreyAgent",
                "OspreyProviders",
                "OspreyTools",
                "OspreyScheduler",
                "OspreyMemory",
                "OspreyEmbeddings",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Benchmarks/OspreyBench"
        ),
        // Test doubles and the fixtures more than one test target uses: temp homes, a gateway process launcher, a
        // scripted model and HTTP server, an agent on an in-memory store, a jailed workspace, the supervisor's and
        // the approvals' test helpers.
        .target(
            name: "OspreyTesting",
            dependencies: [
                "OspreyCore",
                "OspreyTools",
                "OspreyStore",
                "OspreyProviders",
                "OspreySandbox",
                "OspreyAgent",
                "OspreyScheduler",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
    ]
)

// One test target per module, so a change to one module builds and tests only what depends on it; the gateway's tests
// (in process, through HummingbirdTesting or a loopback port) and the end-to-end tests (the built `osprey`, the real
// local model) have their own. Each names what its files import: a module of this package or a product below.
let testProducts: [String: String] = [
    "AsyncHTTPClient": "async-http-client", "GRDB": "GRDB.swift", "HTTPTypes": "swift-http-types",
    "Hummingbird": "hummingbird", "HummingbirdTesting": "hummingbird", "HummingbirdWSClient": "hummingbird-websocket",
    "Logging": "swift-log", "NIOCore": "swift-nio", "NIOHTTP1": "swift-nio", "NIOWebSocket": "swift-nio",
]
let testTargets: [(name: String, imports: [String])] = [
    ("OspreyCoreTests", ["OspreyCore"]),
    ("OspreyStoreTests", ["OspreyCore", "OspreyStore", "OspreyTesting", "GRDB"]),
    ("OspreyProvidersTests", ["OspreyCore", "OspreyProviders", "OspreyTesting"]),
    ("OspreySandboxTests", ["OspreyCore", "OspreySandbox", "OspreyTools", "OspreyTesting"]),
    ("OspreyToolsTests", ["OspreyCore", "OspreySandbox", "OspreyTools", "OspreyTesting"]),
    (
        "OspreyAgentTests",
        [
            "OspreyAgent", "OspreyCore", "OspreyProviders", "OspreySandbox", "OspreyScheduler", "OspreyStore",
            "OspreyTools", "OspreyTesting",
        ]
    ),
    ("OspreyEmbeddingsTests", ["OspreyEmbeddings", "OspreyMemory", "OspreyTesting"]),
    ("OspreyMemoryTests", ["OspreyEmbeddings", "OspreyMemory", "OspreyTesting"]),
    ("OspreySchedulerTests", ["OspreyCore", "OspreyScheduler", "OspreyStore", "OspreyTools", "OspreyTesting"]),
    (
        "OspreyGatewayTests",
        [
            "OspreyAgent", "OspreyCore", "OspreyGateway", "OspreyMemory", "OspreyProviders", "OspreyScheduler",
            "OspreyStore", "OspreyTools", "OspreyTesting", "AsyncHTTPClient", "HTTPTypes", "Hummingbird",
            "HummingbirdTesting", "HummingbirdWSClient", "Logging", "NIOCore", "NIOHTTP1", "NIOWebSocket",
        ]
    ),
    (
        "OspreyEndToEndTests",
        ["OspreyAgent", "OspreyCore", "OspreyGateway", "OspreyMemory", "OspreyStore", "OspreyTesting", "GRDB"]
    ),
]
for (name, imports) in testTargets {
    package.targets.append(
        .testTarget(
            name: name,
            dependencies: imports.map { module in
                testProducts[module].map { .product(name: module, package: $0) } ?? .byName(name: module)
            }
        )
    )
}

// One place for language settings, applied to every target (the swift-log pattern).
for target in package.targets where target.type != .plugin && !["COspreySystem", "OspreyJail"].contains(target.name) {
    target.swiftSettings =
        (target.swiftSettings ?? []) + [
            .enableUpcomingFeature("ExistentialAny"),
            .enableUpcomingFeature("MemberImportVisibility"),
            .enableUpcomingFeature("InternalImportsByDefault"),
            .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
            .enableUpcomingFeature("InferIsolatedConformances"),
        ]
}

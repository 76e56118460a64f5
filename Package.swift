// swift-tools-version:6.2
import PackageDescription

// The other packages' modules that Osprey's targets import, each with the package it comes from; every target below
// names what its files import (a module of this package or one of these), and `scripts/check-modules` holds it to
// that.
let products: [String: String] = [
    "ArgumentParser": "swift-argument-parser", "AsyncAlgorithms": "swift-async-algorithms", "AsyncHTTPClient": "async-http-client", "Crypto": "swift-crypto",
    "CryptoExtras": "swift-crypto",
    "GRDB": "GRDB.swift", "GRDBSQLite": "GRDB.swift", "PostgresNIO": "postgres-nio", "NIOSSL": "swift-nio-ssl", "HTTPTypes": "swift-http-types", "Hummingbird": "hummingbird",
    "HummingbirdCore": "hummingbird", "HummingbirdTesting": "hummingbird",
    "HummingbirdWebSocket": "hummingbird-websocket",
    "HummingbirdWSClient": "hummingbird-websocket", "Logging": "swift-log", "NIOCore": "swift-nio",
    "NIOHTTP1": "swift-nio", "NIOPosix": "swift-nio", "NIOWebSocket": "swift-nio", "ServiceLifecycle": "swift-service-lifecycle",
    "UnixSignals": "swift-service-lifecycle", "CoreMetrics": "swift-metrics", "Prometheus": "swift-prometheus",
    "OTel": "swift-otel", "Tracing": "swift-distributed-tracing", "ServiceContextModule": "swift-service-context",
    "WasmKit": "WasmKit", "WasmKitWASI": "WasmKit", "WAT": "WasmKit", "WASI": "WasmKit",
]

func dependencies(_ modules: [String]) -> [Target.Dependency] {
    modules.map { module in products[module].map { .product(name: module, package: $0) } ?? .byName(name: module) }
}

func imports(_ modules: String...) -> [Target.Dependency] { dependencies(modules) }

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
        .package(url: "https://github.com/apple/swift-async-algorithms.git", from: "1.1.4"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        // The PostgreSQL backend several gateways share (the cluster's ledger, task queue and leadership).
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        // Already in the graph through AsyncHTTPClient and PostgresNIO; named for the TLS settings of a PostgreSQL URL.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        // Already in the graph through Hummingbird; named because the gateway uses its types directly.
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        // Metrics: the swift-metrics API where they are measured, the Prometheus text format at /metrics.
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // Optional tracing (off by default): spans from the ledger exported over OTLP/HTTP; only that exporter is built.
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        .package(url: "https://github.com/apple/swift-service-context.git", from: "1.5.1"),
        // The WebAssembly runtime plugins run in (fuel metering, memory limits, WASI preview 1; WAT for tests).
        .package(url: "https://github.com/swiftwasm/WasmKit.git", .upToNextMinor(from: "0.4.2")),
    ],
    targets: [
        // Linux system calls Swift cannot make directly (Landlock, later seccomp): a few lines of C.
        .target(name: "COspreySystem"),
        // `osprey-jail`, the last step before a sandboxed command: Landlock, seccomp, no-new-privileges, cgroup
        // join, then exec. A few hundred lines of C, so it starts in a millisecond and never runs in the daemon.
        .executableTarget(name: "OspreyJail"),
        // Domain values: IDs, JSON, events, config, errors. Crypto for the hash chain; COspreySystem for a folder
        // replaced in one step (DurableFile).
        .target(
            name: "OspreyCore",
            dependencies: imports("COspreySystem", "Crypto")
        ),
        // Every repository's SQL, run on SQLite through GRDB (the home's file) or on PostgreSQL through PostgresNIO
        // (several gateways on one database), plus the cluster's queue with leases, leadership and event fan-out.
        .target(
            name: "OspreyStore",
            dependencies: imports(
                "OspreyCore",
                "GRDB",
                "GRDBSQLite",
                "Crypto",
                "CoreMetrics",
                "PostgresNIO",
                "NIOCore",
                "NIOSSL",
                "Logging"
            )
        ),
        // LLM drivers (OpenAI-compatible, Anthropic), retries, circuit breakers, the router.
        .target(
            name: "OspreyProviders",
            dependencies: imports("OspreyCore", "AsyncHTTPClient", "NIOCore", "NIOHTTP1")
        ),
        // Built-in tools, the workspace jail, the command runner, the Toolbox check point.
        // The shell-line parser, command policy, the sandbox ladder, the SSRF guard and the egress proxy.
        .target(name: "OspreySandbox", dependencies: imports("COspreySystem", "NIOCore", "NIOPosix")),
        .target(
            name: "OspreyTools",
            dependencies: imports(
                "OspreyCore",
                "OspreySandbox",
                "COspreySystem",
                "AsyncHTTPClient",
                "NIOCore",
                "NIOHTTP1"
            )
        ),
        // The agent loop (a pure state machine), its driver, context compaction, budgets.
        .target(
            name: "OspreyAgent",
            dependencies: imports("OspreyCore", "OspreyProviders", "OspreyTools", "OspreyStore", "OspreySandbox")
        ),
        // The ML runtime behind memory: all-MiniLM-L6-v2 in Swift (WordPiece, safetensors, the BERT encoder), the
        // vector indexes (flat and HNSW), NumPy archives for evaluation. Its hot loops (matrix products, SIMD dot
        // products) are optimized even in debug builds, or tests would take minutes.
        .target(
            name: "OspreyEmbeddings",
            dependencies: imports("OspreyCore", "COspreyKernels"),
            swiftSettings: [.unsafeFlags(["-O"])]
        ),
        // The encoder's matrix product (AVX2/FMA, or AVX-512 BF16) and attention, in C because Swift cannot compile one
        // function for a CPU feature chosen at run time; `OspreyEmbeddings` keeps portable Swift kernels.
        .target(
            name: "COspreyKernels",
            cSettings: [.unsafeFlags(["-O2"])],
            linkerSettings: [.linkedLibrary("m")]
        ),
        // Long-term memory: Markdown records as the truth, hybrid keyword + vector search fused by RRF, recall.
        .target(
            name: "OspreyMemory",
            dependencies: imports("OspreyCore", "OspreyStore", "OspreyTools", "OspreyEmbeddings", "Logging", "CoreMetrics")
        ),
        // Background work: the task supervisor (priority queue, caps, lanes, crash recovery), cron and event
        // triggers, and the agent tools that reach them. The schedule expressions are pure values.
        .target(
            name: "OspreyScheduler",
            dependencies: imports("OspreyCore", "OspreyStore", "OspreyTools", "OspreySandbox", "Logging")
        ),
        // The Model Context Protocol both ways: a client of MCP servers (stdio with a blocking reader thread per
        // server, no polling; Streamable HTTP with SSE through AsyncHTTPClient) whose tools agents may be granted
        // under the one policy, and the server-side session engine and catalog the gateway's /mcp door serves.
        .target(
            name: "OspreyMCP",
            dependencies: imports(
                "OspreyCore",
                "OspreyTools",
                "OspreySandbox",
                "COspreySystem",
                "Logging",
                "AsyncHTTPClient",
                "NIOCore",
                "NIOHTTP1"
            )
        ),
        // Running the host: the system tools (health, processes, services, logs, network, disks, packages) behind
        // the agent's `host` capability.
        .target(
            name: "OspreyHost",
            dependencies: imports(
                "OspreyCore",
                "OspreyTools",
                "OspreyStore",
                "AsyncHTTPClient",
                "Crypto",
                "CryptoExtras",
                "Logging",
                "NIOCore",
                "NIOHTTP1"
            )
        ),
        // Chat channels: the hub (pairing, allowlists, a lane per chat, streamed edits, approval buttons) and the
        // Telegram (long polling), Discord (Gateway WebSocket + REST) and Matrix (`/sync`) connectors.
        .target(
            name: "OspreyChannels",
            dependencies: imports(
                "OspreyCore",
                "OspreyStore",
                "AsyncHTTPClient",
                "HummingbirdWSClient",
                "Logging",
                "NIOCore",
                "NIOHTTP1",
                "NIOWebSocket"
            )
        ),
        // Wasm plugins: manifests, the WasmKit runtime on threads of their own, fuel and memory caps, plugin tools.
        .target(
            name: "OspreyPlugins",
            dependencies: imports(
                "OspreyCore",
                "OspreyTools",
                "OspreySandbox",
                "COspreySystem",
                "WasmKit",
                "WasmKitWASI",
                "WASI",
                "Crypto",
                "Logging"
            )
        ),
        // Kernel assembly and the HTTP/SSE/WebSocket surface.
        .target(
            name: "OspreyGateway",
            dependencies: imports(
                "OspreyCore",
                "OspreyStore",
                "OspreyProviders",
                "OspreyTools",
                "OspreyAgent",
                "OspreyScheduler",
                "OspreyMemory",
                "OspreyEmbeddings",
                "OspreyMCP",
                "OspreyPlugins",
                "OspreyChannels",
                "OspreyHost",
                "OspreySandbox",
                "COspreySystem",
                "AsyncAlgorithms",
                "AsyncHTTPClient",
                "Hummingbird",
                "HummingbirdCore",
                "HTTPTypes",
                "HummingbirdWebSocket",
                "Logging",
                "ServiceLifecycle",
                "UnixSignals",
                "Crypto",
                "NIOCore",
                "NIOHTTP1",
                "NIOPosix",
                "NIOWebSocket",
                "CoreMetrics",
                "Prometheus",
                "OTel",
                "Tracing",
                "ServiceContextModule"
            ),
            // The web dashboard's HTML, CSS and JavaScript modules, served at `/` and `/ui/`.
            resources: [.copy("Dashboard")]
        ),
        // The `osprey` executable: the daemon and every client command. Store, Tools, Sandbox, Memory and
        // COspreySystem are for the offline commands: `audit` reads the ledger with the gateway down, `doctor` opens
        // the store and probes the memory files and the sandbox. `osprey bench` only execs `osprey-bench`.
        .executableTarget(
            name: "OspreyCLI",
            dependencies: imports(
                "OspreyCore",
                "OspreyStore",
                "OspreyGateway",
                "COspreySystem",
                "OspreyTools",
                "OspreySandbox",
                "OspreyMemory",
                "OspreyMCP",
                "OspreyPlugins",
                "OspreyHost",
                "ArgumentParser",
                "AsyncHTTPClient",
                "Logging",
                "NIOCore",
                "NIOHTTP1"
            )
        ),
        // `osprey-bench`: the benchmarks, also run as `osprey bench`. A target of this package kept under
        // Benchmarks/, not a package of its own there: a separate package would need library products for every
        // module it measures and would build the whole dependency graph a second time (a cold build is ~10 min on
        // CI's 2 cores), while a target shares this package's one build and its settings below.
        .executableTarget(
            name: "OspreyBench",
            dependencies: imports(
                "OspreyCore",
                "OspreySandbox",
                "OspreyStore",
                "OspreyAgent",
                "OspreyProviders",
                "OspreyTools",
                "OspreyScheduler",
                "OspreyMemory",
                "OspreyEmbeddings",
                "OspreyMCP",
                "OspreyPlugins",
                "OspreyTesting",
                "WAT",
                "ArgumentParser",
                "Hummingbird",
                "GRDB",
                "AsyncHTTPClient",
                "Logging",
                "NIOCore",
                "NIOHTTP1"
            ),
            path: "Benchmarks/OspreyBench"
        ),
        // Test doubles and the fixtures more than one test target uses: temp homes, a gateway process launcher, a
        // scripted model and HTTP server, an agent on an in-memory store, a jailed workspace, the supervisor's and
        // the approvals' test helpers.
        .target(
            name: "OspreyTesting",
            dependencies: imports(
                "OspreyCore",
                "OspreyTools",
                "OspreyStore",
                "OspreyProviders",
                "OspreySandbox",
                "OspreyAgent",
                "OspreyScheduler",
                "Hummingbird",
                "HummingbirdWebSocket",
                "HTTPTypes",
                "Logging",
                "NIOCore"
            )
        ),
    ]
)

// One test target per module, so a change to one module builds and tests only what depends on it; the gateway's tests
// (in process, through HummingbirdTesting or a loopback port) and the end-to-end tests (the built `osprey`, the real
// local model) have their own. Each names what its files import: a module of this package or a product below.
let testTargets: [(name: String, imports: [String])] = [
    ("OspreyCoreTests", ["OspreyCore"]),
    ("OspreyStoreTests", ["OspreyCore", "OspreyStore", "OspreyTesting", "GRDB", "GRDBSQLite", "Logging", "NIOCore"]),
    ("OspreyProvidersTests", ["OspreyCore", "OspreyProviders", "OspreyTesting", "AsyncHTTPClient"]),
    ("OspreySandboxTests", ["OspreyCore", "OspreySandbox", "OspreyTools", "OspreyTesting", "NIOCore"]),
    ("OspreyToolsTests", ["OspreyCore", "OspreySandbox", "OspreyTools", "OspreyTesting"]),
    (
        "OspreyAgentTests",
        [
            "OspreyAgent", "OspreyCore", "OspreyProviders", "OspreySandbox", "OspreyScheduler", "OspreyStore",
            "OspreyTools", "OspreyTesting",
        ]
    ),
    ("OspreyEmbeddingsTests", ["OspreyCore", "OspreyEmbeddings", "OspreyMemory", "OspreyTesting"]),
    ("OspreyMemoryTests", ["OspreyCore", "OspreyEmbeddings", "OspreyMemory", "OspreyTesting"]),
    ("OspreyMCPTests", ["OspreyCore", "OspreyMCP", "OspreySandbox", "OspreyTools", "OspreyTesting", "Logging"]),
    ("OspreyChannelsTests", ["OspreyChannels", "OspreyCore", "OspreyTesting", "NIOHTTP1"]),
    ("OspreyHostTests", ["OspreyHost", "OspreyCore", "OspreyStore", "OspreyTools", "OspreyTesting", "Logging", "Crypto"]),
    ("OspreyPluginsTests", ["OspreyCore", "OspreyPlugins", "OspreySandbox", "OspreyTools", "OspreyTesting", "WAT"]),
    ("OspreySchedulerTests", ["OspreyCore", "OspreyScheduler", "OspreyStore", "OspreyTools", "OspreyTesting"]),
    (
        "OspreyGatewayTests",
        [
            "OspreyAgent", "OspreyChannels", "OspreyCore", "OspreyGateway", "OspreyMCP", "OspreyMemory", "OspreyPlugins",
            "OspreyProviders",
            "OspreyScheduler", "OspreyStore", "OspreyTools", "OspreyTesting", "AsyncHTTPClient", "HTTPTypes",
            "Hummingbird",
            "HummingbirdTesting", "HummingbirdWebSocket", "HummingbirdWSClient", "Logging", "NIOCore", "NIOHTTP1", "NIOWebSocket",
            "ServiceLifecycle",
        ]
    ),
    (
        "OspreyEndToEndTests",
        [
            "OspreyAgent", "OspreyCore", "OspreyGateway", "OspreyMemory", "OspreyStore", "OspreyTesting", "GRDB",
            "AsyncHTTPClient", "NIOCore", "NIOHTTP1",
        ]
    ),
]
for (name, imports) in testTargets {
    package.targets.append(
        .testTarget(
            name: name,
            dependencies: dependencies(imports)
        )
    )
}

// One place for language settings, applied to every target (the swift-log pattern).
for target in package.targets
where target.type != .plugin && !["COspreySystem", "COspreyKernels", "OspreyJail"].contains(target.name) {
    target.swiftSettings =
        (target.swiftSettings ?? []) + [
            .enableUpcomingFeature("ExistentialAny"),
            .enableUpcomingFeature("MemberImportVisibility"),
            .enableUpcomingFeature("InternalImportsByDefault"),
            .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
            .enableUpcomingFeature("InferIsolatedConformances"),
        ]
}

// swift-tools-version: 6.2
import PackageDescription

// sanpath: configure and watch multipathed iSCSI storage on Linux hosts.
// Pure libraries first (site model, config grammars, profiles, merge/plan), then the
// system-facing ones; the executable only parses arguments and wires libraries together.
let package = Package(
    name: "sanpath",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sanpath", targets: ["sanpath"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.0.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.20.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.40.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
    ],
    targets: [
        // Source locations, diagnostics, lossless lines, secret redaction, the site-file TOML subset.
        .target(name: "SanpathCore"),
        // The site: vendor, role, paths, SAN hosts, iface -> NIC map, from its four sources.
        .target(name: "SanpathSite", dependencies: ["SanpathCore"]),
        // Lossless grammars for multipath.conf and open-iscsi files, validation, unified diff.
        .target(name: "SanpathConfig", dependencies: ["SanpathCore"]),
        // Vendor profiles: templates/ rendered with swift-mustache for a site.
        .target(
            name: "SanpathProfiles",
            dependencies: [
                "SanpathCore", "SanpathSite", "SanpathConfig",
                .product(name: "Mustache", package: "swift-mustache"),
            ]),
        // The OS boundaries provisioning and the volume code share: the host's files (atomic
        // writes, locks, `--root`) and the command runner (swift-subprocess, argv only).
        .target(
            name: "SanpathHost",
            dependencies: [
                "SanpathCore", .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        // Merge policy, plan, apply, rollback.
        .target(
            name: "SanpathProvision",
            dependencies: [
                "SanpathCore", "SanpathHost", "SanpathSite", "SanpathConfig", "SanpathProfiles",
                .product(name: "Logging", package: "swift-log"),
            ]),
        // Health model: snapshot, findings, root-cause grouping, alert state machine, status views. Pure.
        .target(name: "SanpathHealth", dependencies: ["SanpathCore", "SanpathSite"]),

        // C libraries, one systemLibrary target per .so, and the shim for what Swift cannot import.
        .systemLibrary(name: "CLibDevmapper", pkgConfig: "devmapper", providers: [.apt(["libdevmapper-dev"])]),
        .systemLibrary(name: "CLibUdev", pkgConfig: "libudev", providers: [.apt(["libudev-dev"])]),
        .target(name: "CSanpathShims", dependencies: ["CLibDevmapper", "CLibUdev"]),
        // Collectors: device-mapper, udev, sysfs, iface files, multipathd's socket, TCP probes.
        .target(
            name: "SanpathSystem",
            dependencies: [
                "SanpathCore", "SanpathSite", "SanpathConfig", "SanpathHealth", "CLibDevmapper", "CLibUdev", "CSanpathShims",
                .product(name: "Logging", package: "swift-log"),
            ]),
        // Volumes on NC hosts: attach over every bound path, two-phase detach, list; the
        // decisions are pure (VolumeDecisions), the rest acts through the OS boundaries.
        .target(
            name: "SanpathVolume",
            dependencies: [
                "SanpathCore", "SanpathHost", "SanpathSite", "SanpathConfig", "SanpathHealth", "SanpathSystem", "SanpathProvision",
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The daemon: services, sinks, outbox, HTTP (metrics, status, healthz), sd_notify, config.
        .target(
            name: "SanpathDaemon",
            dependencies: [
                "SanpathCore", "SanpathHost", "SanpathSite", "SanpathHealth", "SanpathSystem",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]),
        // Trace: Eucalyptus log lines (both layouts), a volume's flow and hops, the verdict and its cause. Pure.
        .target(name: "SanpathTrace", dependencies: ["SanpathCore"]),
        // Trace's log files: read(2) in chunks, gzip streamed (compress-nio), rotations found.
        .target(
            name: "SanpathTraceLogs",
            dependencies: [
                "SanpathCore", "SanpathTrace",
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        // Command types (one per verb); tested by running the built binary.
        .target(
            name: "SanpathCLI",
            dependencies: [
                "SanpathCore", "SanpathHost", "SanpathSite", "SanpathConfig", "SanpathProfiles", "SanpathProvision",
                "SanpathHealth", "SanpathSystem", "SanpathDaemon", "SanpathVolume", "SanpathTrace", "SanpathTraceLogs",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(name: "sanpath", dependencies: ["SanpathCLI"]),

        .testTarget(name: "SanpathCoreTests", dependencies: [
            "SanpathCore", .product(name: "PropertyBased", package: "swift-property-based"),
        ]),
        .testTarget(name: "SanpathSiteTests", dependencies: ["SanpathSite"]),
        .testTarget(
            name: "SanpathConfigTests",
            dependencies: ["SanpathConfig", .product(name: "PropertyBased", package: "swift-property-based")],
            resources: [.copy("Fixtures")]),
        .testTarget(name: "SanpathProfilesTests", dependencies: ["SanpathProfiles"]),
        // Fakes of the OS boundaries, for tests only (never in the product).
        .target(name: "SanpathTestSupport", dependencies: ["SanpathCore", "SanpathHost", "SanpathSystem"], path: "Tests/SanpathTestSupport"),
        .testTarget(
            name: "SanpathProvisionTests",
            dependencies: [
                "SanpathProvision", "SanpathTestSupport", .product(name: "PropertyBased", package: "swift-property-based"),
            ]),
        .testTarget(name: "SanpathHealthTests", dependencies: ["SanpathHealth"]),
        .testTarget(name: "SanpathVolumeTests", dependencies: ["SanpathVolume", "SanpathTestSupport"]),
        .testTarget(name: "SanpathSystemTests", dependencies: ["SanpathSystem", "SanpathTestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(
            name: "SanpathDaemonTests",
            dependencies: [
                "SanpathDaemon",
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]),
        .testTarget(name: "SanpathTraceTests", dependencies: ["SanpathTrace", "SanpathTraceLogs"], resources: [.copy("Fixtures")]),
        // Runs the built binary; the corpus of host trees is read in place.
        .testTarget(name: "SanpathCLITests", dependencies: ["sanpath", "SanpathCore", "SanpathConfig"], exclude: ["Corpus"]),
    ]
)

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
        // Merge policy, plan, apply, rollback; file system and command runner boundaries.
        .target(
            name: "SanpathProvision",
            dependencies: [
                "SanpathCore", "SanpathSite", "SanpathConfig", "SanpathProfiles",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ]),
        // Command types (one per verb); tested by running the built binary.
        .target(
            name: "SanpathCLI",
            dependencies: [
                "SanpathCore", "SanpathSite", "SanpathConfig", "SanpathProfiles", "SanpathProvision",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
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
        .testTarget(
            name: "SanpathProvisionTests",
            dependencies: [
                "SanpathProvision", .product(name: "PropertyBased", package: "swift-property-based"),
            ]),
        // Runs the built binary; the corpus of host trees is read in place.
        .testTarget(name: "SanpathCLITests", dependencies: ["sanpath", "SanpathCore", "SanpathConfig"], exclude: ["Corpus"]),
    ]
)

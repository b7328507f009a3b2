import Foundation
import SanpathCore
import SanpathHealth
import SanpathSite

extension MonitorConfig {
    /// Where the file is by default.
    public static let defaultPath = "/etc/sanpath/monitor.toml"

    /// Reads and parses a config file.
    public static func load(path: String) throws(SanpathError) -> MonitorConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw SanpathError(.io, "cannot read \(path): \(error.localizedDescription)", underlying: error)
        }
        return try parse(text, source: path)
    }

    /// Parses the TOML text of a config file (see `etc/sanpath/monitor.toml`). Every bad value
    /// and every unknown key is an error naming `source:line:col` and the offending text.
    public static func parse(_ text: String, source: String) throws(SanpathError) -> MonitorConfig {
        let root: SiteTOML.Table
        do {
            root = try SiteTOML.parse(text, source: source)
        } catch {
            // a syntax error of the daemon's file is a config error, not a site error
            throw SanpathError(.invalidConfig, error.message, at: error.location, diagnostics: error.diagnostics)
        }
        var config = MonitorConfig()
        let top = ConfigTable(root, path: "")
        try top.rejectUnknown(["resync_interval", "multipathd_interval", "udev_source", "state", "san_hosts", "portal_probes", "alerts", "nagios", "http", "sinks"])
        config.resyncInterval = try top.duration("resync_interval", positive: true) ?? config.resyncInterval
        config.multipathdInterval = try top.duration("multipathd_interval", positive: true) ?? config.multipathdInterval
        if let (name, location) = try top.string("udev_source") {
            guard let source = UdevSource(rawValue: name) else {
                throw ConfigTable.error("udev_source", "must be kernel or udev", at: location, text: name)
            }
            config.udevSource = source
        }

        if let state = try top.table("state") {
            try state.rejectUnknown(["database", "retention"])
            if let (path, location) = try state.string("database") {
                guard path.hasPrefix("/") else { throw ConfigTable.error("state.database", "must be an absolute path", at: location, text: path) }
                config.stateDatabase = path
            }
            config.retention = try state.duration("retention", positive: true) ?? config.retention
        }

        if let probes = try top.table("san_hosts") {
            try probes.rejectUnknown(["interval", "timeout", "port"])
            config.sanHosts.interval = try probes.duration("interval", positive: true) ?? config.sanHosts.interval
            config.sanHosts.timeout = try probes.duration("timeout", positive: true) ?? config.sanHosts.timeout
            config.sanHosts.port = try probes.integer("port", in: 1...65_535)
            try probes.check(timeout: config.sanHosts.timeout, within: config.sanHosts.interval)
        }

        if let probes = try top.table("portal_probes") {
            try probes.rejectUnknown(["enabled", "method", "interval", "timeout"])
            config.portalProbes.enabled = try probes.boolean("enabled") ?? config.portalProbes.enabled
            if let (name, location) = try probes.string("method") {
                guard let method = MonitorConfig.PortalProbes.Method(rawValue: name) else {
                    throw ConfigTable.error("portal_probes.method", "must be syn or connect", at: location, text: name)
                }
                config.portalProbes.method = method
            }
            let method = config.portalProbes.method
            config.portalProbes.interval = try probes.duration("interval", positive: true) ?? method.defaultInterval
            config.portalProbes.timeout = try probes.duration("timeout", positive: true) ?? method.defaultTimeout
            try probes.check(timeout: config.portalProbes.timeout, within: config.portalProbes.interval)
        }

        if let alerts = try top.table("alerts") {
            try alerts.rejectUnknown(["default_for", "resolve_hold", "for", "flap"])
            if let value = try alerts.duration("default_for") { config.alerts.defaultFor = value.seconds }
            if let value = try alerts.duration("resolve_hold") { config.alerts.resolveHold = value.seconds }
            if let durations = try alerts.table("for") {
                let kinds = Finding.Kind.allCases.map(\.rawValue)
                try durations.rejectUnknown(kinds, what: "alert kind")
                for kind in durations.table.orderedKeys {
                    if let value = try durations.duration(kind) { config.alerts.forDuration[kind] = value.seconds }
                }
            }
            if let flap = try alerts.table("flap") {
                try flap.rejectUnknown(["window", "max_transitions", "hold"])
                if let value = try flap.duration("window", positive: true) { config.alerts.flapWindow = value.seconds }
                if let value = try flap.integer("max_transitions", in: 2...1_000) { config.alerts.flapTransitions = value }
                if let value = try flap.duration("hold") { config.alerts.flapHold = value.seconds }
            }
        }

        if let nagios = try top.table("nagios") {
            try nagios.rejectUnknown(["min_paths", "ok_paths"])
            config.nagios.minPaths = try nagios.integer("min_paths", in: 0...1_024) ?? config.nagios.minPaths
            if let ok = try nagios.integer("ok_paths", in: 0...1_024) {
                guard ok >= config.nagios.minPaths else {
                    throw ConfigTable.error(
                        "nagios.ok_paths", "must not be below min_paths (\(config.nagios.minPaths))", at: nagios.location(of: "ok_paths"),
                        text: "\(ok)")
                }
                config.nagios.okPaths = ok
            }
        }

        if let http = try top.table("http") {
            try http.rejectUnknown(["listen"])
            if let (text, location) = try http.string("listen") {
                guard let address = ListenAddress(parsing: text) else {
                    throw ConfigTable.error(
                        "http.listen", "expected ADDR:PORT such as 127.0.0.1:9478 or [::1]:9478 (port 1-65535)", at: location, text: text)
                }
                config.listen = address
            }
        }

        if let sinks = try top.table("sinks") {
            try sinks.rejectUnknown(["log", "stdout", "webhook", "exec"])
            config.sinks.log = try sinks.boolean("log") ?? config.sinks.log
            config.sinks.stdout = try sinks.boolean("stdout") ?? config.sinks.stdout
            // the same destination twice would deliver every alert twice
            var destinations: Set<String> = []
            if let webhooks = try sinks.table("webhook") {
                for name in webhooks.table.orderedKeys {
                    guard let table = try webhooks.table(name) else { continue }
                    let webhook = try webhook(name, table)
                    let endpoint = webhook.format == .alertmanager ? WebhookSink.alertmanagerEndpoint(webhook.url) : webhook.url
                    guard destinations.insert(endpoint).inserted else {
                        throw ConfigTable.error(
                            "\(table.path).url", "the same URL as an earlier webhook", at: table.location(of: "url").shifted(by: 1),
                            text: webhook.url)
                    }
                    config.sinks.webhooks.append(webhook)
                }
            }
            if let execs = try sinks.table("exec") {
                for name in execs.table.orderedKeys {
                    guard let table = try execs.table(name) else { continue }
                    let exec = try exec(name, table)
                    guard destinations.insert("exec\u{0}" + exec.argv.joined(separator: "\u{0}")).inserted else {
                        throw ConfigTable.error(
                            "\(table.path).argv", "the same command as an earlier exec sink", at: table.location(of: "argv"),
                            text: exec.argv.joined(separator: " "))
                    }
                    config.sinks.execs.append(exec)
                }
            }
        }
        return config
    }

    private static func webhook(_ name: String, _ table: ConfigTable) throws(SanpathError) -> Webhook {
        try table.rejectUnknown(["url", "format", "timeout", "resend"])
        guard let (url, location) = try table.string("url") else {
            throw ConfigTable.error(table.path, "needs a url", at: table.table.location, text: name)
        }
        guard let components = URLComponents(string: url), components.scheme == "http" || components.scheme == "https",
            let host = components.host, !host.isEmpty
        else {
            throw ConfigTable.error("\(table.path).url", "expected an http:// or https:// URL with a host", at: location, text: url)
        }
        var webhook = Webhook(name: name, url: url)
        if let (text, location) = try table.string("format") {
            guard let format = WebhookSink.Format(rawValue: text) else {
                throw ConfigTable.error("\(table.path).format", "must be generic or alertmanager", at: location, text: text)
            }
            webhook.format = format
        }
        webhook.timeout = try table.duration("timeout", positive: true) ?? webhook.timeout
        webhook.resend = try table.duration("resend", positive: true) ?? webhook.resend
        return webhook
    }

    private static func exec(_ name: String, _ table: ConfigTable) throws(SanpathError) -> Exec {
        try table.rejectUnknown(["argv", "timeout"])
        guard let argv = try table.strings("argv") else {
            throw ConfigTable.error(table.path, "needs argv, the program and its arguments", at: table.table.location, text: name)
        }
        guard let program = argv.first else {
            throw ConfigTable.error("\(table.path).argv", "must name a program", at: table.location(of: "argv"), text: "[]")
        }
        guard program.text.hasPrefix("/") else {
            throw ConfigTable.error(
                "\(table.path).argv", "the program must be an absolute path (it is run without a shell or PATH)", at: program.location,
                text: program.text)
        }
        var exec = Exec(name: name, argv: argv.map(\.text))
        exec.timeout = try table.duration("timeout", positive: true) ?? exec.timeout
        return exec
    }
}

extension Duration {
    /// Parses `500ms`, `10s`, `5m`, `2h`, `7d`; nil for anything else.
    public init?(configText text: String) {
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, digits.count <= 12, let value = Int64(digits) else { return nil }
        switch text.dropFirst(digits.count) {
        case "ms": self = .milliseconds(value)
        case "s": self = .seconds(value)
        case "m": self = .seconds(value * 60)
        case "h": self = .seconds(value * 3_600)
        case "d": self = .seconds(value * 86_400)
        default: return nil
        }
    }
}

/// A table of the config file with its dotted path, and typed reads that fail with the key's
/// full name, the value's position and text.
private struct ConfigTable {
    let table: SiteTOML.Table
    let path: String

    init(_ table: SiteTOML.Table, path: String) {
        self.table = table
        self.path = path
    }

    static func error(_ key: String, _ message: String, at location: SourceLocation, text: String) -> SanpathError {
        let full = "\(key): \(message)"
        return SanpathError(.invalidConfig, full, at: location, diagnostics: [Diagnostic(.error, at: location, full, text: text)])
    }

    func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func location(of key: String) -> SourceLocation { table[key]?.location ?? table.keyLocations[key] ?? table.location }

    func rejectUnknown(_ known: [String], what: String = "key") throws(SanpathError) {
        for key in table.orderedKeys where !known.contains(key) {
            let section = path.isEmpty ? "the monitor config" : "[\(path)]"
            throw ConfigTable.error(
                name(key), "unknown \(what) in \(section); known: \(known.joined(separator: ", "))",
                at: table.keyLocations[key] ?? table.location, text: key)
        }
    }

    func table(_ key: String) throws(SanpathError) -> ConfigTable? {
        guard let value = table[key] else { return nil }
        guard case .table(let child) = value else {
            throw ConfigTable.error(name(key), "must be a [\(name(key))] table, not \(value.typeName)", at: value.location, text: key)
        }
        return ConfigTable(child, path: name(key))
    }

    /// A string and the position of its first character (after the quote).
    func string(_ key: String) throws(SanpathError) -> (text: String, location: SourceLocation)? {
        guard let value = table[key] else { return nil }
        guard case .string(let text, let location) = value else {
            throw ConfigTable.error(name(key), "must be a string, not \(value.typeName)", at: value.location, text: key)
        }
        return (text, location.shifted(by: 1))
    }

    func strings(_ key: String) throws(SanpathError) -> [(text: String, location: SourceLocation)]? {
        guard let value = table[key] else { return nil }
        guard case .array(let items, _) = value else {
            throw ConfigTable.error(name(key), "must be an array of strings, not \(value.typeName)", at: value.location, text: key)
        }
        var out: [(text: String, location: SourceLocation)] = []
        for item in items {
            guard case .string(let text, let location) = item else {
                throw ConfigTable.error(name(key), "array items must be strings, not \(item.typeName)", at: item.location, text: key)
            }
            out.append((text, location.shifted(by: 1)))
        }
        return out
    }

    func boolean(_ key: String) throws(SanpathError) -> Bool? {
        guard let value = table[key] else { return nil }
        guard case .boolean(let flag, _) = value else {
            throw ConfigTable.error(name(key), "must be true or false, not \(value.typeName)", at: value.location, text: key)
        }
        return flag
    }

    func integer(_ key: String, in range: ClosedRange<Int>) throws(SanpathError) -> Int? {
        guard let value = table[key] else { return nil }
        guard case .integer(let number, let location) = value else {
            throw ConfigTable.error(name(key), "must be an integer, not \(value.typeName)", at: value.location, text: key)
        }
        guard range.contains(number) else {
            throw ConfigTable.error(name(key), "must be between \(range.lowerBound) and \(range.upperBound)", at: location, text: "\(number)")
        }
        return number
    }

    /// A duration string; `positive`: zero is refused too.
    func duration(_ key: String, positive: Bool = false) throws(SanpathError) -> Duration? {
        guard let value = table[key] else { return nil }
        guard case .string(let text, let location) = value else {
            throw ConfigTable.error(
                name(key), "must be a duration string such as \"500ms\", \"10s\" or \"5m\", not \(value.typeName)", at: value.location,
                text: key)
        }
        guard let duration = Duration(configText: text) else {
            throw ConfigTable.error(
                name(key), "expected a duration: a whole number and ms, s, m, h or d (\"500ms\", \"10s\", \"5m\")",
                at: location.shifted(by: 1), text: text)
        }
        if positive, duration <= .zero {
            throw ConfigTable.error(name(key), "must be longer than 0", at: location.shifted(by: 1), text: text)
        }
        return duration
    }

    /// A probe must give up before the next one starts.
    func check(timeout: Duration, within interval: Duration) throws(SanpathError) {
        guard timeout > interval else { return }
        let key = table["timeout"] != nil ? "timeout" : "interval"
        throw ConfigTable.error(
            name("timeout"), "must not be longer than the interval (\(interval.configText))", at: location(of: key).shifted(by: 1),
            text: (try? string(key))??.text ?? "")
    }
}

extension Duration {
    /// The shortest config text for the duration (`500ms`, `10s`, `5m`).
    public var configText: String {
        let (seconds, attoseconds) = components
        if attoseconds != 0 || seconds == 0 { return "\(seconds * 1000 + attoseconds / 1_000_000_000_000_000)ms" }
        if seconds % 86_400 == 0 { return "\(seconds / 86_400)d" }
        if seconds % 3_600 == 0 { return "\(seconds / 3_600)h" }
        if seconds % 60 == 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }
}

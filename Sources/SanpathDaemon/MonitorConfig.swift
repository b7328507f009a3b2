import Foundation
import SanpathCore
import SanpathHealth

/// The daemon's settings (`/etc/sanpath/monitor.toml`, parsed by `MonitorConfig.parse`). Every
/// field has a default; `MonitorConfig()` is the daemon without a config file.
public struct MonitorConfig: Sendable, Hashable {
    /// Where udev events come from.
    public enum UdevSource: String, Sendable, Hashable, CaseIterable {
        /// The kernel's uevents (netlink group 1): first to know, before udev rules ran.
        case kernel
        /// udev's events (netlink group 2): after udev's rules, with udev's properties.
        case udev
    }

    /// TCP probes of the SAN management hosts.
    public struct SANHostProbes: Sendable, Hashable {
        /// Time between probes.
        public var interval: Duration = .seconds(10)
        /// Connect timeout of one probe.
        public var timeout: Duration = .seconds(2)
        /// Port for every host, instead of the site's or the profile's.
        public var port: Int?
    }

    /// TCP probes of each portal through its path's NIC.
    public struct PortalProbes: Sendable, Hashable {
        /// How a portal is probed.
        public enum Method: String, Sendable, Hashable {
            /// Half-open: a SYN answered by a SYN-ACK; the target's iSCSI layer sees no connection
            /// (IPv4 with CAP_NET_RAW; else `connect`).
            case syn
            /// A full TCP connect: the target accepts a connection that never logs in, and LIO
            /// logs "iSCSI Login negotiation failed" for each one.
            case connect

            /// The interval when the file names none: a SYN probe costs the target nothing, so
            /// a cut path is known within interval + 2 × timeout (2 s); a connect is logged by
            /// the target, so once every 10 s.
            public var defaultInterval: Duration { self == .syn ? .seconds(1) : .seconds(10) }
            /// The timeout when the file names none: a portal on the SAN's LAN answers a SYN
            /// within milliseconds.
            public var defaultTimeout: Duration { self == .syn ? .milliseconds(500) : .seconds(2) }
        }

        /// Whether to probe.
        public var enabled = true
        /// How.
        public var method = Method.syn
        /// Time between probes; a failed probe is repeated at once, as two in a row mark the
        /// portal unreachable.
        public var interval = Method.syn.defaultInterval
        /// Timeout of one probe.
        public var timeout = Method.syn.defaultTimeout
    }

    /// A webhook sink.
    public struct Webhook: Sendable, Hashable {
        /// The table name (`[sinks.webhook.NAME]`).
        public var name: String
        /// Where to POST.
        public var url: String
        /// Body format.
        public var format: WebhookSink.Format = .generic
        /// Request timeout.
        public var timeout: Duration = .seconds(10)
        /// How often firing alerts are re-sent (Alertmanager forgets an alert it has not heard
        /// of for its `resolve_timeout`, 5 minutes by default).
        public var resend: Duration = .seconds(60)

        /// A webhook with defaults.
        public init(name: String, url: String, format: WebhookSink.Format = .generic) {
            self.name = name
            self.url = url
            self.format = format
        }
    }

    /// A program sink.
    public struct Exec: Sendable, Hashable {
        /// The table name (`[sinks.exec.NAME]`).
        public var name: String
        /// The program (absolute path) and its arguments.
        public var argv: [String]
        /// Killed after this long.
        public var timeout: Duration = .seconds(30)

        /// A program sink with the default timeout.
        public init(name: String, argv: [String]) {
            self.name = name
            self.argv = argv
        }
    }

    /// Where alerts go.
    public struct Sinks: Sendable, Hashable {
        /// Log lines on stderr (the journal under systemd).
        public var log = true
        /// One JSON line per event on stdout.
        public var stdout = true
        /// Webhooks, in file order.
        public var webhooks: [Webhook] = []
        /// Programs, in file order.
        public var execs: [Exec] = []
    }

    /// How often everything is re-read even without events: the kernel's events carry every map
    /// and path change, a lost event is seen at once (ENOBUFS) and rescans, and the portal probes
    /// rescan when a path's network goes; the resync catches the rest (an iface file edited,
    /// a NIC down with the probes off), and each costs a full scan: every 5 minutes.
    public var resyncInterval: Duration = .seconds(300)
    /// How often multipathd is asked for its path checkers' states (`show paths raw format`),
    /// which also tells whether it answers: a stopped multipathd is known within this.
    public var multipathdInterval: Duration = .seconds(60)
    /// Where udev events come from.
    public var udevSource: UdevSource = .kernel
    /// The state database (outbox, firing alerts).
    public var stateDatabase: String = StateDatabase.defaultPath
    /// How long delivered alerts stay in the outbox.
    public var retention: Duration = .seconds(7 * 86_400)
    /// SAN management host probes.
    public var sanHosts = SANHostProbes()
    /// Portal probes.
    public var portalProbes = PortalProbes()
    /// `for` durations, resolve hold and flap damping (seconds).
    public var alerts = AlertPolicy()
    /// `sanpath status --format nagios` thresholds.
    public var nagios = NagiosReport.Thresholds()
    /// Where the HTTP server listens.
    public var listen = ListenAddress.loopback
    /// Sinks.
    public var sinks = Sinks()

    /// The defaults.
    public init() {}

    /// What changed between two configurations that a reload cannot apply to the running
    /// daemon (the file keys); empty when everything can be applied.
    public func restartRequired(since old: MonitorConfig) -> [String] {
        var keys: [String] = []
        if listen != old.listen { keys.append("http.listen") }
        if stateDatabase != old.stateDatabase { keys.append("state.database") }
        if retention != old.retention { keys.append("state.retention") }
        if udevSource != old.udevSource { keys.append("udev_source") }
        if sinks != old.sinks { keys.append("sinks") }
        return keys
    }
}

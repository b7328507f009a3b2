/// One alert as it should be now: a root cause and everything it took down.
public struct AlertCandidate: Sendable, Hashable, Codable {
    /// Stable identity (`nic-down:eth1`, `portal-unreachable:10.0.0.2:3260`, `path-lost:sdb`).
    public var key: String
    /// The alert kind (the cause).
    public var kind: String
    /// How bad.
    public var severity: Severity
    /// One line for a person.
    public var summary: String
    /// Maps it concerns.
    public var maps: [String]
    /// Paths it concerns.
    public var paths: [PathRef]

    /// Creates a candidate.
    public init(key: String, kind: String, severity: Severity, summary: String, maps: [String], paths: [PathRef]) {
        self.key = key
        self.kind = kind
        self.severity = severity
        self.summary = summary
        self.maps = maps
        self.paths = paths
    }
}

/// Turns findings into alerts by root cause: a dead NIC, an unreachable portal (every session to
/// it down) or a lost session is one alert naming every path and map it took down, not one alert
/// per LUN. A map left without any path raises the cause's severity to critical. A cause that
/// is over (the NIC is up again, the portal answers) keeps its alert while paths it took down are
/// still down: sessions log in again and multipathd reinstates the paths seconds later, and those
/// seconds are the end of the same outage, not new alerts. A stopped multipathd is one critical
/// alert that also names every lost path no other cause explains: nothing reinstates them until
/// it runs again, and it holds them until it has.
public enum AlertGrouping {
    /// Kinds whose alert outlasts its cause until the paths it took down are back.
    static let heldUntilPathsAreBack: Set<String> = ["nic-down", "portal-unreachable", "session-down", "multipathd-down"]

    /// Groups the findings of one snapshot. `firing` are the alerts firing now (the daemon's):
    /// a cause among them that is over keeps its key for the paths it took down that are still down.
    public static func candidates(
        _ findings: [Finding], snapshot: Snapshot, model: HealthModel, firing: [AlertCandidate] = []
    ) -> [AlertCandidate] {
        var out: [AlertCandidate] = []
        let noPathMaps = Set(findings.filter { $0.kind == .mapNoPath }.map(\.subject))
        // paths lost by any cause, by device
        let lostSessions = findings.filter { $0.kind == .sessionDown }
        let lostPaths = findings.filter { $0.kind == .pathLost }
        var covered = Set<String>()  // devices already in a cause's alert

        func severity(for maps: [String]) -> Severity {
            maps.contains(where: noPathMaps.contains) ? .critical : .warning
        }
        func tail(_ paths: [PathRef], _ maps: [String]) -> String {
            let dead = maps.filter(noPathMaps.contains)
            var text = "\(paths.count) path\(paths.count == 1 ? "" : "s") of \(maps.count) map\(maps.count == 1 ? "" : "s") down: "
                + paths.map(\.description).joined(separator: ", ")
            if !dead.isEmpty { text += "; no path left on \(dead.joined(separator: ", "))" }
            return text
        }

        // 1. a NIC that is down takes every path whose session runs over it
        for finding in findings where finding.kind == .nicDown {
            let nic = finding.subject
            let paths = snapshot.maps.flatMap { map in map.paths.map { model.pathRef($0, map: map, in: snapshot) } }
                .filter { $0.nic == nic }.sorted()
            let maps = Array(Set(paths.compactMap(\.map))).sorted()
            covered.formUnion(paths.map(\.device))
            out.append(
                AlertCandidate(
                    key: "nic-down:\(nic)", kind: "nic-down", severity: severity(for: maps),
                    summary: finding.summary + (paths.isEmpty ? "" : "; " + tail(paths, maps)), maps: maps, paths: paths))
        }

        // 1b. causes that are over, with paths they took down still down: those paths stay theirs
        var lostNow = Set(lostSessions.flatMap(\.paths).map(\.device))
        for map in snapshot.maps {
            for path in map.paths where model.isLost(path, in: snapshot) { lostNow.insert(path.device ?? path.majorMinor) }
        }
        var held: [(alert: AlertCandidate, paths: [PathRef])] = []
        var heldBy: [String: String] = [:]  // device -> key of the alert holding it
        for alert in firing where heldUntilPathsAreBack.contains(alert.kind) && !out.contains(where: { $0.key == alert.key }) {
            let paths = alert.paths.filter { lostNow.contains($0.device) && !covered.contains($0.device) && heldBy[$0.device] == nil }
            guard !paths.isEmpty else { continue }
            held.append((alert, paths))
            for path in paths { heldBy[path.device] = alert.key }
        }
        // a path is free for an alert unless a cause took it or another alert holds it
        func free(_ path: PathRef, for key: String) -> Bool {
            !covered.contains(path.device) && (heldBy[path.device] ?? key) == key
        }

        // 2. sessions down: grouped by portal when every session to that portal is down
        var byPortal: [String: [Finding]] = [:]
        for finding in lostSessions {
            let portal = finding.paths.first?.portal ?? snapshot.sessions.first { "session\($0.id)" == finding.subject }?.portal ?? "?"
            byPortal[portal, default: []].append(finding)
        }
        for (portal, sessionFindings) in byPortal.sorted(by: { $0.key < $1.key }) {
            let wholePortal = snapshot.sessions.filter { $0.portal == portal }.count == sessionFindings.count
            let remaining = sessionFindings.map { f in
                f.paths.filter { free($0, for: wholePortal ? "portal-unreachable:\(portal)" : "session-down:\(f.subject)") }
            }
            let paths = remaining.flatMap { $0 }.sorted()
            guard !paths.isEmpty || sessionFindings.allSatisfy({ $0.paths.isEmpty }) else { continue }
            if wholePortal {
                let maps = Array(Set(paths.compactMap(\.map))).sorted()
                let via = Set(paths.compactMap { p in p.iface.map { "\($0)/\(p.nic ?? "-")" } }).sorted().joined(separator: ", ")
                covered.formUnion(paths.map(\.device))
                out.append(
                    AlertCandidate(
                        key: "portal-unreachable:\(portal)", kind: "portal-unreachable", severity: severity(for: maps),
                        summary: "portal \(portal) unreachable\(via.isEmpty ? "" : " via \(via)"): " + tail(paths, maps),
                        maps: maps, paths: paths))
            } else {
                for (finding, sessionPaths) in zip(sessionFindings, remaining) {
                    let maps = Array(Set(sessionPaths.compactMap(\.map))).sorted()
                    covered.formUnion(sessionPaths.map(\.device))
                    out.append(
                        AlertCandidate(
                            key: "session-down:\(finding.subject)", kind: "session-down", severity: severity(for: maps),
                            summary: finding.summary + "; " + tail(sessionPaths, maps), maps: maps, paths: sessionPaths.sorted()))
                }
            }
        }

        // 2b. multipathd stopped: one alert, with the lost paths no NIC, portal or session explains
        // (they stay failed until its checker runs again), instead of one alert per path
        if let finding = findings.first(where: { $0.kind == .multipathdDown }) {
            let key = "\(finding.kind.rawValue):\(finding.subject)"
            let paths = lostPaths.flatMap(\.paths).filter { free($0, for: key) }.sorted()
            let maps = Array(Set(paths.compactMap(\.map))).sorted()
            covered.formUnion(paths.map(\.device))
            out.append(
                AlertCandidate(
                    key: key, kind: finding.kind.rawValue, severity: .critical,
                    summary: finding.summary + (paths.isEmpty ? "" : "; " + tail(paths, maps)), maps: maps, paths: paths))
        }

        // held causes whose own condition is gone
        for (alert, paths) in held where !out.contains(where: { $0.key == alert.key }) {
            let still = paths.filter { !covered.contains($0.device) }
            guard !still.isEmpty else { continue }
            let maps = Array(Set(still.compactMap(\.map))).sorted()
            covered.formUnion(still.map(\.device))
            out.append(
                AlertCandidate(key: alert.key, kind: alert.kind, severity: severity(for: maps), summary: alert.summary, maps: maps, paths: still))
        }

        // 3. single paths lost while their session is up
        for finding in lostPaths {
            let paths = finding.paths.filter { !covered.contains($0.device) }
            guard let path = paths.first else { continue }
            covered.insert(path.device)
            out.append(
                AlertCandidate(
                    key: "path-lost:\(path.device)", kind: "path-lost", severity: severity(for: finding.maps),
                    summary: finding.summary + (finding.maps.contains(where: noPathMaps.contains) ? "; no path left on \(finding.maps.joined(separator: ", "))" : ""),
                    maps: finding.maps, paths: paths))
        }

        // 4. maps short of paths with no lost path to explain it (a session never logged in, a disk removed)
        for finding in findings where finding.kind == .mapDegraded || finding.kind == .mapNoPath {
            let explained = finding.paths.contains { covered.contains($0.device) }
            guard !explained else { continue }
            out.append(
                AlertCandidate(
                    key: "\(finding.kind.rawValue):\(finding.subject)", kind: finding.kind.rawValue, severity: finding.severity,
                    summary: finding.summary, maps: finding.maps, paths: finding.paths))
        }

        // 5. everything else, one alert per finding (a failing portal probe joins the portal's
        // alert when its sessions are down too: same key; and the NIC's when it left by a dead NIC)
        let handled: Set<Finding.Kind> = [.nicDown, .sessionDown, .pathLost, .mapDegraded, .mapNoPath, .multipathdDown]
        for finding in findings where !handled.contains(finding.kind) {
            let key = "\(finding.kind.rawValue):\(finding.subject)"
            guard !out.contains(where: { $0.key == key }) else { continue }
            if finding.kind == .portalUnreachable, let nic = snapshot.portalProbes.first(where: { $0.portal == finding.subject })?.nic,
                out.contains(where: { $0.key == "nic-down:\(nic)" })
            {
                continue
            }
            out.append(
                AlertCandidate(
                    key: key, kind: finding.kind.rawValue, severity: finding.severity,
                    summary: finding.summary, maps: finding.maps, paths: finding.paths))
        }
        return out
    }
}

import Foundation

extension StatusReport {
    /// The topology as an admin draws it on a whiteboard: each map, its path groups, and for
    /// each path the chain disk → iface/NIC → portal → SAN host, every hop with its state.
    /// With `color`, a hop that is up is green, one that is down red, a degraded map yellow;
    /// without, the same text and the state words alone (for pipes, logs and tests).
    /// `siteSANHosts` names the site's SAN hosts for a report whose hosts were not probed
    /// (`status --root`, `--no-probe`).
    ///
    /// ```
    /// mpatha 36001405ab5ea20000000100000000000  1/2 paths
    /// ├─ group 1 active
    /// │  └─ sdd active ── iface1/ini1 up ── 198.51.100.2:3260 LOGGED_IN ── SAN 10.0.0.9 up
    /// └─ group 2 enabled
    ///    └─ sdb failed ── iface0/ini0 up ── 192.0.2.2:3260 FREE ── SAN 10.0.0.9 up
    /// ```
    public func topology(color: Bool = false, siteSANHosts: [String] = []) -> String {
        let (bold, red, yellow, green, reset) =
            color ? ("\u{1B}[1m", "\u{1B}[31m", "\u{1B}[33m", "\u{1B}[32m", "\u{1B}[0m") : ("", "", "", "", "")
        func paint(_ text: String, up: Bool?) -> String {
            switch up {
            case true?: green + text + reset
            case false?: red + text + reset
            case nil: text
            }
        }
        // the SAN host the portals answer for: Eucalyptus' active one, else the first
        let san = sanHosts.first { $0.active } ?? sanHosts.first
        let sanHop = san.map { row -> String in
            let state = row.state.reachable.map { $0 ? "up" : "down" } ?? "not probed"
            return " ── " + paint("SAN \(row.state.host) \(state)", up: row.state.reachable)
        } ?? siteSANHosts.first.map { " ── SAN \($0) not probed" } ?? ""
        let nicStates = Dictionary(ifaces.map { ($0.nic, $0) }, uniquingKeysWith: { first, _ in first })

        var out = "\(bold)TOPOLOGY\(reset)  map → path group → path → iface/NIC → portal → SAN host\n"
        if maps.isEmpty { out += "  (no multipath maps)\n" }
        for map in maps {
            let expected = map.expectedPaths.map { "/\($0)" } ?? ""
            let mapColor = map.validPaths == 0 ? red : map.validPaths < (map.expectedPaths ?? 0) ? yellow : green
            out += "\(bold)\(map.name)\(reset) \(map.wwid)  \(mapColor)\(map.validPaths)\(expected) paths\(reset)\n"
            // groups in the map's order (PathRow.group is "N state")
            var groups: [(name: String, paths: [PathRow])] = []
            for path in map.paths {
                if let index = groups.firstIndex(where: { $0.name == path.group }) {
                    groups[index].paths.append(path)
                } else {
                    groups.append((path.group, [path]))
                }
            }
            for (groupIndex, group) in groups.enumerated() {
                let lastGroup = groupIndex == groups.count - 1
                let words = group.name.split(separator: " ", maxSplits: 1)
                let groupState = words.count == 2 ? String(words[1]) : ""
                let groupUp: Bool? = groupState == "active" || groupState == "enabled" ? true : groupState == "disabled" ? false : nil
                out += (lastGroup ? "└─ " : "├─ ") + paint("group \(group.name)", up: group.paths.allSatisfy(\.lost) ? false : groupUp) + "\n"
                for (pathIndex, path) in group.paths.enumerated() {
                    let lastPath = pathIndex == group.paths.count - 1
                    out += (lastGroup ? "   " : "│  ") + (lastPath ? "└─ " : "├─ ")
                    out += paint("\(path.path.device) \(path.kernel)", up: !path.lost)
                    out += " ── " + nicHop(path, nicStates, paint)
                    out += " ── " + portalHop(path, paint)
                    out += sanHop + "\n"
                }
            }
        }
        return out
    }

    private func nicHop(_ path: PathRow, _ nics: [String: IfaceRow], _ paint: (String, Bool?) -> String) -> String {
        let name = [path.path.iface, path.path.nic].compactMap { $0 }.joined(separator: "/")
        guard let nic = path.path.nic, let row = nics[nic], let operstate = row.operstate else {
            return paint(name.isEmpty ? "iface ?" : name, nil)
        }
        let up = operstate == "up" && row.carrier != false
        return paint("\(name) \(operstate)" + (row.carrier == false ? ", no carrier" : ""), up)
    }

    private func portalHop(_ path: PathRow, _ paint: (String, Bool?) -> String) -> String {
        let portal = path.path.portal ?? "portal ?"
        // PathRow.session is "ID STATE"
        guard let session = path.session, let state = session.split(separator: " ", maxSplits: 1).last.map(String.init) else {
            return paint(portal, nil)
        }
        return paint("\(portal) \(state)", state == "LOGGED_IN")
    }
}

import SanpathCore
import SanpathHealth

/// A multipath map's `dmsetup status` parameters (kernel `multipath_status`, STATUSTYPE_INFO),
/// read the way libmultipath's `disassemble_status` reads them:
///
///     <#features> <features…> <#handler args> <handler args…> <#groups> <next group>
///     per group: <A|E|D> <#selector status args> <args…> <#paths> <#selector args per path>
///       per path: <major:minor> <A|F> <fail count> <selector args…>
public struct MultipathStatus: Sendable, Hashable {
    /// One path group as the status line shows it.
    public struct Group: Sendable, Hashable {
        /// A (I/O goes here now), E (can be switched to) or D (bypassed).
        public var state: PathGroup.State
        /// The group's paths with the kernel's A/F letter and fail count.
        public var paths: [MapPath]
    }

    /// The feature values (`0 1` for queue_io 0 and pg_init_count 1).
    public var features: [String]
    /// Whether I/O is being queued right now (the first of the kernel's two feature values).
    public var queueingIO: Bool?
    /// The hardware handler's status values (none for the INFO status of current kernels).
    public var handlerStatus: [String]
    /// The 1-based number of the group I/O goes to next (0 when the map has no group).
    public var nextGroup: Int
    /// Path groups in table order.
    public var groups: [Group]

    /// Reads a status parameter line; `map` names the map in errors.
    public init(parsing params: String, map: String? = nil) throws {
        var tokens = DMTokens(params, line: "status", map: map)
        features = try tokens.counted("feature values")
        queueingIO = features.count == 2 ? features[0] != "0" : nil
        handlerStatus = try tokens.counted("hardware handler status values")
        let groupCount = try tokens.number("the number of path groups")
        nextGroup = try tokens.number("the next path group number")
        groups = []
        for index in 0..<groupCount {
            let g = index + 1
            let letter = try tokens.word("the state (A, E or D) of path group \(g)")
            let state: PathGroup.State
            switch letter {
            case "A": state = .active
            case "E": state = .enabled
            case "D": state = .disabled
            default: throw tokens.error(at: tokens.index - 1, expected: "the state (A, E or D) of path group \(g)")
            }
            _ = try tokens.counted("selector status values of path group \(g)")
            let pathCount = try tokens.number("the number of paths of path group \(g)")
            let selectorArgs = try tokens.number("the number of selector values per path of path group \(g)")
            var paths: [MapPath] = []
            for index in 0..<pathCount {
                let p = index + 1
                let device = try tokens.majorMinor("the major:minor of path \(p) of path group \(g)")
                let kernelState: MapPath.KernelState
                switch try tokens.word("the state (A or F) of path \(device)") {
                case "A": kernelState = .active
                case "F": kernelState = .failed
                default: throw tokens.error(at: tokens.index - 1, expected: "the state (A or F) of path \(device)")
                }
                let failCount = try tokens.number("the fail count of path \(device)")
                _ = try tokens.words(selectorArgs, "the selector values of path \(device)")
                paths.append(MapPath(majorMinor: device, kernelState: kernelState, failCount: failCount))
            }
            groups.append(Group(state: state, paths: paths))
        }
        try tokens.expectEnd()
    }

    /// The groups with the table's selectors, after checking that both lines describe the same
    /// paths (a reload between the two reads makes them disagree).
    public func pathGroups(table: MultipathTable, map: String? = nil) throws -> [PathGroup] {
        let subject = map.map { "map '\($0)'" } ?? "the map"
        guard groups.count == table.groups.count else {
            throw SanpathError(
                .malformedReply,
                "dm status and table of \(subject) disagree: \(groups.count) path group(s) in the status, "
                    + "\(table.groups.count) in the table (was the map reloaded between the two reads?)")
        }
        return try zip(groups, table.groups).enumerated().map { index, pair in
            let (status, tableGroup) = pair
            guard status.paths.map(\.majorMinor) == tableGroup.paths else {
                throw SanpathError(
                    .malformedReply,
                    "dm status and table of \(subject) disagree on the paths of group \(index + 1): status "
                        + "\(status.paths.map(\.majorMinor).joined(separator: " ")), table \(tableGroup.paths.joined(separator: " ")) "
                        + "(was the map reloaded between the two reads?)")
            }
            return PathGroup(state: status.state, selector: tableGroup.selector, paths: status.paths)
        }
    }
}

/// A multipath map's `dmsetup table` parameters (kernel `multipath_status`, STATUSTYPE_TABLE):
///
///     <#features> <features…> <#handler args> <handler…> <#groups> <first group>
///     per group: <selector> <#selector args> <args…> <#paths> <#path args>
///       per path: <major:minor> <path args…>
public struct MultipathTable: Sendable, Hashable {
    /// One path group as the table defines it.
    public struct Group: Sendable, Hashable {
        /// The selector as multipath prints it: name, argument count, arguments (`service-time 0`).
        public var selector: String
        /// The paths, `major:minor`.
        public var paths: [String]
    }

    /// The feature words (`queue_if_no_path`, `pg_init_retries`, `50`, …).
    public var features: [String]
    /// The hardware handler and its arguments (`["alua"]`), empty when there is none.
    public var hardwareHandler: [String]
    /// The 1-based group the kernel starts with (0 when the map has no group).
    public var firstGroup: Int
    /// Path groups in order.
    public var groups: [Group]

    /// Whether I/O queues when no path is left: the kernel lists `queue_if_no_path` while it is in force.
    public var queueIfNoPath: Bool { features.contains("queue_if_no_path") }

    /// Reads a table parameter line; `map` names the map in errors.
    public init(parsing params: String, map: String? = nil) throws {
        var tokens = DMTokens(params, line: "table", map: map)
        features = try tokens.counted("feature arguments")
        hardwareHandler = try tokens.counted("hardware handler arguments")
        let groupCount = try tokens.number("the number of path groups")
        firstGroup = try tokens.number("the first path group number")
        groups = []
        for index in 0..<groupCount {
            let g = index + 1
            let name = try tokens.word("the path selector of path group \(g)")
            if name.first?.isNumber == true {
                throw tokens.error(at: tokens.index - 1, expected: "the path selector name of path group \(g)")
            }
            let selectorArgs = try tokens.counted("selector arguments of path group \(g)")
            let selector = ([name, String(selectorArgs.count)] + selectorArgs).joined(separator: " ")
            let pathCount = try tokens.number("the number of paths of path group \(g)")
            let pathArgs = try tokens.number("the number of arguments per path of path group \(g)")
            var paths: [String] = []
            for index in 0..<pathCount {
                let p = index + 1
                let device = try tokens.majorMinor("the major:minor of path \(p) of path group \(g)")
                _ = try tokens.words(pathArgs, "the selector arguments of path \(device)")
                paths.append(device)
            }
            groups.append(Group(selector: selector, paths: paths))
        }
        try tokens.expectEnd()
    }
}

extension MultipathMap {
    /// A map from its device-mapper identity and its status and table parameter lines.
    public init(device: DMDevice, status: String, table: String, sysfsName: String? = nil) throws {
        let parsedStatus = try MultipathStatus(parsing: status, map: device.name)
        let parsedTable = try MultipathTable(parsing: table, map: device.name)
        let wwid = device.uuid.hasPrefix("mpath-") ? String(device.uuid.dropFirst("mpath-".count)) : device.uuid
        self.init(
            name: device.name, wwid: wwid, sysfsName: sysfsName, majorMinor: device.majorMinor,
            openCount: device.openCount, queueing: parsedTable.queueIfNoPath,
            groups: try parsedStatus.pathGroups(table: parsedTable, map: device.name))
    }
}

/// Whitespace-separated words of a dm parameter line, read front to back; every error names the
/// word (by 1-based position) and what was expected there.
struct DMTokens {
    let words: [Substring]
    let params: String
    let line: String
    let map: String?
    var index = 0

    init(_ params: String, line: String, map: String?) {
        self.params = params
        self.words = params.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" })
        self.line = line
        self.map = map
    }

    func error(at position: Int, expected: String) -> SanpathError {
        let subject = "dm \(line) of " + (map.map { "map '\($0)'" } ?? "a multipath map")
        let found = position < words.count ? "word \(position + 1) '\(words[position])'" : "the line ends"
        return SanpathError(
            .malformedReply,
            "cannot read the \(subject): \(found) where \(expected) was expected (line: '\(params.trimmingWhitespace())')")
    }

    mutating func word(_ expected: String) throws -> String {
        guard index < words.count else { throw error(at: index, expected: expected) }
        defer { index += 1 }
        return String(words[index])
    }

    /// A non-negative decimal number.
    mutating func number(_ expected: String) throws -> Int {
        let text = try word(expected)
        guard text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = Int(text) else {
            throw error(at: index - 1, expected: expected)
        }
        return value
    }

    mutating func words(_ count: Int, _ expected: String) throws -> [String] {
        // a count past the line's end is an error before anything is reserved for it (scripts/fuzz:
        // `map` reserved the count, and a 20-digit count asked for exabytes)
        guard count <= words.count - index else { throw error(at: words.count, expected: expected) }
        return try (0..<count).map { _ in try word(expected) }
    }

    /// A count followed by that many words; `what` names the words (`feature arguments`).
    mutating func counted(_ what: String) throws -> [String] {
        let count = try number("the number of \(what)")
        return try words(count, "one of the \(what)")
    }

    mutating func majorMinor(_ expected: String) throws -> String {
        let text = try word(expected)
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }) else {
            throw error(at: index - 1, expected: expected)
        }
        return text
    }

    func expectEnd() throws {
        guard index == words.count else { throw error(at: index, expected: "the end of the line") }
    }
}

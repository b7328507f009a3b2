import SanpathCore

/// The site file (`/etc/sanpath/site.toml`):
///
/// ```toml
/// vendor = "equallogic"          # equallogic | netapp | vnx
/// role = "nc"                    # nc | sc
/// paths = "iface0:10.107.1.200,iface1:10.108.1.200"   # or an array of strings
/// sanhost = "10.109.1.26,10.109.1.27"
/// properties = "/etc/sanpath/properties.txt"         # optional: euca-describe-properties --verbose
/// partition = "PARTI00"
/// eucalyptus_conf = "/etc/eucalyptus/eucalyptus.conf" # optional: STORAGE_INTERFACES
///
/// [interfaces]                   # instead of STORAGE_INTERFACES
/// iface0 = "br0"
///
/// [chap]
/// username = "eucalyptus"
/// password = "…"
///
/// [devices]                      # udev permissions of the multipath maps
/// owner = "eucalyptus"
/// group = "disk"
/// mode = "660"
///
/// [multipath]                    # overrides of the profile, chosen knowingly
/// no_path_retry = "queue"        # "queue", "fail" or a number of checks
/// ```
public struct SiteFile: Sendable {
    /// The layer the file itself gives.
    public var layer: SiteLayer
    /// A properties file the site file names, if any.
    public var properties: Located<String>?
    /// The partition to pick from it.
    public var partition: Located<String>?
    /// A eucalyptus.conf the site file names, if any.
    public var eucalyptusConf: Located<String>?

    static let topKeys = [
        "vendor", "role", "paths", "sanhost", "properties", "partition", "eucalyptus_conf", "interfaces", "chap", "devices",
        "multipath",
    ]

    /// Parses a site file; unknown keys are errors (a typo must not pass silently).
    public init(text: String, source: String) throws(SanpathError) {
        let table = try SiteTOML.parse(text, source: source)
        var layer = SiteLayer()
        for key in table.orderedKeys where !SiteFile.topKeys.contains(key) {
            let location = table.keyLocations[key] ?? table.location
            throw SiteValues.error(
                key, "unknown key in the site file; known keys: \(SiteFile.topKeys.joined(separator: ", "))",
                at: location, text: key)
        }
        layer.vendor = try SiteFile.string(table, "vendor")
        layer.role = try SiteFile.string(table, "role")
        layer.paths = try SiteFile.stringOrList(table, "paths")
        layer.sanHosts = try SiteFile.stringOrList(table, "sanhost")
        self.properties = try SiteFile.string(table, "properties")
        self.partition = try SiteFile.string(table, "partition")
        self.eucalyptusConf = try SiteFile.string(table, "eucalyptus_conf")

        if let value = table["interfaces"] {
            guard case .table(let interfaces) = value else {
                throw SiteValues.error("interfaces", "must be a [interfaces] table of iface = \"nic\"", at: value.location, text: "")
            }
            var bindings: [InterfaceBinding] = []
            for key in interfaces.orderedKeys {
                guard case .string(let nic, let location)? = interfaces[key] else {
                    throw SiteValues.error(
                        "interfaces.\(key)", "must be a string NIC name", at: interfaces.keyLocations[key] ?? value.location, text: key)
                }
                let keyLocation = interfaces.keyLocations[key] ?? location
                // reuse the STORAGE_INTERFACES checks on "key=nic"
                let parsed = try SiteValues.parseInterfaces("\(key)=\(nic)", what: "interfaces.\(key)", at: keyLocation)
                bindings.append(InterfaceBinding(iface: parsed[0].iface, nic: parsed[0].nic, location: location))
            }
            layer.interfaceBindings = bindings
        }
        if let value = table["chap"] {
            guard case .table(let chap) = value else {
                throw SiteValues.error("chap", "must be a [chap] table with username and password", at: value.location, text: "")
            }
            try SiteFile.rejectUnknown(chap, known: ["username", "password"], section: "chap")
            layer.chapUsername = try SiteFile.string(chap, "username", prefix: "chap.")
            layer.chapPassword = try SiteFile.string(chap, "password", prefix: "chap.")
        }
        if let value = table["devices"] {
            guard case .table(let devices) = value else {
                throw SiteValues.error("devices", "must be a [devices] table", at: value.location, text: "")
            }
            try SiteFile.rejectUnknown(devices, known: ["owner", "group", "mode"], section: "devices")
            layer.deviceOwner = try SiteFile.string(devices, "owner", prefix: "devices.")
            layer.deviceGroup = try SiteFile.string(devices, "group", prefix: "devices.")
            layer.deviceMode = try SiteFile.string(devices, "mode", prefix: "devices.")
        }
        if let value = table["multipath"] {
            guard case .table(let multipath) = value else {
                throw SiteValues.error("multipath", "must be a [multipath] table", at: value.location, text: "")
            }
            try SiteFile.rejectUnknown(multipath, known: ["no_path_retry"], section: "multipath")
            switch multipath["no_path_retry"] {
            case nil: break
            case .integer(let count, let location)?: layer.noPathRetry = Located(String(count), at: location)
            case .string(let text, let location)?: layer.noPathRetry = Located(text, at: location.shifted(by: 1))
            case let other?:
                throw SiteValues.error(
                    "multipath.no_path_retry", "must be \"queue\", \"fail\" or a number, not \(other.typeName)", at: other.location, text: "")
            }
        }
        self.layer = layer
    }

    static func rejectUnknown(_ table: SiteTOML.Table, known: [String], section: String) throws(SanpathError) {
        for key in table.orderedKeys where !known.contains(key) {
            throw SiteValues.error(
                "\(section).\(key)", "unknown key in [\(section)]; known keys: \(known.joined(separator: ", "))",
                at: table.keyLocations[key] ?? table.location, text: key)
        }
    }

    static func string(_ table: SiteTOML.Table, _ key: String, prefix: String = "") throws(SanpathError) -> Located<String>? {
        guard let value = table[key] else { return nil }
        guard case .string(let text, let location) = value else {
            throw SiteValues.error("\(prefix)\(key)", "must be a string, not \(value.typeName)", at: value.location, text: "")
        }
        // the text starts after the opening quote
        return Located(text, at: location.shifted(by: 1))
    }

    static func stringOrList(_ table: SiteTOML.Table, _ key: String) throws(SanpathError) -> [Located<String>]? {
        guard let value = table[key] else { return nil }
        switch value {
        case .string(let text, let location):
            return [Located(text, at: location.shifted(by: 1))]
        case .array(let items, let location):
            var out: [Located<String>] = []
            for item in items {
                guard case .string(let text, let itemLocation) = item else {
                    throw SiteValues.error(key, "array items must be strings, not \(item.typeName)", at: item.location, text: "")
                }
                out.append(Located(text, at: itemLocation.shifted(by: 1)))
            }
            guard !out.isEmpty else {
                throw SiteValues.error(key, "empty list", at: location, text: "[]")
            }
            return out
        default:
            throw SiteValues.error(key, "must be a string or an array of strings, not \(value.typeName)", at: value.location, text: "")
        }
    }
}

/// `euca-describe-properties --verbose` output: lines `PROPERTY<TAB>PARTI00.storage.ncpaths<TAB>value`
/// (DESCRIPTION lines and other properties are skipped).
public enum EucalyptusProperties {
    /// One `PROPERTY` line.
    public struct Property: Sendable, Hashable {
        /// Partition name (`PARTI00`).
        public var partition: String
        /// Name after the partition (`storage.ncpaths`).
        public var name: String
        /// The value.
        public var value: String
        /// Where the value starts.
        public var location: SourceLocation
    }

    /// Every partition-scoped property in the text.
    public static func parse(_ text: String, source: String) -> [Property] {
        var out: [Property] = []
        for (index, line) in TextLines(splitting: text).lines.enumerated() {
            let raw = line.text
            guard raw.hasPrefix("PROPERTY") else { continue }
            // fields are tab-separated; a copy through a terminal may have turned tabs into spaces
            let afterTag = raw.dropFirst("PROPERTY".count)
            guard let first = afterTag.first, first == "\t" || first == " " else { continue }
            let rest = afterTag.drop(while: { $0 == "\t" || $0 == " " })
            guard let nameEnd = rest.firstIndex(where: { $0 == "\t" || $0 == " " }) else {
                // a property with an empty value
                let name = String(rest)
                if let split = split(name) {
                    out.append(
                        Property(
                            partition: split.0, name: split.1, value: "",
                            location: SourceLocation(source: source, line: index + 1, column: raw.count + 1)))
                }
                continue
            }
            let name = String(rest[..<nameEnd])
            let valueStart = rest[nameEnd...].drop(while: { $0 == "\t" || $0 == " " })
            let column = raw.distance(from: raw.startIndex, to: valueStart.startIndex) + 1
            var value = String(valueStart)
            while value.hasSuffix(" ") || value.hasSuffix("\t") { value.removeLast() }
            guard let (partition, property) = split(name) else { continue }
            out.append(
                Property(
                    partition: partition, name: property, value: value,
                    location: SourceLocation(source: source, line: index + 1, column: column)))
        }
        return out
    }

    static func split(_ name: String) -> (String, String)? {
        guard let dot = name.firstIndex(of: ".") else { return nil }
        let partition = String(name[..<dot])
        let property = String(name[name.index(after: dot)...])
        guard property.hasPrefix("storage.") else { return nil }
        return (partition, property)
    }

    /// The site layer for one partition: ncpaths, scpaths, sanhost and blockstoragemanager.
    public static func layer(
        _ text: String, source: String, partition: Located<String>?
    ) throws(SanpathError) -> SiteLayer {
        let properties = parse(text, source: source)
        var partitions: [String] = []
        for property in properties where !partitions.contains(property.partition) {
            partitions.append(property.partition)
        }
        let chosen: String
        if let partition {
            guard partitions.contains(partition.value) else {
                throw SiteValues.error(
                    "partition", "partition '\(partition.value)' has no storage properties in \(source)"
                        + (partitions.isEmpty ? "" : " (found: \(partitions.joined(separator: ", ")))"),
                    at: partition.location, text: partition.value)
            }
            chosen = partition.value
        } else if partitions.count == 1 {
            chosen = partitions[0]
        } else if partitions.isEmpty {
            throw SanpathError(
                .invalidSite, "\(source): no PROPERTY lines with storage.* properties (is this euca-describe-properties --verbose output?)",
                at: SourceLocation(source: source))
        } else {
            throw SanpathError(
                .invalidSite,
                "\(source) has storage properties for several partitions (\(partitions.joined(separator: ", "))): choose one with --partition",
                at: SourceLocation(source: source))
        }
        var layer = SiteLayer()
        layer.pathsName = "\(chosen).storage.%rolepaths"
        for property in properties where property.partition == chosen {
            let value = Located(property.value, at: property.location)
            switch property.name {
            case "storage.ncpaths": layer.pathsByRole[.nc] = value
            case "storage.scpaths": layer.pathsByRole[.sc] = value
            case "storage.sanhost":
                layer.sanHosts = [value]
                layer.names["sanhost"] = "\(chosen).storage.sanhost"
            case "storage.blockstoragemanager":
                layer.vendor = value
            default: break
            }
        }
        return layer
    }
}

/// eucalyptus.conf: the first line `STORAGE_INTERFACES="iface0=br0,iface1=eth1"`, read as
/// Eucalyptus' NC scripts read it (`^STORAGE_INTERFACES\s*=\s*"(.*)"`).
public enum EucalyptusConf {
    /// The site layer with the interface map, or an empty layer when the file has none.
    public static func layer(_ text: String, source: String) throws(SanpathError) -> SiteLayer {
        var layer = SiteLayer()
        for (index, line) in TextLines(splitting: text).lines.enumerated() {
            let raw = line.text
            guard raw.hasPrefix("STORAGE_INTERFACES") else { continue }
            var rest = raw.dropFirst("STORAGE_INTERFACES".count)
            let location = SourceLocation(source: source, line: index + 1, column: 1)
            rest = rest.drop(while: { $0 == " " || $0 == "\t" })
            guard rest.first == "=" else { continue }  // STORAGE_INTERFACES_OTHER=…
            rest = rest.dropFirst().drop(while: { $0 == " " || $0 == "\t" })
            let valueColumn = raw.distance(from: raw.startIndex, to: rest.startIndex) + 1
            guard rest.first == "\"" else {
                throw SiteValues.error(
                    "STORAGE_INTERFACES", "the value must be in double quotes; Eucalyptus ignores it otherwise",
                    at: location.at(column: valueColumn), text: String(rest))
            }
            let body = rest.dropFirst()
            guard let close = body.lastIndex(of: "\"") else {
                throw SiteValues.error(
                    "STORAGE_INTERFACES", "missing closing '\"'", at: location.at(column: valueColumn), text: String(rest))
            }
            layer.interfaces = Located(String(body[..<close]), at: location.at(column: valueColumn + 1))
            layer.names["interfaces"] = "STORAGE_INTERFACES"
            return layer
        }
        return layer
    }
}

/// The flags `--vendor`, `--role`, `--paths`, `--sanhost`, `--interfaces`, as a layer.
public struct SiteFlags: Sendable {
    /// `--vendor`
    public var vendor: String?
    /// `--role`
    public var role: String?
    /// `--paths`
    public var paths: String?
    /// `--sanhost`
    public var sanhost: String?
    /// `--interfaces`
    public var interfaces: String?

    /// Creates the flag set.
    public init(vendor: String? = nil, role: String? = nil, paths: String? = nil, sanhost: String? = nil, interfaces: String? = nil) {
        self.vendor = vendor
        self.role = role
        self.paths = paths
        self.sanhost = sanhost
        self.interfaces = interfaces
    }

    /// The layer; values are located at column 1 of the flag's value.
    public var layer: SiteLayer {
        var layer = SiteLayer()
        func at(_ flag: String) -> SourceLocation { SourceLocation(source: flag, column: 1) }
        layer.vendor = vendor.map { Located($0, at: at("--vendor")) }
        layer.role = role.map { Located($0, at: at("--role")) }
        if let paths {
            layer.paths = [Located(paths, at: at("--paths"))]
            layer.names["paths"] = "--paths"
        }
        if let sanhost {
            layer.sanHosts = [Located(sanhost, at: at("--sanhost"))]
            layer.names["sanhost"] = "--sanhost"
        }
        if let interfaces {
            layer.interfaces = Located(interfaces, at: at("--interfaces"))
            layer.names["interfaces"] = "--interfaces"
        }
        return layer
    }
}

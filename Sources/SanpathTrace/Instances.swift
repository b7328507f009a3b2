import SanpathCore

/// Saved `euca-describe-instances` output: `INSTANCE` lines, each followed by its `BLOCKDEVICE`
/// lines (euca2ools `print_blockdevice`: device, volume id, attach time, delete on termination, …).
public struct InstancesListing: Sendable {
    /// One instance's volumes.
    public struct Instance: Sendable, Hashable {
        /// The instance id.
        public var id: String
        /// The root device type column (`ebs` or `instance-store`) when present.
        public var rootDeviceType: String?
        /// (device, volume id) in listing order.
        public var volumes: [(device: String, volume: String)]

        public static func == (a: Instance, b: Instance) -> Bool {
            a.id == b.id && a.rootDeviceType == b.rootDeviceType && a.volumes.map { $0.device + $0.volume } == b.volumes.map { $0.device + $0.volume }
        }
        public func hash(into hasher: inout Hasher) { hasher.combine(id) }
    }

    /// Every instance in the listing.
    public var instances: [Instance]

    /// Reads the listing; lines of other shapes (RESERVATION, GROUP, TAG, NIC lines) are skipped.
    public init(text: String) {
        var instances: [Instance] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map { $0.trimmingSpaces }
            guard let tag = fields.first else { continue }
            if tag == "INSTANCE", fields.count > 1 {
                let root = fields.first { $0 == "ebs" || $0 == "instance-store" }
                instances.append(Instance(id: fields[1], rootDeviceType: root, volumes: []))
            } else if tag == "BLOCKDEVICE", fields.count > 2, fields[2].hasPrefix("vol-"), !instances.isEmpty {
                instances[instances.count - 1].volumes.append((fields[1], fields[2]))
            }
        }
        self.instances = instances
    }

    /// The instance with this id, or nil.
    public func instance(_ id: String) -> Instance? { instances.first { $0.id == id } }
}

/// What `trace` is asked about.
public enum TraceSubject: Sendable, Hashable {
    /// A volume id, `vol-…`.
    case volume(String)
    /// An instance id, `i-…`, with the volumes the listing gives it.
    case instance(String, volumes: [String])

    /// Reads an id; an instance needs the listing.
    public static func parse(_ id: String, instances: InstancesListing?) throws(SanpathError) -> TraceSubject {
        if id.hasPrefix("vol-"), id.count > 4 { return .volume(id) }
        if id.hasPrefix("i-"), id.count > 2 {
            guard let instances else {
                throw SanpathError(
                    .usage, "\(id) is an instance: its volumes come from saved euca-describe-instances output; pass it with --instances FILE")
            }
            guard let instance = instances.instance(id) else {
                throw SanpathError(
                    .unknownID,
                    "\(id) is not in the --instances listing (no INSTANCE line with that id); save it again with euca-describe-instances \(id) --show-empty-fields")
            }
            guard !instance.volumes.isEmpty else {
                throw SanpathError(.unknownID, "\(id) has no BLOCKDEVICE line with a volume in the --instances listing: it has no EBS volume to trace")
            }
            return .instance(id, volumes: instance.volumes.map(\.volume))
        }
        throw SanpathError(.usage, "'\(id)' is neither a volume id (vol-…) nor an instance id (i-…)")
    }

    /// The volumes to trace.
    public var volumes: [String] {
        switch self {
        case .volume(let id): [id]
        case .instance(_, let volumes): volumes
        }
    }

    /// The instance, if any.
    public var instance: String? {
        if case .instance(let id, _) = self { return id }
        return nil
    }
}

extension SanpathError.Code {
    /// No log line mentions the id, or the listing does not have it.
    public static let unknownID = SanpathError.Code("unknown-id")
}

import SanpathConfig
import SanpathCore
import SanpathHost

/// A LUN of the array that this host sees, and whether it reports ALUA.
public struct VisibleLUN: Sendable, Hashable {
    /// SCSI address `H:C:T:L`.
    public var hctl: String
    /// INQUIRY product.
    public var product: String
    /// The TPGS field of the standard INQUIRY data (byte 5, bits 4-5): 0 no ALUA, 1 implicit,
    /// 2 explicit, 3 both.
    public var tpgs: Int

    /// Creates a LUN.
    public init(hctl: String, product: String, tpgs: Int) {
        self.hctl = hctl
        self.product = product
        self.tpgs = tpgs
    }

    /// Whether the LUN reports ALUA (a VNX in failover mode 4).
    public var reportsALUA: Bool { tpgs != 0 }
}

/// A VNX serves a host's LUNs in ALUA (failover mode 4) or PNR (mode 1), set per host on the
/// array. The profile leaves prio and handler to multipath-tools' detection; this says, from
/// what the visible LUNs report, which one each mode gets, so the admin can check it against
/// the array's registration.
public enum FailoverModes {
    /// The array's LUNs under `/sys/class/scsi_device`: vendor equal to `vendor`, product not
    /// blacklisted (VNX's LUNZ placeholder). LUNs whose INQUIRY data cannot be read (not root)
    /// are left out.
    public static func visibleLUNs(on fileSystem: any HostFileSystem, vendor: String, skipProducts: [String]) -> [VisibleLUN] {
        let base = "/sys/class/scsi_device"
        var out: [VisibleLUN] = []
        for hctl in fileSystem.list(base).sorted() {
            func attribute(_ name: String) -> String? {
                (try? fileSystem.read("\(base)/\(hctl)/device/\(name)")).flatMap { $0 }.map {
                    String(decoding: $0, as: UTF8.self).trimmingWhitespace()
                }
            }
            guard attribute("vendor") == vendor, let product = attribute("model"),
                !skipProducts.contains(where: { product.hasPrefix($0) }),
                let inquiry = (try? fileSystem.read("\(base)/\(hctl)/device/inquiry")).flatMap({ $0 }), inquiry.count > 5
            else { continue }
            out.append(VisibleLUN(hctl: hctl, product: product, tpgs: Int(inquiry[5] >> 4) & 0x3))
        }
        return out
    }

    /// What multipath-tools and the kernel do with these LUNs, one note per mode seen, and a
    /// warning when both modes are seen (the array registers a host in one mode).
    public static func diagnostics(_ luns: [VisibleLUN], source: String) -> [Diagnostic] {
        guard !luns.isEmpty else { return [] }
        let alua = luns.filter(\.reportsALUA)
        let pnr = luns.filter { !$0.reportsALUA }
        func list(_ luns: [VisibleLUN]) -> String {
            let shown = luns.prefix(4).map(\.hctl).joined(separator: ", ")
            return luns.count > 4 ? "\(shown) and \(luns.count - 4) more" : shown
        }
        var out: [Diagnostic] = []
        let location = SourceLocation(source: source)
        if !alua.isEmpty {
            out.append(
                Diagnostic(
                    .note, at: location,
                    "VNX LUNs \(list(alua)) report ALUA (TPGS \(alua[0].tpgs)): failover mode 4; multipath-tools' detect_prio gives them prio alua and the kernel scsi_dh_alua"))
        }
        if !pnr.isEmpty {
            out.append(
                Diagnostic(
                    .note, at: location,
                    "VNX LUNs \(list(pnr)) report no ALUA: failover mode 1 (PNR); the built-in DGC entry gives them prio emc, the emc_clariion checker and the kernel scsi_dh_emc"))
        }
        if !alua.isEmpty && !pnr.isEmpty {
            out.append(
                Diagnostic(
                    .warning, at: location,
                    "this host sees VNX LUNs in both failover modes; the array sets the mode per registered host, so check this host's initiator records in Unisphere (failover mode 4 is EMC's recommendation for Linux with dm-multipath)"))
        }
        return out
    }
}

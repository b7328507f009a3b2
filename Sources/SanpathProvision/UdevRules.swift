import SanpathHost
import SanpathProfiles

/// The host's udev rule order, read from its rule directories.
public enum UdevRules {
    /// The order of the host's device-mapper rules: the first `NN-dm.rules` found in udev's
    /// rule directories; Eucalyptus' (`10-dm.rules`) when there is none (an image without udev).
    public static func order(on fileSystem: any HostFileSystem) -> UdevRuleOrder {
        for directory in UdevRuleOrder.ruleDirectories {
            if let name = fileSystem.list(directory).first(where: { $0.hasSuffix("-dm.rules") && $0.first?.isNumber == true }) {
                return UdevRuleOrder(dmRulesFileName: name)
            }
        }
        return .eucalyptus
    }
}

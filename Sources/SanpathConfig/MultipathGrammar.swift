/// What multipath-tools accepts where: sections, their sub-sections, and the keywords of each.
///
/// The keyword sets were captured from Debian 12's multipath-tools 0.9.4 and Debian 13's 0.11.1
/// by feeding every candidate keyword to `multipath -t` in every section and keeping those it did
/// not call "invalid keyword" (`Tests/SanpathConfigTests/Fixtures/multipath-tools-<version>/`, and
/// `scripts/capture-multipath-keywords`, with `MPT_ROOT=$(scripts/mpt-chroot)` for 0.11.1, to redo
/// it). A test checks these tables against the captures.
public enum MultipathGrammar {
    /// The sections allowed at the top level.
    public static let topSections: Set<String> = [
        "defaults", "blacklist", "blacklist_exceptions", "devices", "multipaths", "overrides",
    ]

    /// Sub-sections allowed inside each section.
    public static let subsections: [String: Set<String>] = [
        "devices": ["device"],
        "multipaths": ["multipath"],
        "blacklist": ["device"],
        "blacklist_exceptions": ["device"],
        "overrides": ["protocol"],
    ]

    /// The sections `name {` may open inside `parent` (nil: at the top level); none inside most.
    public static func sections(allowedIn parent: String?) -> Set<String> {
        guard let parent else { return topSections }
        return subsections[parent] ?? []
    }

    /// The keyword-set name of a section, given its parent (`device` differs under `blacklist`).
    public static func scope(of section: String, parent: String?) -> String {
        if section == "device", let parent, parent == "blacklist" || parent == "blacklist_exceptions" {
            return "blacklist_device"
        }
        return section
    }

    /// Keywords multipath-tools 0.9.4 accepts in each scope.
    public static let keywords: [String: Set<String>] = keywords094

    /// The keyword table of a release. The 0.11.1 capture differs from 0.9.4's only by four
    /// keywords, and multipath-tools' NEWS.md dates them: 0.9.6 added `detect_pgpolicy` and
    /// `detect_pgpolicy_use_tpg`, 0.9.7 `max_retries` and `auto_resize`, and the captures differ
    /// by nothing else. So 0.10.x, which has no capture here, gets 0.11.1's table, not 0.9.4's.
    public static func keywords(for version: MultipathToolsVersion) -> [String: Set<String>] {
        if version >= MultipathToolsVersion(0, 9, 7) { return keywords097 }
        if version >= MultipathToolsVersion(0, 9, 6) { return keywords096 }
        return keywords094
    }

    /// Added in 0.9.6: choose group_by_prio (or group_by_tpg) for ALUA devices.
    static let added096: [String: Set<String>] = [
        "defaults": ["detect_pgpolicy", "detect_pgpolicy_use_tpg"],
        "device": ["detect_pgpolicy", "detect_pgpolicy_use_tpg"],
        "overrides": ["detect_pgpolicy", "detect_pgpolicy_use_tpg"],
    ]

    /// Added in 0.9.7, defaults only: `max_retries` (SCSI retries), `auto_resize`.
    static let added097: [String: Set<String>] = [
        "defaults": ["auto_resize", "max_retries"],
    ]

    static let keywords096: [String: Set<String>] = keywords094.merging(added096) { $0.union($1) }

    /// 0.9.7's table, which the 0.11.1 capture matches.
    static let keywords097: [String: Set<String>] = keywords096.merging(added097) { $0.union($1) }

    static let keywords094: [String: Set<String>] = [
        "defaults": [
            "alias_prefix", "all_tg_pt", "allow_usb_devices", "bindings_file", "checker", "checker_timeout",
            "config_dir", "deferred_remove", "delay_wait_checks", "delay_watch_checks", "detect_checker",
            "detect_prio", "dev_loss_tmo", "disable_changed_wwids", "eh_deadline", "enable_foreign", "failback",
            "fast_io_fail_tmo", "features", "find_multipaths", "find_multipaths_timeout", "flush_on_last_del",
            "force_sync", "getuid_callout", "ghost_delay", "gid", "log_checker_err",
            "marginal_path_double_failed_time", "marginal_path_err_rate_threshold",
            "marginal_path_err_recheck_gap_time", "marginal_path_err_sample_time", "marginal_pathgroups", "max_fds",
            "max_polling_interval", "max_sectors_kb", "missing_uev_wait_timeout", "mode", "multipath_dir",
            "no_path_retry", "partition_delimiter", "path_checker", "path_grouping_policy", "path_selector",
            "pg_timeout", "polling_interval", "prio", "prio_args", "prkeys_file", "queue_without_daemon",
            "reassign_maps", "recheck_wwid", "remove_retries", "reservation_key", "retain_attached_hw_handler",
            "retrigger_delay", "retrigger_tries", "rr_min_io", "rr_min_io_rq", "rr_weight",
            "san_path_err_forget_rate", "san_path_err_recovery_time", "san_path_err_threshold", "skip_kpartx",
            "strict_timing", "uid", "uid_attribute", "uid_attrs", "user_friendly_names", "uxsock_timeout",
            "verbosity", "wwids_file",
        ],
        "device": [
            "alias_prefix", "all_tg_pt", "checker", "deferred_remove", "delay_wait_checks", "delay_watch_checks",
            "detect_checker", "detect_prio", "dev_loss_tmo", "eh_deadline", "failback", "fast_io_fail_tmo",
            "features", "flush_on_last_del", "getuid_callout", "ghost_delay", "hardware_handler",
            "marginal_path_double_failed_time", "marginal_path_err_rate_threshold",
            "marginal_path_err_recheck_gap_time", "marginal_path_err_sample_time", "max_sectors_kb",
            "no_path_retry", "path_checker", "path_grouping_policy", "path_selector", "pg_timeout", "prio",
            "prio_args", "product", "product_blacklist", "recheck_wwid", "retain_attached_hw_handler", "revision",
            "rr_min_io", "rr_min_io_rq", "rr_weight", "san_path_err_forget_rate", "san_path_err_recovery_time",
            "san_path_err_threshold", "skip_kpartx", "uid_attribute", "user_friendly_names", "vendor", "vpd_vendor",
        ],
        "multipath": [
            "alias", "deferred_remove", "delay_wait_checks", "delay_watch_checks", "failback", "features",
            "flush_on_last_del", "ghost_delay", "gid", "marginal_path_double_failed_time",
            "marginal_path_err_rate_threshold", "marginal_path_err_recheck_gap_time",
            "marginal_path_err_sample_time", "max_sectors_kb", "mode", "no_path_retry", "path_grouping_policy",
            "path_selector", "pg_timeout", "prio", "prio_args", "reservation_key", "rr_min_io", "rr_min_io_rq",
            "rr_weight", "san_path_err_forget_rate", "san_path_err_recovery_time", "san_path_err_threshold",
            "skip_kpartx", "uid", "user_friendly_names", "wwid",
        ],
        "overrides": [
            "alias_prefix", "all_tg_pt", "checker", "deferred_remove", "delay_wait_checks", "delay_watch_checks",
            "detect_checker", "detect_prio", "dev_loss_tmo", "eh_deadline", "failback", "fast_io_fail_tmo",
            "features", "flush_on_last_del", "getuid_callout", "ghost_delay", "marginal_path_double_failed_time",
            "marginal_path_err_rate_threshold", "marginal_path_err_recheck_gap_time",
            "marginal_path_err_sample_time", "max_sectors_kb", "no_path_retry", "path_checker",
            "path_grouping_policy", "path_selector", "prio", "prio_args", "recheck_wwid",
            "retain_attached_hw_handler", "rr_min_io", "rr_min_io_rq", "rr_weight", "san_path_err_forget_rate",
            "san_path_err_recovery_time", "san_path_err_threshold", "skip_kpartx", "uid_attribute",
            "user_friendly_names",
        ],
        "protocol": ["dev_loss_tmo", "eh_deadline", "fast_io_fail_tmo", "type"],
        "blacklist": ["devnode", "property", "wwid"],
        "blacklist_exceptions": ["devnode", "property", "wwid"],
        "blacklist_device": ["product", "vendor"],
        "devices": [],
        "multipaths": [],
    ]

    /// Whether multipath-tools (0.9.4 unless `version` says otherwise) knows `key` in a section of this scope.
    public static func knows(_ key: String, inScope scope: String, version: MultipathToolsVersion = .debian12) -> Bool {
        keywords(for: version)[scope]?.contains(key) ?? false
    }

    /// Keys whose value is a POSIX extended regular expression, per scope.
    public static func isRegexKey(_ key: String, inScope scope: String) -> Bool {
        switch scope {
        case "device", "blacklist_device": ["vendor", "product", "revision", "product_blacklist"].contains(key)
        case "blacklist", "blacklist_exceptions": ["devnode", "wwid", "property"].contains(key)
        case "protocol": false
        default: false
        }
    }
}

/// A multipath-tools release, for rules that changed between releases.
public struct MultipathToolsVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Major, minor, patch.
    public var major: Int
    /// Minor.
    public var minor: Int
    /// Patch.
    public var patch: Int

    /// Creates a version.
    public init(_ major: Int, _ minor: Int, _ patch: Int) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// Debian 12's release, which sanpath is validated against (and the default without one installed).
    public static let debian12 = MultipathToolsVersion(0, 9, 4)

    /// Debian 13's release, which sanpath is validated against too.
    public static let debian13 = MultipathToolsVersion(0, 11, 1)

    /// Parses `0.9.4` or the `multipath-tools v0.9.4 (12/19, 2022)` banner.
    public init?(parsing text: String) {
        guard let range = text.firstRange(of: /v?(\d+)\.(\d+)\.(\d+)/) else { return nil }
        let digits = text[range].drop(while: { $0 == "v" }).split(separator: ".").compactMap { Int($0) }
        guard digits.count == 3 else { return nil }
        self.init(digits[0], digits[1], digits[2])
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.major, lhs.minor, lhs.patch) < (rhs.major, rhs.minor, rhs.patch)
    }

    public var description: String { "\(major).\(minor).\(patch)" }
}

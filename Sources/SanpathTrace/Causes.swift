/// The known causes of a stopped attach, detach or delete, matched to the first hop missing or
/// failed, with what a cloud admin checks next.
public enum Causes {
    /// The problem of an operation, or nil when every hop that should show did.
    static func diagnose(kind: OperationKind, hops: [HopTrace], facts: [String: String], ncDebug: Bool) -> Problem? {
        guard let first = hops.first(where: { $0.status == .failed || $0.status == .missing }) else { return nil }
        let cause: Cause
        switch (first.hop, first.status) {
        case (.createStorageVolume, _): return nil
        case (.getVolumeToken, .failed): cause = .tokenFailed
        case (.getVolumeToken, _): cause = .tokenMissing
        case (.doAttachVolume, _), (.exportVolume, .missing): cause = .exportMissing
        case (.exportVolume, _): cause = .exportFailed
        case (.localDevice, _): cause = .deviceFailed
        case (.doDetachVolume, _), (.disconnect, .failed): cause = .disconnectFailed
        case (.disconnect, _), (.unexportVolume, .missing): cause = .unexportMissing
        case (.unexportVolume, _): cause = .unexportFailed
        case (.detached, _): cause = hops.contains { $0.hop == .unexportVolume && $0.status == .failed } ? .unexportFailed : .incomplete
        case (.deleteStorageVolume, _), (.exportCheck, _): cause = .deleteFailed
        case (.cleanup, _):
            let reasons = first.evidence.map(\.text).joined(separator: " ")
            cause = (reasons.contains("exported") || facts["exported"] != nil) ? .deleteBlockedByExport : .deleteFailed
        }
        var facts = facts
        facts["ncDebug"] = ncDebug ? "yes" : "no"
        facts["ncAttachSeen"] = hops.contains { $0.hop == .doAttachVolume && $0.status == .seen } ? "yes" : "no"
        // an NC-side failure of ExportVolume (evidence of a missing hop) carries the SC URL it used
        if let url = first.evidence.compactMap({ $0.text.after("storage controller at: ").map { String($0).trimmingSpaces } }).first {
            facts["scURL"] = url
        }
        return problem(cause, operation: kind, hop: first.hop, status: first.status, facts: facts, evidence: first.evidence)
    }

    /// The words for a cause.
    static func problem(
        _ cause: Cause, operation: OperationKind, hop: Hop, status: HopStatus, facts: [String: String], evidence: [Evidence]
    ) -> Problem {
        let url = facts["scURL"].map { "'\($0)'" } ?? "the SC URL in the NC's log (TRACE 'Using SC URL')"
        let summary: String
        let next: [String]
        switch cause {
        case .tokenMissing:
            summary = evidence.isEmpty && facts.isEmpty
                ? "No GetVolumeToken request for this volume reached the SC. If an attach was tried, it failed at once on the CLC (the volume never went to 'attaching'): the CLC could not get an attachment token from the SC."
                : "GetVolumeToken (CLC → SC) never reached the SC: the attach failed at once on the CLC, and the volume never went to 'attaching'."
            next = [
                "On the CLC, look in cloud-output.log at the time of the attach for a VolumeManager exception (it is logged at DEBUG only: set euca.log.level DEBUG if nothing shows).",
                "Check that the CLC reaches the SC: euca-describe-services -T storage shows it ENABLED, and port 8773 on the SC answers from the CLC.",
                "On the SC, look for database errors (the SC may not reach its database): 'Could not get volume token', 'Error creating new volume token'.",
            ]
        case .tokenFailed:
            summary = "The SC received GetVolumeToken and failed to issue a token, so the CLC failed the attach at once."
            next = [
                "Read the SC's error and stack trace at the evidence line.",
                "Check the SC's database connection and that the volume exists on the SC (euca-describe-volumes).",
            ]
        case .exportMissing:
            if facts["scURL"] != nil {
                summary = "The NC called ExportVolume but it never reached the SC: the NC failed to get connection information from the SC at \(url)."
            } else if facts["ncAttachSeen"] == "yes" {
                summary = "The NC got doAttachVolume but no ExportVolume request reached the SC."
            } else if facts["ncDebug"] == "yes" {
                summary = "The SC issued a token but the NC never got doAttachVolume (CC → NC), so it never called ExportVolume."
            } else {
                summary = "The SC issued a token but no ExportVolume request reached it: either the NC never got doAttachVolume, or it could not reach the SC."
            }
            next = [
                "In the NC's nc.log, find '[i-…][\(facts["volume"] ?? "vol-…")] volume attaching' (DEBUG): without it, the CC never passed doAttachVolume on (check cc.log and the CC → NC link).",
                "From the NC, check the SC on port 8773: curl -s -o /dev/null -w '%{http_code}' \(facts["scURL"] ?? "http://<SC>:8773/services/Storage") (any HTTP answer means it is reachable).",
                "Compare \(url) with the ENABLED SC of the partition (euca-describe-services -T storage): a wrong or stale SC URL on the NC sends ExportVolume elsewhere.",
            ]
        case .exportFailed:
            summary = "ExportVolume reached the SC and failed there (the SC's own error): the volume went from attaching back to available, the NC's scClientCall logs opFail=1 and it never got a block device."
            next = [
                "Read the SC's error at the evidence line and the stack trace under it (tgtadm/tgtd, LVM, loop devices or the SAN).",
                "On the SC, check the export side: tgt-admin --show (tgtd running, the volume's target present), lvs, and the SAN's own logs for that LUN.",
                "Retry the attach once the SC's error is fixed; nothing is left connected on the NC.",
            ]
        case .deviceFailed:
            summary = "The SC exported the volume, but the NC got no local block device: the iSCSI login or the device lookup failed on the NC."
            next = [
                "On the NC: iscsiadm -m session -P 3 (is there a session to the volume's target?), multipath -ll, and dmesg for SCSI errors.",
                "Check the NC's iSCSI paths to the SAN (storage.ncpaths) and CHAP; 'sanpath status' shows which paths are down.",
            ]
        case .disconnectFailed:
            summary = "The NC could not take the device from the guest or disconnect the LUN, so it skipped the SC call ('Skipping SC Call due to previous errors'): the volume stays exported."
            next = [
                "On the NC: virsh domblklist <instance> (is the guest device still there?), iscsiadm -m session, multipath -ll for the volume's map.",
                "Clear what holds the device (guest mount, multipath map) and detach again.",
            ]
        case .unexportMissing:
            summary = "The NC detached the volume but no UnexportVolume request reached the SC: the volume is still exported."
            next = [
                "Check the NC's doDetachVolume record in nc.log ('volume detaching', then 'ERROR unexporting volume' or 'Cannot invoke SC UnexportVolume').",
                "Check the SC URL the NC logged for the detach (\(url)) against the ENABLED SC, and port 8773 from the NC.",
            ]
        case .unexportFailed:
            summary = "UnexportVolume failed: the volume stays exported, and the SC keeps skipping its deletion, so a delete leaves it stuck in 'deleting'."
            next = [
                "On the NC, verify that nothing is connected any more before touching the export: iscsiadm -m session | grep <target>, multipath -ll.",
                "Only then invalidate the export on the SC (its export record and the tgt target) so the deleter task can remove the volume.",
                "Read the SC's or NC's error at the evidence line (an invalid token, a tgtadm error, 'clientrc=1').",
            ]
        case .deleteBlockedByExport:
            summary = "The SC will not delete the volume because it is still exported: the volume is stuck in 'deleting'."
            next = [
                "Find the detach that should have unexported it (trace the instance, or the NC's nc.log around the detach).",
                "On the NC, verify that nothing is connected (iscsiadm -m session, multipath -ll) before invalidating the export on the SC.",
            ]
        case .deleteFailed:
            summary = "The SC failed to delete the volume for a reason other than an export."
            next = ["Read the SC's error and stack trace at the evidence line (LVM, the SAN, the database)."]
        case .incomplete:
            summary = "The \(operation.rawValue) did not log its last step: it may still be running, or the logs end here."
            next = ["Rerun the trace with the newest logs; check the NC's nc.log at the time of the last hop."]
        }
        return Problem(operation: operation, hop: hop, status: status, cause: cause, summary: summary, next: next, evidence: evidence)
    }
}

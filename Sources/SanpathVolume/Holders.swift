#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// What keeps a block device open: a device stacked on it (dm holder), a mount, a process.
public struct DeviceHolder: Sendable, Hashable, Codable, CustomStringConvertible {
    /// `holder`, `mount` or `process`.
    public var kind: String
    /// `dm-5`, `/var/lib/instances/i-1/disk (ext4)`, `qemu-system-x86 (pid 4242)`.
    public var name: String

    public var description: String { "\(kind) \(name)" }
}

/// Finds the holders of block devices from sysfs, `/proc/self/mountinfo` and every process's
/// open files (by device number, so any path it was opened by counts).
public struct HolderScan: Sendable {
    /// Devices mounted, by `major:minor`.
    var mounts: [String: [String]] = [:]
    /// Processes with the device open, by `major:minor`.
    var processes: [String: [String]] = [:]

    /// Reads mounts and open files once (for any number of devices).
    public init(procRoot: String = "/proc") {
        if let text = try? String(contentsOfFile: "\(procRoot)/self/mountinfo", encoding: .utf8) {
            for line in text.split(separator: "\n") {
                // id parent major:minor root mountpoint options ... - fstype source ...
                let fields = line.split(separator: " ")
                guard fields.count > 4 else { continue }
                let type = fields.firstIndex(of: "-").flatMap { fields.indices.contains($0 + 1) ? String(fields[$0 + 1]) : nil }
                mounts[String(fields[2]), default: []].append("\(fields[4])" + (type.map { " (\($0))" } ?? ""))
            }
        }
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: procRoot)) ?? []).filter { Int($0) != nil }
        for pid in pids {
            let fdDir = "\(procRoot)/\(pid)/fd"
            guard let fds = try? FileManager.default.contentsOfDirectory(atPath: fdDir) else { continue }
            var seen = Set<String>()
            for fd in fds {
                var info = stat()
                guard stat("\(fdDir)/\(fd)", &info) == 0, (info.st_mode & S_IFMT) == S_IFBLK else { continue }
                let device = "\(major(info.st_rdev)):\(minor(info.st_rdev))"
                guard seen.insert(device).inserted else { continue }
                let comm = (try? String(contentsOfFile: "\(procRoot)/\(pid)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
                processes[device, default: []].append("\(comm) (pid \(pid))")
            }
        }
    }

    /// The holders of a device: dm devices stacked on it (`holders` in sysfs, with theirs), and
    /// mounts and processes of it and of those.
    public func holders(of device: String, majorMinor: String, sysfsHolders: (String) -> [String], majorMinorOf: (String) -> String?) -> [DeviceHolder] {
        var out: [DeviceHolder] = []
        var queue = [(device, majorMinor)]
        var visited = Set<String>()
        while let (name, number) = queue.popLast() {
            guard visited.insert(name).inserted else { continue }
            for mount in mounts[number] ?? [] { out.append(DeviceHolder(kind: "mount", name: "\(mount) on \(name)")) }
            for process in processes[number] ?? [] { out.append(DeviceHolder(kind: "process", name: "\(process) has \(name) open")) }
            for holder in sysfsHolders(name) {
                out.append(DeviceHolder(kind: "holder", name: "\(holder) is stacked on \(name)"))
                if let holderNumber = majorMinorOf(holder) { queue.append((holder, holderNumber)) }
            }
        }
        return out
    }
}

private func major(_ device: dev_t) -> UInt32 { UInt32((device >> 8) & 0xfff) | UInt32((device >> 32) & ~0xfff) }
private func minor(_ device: dev_t) -> UInt32 { UInt32(device & 0xff) | UInt32((device >> 12) & ~0xff) }

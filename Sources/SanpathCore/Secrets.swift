import Foundation
import Synchronization

/// CHAP secrets must never reach output: not a diff, a log line, an error or JSON.
///
/// Two layers: grammars mask the value of every secret key they print (`isSecretKey`), and every
/// text leaving the program passes through `Redactor`, which knows the secret values seen in this
/// run and masks any that slipped through.
public enum Secrets {
    /// What a secret is printed as.
    public static let mask = "********"

    /// Whether an open-iscsi (or site) key holds a secret: `*.auth.password*` and site `password`.
    public static func isSecretKey(_ key: String) -> Bool {
        let lower = key.lowercased()
        if lower.contains(".auth.password") { return true }
        let last = lower.split(separator: ".").last.map(String.init) ?? lower
        return last.hasPrefix("password") || last.hasSuffix("password") || last == "secret"
    }
}

/// Masks known secret values in any text. Thread-safe; shared by every output path of a run.
public final class Redactor: Sendable {
    private let storage = Mutex<Set<String>>([])

    /// Creates an empty redactor.
    public init() {}

    /// Remembers a secret value so that it is masked wherever it appears.
    public func register(_ secret: String) {
        let trimmed = secret.trimmingWhitespace()
        // Very short values would mask innocent text; grammars mask those by key already.
        guard trimmed.utf8.count >= 4 else { return }
        storage.withLock { _ = $0.insert(trimmed) }
    }

    /// The text with every registered secret replaced by `Secrets.mask`.
    public func redact(_ text: String) -> String {
        let secrets = storage.withLock { $0 }
        guard !secrets.isEmpty else { return text }
        var out = text
        // longest first, so a secret that contains another is masked whole
        for secret in secrets.sorted(by: { $0.utf8.count > $1.utf8.count }) where out.contains(secret) {
            out = out.replacingOccurrences(of: secret, with: Secrets.mask)
        }
        return out
    }
}

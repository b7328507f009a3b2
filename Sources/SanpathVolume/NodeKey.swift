import Foundation
import SanpathCore
import SanpathHost

/// The NC's private key (Eucalyptus' `var/lib/eucalyptus/keys/node-pk.pem`), which decrypts the
/// CHAP secret of a connect string: RSA PKCS#1 v1.5 over base64 text, as Eucalyptus' scripts.
/// openssl does the RSA; the ciphertext goes to it in a 0600 file and the secret comes back on
/// its standard output, so neither is ever on an argv.
public struct NodeKey: Sendable {
    /// The PEM key file.
    public var path: String
    /// Runs openssl.
    public var runner: any CommandRunner

    /// Creates it.
    public init(path: String, runner: any CommandRunner) {
        self.path = path
        self.runner = runner
    }

    /// The secret; errors never include it or the ciphertext.
    public func decrypt(_ base64: String) async throws(SanpathError) -> String {
        guard let cipher = Data(base64Encoded: base64, options: .ignoreUnknownCharacters), !cipher.isEmpty else {
            throw SanpathError(.invalidSite, "the connect string's encrypted CHAP secret is not base64")
        }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw SanpathError(.state, "cannot read the node key \(path) (pass --node-key, or --chap-secret-file with the plain secret)")
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sanpath-chap-\(UUID().uuidString)").path
        guard FileManager.default.createFile(atPath: file, contents: cipher, attributes: [.posixPermissions: 0o600]) else {
            throw SanpathError(.io, "cannot write a temporary file in \(FileManager.default.temporaryDirectory.path)")
        }
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try await runner.run(
            ["openssl", "pkeyutl", "-decrypt", "-inkey", path, "-in", file, "-pkeyopt", "rsa_padding_mode:pkcs1"], timeoutSeconds: 10)
        guard result.succeeded, !result.stdout.isEmpty else {
            throw SanpathError(.state, "the node key \(path) does not decrypt the connect string's CHAP secret (openssl exit \(result.status))")
        }
        return result.stdout
    }
}

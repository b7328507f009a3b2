import SanpathCore

extension SanpathError.Code {
    /// A sink could not deliver an alert (HTTP status, exit status, timeout); the outbox retries.
    public static let delivery = SanpathError.Code("delivery")
}

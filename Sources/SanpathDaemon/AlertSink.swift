import SanpathHealth

/// Somewhere alert events go: the log, a webhook, a program. Delivery is at least once through
/// the outbox; a sink must accept the same event (same `id`) twice without harm.
public protocol AlertSink: Sendable {
    /// Stable name, used as the outbox key (`log`, `webhook:https://…`, `exec:/usr/local/bin/page`).
    var name: String { get }
    /// Delivers one event; throws to have the outbox retry later.
    func deliver(_ event: AlertEvent) async throws
}

import Logging
import XRPCClient

/// Wraps a log handler so that no line carries a secret: the message and every metadata
/// value pass through ``Redact`` (the app password, the admin token, a database
/// password, JWTs and bearer tokens an error body may echo), and text from the network
/// cannot forge extra lines (control characters are escaped).
public struct RedactingLogHandler: LogHandler {
    private var inner: any LogHandler

    public init(_ inner: any LogHandler) {
        self.inner = inner
    }

    public var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    public var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    public func log(event: LogEvent) {
        var event = event
        event.message = "\(Self.clean("\(event.message)"))"
        event.metadata = event.metadata.map { Self.clean($0) }
        inner.log(event: event)
    }

    static func clean(_ text: String) -> String {
        LogText.safe(Redact.secrets(in: text), limit: 4_000)
    }

    static func clean(_ metadata: Logger.Metadata) -> Logger.Metadata {
        metadata.mapValues { value in
            switch value {
            case .string(let text): .string(clean(text))
            case .stringConvertible(let item): .string(clean(item.description))
            case .array(let items): .array(items.map { .string(clean("\($0)")) })
            case .dictionary(let inner): .dictionary(clean(inner))
            }
        }
    }
}

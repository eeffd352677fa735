/// One HTTP exchange as the XRPC layer sees it: a method, a URL, headers and a body.
public struct HTTPRequest: Sendable {
    public enum Method: String, Sendable { case get = "GET", post = "POST" }
    public var method: Method
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(method: Method, url: String, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// A response: status, headers (names lowercased) and the body bytes.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// Whether the transfer opened a new connection (false when one was reused).
    public var newConnection: Bool

    public init(status: Int, headers: [(name: String, value: String)], body: [UInt8], newConnection: Bool = true) {
        self.status = status
        self.headers = headers.map { (name: $0.name.lowercased(), value: $0.value) }
        self.body = body
        self.newConnection = newConnection
    }

    /// The first value of a header, by case-insensitive name.
    public func header(_ name: String) -> String? {
        let name = name.lowercased()
        return headers.first { $0.name == name }?.value
    }
}

/// Why a request got no HTTP response at all.
public struct TransportError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case timeout, connect, tls, other }
    public var kind: Kind
    /// libcurl's code and message (never contains request headers or bodies).
    public var code: Int
    public var message: String
    public var description: String { "transport error \(code) (\(kind)): \(message)" }
}

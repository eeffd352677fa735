import XRPCClient
import BotHost
import NIOSSL
import PostgresNIO

/// A `postgres://user:password@host:port/database?sslmode=…` URL.
///
/// TLS follows libpq's `sslmode`: `disable`; `allow`/`prefer` (TLS when the server offers
/// it, without verifying the certificate); `require` (TLS, certificate not verified);
/// `verify-ca`/`verify-full` (TLS with the system's trust roots, and the host name for
/// `verify-full`). The default is `prefer`, as libpq's. The password may also come from
/// `PGPASSWORD`; it is never printed (``redacted``).
public struct PostgresURL: Sendable, CustomStringConvertible {
    public var user: String
    var password: String?
    public var host: String
    public var port: Int
    public var database: String
    public var sslMode: String

    /// Whether `text` names a PostgreSQL database rather than a SQLite file.
    public static func matches(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    /// - Throws: `StoreError` naming what is wrong with the URL (never its password).
    public init(_ text: String, environment: [String: String] = [:]) throws {
        guard Self.matches(text) else {
            throw StoreError("not a PostgreSQL URL: expected postgres://user@host:port/database")
        }
        var rest = Substring(text.hasPrefix("postgres://") ? text.dropFirst(11) : text.dropFirst(13))
        var query = ""
        if let q = rest.firstIndex(of: "?") {
            query = String(rest[rest.index(after: q)...])
            rest = rest[..<q]
        }
        var path = ""
        if let slash = rest.firstIndex(of: "/") {
            path = String(rest[rest.index(after: slash)...])
            rest = rest[..<slash]
        }
        var userInfo = ""
        if let at = rest.lastIndex(of: "@") {
            userInfo = String(rest[..<at])
            rest = rest[rest.index(after: at)...]
        }
        var user = "postgres"
        var password: String?
        if !userInfo.isEmpty {
            if let colon = userInfo.firstIndex(of: ":") {
                user = Self.percentDecoded(String(userInfo[..<colon]))
                password = Self.percentDecoded(String(userInfo[userInfo.index(after: colon)...]))
                if let password { Redact.register(password) }
            } else {
                user = Self.percentDecoded(userInfo)
            }
        }
        var host = String(rest)
        var port = 5432
        if host.hasPrefix("[") , let close = host.firstIndex(of: "]") {  // [::1]:5432
            let after = host[host.index(after: close)...]
            if after.hasPrefix(":") {
                guard let p = Int(after.dropFirst()), (1...65535).contains(p) else { throw StoreError("PostgreSQL URL: bad port \"\(after.dropFirst())\"") }
                port = p
            }
            host = String(host[host.index(after: host.startIndex)..<close])
        } else if let colon = host.lastIndex(of: ":") {
            let portText = host[host.index(after: colon)...]
            guard let p = Int(portText), (1...65535).contains(p) else { throw StoreError("PostgreSQL URL: bad port \"\(portText)\"") }
            port = p
            host = String(host[..<colon])
        }
        if host.isEmpty { host = "localhost" }
        var sslMode = "prefer"
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            switch parts[0] {
            case "sslmode":
                guard ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"].contains(parts[1]) else {
                    throw StoreError("PostgreSQL URL: sslmode=\(parts[1]): expected disable, allow, prefer, require, verify-ca or verify-full")
                }
                sslMode = parts[1]
            case "user": user = Self.percentDecoded(parts[1])
            default: break
            }
        }
        self.user = user
        self.password = password ?? environment["PGPASSWORD"]
        self.host = host
        self.port = port
        self.database = path.isEmpty ? user : Self.percentDecoded(path)
        self.sslMode = sslMode
    }

    /// The URL without its password: what messages and logs show.
    public var redacted: String {
        let hostText = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(user)@\(hostText):\(port)/\(database)" + (sslMode == "prefer" ? "" : "?sslmode=\(sslMode)")
    }

    public var description: String { redacted }

    /// The full URL, password included: only for handing to another store opener, never to print.
    var urlWithPassword: String {
        let hostText = host.contains(":") ? "[\(host)]" : host
        let credentials = password.map { user + ":" + Self.percentEncoded($0) } ?? user
        return "postgres://\(credentials)@\(hostText):\(port)/\(database)?sslmode=\(sslMode)"
    }

    private static func percentEncoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            let c = Character(Unicode.Scalar(byte))
            if c.isLetter && byte < 128 || c.isNumber && byte < 128 || "-._~".contains(c) { out.append(c) }
            else { out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(2) }
        }
        return out
    }

    /// The connection settings postgres-nio takes.
    func configuration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        switch sslMode {
        case "disable":
            tls = .disable
        case "allow", "prefer", "require":
            var config = TLSConfiguration.makeClientConfiguration()
            config.certificateVerification = .none
            let context = try NIOSSLContext(configuration: config)
            tls = sslMode == "require" ? .require(context) : .prefer(context)
        default:
            var config = TLSConfiguration.makeClientConfiguration()
            config.certificateVerification = sslMode == "verify-full" ? .fullVerification : .noHostnameVerification
            tls = .require(try NIOSSLContext(configuration: config))
        }
        return PostgresConnection.Configuration(host: host, port: port, username: user, password: password,
                                                database: database, tls: tls)
    }

    private static func percentDecoded(_ text: String) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), utf8.count >= 2,
               let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

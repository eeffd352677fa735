import CCurl
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// HTTP over libcurl, with one easy handle kept for the life of the transport so the
/// TCP/TLS connection is reused between requests.
///
/// libcurl's easy interface blocks the calling thread for the whole transfer, so every
/// request runs on the transport's own serial dispatch queue, never on Swift's
/// cooperative thread pool (whose few threads must not wait on a network).
/// One transport performs one request at a time; the outbox posts sequentially anyway
/// (the PDS's write budget, not concurrency, bounds its rate).
public final class CurlTransport: @unchecked Sendable {
    // All mutable state below is touched only on `queue`.
    private let queue: DispatchQueue
    private let handle: UnsafeMutableRawPointer
    // libcurl keeps these addresses between calls, so they are allocated once, never
    // passed as Swift `inout` temporaries.
    private let body: UnsafeMutablePointer<bh_buffer>
    private let headers: UnsafeMutablePointer<bh_buffer>
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private let userAgent: UnsafeMutablePointer<CChar>

    /// Time limits for every request.
    public struct Timeouts: Sendable {
        public var connectMS: Int
        public var totalMS: Int
        public init(connectMS: Int = 5_000, totalMS: Int = 30_000) {
            self.connectMS = connectMS
            self.totalMS = totalMS
        }
    }
    public let timeouts: Timeouts
    /// Largest response body accepted (a hostile or broken server cannot exhaust memory).
    public static let maxResponseBytes = 8 << 20

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    public init(timeouts: Timeouts = Timeouts(), userAgent: String = "BotHost/1.0 (+https://github.com/bothost)") {
        _ = Self.globalInit
        self.timeouts = timeouts
        self.queue = DispatchQueue(label: "bothost.curl")
        guard let handle = curl_easy_init() else { fatalError("curl_easy_init failed: out of memory") }
        self.handle = handle
        self.userAgent = strdup(userAgent)
        body = .allocate(capacity: 1)
        body.initialize(to: bh_buffer(data: nil, length: 0, capacity: 0, limit: Self.maxResponseBytes))
        headers = .allocate(capacity: 1)
        headers.initialize(to: bh_buffer(data: nil, length: 0, capacity: 0, limit: 1 << 20))
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        _ = bh_configure(handle, body, headers, errorBuffer, self.userAgent)
    }

    deinit {
        curl_easy_cleanup(handle)
        bh_buffer_free(body)
        bh_buffer_free(headers)
        body.deallocate()
        headers.deallocate()
        errorBuffer.deallocate()
        free(userAgent)
    }

    /// Performs a request off the cooperative pool.
    public func perform(_ request: HTTPRequest) async throws(TransportError) -> HTTPResponse {
        let result: Result<HTTPResponse, TransportError> = await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: self.performBlocking(request)) }
        }
        return try result.get()
    }

    private func performBlocking(_ request: HTTPRequest) -> Result<HTTPResponse, TransportError> {
        bh_buffer_reset(body)
        bh_buffer_reset(headers)
        var list: UnsafeMutablePointer<curl_slist>? = nil
        for header in request.headers {
            list = curl_slist_append(list, "\(header.name): \(header.value)")
        }
        // An empty Expect stops curl from waiting for `100 Continue` on larger bodies.
        list = curl_slist_append(list, "Expect:")
        defer { curl_slist_free_all(list) }
        var status = 0
        errorBuffer[0] = 0
        let code = request.body.withUnsafeBufferPointer { bodyBytes in
            bodyBytes.withMemoryRebound(to: CChar.self) { chars in
                bh_perform(handle, request.method.rawValue, request.url, list, chars.baseAddress, chars.count,
                           timeouts.connectMS, timeouts.totalMS, &status)
            }
        }
        guard code == CURLE_OK else {
            let detail = String(cString: errorBuffer)
            let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
            let kind: TransportError.Kind
            switch code {
            case CURLE_OPERATION_TIMEDOUT: kind = .timeout
            case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: kind = .connect
            case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE: kind = .tls
            default: kind = .other
            }
            return .failure(TransportError(kind: kind, code: Int(code.rawValue), message: message))
        }
        let bodyBytes = body.pointee.length == 0 ? [] : Array(UnsafeRawBufferPointer(start: body.pointee.data, count: body.pointee.length))
        let headerText = headers.pointee.length == 0 ? "" : String(decoding: UnsafeRawBufferPointer(start: headers.pointee.data, count: headers.pointee.length), as: UTF8.self)
        return .success(HTTPResponse(status: status, headers: Self.parseHeaders(headerText), body: bodyBytes,
                                     newConnection: bh_connects(handle) > 0))
    }

    /// Header lines of the last response (curl reports every response of the exchange,
    /// e.g. a `100 Continue` first): keeps the block after the last status line.
    static func parseHeaders(_ text: String) -> [(name: String, value: String)] {
        var result: [(name: String, value: String)] = []
        for line in text.split(whereSeparator: { $0 == "\r\n" || $0 == "\n" || $0 == "\r" }) {
            if line.hasPrefix("HTTP/") { result.removeAll(keepingCapacity: true); continue }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingWhitespace()
            result.append((name, value))
        }
        return result
    }
}

extension Substring {
    func trimmingWhitespace() -> String {
        var s = self[...]
        while let first = s.first, first == " " || first == "\t" { s = s.dropFirst() }
        while let last = s.last, last == " " || last == "\t" { s = s.dropLast() }
        return String(s)
    }
}

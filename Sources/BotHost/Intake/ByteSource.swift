#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CZstd

/// A stream of bytes that a capture is read from.
public protocol ByteSource: AnyObject {
    /// Reads up to `buffer.count` bytes; returns 0 at the end of the stream.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(CaptureError) -> Int
    /// Bytes of the underlying file consumed so far (compressed bytes for zstd).
    var consumed: Int { get }
    /// Total size of the underlying file when known (not for stdin or pipes).
    var totalSize: Int? { get }
}

/// Errors opening or reading a capture.
public struct CaptureError: Error, Sendable, CustomStringConvertible {
    /// A sentence naming the file and what went wrong.
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Reads a file descriptor (a file, or standard input for `-`).
public final class FileByteSource: ByteSource {
    private let fd: Int32
    private let ownsDescriptor: Bool
    public private(set) var consumed = 0
    public let totalSize: Int?

    /// Opens `path` for reading; `-` means standard input.
    public init(path: String) throws(CaptureError) {
        if path == "-" {
            fd = 0
            ownsDescriptor = false
            totalSize = nil
            return
        }
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else {
            throw CaptureError("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        fd = descriptor
        ownsDescriptor = true
        var info = stat()
        if fstat(descriptor, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG {
            totalSize = Int(info.st_size)
        } else {
            totalSize = nil
        }
    }

    deinit { if ownsDescriptor { close(fd) } }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(CaptureError) -> Int {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 {
                consumed += n
                return n
            }
            if errno == EINTR { continue }
            throw CaptureError("read failed: \(String(cString: strerror(errno)))")
        }
    }
}

/// Decompresses a zstd stream (one or more frames, as the `zstd` tool writes them).
public final class ZstdByteSource: ByteSource {
    private let inner: any ByteSource
    private let stream: OpaquePointer
    private var input: UnsafeMutableRawBufferPointer
    private var inputStart = 0
    private var inputEnd = 0
    private var finished = false
    /// Whether the stream so far ends at a frame boundary (ZSTD_decompressStream returned 0).
    private var atFrameEnd = true

    public var consumed: Int { inner.consumed }
    public var totalSize: Int? { inner.totalSize }

    public init(_ inner: any ByteSource) {
        self.inner = inner
        stream = ZSTD_createDStream()
        ZSTD_initDStream(stream)
        input = .allocate(byteCount: ZSTD_DStreamInSize(), alignment: 16)
    }

    deinit {
        ZSTD_freeDStream(stream)
        input.deallocate()
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(CaptureError) -> Int {
        while true {
            if inputStart == inputEnd && !finished {
                inputEnd = try inner.read(into: input)
                inputStart = 0
                if inputEnd == 0 { finished = true }
            }
            var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: inputEnd, pos: inputStart)
            var outBuffer = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
            let result = ZSTD_decompressStream(stream, &outBuffer, &inBuffer)
            if ZSTD_isError(result) != 0 {
                throw CaptureError("zstd: \(String(cString: ZSTD_getErrorName(result)))")
            }
            if inBuffer.pos > inputStart || outBuffer.pos > 0 { atFrameEnd = result == 0 }
            inputStart = inBuffer.pos
            if outBuffer.pos > 0 { return outBuffer.pos }
            if finished && inputStart == inputEnd {
                // A call that made progress returns 0 only at a frame boundary: ending
                // anywhere else means the file was cut off.
                if !atFrameEnd { throw CaptureError("zstd: the compressed stream is truncated") }
                return 0
            }
        }
    }
}

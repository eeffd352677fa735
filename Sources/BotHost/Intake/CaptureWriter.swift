#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CZstd

/// Writes a capture: one JSON event per line, plain or zstd-compressed by the file
/// name (`.zst`), the formats `bothost replay` and `serve-jetstream` read.
public final class CaptureWriter {
    private let fd: Int32
    private let path: String
    private var zstd: OpaquePointer?
    private var buffer: [UInt8] = []
    private var compressed: [UInt8] = []
    /// Lines written.
    public private(set) var lines = 0

    /// Creates (truncates) `path`; `-` writes to standard output.
    public init(path: String) throws(CaptureError) {
        self.path = path
        if path == "-" {
            fd = 1
        } else {
            fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard fd >= 0 else { throw CaptureError("cannot create \(path): \(String(cString: strerror(errno)))") }
        }
        if path.hasSuffix(".zst") {
            zstd = ZSTD_createCCtx()
            ZSTD_CCtx_setParameter(zstd, ZSTD_c_compressionLevel, 3)
        }
        buffer.reserveCapacity(1 << 20)
    }

    deinit {
        if let zstd { ZSTD_freeCCtx(zstd) }
        if fd > 2 { close(fd) }
    }

    /// Appends one line (the newline is added).
    public func write(line: UnsafeRawBufferPointer) throws(CaptureError) {
        buffer.append(contentsOf: line)
        buffer.append(0x0A)
        lines += 1
        if buffer.count >= 1 << 20 { try flush(end: false) }
    }

    /// Writes everything buffered and ends the zstd frame; call before closing.
    public func finish() throws(CaptureError) {
        try flush(end: true)
    }

    private func flush(end: Bool) throws(CaptureError) {
        guard let zstd else {
            try writeAll(buffer)
            buffer.removeAll(keepingCapacity: true)
            return
        }
        if compressed.count < ZSTD_CStreamOutSize() { compressed = [UInt8](repeating: 0, count: ZSTD_CStreamOutSize()) }
        var failure: CaptureError?
        buffer.withUnsafeBytes { input in
            var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
            while true {
                var produced = 0
                let remaining = compressed.withUnsafeMutableBytes { out -> Int in
                    var outBuffer = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
                    let result = ZSTD_compressStream2(zstd, &outBuffer, &inBuffer, end ? ZSTD_e_end : ZSTD_e_continue)
                    produced = outBuffer.pos
                    return result
                }
                if ZSTD_isError(remaining) != 0 {
                    failure = CaptureError("zstd: \(String(cString: ZSTD_getErrorName(remaining)))")
                    return
                }
                if produced > 0 {
                    do throws(CaptureError) { try writeAll(Array(compressed[0..<produced])) } catch {
                        failure = error
                        return
                    }
                }
                let done = end ? remaining == 0 : inBuffer.pos == inBuffer.size
                if done { return }
            }
        }
        if let failure { throw failure }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: [UInt8]) throws(CaptureError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CaptureError("write to \(path) failed: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }
}

/// Splits a byte stream into newline-terminated lines, handing each to a closure
/// without copying it.
///
/// The buffer grows to hold the longest line up to ``maxLineLength``; a longer line is
/// reported (so it can be counted as malformed) and skipped, and reading goes on.
public final class LineReader {
    /// Lines longer than this are skipped and reported: Jetstream never sends events
    /// near this size, and holding one would let a bad file exhaust memory.
    public let maxLineLength: Int
    private let source: any ByteSource
    private var buffer: UnsafeMutableRawBufferPointer

    /// The number of the last line handed out (1-based).
    public private(set) var lineNumber = 0

    public init(source: any ByteSource, bufferSize: Int = 1 << 22, maxLineLength: Int = 1 << 24) {
        self.source = source
        self.maxLineLength = maxLineLength
        buffer = .allocate(byteCount: max(bufferSize, 1 << 12), alignment: 16)
    }

    deinit { buffer.deallocate() }

    /// Bytes of the underlying file consumed so far, for progress.
    public var consumed: Int { source.consumed }
    /// The size of the underlying file, when known.
    public var totalSize: Int? { source.totalSize }

    /// What the closure is given for each line.
    public enum Line {
        /// A complete line, without its newline (a trailing `\r` is removed too).
        case text(UnsafeRawBufferPointer)
        /// A line longer than ``maxLineLength``, skipped; carries its length so far.
        case tooLong(Int)
    }

    /// Calls `body` for every non-empty line until the end of the stream or until
    /// `body` returns `false`.
    public func forEachLine(_ body: (Line) throws -> Bool) throws {
        var filled = 0
        var skipping = 0  // > 0 while discarding an over-long line
        while true {
            if filled == buffer.count {
                if buffer.count < maxLineLength {
                    let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: min(buffer.count * 2, maxLineLength), alignment: 16)
                    bigger.copyMemory(from: UnsafeRawBufferPointer(buffer))
                    buffer.deallocate()
                    buffer = bigger
                } else {
                    skipping += filled
                    filled = 0
                }
            }
            let n = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            if n == 0 { break }
            let scanStart = filled
            filled += n
            var lineStart = 0
            var p = scanStart
            let bytes = UnsafeRawBufferPointer(buffer)
            while let newline = Self.findNewline(bytes, from: p, to: filled) {
                if skipping > 0 {
                    lineNumber += 1
                    let length = skipping + newline - lineStart
                    skipping = 0
                    if !(try body(.tooLong(length))) { return }
                } else if let line = Self.trimmed(bytes, lineStart, newline) {
                    lineNumber += 1
                    if !(try body(.text(line))) { return }
                } else {
                    lineNumber += 1
                }
                lineStart = newline + 1
                p = lineStart
            }
            if lineStart > 0 {
                let remaining = filled - lineStart
                if remaining > 0 {
                    buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + lineStart, byteCount: remaining)
                }
                filled = remaining
            }
        }
        if skipping > 0 {
            lineNumber += 1
            _ = try body(.tooLong(skipping + filled))
        } else if let line = Self.trimmed(UnsafeRawBufferPointer(buffer), 0, filled) {
            lineNumber += 1
            _ = try body(.text(line))
        }
    }

    private static func trimmed(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> UnsafeRawBufferPointer? {
        var end = end
        if end > start && bytes[end - 1] == 0x0D { end -= 1 }
        guard end > start else { return nil }
        return UnsafeRawBufferPointer(rebasing: bytes[start..<end])
    }

    @inline(__always)
    private static func findNewline(_ bytes: UnsafeRawBufferPointer, from: Int, to: Int) -> Int? {
        guard from < to else { return nil }
        let base = bytes.baseAddress!
        guard let hit = memchr(base + from, 0x0A, to - from) else { return nil }
        return UnsafeRawPointer(hit) - base
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Opens a capture by name: `-` is standard input, `.zst` files are decompressed.
public func openCapture(_ path: String) throws(CaptureError) -> LineReader {
    let file = try FileByteSource(path: path)
    let source: any ByteSource = path.hasSuffix(".zst") ? ZstdByteSource(file) : file
    return LineReader(source: source)
}

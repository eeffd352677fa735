import CZstd
import Foundation

/// A zstd dictionary loaded once and shared by the decoders and encoders of a
/// Jetstream connection (`compress=true` frames are each one zstd frame made with it).
public final class ZstdDictionary: @unchecked Sendable {
    /// The raw dictionary bytes (served by `getZstdDictionary`, shipped as a resource).
    public let bytes: [UInt8]
    /// The dictionary id written in its header (v1: 1612007021, v2: 20260811).
    public let id: UInt32
    let ddict: OpaquePointer
    let cdict: OpaquePointer

    /// Loads a dictionary from raw bytes. Immutable afterwards, so it can be shared.
    public init(bytes: [UInt8], compressionLevel: Int32 = 3) throws(CaptureError) {
        guard let ddict = bytes.withUnsafeBytes({ ZSTD_createDDict($0.baseAddress, $0.count) }),
              let cdict = bytes.withUnsafeBytes({ ZSTD_createCDict($0.baseAddress, $0.count, compressionLevel) }) else {
            throw CaptureError("not a zstd dictionary (\(bytes.count) bytes)")
        }
        self.bytes = bytes
        self.ddict = ddict
        self.cdict = cdict
        self.id = bytes.withUnsafeBytes { UInt32(ZSTD_getDictID_fromDict($0.baseAddress, $0.count)) }
    }

    deinit {
        ZSTD_freeDDict(ddict)
        ZSTD_freeCDict(cdict)
    }

    /// The dictionary Jetstream v1 uses for `compress=true` (dictID 1612007021).
    public static let jetstreamV1: ZstdDictionary = loadResource("jetstream-zstd-dictionary")
    /// The dictionary of the v2 endpoint's `zstdDictionary=20260811`.
    public static let jetstreamV2: ZstdDictionary = loadResource("jetstream-v2-zstd-dictionary")

    private static func loadResource(_ name: String) -> ZstdDictionary {
        guard let url = Bundle.module.url(forResource: name, withExtension: nil),
              let data = try? Data(contentsOf: url),
              let dictionary = try? ZstdDictionary(bytes: [UInt8](data)) else {
            fatalError("BotHost resource \(name) is missing or invalid: the package was built incompletely")
        }
        return dictionary
    }
}

/// Decompresses single zstd frames made with a dictionary, reusing one context and
/// one output buffer (no allocation per frame once the buffer is large enough).
///
/// - Note: Not thread-safe: one per connection.
public final class ZstdFrameDecoder {
    private let context: OpaquePointer
    private let dictionary: ZstdDictionary?
    /// The decompressed bytes of the last frame.
    public private(set) var output: [UInt8] = []
    /// Frames larger than this when decompressed are refused (a zip bomb on the wire).
    public let maxOutput: Int
    /// The largest window (log2 bytes) a frame may ask for: zstd allocates the window a
    /// frame header declares, so without a bound one frame could make it take 2 GiB.
    public static let windowLogMax: Int32 = 23

    public init(dictionary: ZstdDictionary?, maxOutput: Int = 8 << 20) {
        context = ZSTD_createDCtx()
        ZSTD_DCtx_setParameter(context, ZSTD_d_windowLogMax, Self.windowLogMax)
        self.dictionary = dictionary
        self.maxOutput = maxOutput
        output.reserveCapacity(1 << 16)
    }

    deinit { ZSTD_freeDCtx(context) }

    /// Decompresses one frame; the result is in ``output`` until the next call.
    /// - Throws: `CaptureError` naming zstd's reason (bad data, wrong dictionary, too large).
    public func decompress(_ input: UnsafeRawBufferPointer) throws(CaptureError) -> UnsafeRawBufferPointer? {
        ZSTD_DCtx_reset(context, ZSTD_reset_session_only)
        if let dictionary { ZSTD_DCtx_refDDict(context, dictionary.ddict) }
        var capacity = max(output.count, 4096)
        let declared = ZSTD_getFrameContentSize(input.baseAddress, input.count)
        if declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != ZSTD_CONTENTSIZE_ERROR {
            guard declared <= UInt64(maxOutput) else { throw CaptureError("zstd frame declares \(declared) bytes, over the limit") }
            capacity = max(capacity, Int(declared))
        }
        var produced = 0
        var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        while true {
            // Grown in place: the bytes already produced stay (replacing the buffer lost them).
            if output.count < capacity { output.append(contentsOf: repeatElement(0, count: capacity - output.count)) }
            let result = output.withUnsafeMutableBytes { out -> Int in
                var outBuffer = ZSTD_outBuffer(dst: out.baseAddress! + produced, size: out.count - produced, pos: 0)
                let code = ZSTD_decompressStream(context, &outBuffer, &inBuffer)
                produced += outBuffer.pos
                return code
            }
            if ZSTD_isError(result) != 0 {
                throw CaptureError("zstd: \(String(cString: ZSTD_getErrorName(result)))")
            }
            if result == 0 { break }  // frame complete
            if inBuffer.pos == inBuffer.size && produced < output.count {
                throw CaptureError("zstd: truncated frame")
            }
            guard capacity < maxOutput else { throw CaptureError("zstd frame decompresses to more than \(maxOutput) bytes") }
            capacity = min(maxOutput, capacity * 2)
        }
        return output.withUnsafeBytes { UnsafeRawBufferPointer(start: $0.baseAddress, count: produced) }
    }
}

/// Compresses messages into single zstd frames with a dictionary (the replay server's
/// `compress=true`, and `bothost record` to `.zst`).
public final class ZstdFrameEncoder {
    private let context: OpaquePointer
    private let dictionary: ZstdDictionary?
    private var output: [UInt8] = []

    public init(dictionary: ZstdDictionary?) {
        context = ZSTD_createCCtx()
        self.dictionary = dictionary
    }

    deinit { ZSTD_freeCCtx(context) }

    /// Compresses bytes into one frame.
    public func compress(_ input: [UInt8]) -> [UInt8] {
        input.withUnsafeBytes { compress($0) }
    }

    /// Compresses `input` into one frame (with its content size in the header).
    public func compress(_ input: UnsafeRawBufferPointer) -> [UInt8] {
        let bound = ZSTD_compressBound(input.count)
        if output.count < bound { output = [UInt8](repeating: 0, count: bound) }
        let written = output.withUnsafeMutableBytes { out -> Int in
            if let dictionary {
                return ZSTD_compress_usingCDict(context, out.baseAddress, out.count, input.baseAddress, input.count, dictionary.cdict)
            }
            return ZSTD_compressCCtx(context, out.baseAddress, out.count, input.baseAddress, input.count, 3)
        }
        precondition(ZSTD_isError(written) == 0, "zstd compression into a compressBound buffer cannot fail")
        return Array(output[0..<written])
    }
}

// libFuzzer entry point for the event decoder (v1 lines and v2 frames) and the JSON
// tape under it. Built by `make fuzz` with `swiftc -sanitize=fuzzer,address` straight
// from the decoder's sources, so the instrumented binary contains only what input from
// the network reaches.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEventDecoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let decoder = FuzzState.decoder
    if let event = try? decoder.decode(bytes) {
        // Touch what the rules read, the way the plugins do.
        _ = event.did.string
        _ = event.record["embed"]["images"].count
        for item in event.record["embed"]["images"].elements { _ = item["alt"].isNonBlankString }
        _ = event.record["subject"]["uri"].unescapedBytes
        _ = event.record["text"].string
        _ = event.commit?.rkey.rawBytes
    }
    if case let .event(event, _)? = try? decoder.decodeV2(bytes) {
        _ = event.record["facets"].count
        _ = event.body["handle"].string
    }
    return 0
}

enum FuzzState {
    nonisolated(unsafe) static let decoder = EventDecoder()
}

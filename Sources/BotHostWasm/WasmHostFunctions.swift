@_spi(Fuzzing) import WasmKit
import BotHost
import Plugins

/// The host functions of ``WasmABI``. Each one charges fuel for its own work (a base
/// cost, plus bytes copied and elements walked), so a loop of host calls is bounded by
/// the event's fuel like a loop of instructions; and each one checks every pointer and
/// length the guest passes before touching memory.
extension WasmSandbox {
    /// Fuel of any host call, before its work.
    static let callCost: UInt64 = 20

    static func body(_ name: String, call: WasmCall, initOnly: Bool) -> Function.RawImplementation {
        let implementation = implementation(name, call: call)
        return { caller, args, results in
            if initOnly {
                guard call.phase == .initializing else { throw WasmHostTrap("bh_\(name) may be called only from bothost_init") }
            } else {
                guard call.phase == .event else { throw WasmHostTrap("bh_\(name) may be called only while an event is handled") }
            }
            try charge(caller.store, callCost)
            try implementation(caller.store, args, results)
        }
    }

    typealias Body = (Store, UnsafeBufferPointer<Value>, UnsafeMutableBufferPointer<Value>) throws -> Void

    // swiftlint:disable:next cyclomatic_complexity function_body_length
    private static func implementation(_ name: String, call: WasmCall) -> Body {
        switch name {
        case "want":
            return { _, args, _ in
                let nsid = try call.text(args[0], args[1])
                guard call.wants.count < WasmABI.maxCollections else { throw WasmHostTrap("more than \(WasmABI.maxCollections) collections") }
                guard nsid == "*" || nsid.split(separator: ".").count >= 3 else { throw WasmHostTrap("bh_want: '\(nsid)' is not a collection NSID") }
                if !call.wants.contains(nsid) { call.wants.append(nsid) }
            }
        case "rule":
            return { _, args, results in
                let rule = try call.text(args[0], args[1])
                guard !rule.isEmpty else { throw WasmHostTrap("bh_rule: an empty name") }
                if let index = call.rules.firstIndex(of: rule) { results[0] = .i32(UInt32(index)); return }
                guard call.rules.count < WasmABI.maxRules else { throw WasmHostTrap("more than \(WasmABI.maxRules) rules") }
                call.rules.append(rule)
                results[0] = .i32(UInt32(call.rules.count - 1))
            }
        case "counter":
            return { _, args, results in
                let counter = try call.text(args[0], args[1])
                guard !counter.isEmpty else { throw WasmHostTrap("bh_counter: an empty name") }
                if let index = call.counters.firstIndex(of: counter) { results[0] = .i32(UInt32(index)); return }
                guard call.counters.count < WasmABI.maxCounters else { throw WasmHostTrap("more than \(WasmABI.maxCounters) counters") }
                call.counters.append(counter)
                results[0] = .i32(UInt32(call.counters.count - 1))
            }
        case "key":
            return { _, args, results in
                let text = try call.text(args[0], args[1])
                if let index = call.keyTexts.firstIndex(of: text) { results[0] = .i32(UInt32(index)); return }
                guard call.keys.count < WasmABI.maxKeys else { throw WasmHostTrap("more than \(WasmABI.maxKeys) keys") }
                call.keyTexts.append(text)
                call.keys.append(JSONKey(text))
                results[0] = .i32(UInt32(call.keys.count - 1))
            }
        case "record":
            return { _, _, results in
                guard let record = call.event?.record else { results[0] = .i32(UInt32(bitPattern: -1)); return }
                results[0] = .i32(UInt32(bitPattern: try call.handle(record)))
            }
        case "get":
            return { store, args, results in
                let key = try call.key(args[1])
                guard let value = call.value(args[0].int32) else { results[0] = .i32(UInt32(bitPattern: -1)); return }
                // Looking up a member walks the object's members: charged by its size.
                try charge(store, UInt64(value.tokenSpan / 8))
                results[0] = .i32(UInt32(bitPattern: try call.handle(value[key])))
            }
        case "at":
            return { store, args, results in
                let index = args[1].int32
                guard let value = call.value(args[0].int32), index >= 0 else { results[0] = .i32(UInt32(bitPattern: -1)); return }
                var position: Int32 = 0
                for element in value.elements {
                    if position == index { results[0] = .i32(UInt32(bitPattern: try call.handle(element))); try charge(store, UInt64(position)); return }
                    position += 1
                }
                try charge(store, UInt64(position))
                results[0] = .i32(UInt32(bitPattern: -1))
            }
        case "len":
            return { store, args, results in
                guard let value = call.value(args[0].int32) else { results[0] = .i32(0); return }
                let count = value.elements.reduce(0) { n, _ in n + 1 }
                try charge(store, UInt64(count))
                results[0] = .i32(UInt32(count))
            }
        case "kind":
            return { _, args, results in
                let kind: WasmABI.Kind
                switch call.value(args[0].int32)?.kind {
                case nil: kind = .missing
                case .object?: kind = .object
                case .array?: kind = .array
                case .string?: kind = .string
                case .integer?: kind = .integer
                case .number?: kind = .number
                case .true?: kind = .true
                case .false?: kind = .false
                case .null?: kind = .null
                }
                results[0] = .i32(UInt32(kind.rawValue))
            }
        case "equals":
            return { _, args, results in
                let key = try call.key(args[1])
                results[0] = .i32(call.value(args[0].int32)?.stringEquals(key) == true ? 1 : 0)
            }
        case "nonblank":
            return { store, args, results in
                guard let value = call.value(args[0].int32) else { results[0] = .i32(0); return }
                try charge(store, UInt64((value.unescapedBytes?.count ?? 64) / 8))
                results[0] = .i32(value.isNonBlankString ? 1 : 0)
            }
        case "int":
            return { _, args, results in
                results[0] = .i64(UInt64(bitPattern: call.value(args[0].int32)?.int64 ?? Int64(bitPattern: args[1].i64)))
            }
        case "string":
            return { store, args, results in
                guard let value = call.value(args[0].int32), value.kind == .string else { results[0] = .i32(UInt32(bitPattern: -1)); return }
                try charge(store, UInt64((value.rawBytes?.count ?? 0) / 16))
                let length: Int32
                if let bytes = value.unescapedBytes {
                    length = try call.copyOut(bytes, to: args[1], capacity: args[2], store: store)
                } else {
                    var text = value.string ?? ""
                    length = try text.withUTF8 { try call.copyOut(UnsafeRawBufferPointer($0), to: args[1], capacity: args[2], store: store) }
                }
                results[0] = .i32(UInt32(bitPattern: length))
            }
        case "did", "collection", "rkey":
            return { store, args, results in
                guard let event = call.event else { results[0] = .i32(UInt32(bitPattern: -1)); return }
                let field = name == "did" ? event.did : name == "collection" ? event.commit?.collection : event.commit?.rkey
                guard let bytes = field?.unescapedBytes else { results[0] = .i32(UInt32(bitPattern: -1)); return }
                results[0] = .i32(UInt32(bitPattern: try call.copyOut(bytes, to: args[0], capacity: args[1], store: store)))
            }
        case "time_us":
            return { _, _, results in results[0] = .i64(UInt64(bitPattern: call.event?.timeUS ?? 0)) }
        case "grant":
            return { _, args, _ in
                let rule = try call.rule(args[0])
                call.effects.append(.grant(rule: rule, amount: args[1].int32))
            }
        case "revoke":
            return { _, args, _ in call.effects.append(.revoke(rule: try call.rule(args[0]))) }
        case "current_grant":
            return { _, _, results in
                let grant = call.context?.currentGrant(shadow: call.isShadow)
                results[0] = .i32(UInt32(bitPattern: grant.map { $0.amount } ?? -1))
            }
        case "grant_of":
            return { store, args, results in
                guard let uri = call.value(args[0].int32), let context = call.context else { results[0] = .i32(UInt32(bitPattern: -1)); return }
                try charge(store, 50)
                let shadow = call.isShadow
                let grant = RecordURI.withBytes(of: uri) { bytes -> Grant? in
                    guard let parts = RecordURI(bytes), let collection = context.knownCollectionID(parts.collection) else { return nil }
                    return shadow ? context.shadowGrant(did: parts.authority, collection: collection, rkey: parts.rkey)
                        : context.liveGrant(did: parts.authority, collection: collection, rkey: parts.rkey)
                }
                results[0] = .i32(UInt32(bitPattern: grant.map { $0.amount } ?? -1))
            }
        case "is_self":
            return { _, args, results in
                guard let uri = call.value(args[0].int32), let event = call.event else { results[0] = .i32(0); return }
                results[0] = .i32(RecordURI.isOwn(uri, event) ? 1 : 0)
            }
        case "count":
            return { _, args, _ in
                let counter = Int(args[0].int32)
                guard counter >= 0, counter < call.counters.count else { throw WasmHostTrap("bh_count: no counter \(counter)") }
                call.effects.append(.count(counter: counter))
            }
        case "state_get":
            return { _, args, results in
                let key = Int64(bitPattern: args[0].i64)
                let value = call.pendingState(key) ?? call.stateValue(key) ?? Int64(bitPattern: args[1].i64)
                results[0] = .i64(UInt64(bitPattern: value))
            }
        case "state_set":
            return { _, args, _ in
                guard call.effects.count < 1_024 else { throw WasmHostTrap("more than 1024 effects in one event") }
                call.effects.append(.stateSet(key: Int64(bitPattern: args[0].i64), value: Int64(bitPattern: args[1].i64)))
            }
        case "log":
            return { store, args, _ in
                let length = min(Int(args[1].int32), WasmABI.maxLogBytes)
                let text = try call.text(args[0], .i32(UInt32(max(0, length))), limit: WasmABI.maxLogBytes)
                if call.logLines.count < WasmABI.maxLogLinesPerBatch { call.logLines.append(text) }
            }
        default:
            return { _, _, _ in throw WasmHostTrap("bh_\(name) is not implemented") }
        }
    }

    /// Takes `cost` from the store's fuel, or stops the call.
    @inline(__always)
    static func charge(_ store: Store, _ cost: UInt64) throws {
        guard let fuel = store.fuel else { return }
        guard fuel.remaining >= cost else {
            store.fuel = Fuel(remaining: 0)
            throw WasmHostOutOfFuel()
        }
        store.fuel = Fuel(remaining: fuel.remaining - cost)
    }
}

extension Value {
    /// An i32 argument as the signed value C passes.
    @inline(__always) var int32: Int32 { Int32(bitPattern: i32) }
}

extension WasmCall {
    /// A declared key.
    @inline(__always)
    func key(_ argument: Value) throws(WasmHostTrap) -> JSONKey {
        let index = Int(argument.int32)
        guard index >= 0, index < keys.count else { throw WasmHostTrap("no key \(index) (declare keys with bh_key in bothost_init)") }
        return keys[index]
    }

    /// A declared rule's index.
    @inline(__always)
    func rule(_ argument: Value) throws(WasmHostTrap) -> Int {
        let index = Int(argument.int32)
        guard index >= 0, index < rules.count else { throw WasmHostTrap("no rule \(index) (declare rules with bh_rule in bothost_init)") }
        return index
    }

    /// The plugin's stored number under `key` for the current account.
    func stateValue(_ key: Int64) -> Int64? {
        guard let context, let slot = stateSlot else { return nil }
        return context.limit(slot, .value, key: key)
    }

    /// Guest text at (pointer, length), checked against the memory's bounds.
    func text(_ pointer: Value, _ length: Value, limit: Int = WasmABI.maxNameBytes) throws(WasmHostTrap) -> String {
        let count = Int(length.int32)
        guard count >= 0, count <= limit else { throw WasmHostTrap("a text of \(count) bytes (at most \(limit))") }
        return try withGuestBytes(pointer, count) { String(decoding: $0, as: UTF8.self) }
    }

    /// Calls `body` with `count` guest bytes at `pointer`, after checking the bounds.
    func withGuestBytes<T>(_ pointer: Value, _ count: Int, _ body: (UnsafeRawBufferPointer) -> T) throws(WasmHostTrap) -> T {
        guard let memory else { throw WasmHostTrap("no memory") }
        let start = Int(pointer.i32)
        guard count >= 0, start + count <= memory.byteCount else { throw WasmHostTrap("out of bounds: \(count) bytes at \(start), memory is \(memory.byteCount) bytes") }
        return memory.withUnsafeBufferPointer(offset: UInt(start), count: count) { body($0) }
    }

    /// Copies `bytes` into the guest's buffer (pointer, capacity), at most capacity bytes;
    /// returns the whole length.
    func copyOut(_ bytes: UnsafeRawBufferPointer, to pointer: Value, capacity: Value, store: Store) throws -> Int32 {
        guard let memory else { throw WasmHostTrap("no memory") }
        let start = Int(pointer.i32)
        let cap = Int(capacity.int32)
        guard cap >= 0, start + cap <= memory.byteCount else { throw WasmHostTrap("out of bounds: a buffer of \(cap) bytes at \(start), memory is \(memory.byteCount) bytes") }
        let n = min(cap, bytes.count)
        try WasmSandbox.charge(store, UInt64(n / 8))
        if n > 0 {
            memory.withUnsafeMutableBufferPointer(offset: UInt(start), count: n) { target in
                target.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[0..<n]))
            }
        }
        return Int32(clamping: bytes.count)
    }
}

/// One account of an import file (`bothost import accounts`): the `export accounts` format,
/// of which the DID and the XP are imported.
public struct AccountImportRow: Sendable, Equatable {
    /// 1-based line of the file.
    public var line: Int
    public var did: String
    public var xp: Int64
}

/// A refused import file: the first bad row, with its line.
public struct AccountImportError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var line: Int
    public var message: String
    public var description: String { "\(file):\(line): error: \(message)" }
}

/// Reads `export accounts` files (JSONL or CSV) for import. Every row is checked before
/// anything is imported, so a file with one bad row imports nothing.
public enum AccountImport {
    /// The largest XP one row may bring (a ledger entry holds it exactly).
    public static let maxXP: Int64 = ModeratorCommand.adjustRange.upperBound

    /// Parses and checks a whole file.
    public static func parse(_ bytes: [UInt8], file: String) throws(AccountImportError) -> [AccountImportRow] {
        let text = String(decoding: bytes, as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasSuffix("\r") ? $0.dropLast() : $0 }
        if lines.last?.isEmpty == true { lines.removeLast() }
        guard let first = lines.first(where: { !$0.isEmpty }) else { throw AccountImportError(file: file, line: 1, message: "the file has no accounts") }
        let rows = first.hasPrefix("{") ? try parseJSONL(lines, file: file) : try parseCSV(lines, file: file)
        var seen: [String: Int] = [:]
        for row in rows {
            if let earlier = seen[row.did] {
                throw AccountImportError(file: file, line: row.line, message: "\(row.did) is also on line \(earlier); an account may appear once")
            }
            seen[row.did] = row.line
        }
        return rows
    }

    /// A tag of the rows a file holds (FNV-1a 64 over the accounts and XP, sorted by DID;
    /// hex): the key that makes importing the same accounts twice a no-op, whether from the
    /// same file, the same file re-saved, or its CSV twin.
    public static func tag(_ rows: [AccountImportRow]) -> String {
        var hash = FNV1a.offsetBasis
        for row in rows.sorted(by: { $0.did < $1.did }) {
            hash = FNV1a.hash(Array("\(row.did)\t\(row.xp)\n".utf8), seed: hash)
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    private static func parseJSONL(_ lines: [Substring], file: String) throws(AccountImportError) -> [AccountImportRow] {
        let tape = JSONTape()
        var rows: [AccountImportRow] = []
        for (index, line) in lines.enumerated() where !line.allSatisfy(\.isWhitespace) {
            let number = index + 1
            var bytes = Array(line.utf8)
            // Read while the bytes the tape points into are in reach.
            let read: Result<(String, Int64), AccountImportError> = bytes.withUnsafeMutableBytes { buffer in
                do { try tape.parse(UnsafeRawBufferPointer(buffer)) } catch {
                    return .failure(AccountImportError(file: file, line: number, message: "not a JSON object: \(error)"))
                }
                let root = tape.root
                guard root.kind == .object else { return .failure(AccountImportError(file: file, line: number, message: "expected a JSON object with did and xp")) }
                guard let did = root["did"].string else { return .failure(AccountImportError(file: file, line: number, message: "expected \"did\": a DID string")) }
                guard let xp = root["xp"].int64 else { return .failure(AccountImportError(file: file, line: number, message: "expected \"xp\": an integer")) }
                return .success((did, xp))
            }
            let (did, xp) = try read.get()
            rows.append(try check(did: did, xp: xp, line: number, file: file))
        }
        return rows
    }

    private static func parseCSV(_ lines: [Substring], file: String) throws(AccountImportError) -> [AccountImportRow] {
        guard let header = lines.first else { return [] }
        let columns = splitCSV(header).map { $0.trimmingWhitespace() }
        guard let didColumn = columns.firstIndex(of: "did"), let xpColumn = columns.firstIndex(of: "xp") else {
            throw AccountImportError(file: file, line: 1, message: "expected a CSV header with did and xp (the export accounts header: did,handle,xp,level,milestones,status,consent), got '\(header)'")
        }
        var rows: [AccountImportRow] = []
        for (index, line) in lines.enumerated().dropFirst() where !line.allSatisfy(\.isWhitespace) {
            let number = index + 1
            let fields = splitCSV(line)
            guard fields.count == columns.count else {
                throw AccountImportError(file: file, line: number, message: "expected \(columns.count) fields, got \(fields.count)")
            }
            guard let xp = Int64(fields[xpColumn].trimmingWhitespace()) else {
                throw AccountImportError(file: file, line: number, message: "xp must be an integer, got '\(fields[xpColumn])'")
            }
            rows.append(try check(did: fields[didColumn].trimmingWhitespace(), xp: xp, line: number, file: file))
        }
        return rows
    }

    private static func check(did: String, xp: Int64, line: Int, file: String) throws(AccountImportError) -> AccountImportRow {
        guard isDID(did) else { throw AccountImportError(file: file, line: line, message: "'\(did)' is not a DID (did:METHOD:ID)") }
        guard (0...maxXP).contains(xp) else { throw AccountImportError(file: file, line: line, message: "xp \(xp) is outside 0…\(maxXP)") }
        return AccountImportRow(line: line, did: did, xp: xp)
    }

    /// The DID syntax of the AT Protocol: `did:`, a lowercase method, `:`, then letters,
    /// digits and `._:%-`, not ending in `:` or `%`; at most 2 KiB.
    public static func isDID(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count <= 2_048, bytes.starts(with: Array("did:".utf8)) else { return false }
        guard let colon = bytes[4...].firstIndex(of: UInt8(ascii: ":")), colon > 4,
              bytes[4..<colon].allSatisfy({ $0 >= 0x61 && $0 <= 0x7A }) else { return false }
        let id = bytes[(colon + 1)...]
        guard let last = id.last, last != UInt8(ascii: ":"), last != UInt8(ascii: "%") else { return false }
        return id.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: ":") || b == UInt8(ascii: "%") || b == UInt8(ascii: "-")
        }
    }

    /// Splits one CSV line (RFC 4180 quoting; no line breaks inside fields).
    static func splitCSV(_ line: Substring) -> [String] {
        var fields: [String] = []
        var field = ""
        var quoted = false
        var iterator = line.makeIterator()
        var pending: Character? = nil
        while let c = pending ?? iterator.next() {
            pending = nil
            if quoted {
                if c == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" { field.append("\"") } else { quoted = false; pending = next }
                    } else { quoted = false }
                } else { field.append(c) }
            } else if c == "\"" && field.isEmpty {
                quoted = true
            } else if c == "," {
                fields.append(field)
                field = ""
            } else {
                field.append(c)
            }
        }
        fields.append(field)
        return fields
    }
}

extension StringProtocol {
    fileprivate func trimmingWhitespace() -> String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s.removeFirst() }
        while s.last?.isWhitespace == true { s.removeLast() }
        return String(s)
    }
}

import ArgumentParser
import BotHost
import BotHostStores

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export state for other tools.",
        subcommands: [ExportAccounts.self])
}

enum ExportFormat: String, ExpressibleByArgument, CaseIterable {
    case jsonl, csv
}

struct ExportAccounts: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accounts",
        abstract: "One record per account: did, handle, xp, level, milestones, status, consent.")

    @OptionGroup var database: StoreOptions

    @Option(name: .long, help: "jsonl or csv.")
    var format: ExportFormat = .jsonl

    func run() throws {
        let store = try database.location().openReader()
        var out = BufferedOutput()
        if format == .csv { out.write("did,handle,xp,level,milestones,status,consent\n") }
        try store.forEachAccount { account in
            switch format {
            case .jsonl:
                let json = JSONWriter()
                json.object {
                    json.field("did", account.did)
                    json.field("handle", account.handle)
                    json.field("xp", account.xp)
                    json.field("level", account.level)
                    json.array("milestones") { for level in account.milestones { json.element(level) } }
                    json.field("status", account.status)
                    json.field("consent", account.consent)
                }
                out.write(json.output + "\n")
            case .csv:
                let fields = [account.did, account.handle ?? "", String(account.xp), String(account.level),
                              account.milestones.map(String.init).joined(separator: ";"), account.status, account.consent]
                out.write(fields.map(CSV.escape).joined(separator: ",") + "\n")
            }
        }
        out.flush()
    }
}

enum CSV {
    /// Quotes a field when it holds a comma, quote or line break (RFC 4180).
    static func escape(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrencesOfQuote() + "\""
    }
}

extension String {
    fileprivate func replacingOccurrencesOfQuote() -> String {
        var out = ""
        for character in self { out += character == "\"" ? "\"\"" : String(character) }
        return out
    }
}

/// Collects output and writes it in large chunks (exports can be millions of lines).
struct BufferedOutput {
    private var buffer = ""

    mutating func write(_ text: String) {
        buffer += text
        if buffer.utf8.count > 1 << 16 { flush() }
    }

    mutating func flush() {
        print(buffer, terminator: "")
        buffer = ""
    }
}

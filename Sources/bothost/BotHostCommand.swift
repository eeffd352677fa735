import ArgumentParser
import XRPCClient

@main
struct BotHostCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bothost",
        abstract: "Host rule plugins that react to Bluesky's Jetstream.",
        discussion: "State lives in a SQLite file (--db, default ./bothost.sqlite), or in PostgreSQL (--store postgres://…; docs/scaling.md).",
        version: "0.1.0",
        subcommands: [ReplayCommand.self, RunCommand.self, RecordCommand.self, ServeJetstreamCommand.self, ExportCommand.self, UserCommand.self, TopCommand.self, NamesCommand.self, ServeCommand.self, MigrateCommand.self, ExplainCommand.self, ExcludeCommand.self, IncludeCommand.self, AdjustCommand.self, PurgeCommand.self, AuditCommand.self, RankEventsCommand.self, RulesCommand.self, PluginCommand.self, ImportCommand.self, SeasonsCommand.self, LabelerCommand.self, OutboxCommand.self, StatusCommand.self, ConfigCommand.self, BenchDecodeCommand.self, BenchApplyCommand.self]
    )
}

/// `--format table|json` for commands that print data.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json
}

/// Prints to standard error.
func printError(_ text: String) {
    var stderr = StandardError()
    print(Redact.secrets(in: text), to: &stderr)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var text = string
        text.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(2, buffer.baseAddress! + offset, buffer.count - offset)
                if n <= 0 { break }
                offset += n
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failure the user can act on: printed as `Error: <message>` without the usage text.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

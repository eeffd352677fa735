import ArgumentParser
import BotHost
import BotHostConfig
import BotHostLabels
import BotHostStores
import Foundation
import Plugins
import XRPCClient

/// `bothost labeler …`: the bot as an atproto labeler (docs/labels.md).
struct LabelerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "labeler",
        abstract: "Level badges as atproto labels: the key, the service record, a pass, the issued labels (docs/labels.md).",
        subcommands: [Key.self, Show.self, Publish.self, Sync.self, List.self])

    /// The config with the milestones of the packs given (the default tiers follow them).
    struct ConfigOptions: ParsableArguments {
        @Option(name: .long, help: "YAML config file with a labeler: section.") var config: String?
        @Option(name: .long, help: "Rule pack file (repeatable): its milestones are the default tiers.") var pack: [String] = []

        func load() throws -> BotHostConfiguration {
            var configuration = try loadConfiguration(config)
            guard configuration.labeler != nil else {
                throw CLIError("no labeler is configured: add a labeler: section to the config (--config); docs/labels.md")
            }
            if !pack.isEmpty {
                do { configuration.adopt(try PackSelection.load(pack, amounts: configuration.leveling.amounts)) } catch { throw CLIError("\(error)") }
            }
            return configuration
        }
    }

    struct Key: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a new labeler key in a file of mode 0600; prints its public did:key (never the key).")
        @Option(name: .long, help: "The key file to create (refuses to replace one).") var out: String
        @Option(name: .long, help: "p256 or secp256k1.") var curve: LabelSigner.Curve = .p256

        func run() throws {
            let signer: LabelSigner
            do { signer = try LabelerKey.create(at: out, curve: curve) } catch { throw CLIError(error.description) }
            print("wrote \(out) (mode 0600)")
            print("public key   \(signer.didKey)")
            print("multikey     \(signer.multikey)   (the #atproto_label verification method of the labeler's DID document)")
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The labeler: its DID, public key, tiers, and where the stored sequence stands.")
        @OptionGroup var options: ConfigOptions
        @OptionGroup var database: StoreOptions

        func run() throws {
            let configuration = try options.load()
            guard let labeler = try LabelerSetUp.make(configuration) else { return }
            let store = try database.location(configURL: configuration.store.url).openReader()
            let sequence = try store.labelSequence()
            print("labeler      \(labeler.issuer.src)")
            print("public key   \(labeler.issuer.signer.didKey) (\(labeler.issuer.signer.curve.rawValue))")
            print("sequence     last \(sequence.last), pruned through \(sequence.prunedThrough)")
            for tier in labeler.issuer.tiers {
                print("tier         level \(tier.level)+  \(tier.value)  \(tier.locales.map { "\($0.lang): \($0.name)" }.joined(separator: "; "))")
            }
        }
    }

    struct Publish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the app.bsky.labeler.service record (rkey self) with the tiers' definitions to the bot's repository.",
            discussion: """
                Uses the bot's account (bot.pds, bot.identifier, BOTHOST_APP_PASSWORD or bot.app_password_file). \
                --dry-run prints the record instead. Publishing again replaces it (putRecord).
                """)
        @OptionGroup var options: ConfigOptions
        @Flag(name: .long, help: "Print the record; write nothing.") var dryRun = false

        func run() async throws {
            let configuration = try options.load()
            let settings = configuration.labeler!
            let tiers = settings.effectiveTiers(milestones: configuration.leveling.progression.milestones)
            for tier in tiers {
                if let problem = LabelTier.problem(with: tier.value) { throw CLIError("labeler: tier \(tier.level): \(problem)") }
            }
            let record = LabelerServiceRecord(tiers: tiers, createdAt: ISOTime.format(microseconds: Clock.nowMicroseconds()))
            if dryRun {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(record), as: UTF8.self))
                return
            }
            guard let client = try BotDeliverySetUp.client(configuration) else {
                throw CLIError("no bot account: set bot.pds and bot.identifier (or BOTHOST_PDS, BOTHOST_IDENTIFIER) to publish")
            }
            do {
                let ref = try await record.publish(with: client)
                print("published \(ref.uri) (\(ref.cid)): \(tiers.count) label values")
            } catch {
                throw CLIError("publishing the labeler record failed: \(error)")
            }
        }
    }

    struct Sync: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make one labeler pass over the store now (what run does every interval_seconds and replay at its end).")
        @OptionGroup var options: ConfigOptions
        @OptionGroup var database: StoreOptions

        func run() async throws {
            let configuration = try options.load()
            guard let labeler = try LabelerSetUp.make(configuration) else { return }
            let store = try database.location(configURL: configuration.store.url).open()
            switch await LabelerSetUp.pass(labeler, store) {
            case .success(let pass): print(LabelerSetUp.describe(pass))
            case .failure(let error): throw CLIError("labeler: \(store.describe(error).description)")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The issued labels in sequence order (all, or one account's).")
        @OptionGroup var database: StoreOptions
        @Option(name: .long, help: "YAML config file (for store.url).") var config: String?
        @Option(name: .long, help: "Only this account's labels (a DID).") var did: String?
        @Option(name: .long, help: "Labels after this sequence number.") var after: Int64 = 0
        @Option(name: .long, help: "At most this many (1-250).") var limit: Int = 50
        @Option(name: .long, help: "table or json.") var format: OutputFormat = .table

        func run() throws {
            let configuration = try loadConfiguration(config)
            let store = try database.location(configURL: configuration.store.url).openReader()
            guard (1...250).contains(limit) else { throw ValidationError("--limit must be between 1 and 250") }
            let labels = try store.queryLabels(LabelQuery(uriPatterns: [did ?? "*"], after: after, limit: limit))
            switch format {
            case .json:
                print(LabelFrames.queryResponse(labels))
            case .table:
                if labels.isEmpty { print("no labels"); return }
                for label in labels {
                    print("\(label.seq)\t\(label.cts)\t\(label.uri)\t\(label.neg ? "negate " : "")\(label.val)\(label.exp.map { "\texp \($0)" } ?? "")")
                }
            }
        }
    }
}

extension LabelSigner.Curve: ExpressibleByArgument {}

import BotHost
import BotHostConfig
import Foundation
import Plugins
import XRPCClient

/// The bot's account from the config file and the environment (`BOTHOST_PDS`,
/// `BOTHOST_IDENTIFIER`, `BOTHOST_APP_PASSWORD`), handed to the library's ``BotDelivery``.
enum BotDeliverySetUp {
    /// Logs in and names the bot in the configuration, so consent commands are read for
    /// its DID. `nil` when no credentials are set: then nothing is posted and the outbox
    /// keeps everything.
    static func setUp(_ configuration: inout BotHostConfiguration, store: any OutboxStore,
                      log: @escaping @Sendable (String) -> Void) async throws -> BotDelivery? {
        let environment = ProcessInfo.processInfo.environment
        let pds = environment["BOTHOST_PDS"].flatMap { $0.isEmpty ? nil : $0 } ?? configuration.bot.pds
        let identifier = environment["BOTHOST_IDENTIFIER"].flatMap { $0.isEmpty ? nil : $0 } ?? configuration.bot.identifier
        guard let pds, let identifier else {
            log("no bot account configured (BOTHOST_PDS/BOTHOST_IDENTIFIER or bot.pds/bot.identifier): nothing is posted; announcements stay in the outbox")
            return nil
        }
        let account = BotDelivery.Account(pds: pds, identifier: identifier, password: try loadPassword(configuration.bot.appPasswordFile),
                                          expectedDID: configuration.bot.did, declareAutomated: configuration.bot.declareAutomated)
        let delivery: BotDelivery
        do {
            delivery = try await BotDelivery.connect(account, store: store, progression: configuration.leveling.progression,
                                                     options: configuration.dispatcherOptions, log: log)
        } catch let error as BotDelivery.SetUpError {
            throw CLIError(error.description)
        }
        configuration.bot.did = delivery.botDID
        if configuration.bot.handle == nil { configuration.bot.handle = delivery.handle }
        return delivery
    }

    /// A client for the bot's account without the delivery around it (`bothost names`):
    /// nil when no account is configured.
    static func client(_ configuration: BotHostConfiguration) throws -> XRPCClient? {
        let environment = ProcessInfo.processInfo.environment
        let pds = environment["BOTHOST_PDS"].flatMap { $0.isEmpty ? nil : $0 } ?? configuration.bot.pds
        let identifier = environment["BOTHOST_IDENTIFIER"].flatMap { $0.isEmpty ? nil : $0 } ?? configuration.bot.identifier
        guard let pds, let identifier else { return nil }
        do {
            return try XRPCClient(service: pds, credentials: Credentials(identifier: identifier,
                                                                        password: try loadPassword(configuration.bot.appPasswordFile)))
        } catch let error as XRPCError {
            throw CLIError("bot account: \(error)")
        }
    }

    /// The app password: `BOTHOST_APP_PASSWORD`, or a file only its owner can read.
    static func loadPassword(_ file: String?) throws -> Secret {
        if let value = ProcessInfo.processInfo.environment["BOTHOST_APP_PASSWORD"], !value.isEmpty { return Secret(value) }
        guard let file else {
            throw CLIError("no app password: set BOTHOST_APP_PASSWORD or bot.app_password_file (a mode 0600 file)")
        }
        return Secret(try readOwnerOnlyFile(file, what: "app password file"))
    }
}

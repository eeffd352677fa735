import BotHost
import BotHostConfig
import BotHostLabels
import Logging
import Plugins
import ServiceLifecycle

/// The labeler a config asks for (`labeler:`), with its key loaded; nil without one.
enum LabelerSetUp {
    static func make(_ configuration: BotHostConfiguration) throws -> Labeler? {
        guard let settings = configuration.labeler else { return nil }
        do {
            let signer = try LabelerKey.load(file: settings.keyFile)
            return try Labeler(configuration: settings, botDID: configuration.bot.did,
                               milestones: configuration.leveling.progression.milestones, signer: signer)
        } catch let error as LabelerKey.Problem {
            throw CLIError("labeler: \(error.description)")
        } catch let error as Labeler.Problem {
            throw CLIError("labeler: \(error.description)")
        }
    }

    /// One pass, on a thread of its own (the stores block).
    static func pass(_ labeler: Labeler, _ store: any LabelStore) async -> Result<Labeler.Pass, any Error> {
        await runOnThread { Result { try labeler.pass(store) } }
    }

    static func describe(_ pass: Labeler.Pass) -> String {
        "labels: \(pass.labels) issued, \(pass.negations) negated\(pass.pruned > 0 ? ", \(pass.pruned) pruned" : "")"
            + (pass.issued.last.map { " (sequence at \($0.seq))" } ?? "")
    }
}

/// Makes a labeler pass every few seconds while the host runs, and one at shutdown: a
/// level reached, an opt-out or a block is labeled within `interval_seconds`.
struct LabelerService: Service {
    let labeler: Labeler
    let store: any LabelStore
    let interval: Duration
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await pass()
                try await Task.sleep(for: interval)
            }
        }
        await pass()
    }

    private func pass() async {
        switch await LabelerSetUp.pass(labeler, store) {
        case .success(let pass):
            if !pass.issued.isEmpty || pass.pruned > 0 { logger.info("\(LabelerSetUp.describe(pass))") }
        case .failure(let error):
            logger.warning("labeler pass failed (retried in \(interval)): \(error)")
        }
    }
}

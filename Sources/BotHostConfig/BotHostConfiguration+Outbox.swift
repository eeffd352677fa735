import BotHost
import Plugins

extension BotHostConfiguration {
    /// The outbox dispatcher's options of this 
    public var dispatcherOptions: OutboxDispatcher.Options {
        var options = OutboxDispatcher.Options()
        options.mode = OutboxDispatcher.Options.Mode(rawValue: outbox.mode.rawValue) ?? .reply
        options.maxAgeUS = outbox.maxAgeSeconds * 1_000_000
        options.maxAttempts = outbox.maxAttempts
        options.coalesce = outbox.coalesce
        options.budget = WriteBudget(hourlyPoints: outbox.hourlyPoints, dailyPoints: outbox.dailyPoints,
                                     headroomPercent: outbox.headroomPercent)
        options.confirmIntervalUS = Int64(consent.confirmIntervalMinutes) * 60_000_000
        options.confirmationsPerHour = consent.confirmationsPerHour
        return options
    }
}

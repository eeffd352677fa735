import BotHost
import BotHostConfig
import Plugins
import Rules
import Testing

struct ConfigurationTests {
    private func diagnostic(_ yaml: String) -> Diagnostic? {
        do {
            _ = try BotHostConfiguration.parse(yaml, file: "bot.yaml")
            return nil
        } catch {
            return error
        }
    }

    @Test func emptyFileGivesTheSpecDefaults() throws {
        let config = try BotHostConfiguration.parse("", file: "empty.yaml")
        #expect(config.leveling.amounts.post(.none) == 50)
        #expect(config.leveling.amounts.post(.undescribed) == 60)
        #expect(config.leveling.amounts.post(.described) == 70)
        #expect(config.leveling.amounts.like == 10)
        #expect(config.leveling.amounts.repostOfUnseen == 50)
        #expect(config.leveling.progression.curve == LevelCurve(base: 50, step: 100))
        #expect(config.leveling.progression.milestones == [5, 10, 25, 50, 100])
        #expect(config.consent.followOptsIn == false)
        #expect(config.bot.did == nil)
    }

    @Test func readsTheBotAccountAndTheOutbox() throws {
        let config = try BotHostConfiguration.parse("""
            bot:
              pds: http://127.0.0.1:2583
              identifier: bot.test
              app_password_file: /run/secrets/app-password
              declare_automated: true
              dry_run: true
            consent:
              confirm_commands: false
              confirm_interval_minutes: 10
            outbox:
              mode: dm
              max_age_hours: 0
              max_attempts: 3
              coalesce: false
              write_budget: {hourly_points: 300, daily_points: 3000, headroom_percent: 20}
            leveling:
              announcement_many: "{handle}: levels {levels}"
            """, file: "bot.yaml")
        #expect(config.bot.pds == "http://127.0.0.1:2583")
        #expect(config.bot.identifier == "bot.test")
        #expect(config.bot.appPasswordFile == "/run/secrets/app-password")
        #expect(config.bot.declareAutomated && config.bot.dryRun)
        #expect(!config.consent.confirmCommands && config.consent.confirmIntervalMinutes == 10)
        #expect(config.outbox.mode == .dm)
        #expect(config.outbox.maxAgeSeconds == 0 && config.outbox.maxAttempts == 3 && !config.outbox.coalesce)
        #expect(config.outbox.hourlyPoints == 300 && config.outbox.dailyPoints == 3000 && config.outbox.headroomPercent == 20)
        #expect(config.leveling.progression.announcementMany == "{handle}: levels {levels}")
        let defaults = try BotHostConfiguration.parse("", file: "empty.yaml")
        #expect(defaults.outbox.mode == .reply && defaults.outbox.maxAgeSeconds == 86_400 && defaults.consent.confirmCommands)
    }

    @Test func readsTheRankingsSection() throws {
        let config = try BotHostConfiguration.parse("""
            rankings:
              window: hour
              thresholds: [10, 1, 10]
              margin: 2
              leave_after_minutes: 5
              check_every_seconds: 30
              announce: false
              announcement_first: "{handle} tops the {window}"
            """, file: "bot.yaml")
        #expect(config.rankings.window == "hour" && config.rankings.windowSeconds == 3_600)
        #expect(config.rankings.thresholds == [1, 10])
        #expect(config.rankings.margin == 2 && config.rankings.leaveAfterUS == 300_000_000 && config.rankings.checkEveryUS == 30_000_000)
        #expect(!config.rankings.announce)
        #expect(config.rankFirstAnnouncement == "{handle} tops the {window}")
        #expect(diagnostic("rankings:\n  window: week\n")?.description.contains("bot.yaml:2:11") == true)
        #expect(diagnostic("rankings:\n  thresholds: [0]\n")?.description.contains("bot.yaml:2:16") == true)
    }

    @Test func aBadOutboxSettingIsRefusedWithItsPosition() {
        let error = diagnostic("outbox:\n  mode: shout\n")
        #expect(error?.description.contains("bot.yaml:2:9") == true)
        #expect(error?.description.contains("reply, post or dm") == true)
        #expect(diagnostic("bot:\n  pds: ftp://x\n")?.description.contains("bot.yaml:2:8") == true)
        #expect(diagnostic("leveling:\n  announcement_many: \"{nope}\"\n")?.description.contains("unknown placeholder {nope}") == true)
    }

    @Test func readsEverySection() throws {
        let config = try BotHostConfiguration.parse("""
            bot:
              did: did:plc:abc123
              handle: levels.example.com
            leveling:
              xp: {post: 5, like: 1}
              curve:
                base: 10
                step: 0
              milestones: [3, 2]
              announcement: "{handle} is now {level} with {xp}"
            consent:
              follow_opts_in: yes
            store:
              batch_size: 500
            """, file: "bot.yaml")
        #expect(config.bot.did == "did:plc:abc123")
        #expect(config.leveling.amounts.post == 5 && config.leveling.amounts.like == 1 && config.leveling.amounts.postWithMedia == 60)
        #expect(config.leveling.progression.curve == LevelCurve(base: 10, step: 0))
        #expect(config.leveling.progression.milestones == [2, 3])
        #expect(config.consent.followOptsIn)
        #expect(config.store.batchSize == 500)
    }

    @Test func refusesMistakesWithFileLineAndColumn() {
        let unknown = diagnostic("leveling:\n  xp:\n    posts: 5\n")
        #expect(unknown?.line == 3 && unknown?.column == 5)
        #expect(unknown?.message.contains("unknown key 'posts' in leveling.xp") == true)
        #expect(unknown?.description.hasPrefix("bot.yaml:3:5: error:") == true)
        #expect(unknown?.description.contains("    posts: 5\n        ^") == true)

        let type = diagnostic("leveling:\n  curve:\n    base: fifty\n")
        #expect(type?.line == 3 && type?.column == 11)
        #expect(type?.message == "expected an integer for leveling.curve.base")

        let range = diagnostic("leveling:\n  curve: {base: 0}\n")
        #expect(range?.message.contains("between 1 and") == true)

        let placeholder = diagnostic("leveling:\n  announcement: \"{name} levelled up\"\n")
        #expect(placeholder?.message.contains("unknown placeholder {name}") == true)

        let did = diagnostic("bot:\n  did: alice\n")
        #expect(did?.message.contains("must be a DID") == true)

        let syntax = diagnostic("leveling: [\n")
        #expect(syntax?.file == "bot.yaml")
        #expect(syntax?.message.hasPrefix("invalid YAML") == true)

        let section = diagnostic("levelling: {}\n")
        #expect(section?.line == 1 && section?.column == 1)
    }
}

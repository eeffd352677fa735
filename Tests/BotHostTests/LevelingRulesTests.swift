@testable import BotHost
import BotHostConfig
import Plugins
import Rules
import GRDB
import Testing

/// One test per rule of shared/spec/leveling.md, each through the real engine and a
/// real SQLite file.
@Suite struct LevelingRulesTests {
    typealias E = Events
    let alice = E.alice, bob = E.bob

    private func xpAfter(_ lines: [String], of did: String = Events.alice) throws -> Int64 {
        let host = try TestHost()
        try host.feed(lines)
        return try host.xp(did)
    }

    @Test func plainPostGrants50() throws {
        #expect(try xpAfter([E.post(alice, rev: 1, rkey: E.tid(1))]) == 50)
    }

    @Test func imagesAllDescribedGrant70() throws {
        #expect(try xpAfter([E.post(alice, rev: 1, rkey: E.tid(1), embed: E.images(["a cat", "a dog"]))]) == 70)
    }

    @Test func imagesNotAllDescribedGrant60() throws {
        #expect(try xpAfter([E.post(alice, rev: 1, rkey: E.tid(1), embed: E.images(["a cat", ""]))]) == 60)
        #expect(try xpAfter([E.post(alice, rev: 1, rkey: E.tid(1), embed: E.images(["  ", "\\n\\t"]))]) == 60)
        #expect(try xpAfter([E.post(alice, rev: 1, rkey: E.tid(1), embed: E.images(["\\u3000"]))]) == 60)
    }

    @Test func emptyImageListIsNoMedia() throws {
        #expect(try xpAfter([E.post(alice, rev: 1, rkey: E.tid(1), embed: E.images([]))]) == 50)
    }

    @Test func imageWithoutAltKeyIsNotDescribed() throws {
        let embed = #"{"$type":"app.bsky.embed.images","images":[{"image":{}}]}"#
        #expect(try xpAfter([E.post(alice, rev: 1, rkey: E.tid(1), embed: embed)]) == 60)
    }

    @Test func videoIsDescribedByItsAlt() throws {
        #expect(try xpAfter([E.post(alice, rev: 1, rkey: E.tid(1), embed: E.video(alt: nil))]) == 60)
        #expect(try xpAfter([E.post(alice, rev: 1, rkey: E.tid(1), embed: E.video(alt: " "))]) == 60)
        #expect(try xpAfter([E.post(alice, rev: 1, rkey: E.tid(1), embed: E.video(alt: "a sunset"))]) == 70)
    }

    @Test func galleryItemsAreJudgedLikeImages() throws {
        #expect(try xpAfter([E.post(alice, rev: 1, rkey: E.tid(1), embed: E.gallery(["a", "b", "c"]))]) == 70)
        #expect(try xpAfter([E.post(alice, rev: 1, rkey: E.tid(1), embed: E.gallery(["a", ""]))]) == 60)
        #expect(try xpAfter([E.post(alice, rev: 1, rkey: E.tid(1), embed: E.gallery([]))]) == 50)
    }

    @Test func recordWithMediaJudgesItsMedia() throws {
        #expect(try xpAfter([E.post(alice, rev: 1, rkey: E.tid(1), embed: E.recordWithMedia(E.images(["x"])))]) == 70)
        #expect(try xpAfter([E.post(alice, rev: 1, rkey: E.tid(1), embed: E.recordWithMedia(E.images([""])))]) == 60)
        #expect(try xpAfter([E.post(alice, rev: 1, rkey: E.tid(1), embed: E.recordWithMedia(E.video(alt: nil)))]) == 60)
        #expect(try xpAfter([E.post(alice, rev: 1, rkey: E.tid(1), embed: E.recordWithMedia(E.external))]) == 50)
    }

    @Test func externalAndQuoteEmbedsAreNoMedia() throws {
        #expect(try xpAfter([E.post(alice, rev: 1, rkey: E.tid(1), embed: E.external)]) == 50)
        let quote = #"{"$type":"app.bsky.embed.record","record":{"cid":"bafy","uri":"at://did:plc:x/app.bsky.feed.post/3abc"}}"#
        #expect(try xpAfter([E.post(alice, rev: 1, rkey: E.tid(1), embed: quote)]) == 50)
    }

    @Test func likeGrants10AndSelfLikeGrants0() throws {
        #expect(try xpAfter([E.like(alice, rev: 1, rkey: E.tid(1), subject: E.postURI(bob, E.tid(9)))]) == 10)
        #expect(try xpAfter([E.like(alice, rev: 1, rkey: E.tid(1), subject: E.postURI(alice, E.tid(9)))]) == 0)
    }

    @Test func selfLikeTestNeedsTheWholeDID() throws {
        // A DID that merely starts with the liker's DID is someone else.
        #expect(try xpAfter([E.like(alice, rev: 1, rkey: E.tid(1), subject: "at://\(alice)x/app.bsky.feed.post/\(E.tid(9))")]) == 10)
    }

    @Test func repostGrantsTheClassOfASeenPost() throws {
        let host = try TestHost()
        try host.feed([
            E.post(bob, rev: 1, rkey: E.tid(1)),
            E.post(bob, rev: 2, rkey: E.tid(2), embed: E.images([""])),
            E.post(bob, rev: 3, rkey: E.tid(3), embed: E.images(["described"])),
            E.repost(alice, rev: 4, rkey: E.tid(4), subject: E.postURI(bob, E.tid(1))),
        ])
        #expect(try host.xp(alice) == 50)
        try host.feed([E.repost(alice, rev: 5, rkey: E.tid(5), subject: E.postURI(bob, E.tid(2)))])
        #expect(try host.xp(alice) == 110)
        try host.feed([E.repost(alice, rev: 6, rkey: E.tid(6), subject: E.postURI(bob, E.tid(3)))])
        #expect(try host.xp(alice) == 180)
    }

    @Test func repostOfUnseenOrDeletedPostGrants50() throws {
        let host = try TestHost()
        try host.feed([
            E.post(bob, rev: 1, rkey: E.tid(1), embed: E.images(["described"])),
            E.delete(bob, rev: 2, collection: "app.bsky.feed.post", rkey: E.tid(1)),
            E.repost(alice, rev: 3, rkey: E.tid(3), subject: E.postURI(bob, E.tid(1))),
            E.repost(alice, rev: 4, rkey: E.tid(4), subject: E.postURI("did:plc:stranger", E.tid(1))),
        ])
        #expect(try host.xp(alice) == 100)
    }

    @Test func selfRepostGrants0() throws {
        #expect(try xpAfter([
            E.post(alice, rev: 1, rkey: E.tid(1), embed: E.images(["x"])),
            E.repost(alice, rev: 2, rkey: E.tid(2), subject: E.postURI(alice, E.tid(1))),
        ]) == 70)
    }

    @Test func deleteRevokesExactlyTheRecordedAmount() throws {
        let host = try TestHost()
        try host.feed([
            E.post(alice, rev: 1, rkey: E.tid(1), embed: E.images(["x"])),
            E.post(alice, rev: 2, rkey: E.tid(2)),
            E.delete(alice, rev: 3, collection: "app.bsky.feed.post", rkey: E.tid(1)),
        ])
        #expect(try host.xp(alice) == 50)
        #expect(try host.count("SELECT amount FROM ledger WHERE kind = 1") == -70)
    }

    @Test func deleteOfUnknownKeyOrSecondDeleteChangesNothing() throws {
        let host = try TestHost()
        try host.feed([
            E.post(alice, rev: 1, rkey: E.tid(1)),
            E.delete(alice, rev: 2, collection: "app.bsky.feed.post", rkey: E.tid(7)),
            E.delete(alice, rev: 3, collection: "app.bsky.feed.like", rkey: E.tid(1)),
        ])
        #expect(try host.xp(alice) == 50)
        try host.feed([
            E.delete(alice, rev: 4, collection: "app.bsky.feed.post", rkey: E.tid(1)),
            E.delete(alice, rev: 5, collection: "app.bsky.feed.post", rkey: E.tid(1)),
        ])
        #expect(try host.xp(alice) == 0)
        #expect(try host.count("SELECT count(*) FROM ledger WHERE kind = 1") == 1)
    }

    @Test func updateRegradesByTheDifference() throws {
        let host = try TestHost()
        try host.feed([E.post(alice, rev: 1, rkey: E.tid(1))])
        try host.feed([E.post(alice, rev: 2, rkey: E.tid(1), embed: E.images(["now described"]), op: "update")])
        #expect(try host.xp(alice) == 70)
        try host.feed([E.post(alice, rev: 3, rkey: E.tid(1), embed: E.images([""]), op: "update")])
        #expect(try host.xp(alice) == 60)
        // A repost now sees the re-graded class.
        try host.feed([E.repost(bob, rev: 4, rkey: E.tid(4), subject: E.postURI(alice, E.tid(1)))])
        #expect(try host.xp(bob) == 60)
        // Deleting revokes the re-graded amount.
        try host.feed([E.delete(alice, rev: 5, collection: "app.bsky.feed.post", rkey: E.tid(1))])
        #expect(try host.xp(alice) == 0)
    }

    @Test func updateOfUnknownKeyChangesNothing() throws {
        #expect(try xpAfter([E.post(alice, rev: 1, rkey: E.tid(1), embed: E.images(["x"]), op: "update")]) == 0)
    }

    @Test func duplicateOrOlderRevIsIgnored() throws {
        let host = try TestHost()
        try host.feed([
            E.post(alice, rev: 5, rkey: E.tid(1)),
            E.post(alice, rev: 5, rkey: E.tid(2)),  // same rev, another operation of the commit: counts
            E.post(alice, rev: 5, rkey: E.tid(1)),  // same rev and operation: duplicate
            E.post(alice, rev: 4, rkey: E.tid(3)),  // older rev
            E.delete(alice, rev: 3, collection: "app.bsky.feed.post", rkey: E.tid(1)),  // older: ignored
        ])
        #expect(try host.xp(alice) == 100)
        #expect(host.engine.context.totals.duplicates == 3)
    }

    @Test func aBulkDeleteInOneCommitRevokesEveryGrant() throws {
        let host = try TestHost()
        try host.feed([
            E.post(alice, rev: 1, rkey: E.tid(1)), E.post(alice, rev: 2, rkey: E.tid(2)),
            E.like(alice, rev: 3, rkey: E.tid(3), subject: E.postURI(bob, E.tid(9))),
            E.repost(alice, rev: 4, rkey: E.tid(4), subject: E.postURI(bob, E.tid(9))),
        ])
        #expect(try host.xp(alice) == 160)
        // applyWrites: four deletes in one commit, one rev; then the same commit sent again.
        let bulk = [
            E.delete(alice, rev: 10, collection: "app.bsky.feed.post", rkey: E.tid(1)),
            E.delete(alice, rev: 10, collection: "app.bsky.feed.post", rkey: E.tid(2)),
            E.delete(alice, rev: 10, collection: "app.bsky.feed.like", rkey: E.tid(3)),
            E.delete(alice, rev: 10, collection: "app.bsky.feed.repost", rkey: E.tid(4)),
        ]
        try host.feed(bulk)
        #expect(try host.xp(alice) == 0)
        #expect(try host.count("SELECT count(*) FROM ledger WHERE kind = 1") == 4)
        try host.restart()
        try host.feed(bulk)
        #expect(try host.count("SELECT count(*) FROM ledger WHERE kind = 1") == 4)
        #expect(host.engine.context.totals.duplicates == 4)
    }

    @Test func aCommitWithMoreOperationsThanRememberedIsAppliedAndBounded() throws {
        let host = try TestHost()
        // A hostile repository: 1,500 posts in one commit (applyWrites takes 200).
        try host.feed((1...1_500).map { E.post(alice, rev: 9, rkey: E.tid($0)) })
        #expect(try host.xp(alice) == 75_000)
        #expect(host.engine.context.state.moreOps[0]?.count == 1_024)
        // Sent again: the remembered ones are duplicates, the rest meet their live grants.
        try host.feed((1...1_500).map { E.post(alice, rev: 9, rkey: E.tid($0)) })
        #expect(try host.xp(alice) == 75_000)
        #expect(host.engine.context.totals.duplicates == 1_025)
    }

    @Test func operationsOfOneCommitSplitByARestartCountOnce() throws {
        let host = try TestHost()
        let thread = (1...3).map { E.post(alice, rev: 7, rkey: E.tid($0)) }
        try host.feed(Array(thread.prefix(2)))
        try host.restart()  // the host stopped between the second and the third post
        try host.feed(thread)  // the rewind sends the whole commit again
        #expect(try host.xp(alice) == 150)
        #expect(host.engine.context.totals.duplicates == 2)
        #expect(try host.count("SELECT count(*) FROM ledger") == 3)
    }

    @Test func createOfAKeyWithALiveGrantChangesNothing() throws {
        #expect(try xpAfter([
            E.post(alice, rev: 1, rkey: E.tid(1)),
            E.post(alice, rev: 2, rkey: E.tid(1), embed: E.images(["x"])),
        ]) == 50)
    }

    @Test func recreateAfterDeleteGrantsAgain() throws {
        #expect(try xpAfter([
            E.post(alice, rev: 1, rkey: E.tid(1)),
            E.delete(alice, rev: 2, collection: "app.bsky.feed.post", rkey: E.tid(1)),
            E.post(alice, rev: 3, rkey: E.tid(1), embed: E.images(["x"])),
        ]) == 70)
    }

    @Test func nonTIDRecordKeysWork() throws {
        let host = try TestHost()
        try host.feed([E.post(alice, rev: 1, rkey: "self"), E.post(alice, rev: 2, rkey: "custom-key.1")])
        #expect(try host.xp(alice) == 100)
        try host.restart()
        try host.feed([E.delete(alice, rev: 3, collection: "app.bsky.feed.post", rkey: "custom-key.1")])
        #expect(try host.xp(alice) == 50)
    }

    @Test func otherCollectionsAndEventKindsGrantNothing() throws {
        let host = try TestHost()
        try host.feed([
            E.commit(alice, rev: 1, op: "create", collection: "app.bsky.graph.follow", rkey: E.tid(1),
                     record: #"{"$type":"app.bsky.graph.follow","subject":"did:plc:x","createdAt":"2026-01-01T00:00:00Z"}"#),
            E.commit(alice, rev: 2, op: "update", collection: "app.bsky.actor.profile", rkey: "self", record: #"{"displayName":"A"}"#),
            E.identity(alice, handle: "alice.test", time: 3),
            E.account(alice, active: true, time: 4),
        ])
        #expect(try host.xp(alice) == 0)
        #expect(try host.account(alice)?.handle == "alice.test")
    }

    @Test func xpNeverGoesBelowZero() throws {
        let host = try TestHost()
        try host.feed([E.post(alice, rev: 1, rkey: E.tid(1))])
        // Simulate a moderator correction that left the total below the recorded grant.
        host.engine.context.testAdjustXP(account: alice, to: 20)
        try host.feed([E.delete(alice, rev: 2, collection: "app.bsky.feed.post", rkey: E.tid(1))])
        #expect(try host.xp(alice) == 0)
    }

    @Test func levelsFollowTheArithmeticCurve() throws {
        let curve = LevelCurve.default
        let expected: [(Int64, Int)] = [(0, 1), (49, 1), (50, 2), (199, 2), (200, 3), (449, 3), (450, 4),
                                        (4049, 9), (4050, 10), (490_049, 99), (490_050, 100)]
        for (xp, level) in expected { #expect(curve.level(forXP: xp) == level, "xp \(xp)") }
        #expect(curve.xpToReach(level: 10) == 4050)
        let custom = LevelCurve(base: 100, step: 0)
        #expect(custom.level(forXP: 250) == 3)
        for xp in stride(from: Int64(0), to: 100_000, by: 37) {
            let level = curve.level(forXP: xp)
            #expect(curve.xpToReach(level: level) <= xp && curve.xpToReach(level: level + 1) > xp)
        }
    }

    @Test func milestonesAreRecordedOnceEvenAfterDropsAndRestarts() throws {
        let host = try TestHost()
        // 12 posts with described media = 840 XP → level 5 (800 XP).
        var lines: [String] = []
        for i in 1...12 { lines.append(E.post(alice, rev: i, rkey: E.tid(i), embed: E.images(["x"]))) }
        try host.feed(lines)
        #expect(try host.account(alice)?.level == 5)
        #expect(try host.account(alice)?.milestones == [5])
        // Drop below and rise again, across a restart.
        try host.feed([E.delete(alice, rev: 13, collection: "app.bsky.feed.post", rkey: E.tid(1))])
        #expect(try host.account(alice)?.level == 4)
        try host.restart()
        try host.feed([E.post(alice, rev: 14, rkey: E.tid(14), embed: E.images(["x"]))])
        #expect(try host.account(alice)?.level == 5)
        #expect(try host.count("SELECT count(*) FROM milestones") == 1)
    }

    @Test func levelJumpRecordsEveryMilestonePassed() throws {
        var config = BotHostConfiguration()
        config.leveling.amounts.post = 5000
        let host = try TestHost(configuration: config)
        try host.feed([E.post(alice, rev: 1, rkey: E.tid(1))])
        #expect(try host.account(alice)?.level == 11)
        #expect(try host.account(alice)?.milestones == [5, 10])
    }
}

extension PluginContext {
    /// Test hook standing in for a moderator adjustment (issue: moderator CLI), which
    /// can leave an account's total below one of its recorded grants.
    func testAdjustXP(account did: String, to xp: Int64) {
        guard let id = state.dids.find(did) else { return }
        state.accounts[id].xp = xp
    }
}

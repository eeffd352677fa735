import BotHost
import Rules

/// The default leveling rules (../shared/spec/leveling.md) as a rule pack, shipped in the
/// binary and run unless another live pack is given: the leveling logic exists once, as
/// this pack. Its text is `examples/packs/leveling.yaml` with the `leveling.xp` amounts of
/// the config filled in (a test holds the two equal for the spec's amounts), so a change
/// of an amount is a new pack version in the ledger.
public enum DefaultPack {
    /// The path reported in diagnostics and recorded as the pack's source.
    public static let path = "(built-in)/leveling.yaml"

    /// The pack's text with these amounts.
    public static func text(amounts: LevelingConfiguration.Amounts = .init()) -> String {
        var text = template
        for (name, value) in [("described", amounts.postWithDescribedMedia), ("media", amounts.postWithMedia),
                              ("post", amounts.post), ("like", amounts.like), ("repost", amounts.repostOfUnseen),
                              ("self", amounts.selfInteraction)] {
            text = text.replacingAll("${" + name + "}", with: String(value))
        }
        return text
    }

    /// The checked pack and its version tag for these amounts.
    public static func load(amounts: LevelingConfiguration.Amounts = .init()) -> LoadedPack {
        let text = text(amounts: amounts)
        // The template is checked by the tests for every amount the config accepts.
        let pack = try! RulePackChecker.check(text: text, file: path)
        return LoadedPack(pack: pack, versionTag: RulePackFile.versionTag(pack, text: text), path: path)
    }

    static let template = #"""
# The default leveling rules (../shared/spec/leveling.md) as a rule pack.
# Checked by `bothost rules check examples/packs/leveling.yaml` (docs/rules.md).
pack: leveling
version: 1
description: XP per post (more with described media), like and repost; levels on an arithmetic curve.

rules:
  - id: post
    on: app.bsky.feed.post
    ops: [create, update]
    # 50 without media, 60 with media not all described, 70 when every item is described.
    xp: |
      (record.embed.$type ?? "") == "app.bsky.embed.images" && count(record.embed.images, i -> true) > 0
        ? (all(record.embed.images, i -> !isBlank(i.alt)) ? ${described} : ${media})
      : (record.embed.$type ?? "") == "app.bsky.embed.video"
        ? (!isBlank(record.embed.alt ?? "") ? ${described} : ${media})
      : (record.embed.$type ?? "") == "app.bsky.embed.gallery" && count(record.embed.items, i -> true) > 0
        ? (all(record.embed.items, i -> !isBlank(i.alt)) ? ${described} : ${media})
      : (record.embed.$type ?? "") == "app.bsky.embed.recordWithMedia"
        ? ((record.embed.media.$type ?? "") == "app.bsky.embed.images" && count(record.embed.media.images, i -> true) > 0
             ? (all(record.embed.media.images, i -> !isBlank(i.alt)) ? ${described} : ${media})
           : (record.embed.media.$type ?? "") == "app.bsky.embed.video"
             ? (!isBlank(record.embed.media.alt ?? "") ? ${described} : ${media})
           : (record.embed.media.$type ?? "") == "app.bsky.embed.gallery" && count(record.embed.media.items, i -> true) > 0
             ? (all(record.embed.media.items, i -> !isBlank(i.alt)) ? ${described} : ${media})
           : ${post})
      : ${post}
    examples:
      - event: {record: {text: "hello"}}
        expect: {xp: 50}
      - event:
          record:
            text: "two photos, both described"
            embed: {$type: app.bsky.embed.images, images: [{alt: "a cat"}, {alt: "a dog"}]}
        expect: {xp: 70}
      - event:
          record:
            text: "one alt is blank"
            embed: {$type: app.bsky.embed.images, images: [{alt: "a cat"}, {alt: "   "}]}
        expect: {xp: 60}
      - event: {record: {text: "a video without alt", embed: {$type: app.bsky.embed.video}}}
        expect: {xp: 60}
      - event:
          record:
            text: "a quote with a described photo"
            embed:
              $type: app.bsky.embed.recordWithMedia
              media: {$type: app.bsky.embed.images, images: [{alt: "chart"}]}
        expect: {xp: 70}
      - event: {record: {text: "a link card", embed: {$type: app.bsky.embed.external}}}
        expect: {xp: 50}
      - events:   # deleted again: nothing is left
          - {rkey: 3kabcdefghij2, record: {text: "oops"}}
          - {rkey: 3kabcdefghij2, operation: delete}
        expect: {xp: 0}
      - events:   # re-graded by an update: 50, then 70
          - {rkey: 3kabcdefghij2, record: {text: "photo soon"}}
          - {rkey: 3kabcdefghij2, operation: update, record: {text: "photo", embed: {$type: app.bsky.embed.images, images: [{alt: "sunset"}]}}}
        expect: {xp: 70}

  - id: like
    on: app.bsky.feed.like
    ops: [create]
    xp: "isSelf(record.subject.uri) ? ${self} : ${like}"
    examples:
      - event: {record: {subject: {uri: "at://did:plc:someoneelse0000000000000/app.bsky.feed.post/3kabcdefghij2", cid: bafy}}}
        expect: {xp: 10}
      - event: {record: {subject: {uri: "at://did:plc:example00000000000000000/app.bsky.feed.post/3kabcdefghij2", cid: bafy}}}
        expect: {xp: 0}

  - id: repost
    on: app.bsky.feed.repost
    ops: [create]
    # The reposted post's own class when the host saw it created (and not deleted).
    xp: "isSelf(record.subject.uri) ? ${self} : grantOf(record.subject.uri) ?? ${repost}"
    examples:
      - event: {record: {subject: {uri: "at://did:plc:someoneelse0000000000000/app.bsky.feed.post/3kabcdefghij2", cid: bafy}}}
        expect: {xp: 50}
      - events:   # the host saw the reposted post: it takes that post's class (70 + 70)
          - collection: app.bsky.feed.post
            did: did:plc:someoneelse0000000000000
            rkey: 3kabcdefghij2
            record: {text: "x", embed: {$type: app.bsky.embed.images, images: [{alt: "described"}]}}
          - {record: {subject: {uri: "at://did:plc:someoneelse0000000000000/app.bsky.feed.post/3kabcdefghij2", cid: bafy}}}
        expect: {xp: 140}

milestones:
  levels: [5, 10, 25, 50, 100]
  announcement: "{handle} reached level {level}!"
  announcement_many: "{handle} reached levels {levels}!"

rankings:
  thresholds: [1, 10, 100]
  announcement: "{handle} entered the top {n} of the {window}!"
  announcement_first: "{handle} is the new #1 of the {window}!"

"""#
}


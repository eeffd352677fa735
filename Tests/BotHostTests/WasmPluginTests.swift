import BotHost
import BotHostConfig
import BotHostSQLite
import BotHostWasm
import Foundation
import Plugins
import Rules
import Testing

/// The example plugins, built from source with the toolchain's clang and wasm-ld (the
/// same `make -C examples/wasm-plugin` that `make test` runs). A build failure fails the
/// tests that need them.
enum WasmExamples {
    static let directory = Fixtures.packageRoot.appendingPathComponent("examples/wasm-plugin").path
    static let built: Result<Void, WasmBuildError> = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["make", "-s", "-C", directory]
        do { try process.run() } catch { return .failure(WasmBuildError(description: "make: \(error)")) }
        process.waitUntilExit()
        return process.terminationStatus == 0 ? .success(()) : .failure(WasmBuildError(description: "make -C \(directory) failed"))
    }()

    static func path(_ name: String) throws -> String {
        try built.get()
        return directory + "/" + name
    }

    /// Compiles C source to a module in `directory` (for modules that break the ABI).
    static func compile(_ source: String, in directory: URL, name: String, linkFlags: [String] = []) throws -> String {
        try built.get()
        let c = directory.appendingPathComponent(name + ".c").path
        let wasm = directory.appendingPathComponent(name + ".wasm").path
        try source.write(toFile: c, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["clang", "--target=wasm32", "-O2", "-nostdlib", "-I", Self.directory, "-Wl,--no-entry", "-o", wasm, c] + linkFlags
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw WasmBuildError(description: "clang failed for \(name)") }
        return wasm
    }
}

struct WasmBuildError: Error, CustomStringConvertible { let description: String }

@Suite struct WasmPluginTests {
    static let leveling = Fixtures.packageRoot.appendingPathComponent("examples/packs/leveling.yaml").path
    static let withoutPost = Fixtures.packageRoot.appendingPathComponent("examples/wasm-plugin/leveling-without-post.yaml").path

    func configuration(_ plugins: [WasmPluginSpec]) -> BotHostConfiguration {
        var configuration = BotHostConfiguration()
        configuration.wasmPlugins = plugins
        return configuration
    }

    func spec(_ name: String, limits: WasmLimits = WasmLimits(), shadow: Bool = false) throws -> WasmPluginSpec {
        WasmPluginSpec(file: try WasmModuleFile.load(try WasmExamples.path(name)), limits: limits, shadow: shadow)
    }

    /// The post rule as WebAssembly leaves exactly the state the YAML pack leaves, on real
    /// Jetstream events and on a hand-made sequence of creates, updates, deletes and
    /// reposts of seen posts.
    @Test func postRuleAsWasmEqualsTheYAMLPack() throws {
        let yaml = try TestHost(packs: try PackSelection.load([Self.leveling], amounts: .init()))
        let wasm = try TestHost(configuration: configuration([try spec("post_xp.wasm")]),
                                packs: try PackSelection.load([Self.withoutPost], amounts: .init()))
        let alice = Events.alice, bob = Events.bob
        let sequence = [
            Events.post(alice, rev: 1, rkey: "3kaaaaaaaaaa2"),
            Events.post(alice, rev: 2, rkey: "3kaaaaaaaaab2", embed: Events.images(["a cat", "a dog"])),
            Events.post(alice, rev: 3, rkey: "3kaaaaaaaaac2", embed: Events.images(["a cat", " "])),
            Events.post(alice, rev: 4, rkey: "3kaaaaaaaaaa2", embed: Events.images(["now described"]), op: "update"),
            Events.delete(alice, rev: 5, collection: "app.bsky.feed.post", rkey: "3kaaaaaaaaab2"),
            Events.repost(bob, rev: 6, rkey: "3kbbbbbbbbbb2", subject: Events.postURI(alice, "3kaaaaaaaaac2")),
            Events.repost(bob, rev: 7, rkey: "3kbbbbbbbbbc2", subject: Events.postURI(alice, "3kaaaaaaaaab2")),
            Events.post(bob, rev: 8, rkey: "3kbbbbbbbbbd2", op: "update"),
        ]
        try yaml.feed(sequence)
        try wasm.feed(sequence)
        #expect(try yaml.xp(alice) == 70 + 60)
        #expect(try yaml.xp(bob) == 60 + 50)
        let samples = try String(contentsOfFile: Fixtures.realSamples, encoding: .utf8).split(separator: "\n").map(String.init)
        try yaml.feed(samples)
        try wasm.feed(samples)
        let a = try yaml.exportAll().map { "\($0.did) \($0.xp) \($0.level)" }
        let b = try wasm.exportAll().map { "\($0.did) \($0.xp) \($0.level)" }
        #expect(a.count > 100)
        #expect(a == b)
        for sql in ["SELECT count(*) FROM grants", "SELECT sum(amount) FROM grants", "SELECT count(*) FROM ledger", "SELECT sum(amount) FROM ledger",
                    "SELECT count(*) FROM milestones", "SELECT count(*) FROM outbox"] {
            #expect(try yaml.count(sql) == wasm.count(sql), "\(sql)")
        }
        // The ledger says which plugin, rule and module made the post grants.
        #expect(try wasm.count("SELECT count(*) FROM ledger l JOIN rules r ON r.id = l.rule_id WHERE r.plugin = 'wasm:post_xp' AND r.rule = 'post' AND r.version LIKE 'wasm+%'")
                == yaml.count("SELECT count(*) FROM ledger l JOIN rules r ON r.id = l.rule_id WHERE r.rule = 'post'"))
    }

    /// Every way the hostile module misbehaves costs that event its effects and nothing
    /// else: the other events' grants, and another plugin's, are exact.
    @Test func hostilePluginIsContained() throws {
        var limits = WasmLimits()
        limits.fuelPerEvent = 50_000
        limits.memoryPages = 4
        let host = try TestHost(configuration: configuration([try spec("hostile.wasm", limits: limits)]),
                                packs: try PackSelection.load([Self.withoutPost], amounts: .init()))
        let words = ["hello", "loop", "grab", "oob", "trap", "fail", "bye"]
        var lines: [String] = []
        for (index, word) in words.enumerated() {
            lines.append(Events.post("did:plc:user\(index)00000000000000000000", rev: index + 1, rkey: "3kaaaaaaaaa\(index)2", text: word + " now"))
        }
        lines.append(Events.like(Events.alice, rev: 20, rkey: "3kcccccccccc2", subject: Events.postURI(Events.bob, "3kbbbbbbbbbb2")))
        try host.feed(lines)
        let plugin = try #require(host.engine.loadedPlugins.compactMap { $0 as? WasmPlugin }.first)
        #expect(plugin.health.failures == ["fuel": 1, "memory": 1, "trap": 2, "error": 1])
        #expect(plugin.health.handled == 2)
        #expect(plugin.health.quarantined == nil)
        for (index, word) in words.enumerated() {
            #expect(try host.xp("did:plc:user\(index)00000000000000000000") == (word == "hello" || word == "bye" ? 1 : 0), "\(word)")
        }
        #expect(try host.xp(Events.alice) == 10)
        #expect(try host.count("SELECT count(*) FROM grants") == 3)
        // What `bothost status` reads back.
        #expect(PluginHealth.shared.persist(to: host.store) == nil)
        let stored = try #require(try host.store.status().pluginHealth["wasm:hostile"])
        #expect(stored.contains(#""failures":{"#) && stored.contains(#""trap":"#) && stored.contains(#""summary":"#))
    }

    /// Failures within the window quarantine the plugin: it is skipped from then on, the
    /// host goes on, and the same failures spread wider than the window do not.
    @Test func quarantineAfterFailuresInTheWindow() throws {
        var limits = WasmLimits()
        limits.fuelPerEvent = 20_000
        limits.quarantineFailures = 3
        limits.quarantineWindowSeconds = 60
        let host = try TestHost(configuration: configuration([try spec("hostile.wasm", limits: limits)]),
                                packs: try PackSelection.load([Self.withoutPost], amounts: .init()))
        func post(_ n: Int, _ word: String, second: Int) -> String {
            Events.commit("did:plc:user\(n)00000000000000000000", rev: n, op: "create", collection: "app.bsky.feed.post", rkey: "3kaaaaaaaaa\(n)2",
                          record: #"{"$type":"app.bsky.feed.post","createdAt":"2026-01-01T00:00:00Z","text":"\#(word)"}"#, time: second * 1_000_000)
        }
        // Spread: a failure every 61 s never makes 3 within 60 s.
        try host.feed([post(1, "trap", second: 0), post(2, "trap", second: 61), post(3, "trap", second: 122), post(4, "hello", second: 123)])
        var plugin = try #require(host.engine.loadedPlugins.compactMap { $0 as? WasmPlugin }.first)
        #expect(plugin.health.quarantined == nil)
        #expect(try host.xp("did:plc:user400000000000000000000") == 1)
        // Three within the window: quarantined, later posts are skipped.
        try host.feed([post(5, "loop", second: 200), post(6, "oob", second: 201), post(7, "fail", second: 202),
                       post(8, "hello", second: 203), post(9, "hello", second: 204)])
        plugin = try #require(host.engine.loadedPlugins.compactMap { $0 as? WasmPlugin }.first)
        #expect(plugin.health.quarantined?.contains("3 failed events within 60 s") == true)
        #expect(plugin.health.skipped == 2)
        #expect(try host.xp("did:plc:user800000000000000000000") == 0)
        // The host's own rules go on.
        try host.feed([Events.like(Events.alice, rev: 30, rkey: "3kcccccccccc2", subject: Events.postURI(Events.bob, "3kbbbbbbbbbb2"))])
        #expect(try host.xp(Events.alice) == 10)
    }

    /// The time budget per batch: a module that is slow within its fuel fails the rest of
    /// the batch with `batch_time`, and runs again in the next batch. (Each event spins
    /// about 5M fuel, tens of milliseconds here, against a budget of 1 ms.)
    @Test func batchTimeBudgetStopsASlowModuleForTheRestOfTheBatch() throws {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = """
            #include "bothost.h"
            static int32_t RULE;
            BH_EXPORT(bothost_abi_version) int32_t v(void) { return 1; }
            BH_EXPORT(bothost_init) int32_t i(void) { bh_want("app.bsky.feed.post", 18); RULE = bh_rule("slow", 4); return 0; }
            BH_EXPORT(bothost_on_event) int32_t e(int32_t op) {
                volatile int32_t n = 0;
                for (int32_t k = 0; k < 1000000; k++) n += k;
                bh_grant(RULE, 1);
                return 0;
            }
            """
        let path = try WasmExamples.compile(source, in: directory, name: "slow")
        var limits = WasmLimits()
        limits.fuelPerEvent = 50_000_000
        limits.batchTimeMS = 1
        limits.quarantineFailures = 1_000
        let host = try TestHost(configuration: configuration([WasmPluginSpec(file: try WasmModuleFile.load(path), limits: limits)]),
                                packs: try PackSelection.load([Self.withoutPost], amounts: .init()))
        try host.feed([Events.post("did:plc:slow0000000000000000000000", rev: 9, rkey: "3kaaaaaaaaa92")])  // a batch of one
        try host.feed((1...3).map { Events.post("did:plc:slow\($0)000000000000000000000", rev: $0, rkey: "3kaaaaaaaaa\($0)2") })
        var plugin = try #require(host.engine.loadedPlugins.compactMap { $0 as? WasmPlugin }.first)
        #expect(plugin.health.handled == 2)
        #expect(plugin.health.failures == ["batch_time": 2])
        #expect(try host.xp("did:plc:slow1000000000000000000000") == 1)
        #expect(try host.xp("did:plc:slow2000000000000000000000") == 0)
        // A new batch, a new budget.
        try host.feed([Events.post("did:plc:slow4000000000000000000000", rev: 4, rkey: "3kaaaaaaaaa42")])
        plugin = try #require(host.engine.loadedPlugins.compactMap { $0 as? WasmPlugin }.first)
        #expect(plugin.health.handled == 3)
        #expect(try host.xp("did:plc:slow4000000000000000000000") == 1)
    }

    /// Shadow mode: the module's grants go to the shadow ledger only.
    @Test func shadowModeGrantsToTheShadowLedger() throws {
        let host = try TestHost(configuration: configuration([try spec("post_xp.wasm", shadow: true)]),
                                packs: try PackSelection.load([Self.withoutPost], amounts: .init()))
        try host.feed([Events.post(Events.alice, rev: 1, rkey: "3kaaaaaaaaaa2", embed: Events.images(["described"]))])
        #expect(try host.xp(Events.alice) == 0)
        #expect(try host.count("SELECT coalesce(sum(amount), 0) FROM shadow_ledger") == 70)
        #expect(host.engine.loadedPlugins.contains { $0.id == "shadow:wasm:post_xp" })
    }

    /// The module's own numbers (`bh_state_*`) and counters are kept per account and
    /// survive a restart, like a pack's.
    @Test func stateAndCountersArePersisted() throws {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = """
            #include "bothost.h"
            static int32_t RULE, POSTS;
            BH_EXPORT(bothost_abi_version) int32_t v(void) { return BOTHOST_ABI_VERSION; }
            BH_EXPORT(bothost_init) int32_t i(void) { bh_want("app.bsky.feed.post", 18); RULE = bh_rule("streak", 6); POSTS = bh_counter("wasm-posts", 10); return 0; }
            BH_EXPORT(bothost_on_event) int32_t e(int32_t op) {
                if (op != BH_CREATE) return 0;
                int64_t n = bh_state_get(1, 0) + 1;
                bh_state_set(1, n);
                bh_count(POSTS);
                bh_grant(RULE, (int32_t)n);   /* 1, 2, 3 … per post of the account */
                bh_log("counted\\n a post", 15);
                return 0;
            }
            """
        let path = try WasmExamples.compile(source, in: directory, name: "streak")
        let streak = WasmPluginSpec(file: try WasmModuleFile.load(path))
        let host = try TestHost(configuration: configuration([streak]), packs: try PackSelection.load([Self.withoutPost], amounts: .init()))
        try host.feed([Events.post(Events.alice, rev: 1, rkey: "3kaaaaaaaaaa2"), Events.post(Events.alice, rev: 2, rkey: "3kaaaaaaaaab2")])
        let plugin = try #require(host.engine.loadedPlugins.compactMap { $0 as? WasmPlugin }.first)
        #expect(plugin.logLines == ["counted\n a post", "counted\n a post"])
        try host.restart()
        try host.feed([Events.post(Events.alice, rev: 3, rkey: "3kaaaaaaaaac2")])
        #expect(try host.xp(Events.alice) == 1 + 2 + 3)
        #expect(try host.count("SELECT sum(c.value) FROM counters c JOIN counter_names n ON n.id = c.counter_id WHERE n.name = 'wasm-posts'") == 3)
    }

    /// Modules that break the ABI are refused at load with what was expected.
    @Test func refusesModulesThatBreakTheABI() throws {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let base = """
            #include "bothost.h"
            BH_EXPORT(bothost_init) int32_t i(void) { bh_want("app.bsky.feed.post", 18); bh_rule("r", 1); return 0; }
            BH_EXPORT(bothost_on_event) int32_t e(int32_t op) { return 0; }
            """
        func refusal(_ source: String, _ name: String, flags: [String] = [], limits: WasmLimits = WasmLimits()) throws -> String {
            let path = try WasmExamples.compile(source, in: directory, name: name, linkFlags: flags)
            do {
                _ = try WasmPlugin(file: try WasmModuleFile.load(path), limits: limits)
                return "accepted"
            } catch { return error.description }
        }
        #expect(try refusal(base + "BH_EXPORT(bothost_abi_version) int32_t v(void) { return 2; }", "v2").contains("built for ABI version 2; this host speaks version 1"))
        #expect(try refusal(base, "noversion").contains("does not export bothost_abi_version"))
        let foreign = base + """
            __attribute__((import_module("wasi_snapshot_preview1"), import_name("fd_write"))) int32_t fd_write(int32_t, int32_t, int32_t, int32_t);
            BH_EXPORT(bothost_abi_version) int32_t v(void) { return fd_write(1, 0, 0, 0) * 0 + 1; }
            """
        #expect(try refusal(foreign, "wasi").contains("imports wasi_snapshot_preview1.fd_write, which BotHost does not provide"))
        var small = WasmLimits()
        small.memoryPages = 1
        #expect(try refusal(base + "BH_EXPORT(bothost_abi_version) int32_t v(void) { return 1; }", "big", flags: ["-Wl,--initial-memory=262144"], limits: small)
                .contains("starts with 4 pages of memory; its limit is 1"))
        let initLoops = """
            #include "bothost.h"
            BH_EXPORT(bothost_abi_version) int32_t v(void) { return 1; }
            BH_EXPORT(bothost_init) int32_t i(void) { volatile int x = 1; while (x) {} return 0; }
            BH_EXPORT(bothost_on_event) int32_t e(int32_t op) { return 0; }
            """
        #expect(try refusal(initLoops, "initloop").contains("bothost_init failed: Trap: out of fuel"))
        let eventOnly = """
            #include "bothost.h"
            BH_EXPORT(bothost_abi_version) int32_t v(void) { return 1; }
            BH_EXPORT(bothost_init) int32_t i(void) { bh_want("app.bsky.feed.post", 18); bh_rule("r", 1); bh_grant(0, 5); return 0; }
            BH_EXPORT(bothost_on_event) int32_t e(int32_t op) { return 0; }
            """
        #expect(try refusal(eventOnly, "grantininit").contains("bh_grant may be called only while an event is handled"))
        let notWasm = directory.appendingPathComponent("text.wasm").path
        try "not a module".write(toFile: notWasm, atomically: true, encoding: .utf8)
        #expect(throws: WasmPluginError.self) { try WasmModuleFile.load(notWasm) }
    }

    /// A guest pointer outside its memory traps that event (never the host), also for a
    /// length that would wrap.
    @Test func badPointersTrapTheEventOnly() throws {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = """
            #include "bothost.h"
            static int32_t RULE;
            BH_EXPORT(bothost_abi_version) int32_t v(void) { return 1; }
            BH_EXPORT(bothost_init) int32_t i(void) { bh_want("app.bsky.feed.post", 18); RULE = bh_rule("r", 1); return 0; }
            BH_EXPORT(bothost_on_event) int32_t e(int32_t op) {
                bh_grant(RULE, 5);
                char *far = (char *)0x7FFFFFF0;
                bh_did(far, 0x7FFFFFFF);
                return 0;
            }
            """
        let path = try WasmExamples.compile(source, in: directory, name: "badptr")
        let host = try TestHost(configuration: configuration([WasmPluginSpec(file: try WasmModuleFile.load(path))]),
                                packs: try PackSelection.load([Self.withoutPost], amounts: .init()))
        try host.feed([Events.post(Events.alice, rev: 1, rkey: "3kaaaaaaaaaa2")])
        let plugin = try #require(host.engine.loadedPlugins.compactMap { $0 as? WasmPlugin }.first)
        #expect(plugin.health.failures == ["trap": 1])
        #expect(try host.xp(Events.alice) == 0)
    }

    /// The config names modules relative to itself and refuses a broken one at its line.
    @Test func configLoadsAndRefusesModules() throws {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        _ = try WasmExamples.path("post_xp.wasm")
        let configPath = WasmExamples.directory + "/bothost.yaml"
        let loaded = try BotHostConfiguration.load(path: configPath)
        #expect(loaded.wasmPlugins.map(\.file.name) == ["post_xp"])
        #expect(loaded.wasmPlugins.first?.limits.fuelPerEvent == 100_000)
        let bad = directory.appendingPathComponent("bad.yaml").path
        try "plugins:\n  wasm:\n    - path: missing.wasm\n".write(toFile: bad, atomically: true, encoding: .utf8)
        do {
            _ = try BotHostConfiguration.load(path: bad)
            Issue.record("a missing module was accepted")
        } catch let error as Diagnostic {
            #expect(error.description.hasPrefix("\(bad):3:13: error: plugins.wasm:"), "\(error.description)")
            #expect(error.description.contains("cannot read the file"))
        }
        let limits = directory.appendingPathComponent("limits.yaml").path
        try "plugins:\n  wasm:\n    - path: \(WasmExamples.directory)/post_xp.wasm\n      limits: {fuel_per_event: 10}\n".write(toFile: limits, atomically: true, encoding: .utf8)
        #expect(throws: Diagnostic.self) { try BotHostConfiguration.load(path: limits) }
    }

    /// Hot reload: a new module replaces the running one; a broken one is refused and the
    /// running one stays.
    @Test func reloadKeepsTheOldModuleWhenTheNewOneFails() throws {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("post_xp.wasm").path
        try FileManager.default.copyItem(atPath: try WasmExamples.path("post_xp.wasm"), toPath: path)
        let reloader = WasmReloader(specs: [WasmPluginSpec(file: try WasmModuleFile.load(path))])
        #expect(!reloader.filesChanged())
        // A broken module: refused, the running version is kept.
        try FileManager.default.removeItem(atPath: path)
        try Data([0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00, 0x7F]).write(to: URL(fileURLWithPath: path))
        #expect(reloader.filesChanged())
        let refused = reloader.reload()
        guard case .refused(let message)? = refused.first else { Issue.record("not refused: \(refused)"); return }
        #expect(message.contains("not a valid WebAssembly module"))
        #expect(reloader.specs[0].file.versionTag.hasPrefix("wasm+"))
        // A valid new module (the hostile one, renamed): replaces it.
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.copyItem(atPath: try WasmExamples.path("hostile.wasm"), toPath: path)
        #expect(reloader.filesChanged())
        let replaced = reloader.reload()
        guard case .replace(let id, let spec, _)? = replaced.first else { Issue.record("not replaced: \(replaced)"); return }
        #expect(id == "wasm:post_xp")
        let host = try TestHost(configuration: configuration([try spec_("post_xp.wasm")]), packs: try PackSelection.load([Self.withoutPost], amounts: .init()))
        #expect(host.engine.replacePlugin(id: id, with: try #require(spec.instantiate())))
        try host.feed([Events.post(Events.alice, rev: 1, rkey: "3kaaaaaaaaaa2")])
        #expect(try host.xp(Events.alice) == 1)
    }

    private func spec_(_ name: String) throws -> WasmPluginSpec { try spec(name) }
}

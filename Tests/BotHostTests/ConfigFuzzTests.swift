import BotHost
import BotHostConfig
import Foundation
import Plugins
import Rules
import Testing

/// Seeded mutation fuzzing of the config loader: thousands of corrupted variants of the
/// documented example config must each load or be refused with a located diagnostic,
/// never crash. (The event decoder has a libFuzzer target: `make fuzz`.)
struct ConfigFuzzTests {
    struct SplitMix {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(1, n))) }
    }

    @Test func mutatedConfigsLoadOrAreRefusedWithAPosition() throws {
        let example = try String(contentsOfFile: Fixtures.packageRoot.appendingPathComponent("examples/config/bothost.yaml").path, encoding: .utf8)
        var random = SplitMix(state: 42)
        let pieces: [String] = ["{", "}", "[", "]", ":", "- ", "\t", "\n", "'", "\"", "&a", "*a", "!!str", "-1", "99999999999999999999",
                                "leveling:", "xp:", "  ", "#", "\u{0}", "é", "🙂", "%YAML 1.2\n---\n", "? ", "|", ">", "~", "null", "yes"]
        var refused = 0, loaded = 0
        for _ in 0..<3000 {
            var bytes = Array(example.utf8)
            for _ in 0...random.below(4) {
                let at = random.below(bytes.count + 1)
                switch random.below(4) {
                case 0: bytes.insert(contentsOf: Array(pieces[random.below(pieces.count)].utf8), at: at)
                case 1: if at < bytes.count { bytes.remove(at: at) }
                case 2: bytes = Array(bytes.prefix(at))
                default: if at < bytes.count { bytes[at] = UInt8(truncatingIfNeeded: random.next()) }
                }
            }
            let text = String(decoding: bytes, as: UTF8.self)
            do {
                _ = try BotHostConfiguration.parse(text, file: "fuzz.yaml")
                loaded += 1
            } catch {
                refused += 1
                #expect(error.file == "fuzz.yaml")
                #expect(error.line >= 1 && error.column >= 1)
                #expect(!error.message.isEmpty)
            }
        }
        #expect(refused > 100 && loaded > 100)
    }
}

/// Paths written in a config file are relative to that file, so a config and the files it
/// names (WebAssembly modules, the labeler's key) move together.
enum ConfigPaths {
    static func resolve(_ path: String, relativeTo file: String) -> String {
        guard !path.hasPrefix("/") else { return path }
        let directory = file.contains("/") ? String(file[..<file.lastIndex(of: "/")!]) : "."
        return directory + "/" + path
    }
}

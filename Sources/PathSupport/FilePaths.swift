/// Path arithmetic without `NSString.deletingLastPathComponent`, which traps on some bare
/// names in Foundation on Linux (Swift 6.3.1).
public enum FilePaths {
    /// The folder part of a path: `a/b/c` → `a/b`, `/a` → `/`, `name` → ``.
    public static func parent(_ path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "" }
        if slash == trimmed.startIndex { return "/" }
        var parent = trimmed[..<slash]
        while parent.count > 1 && parent.hasSuffix("/") { parent = parent.dropLast() }
        return String(parent)
    }
}

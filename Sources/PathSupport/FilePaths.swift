import Foundation

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

    /// A path made absolute against the working directory, `~` expanded, `.` and `..` resolved.
    public static func absolute(_ path: String) -> String {
        let expanded = (path as NSString).expandingTildeInPath
        if expanded.hasPrefix("/") { return (expanded as NSString).standardizingPath }
        return ((FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(expanded) as NSString).standardizingPath
    }
}

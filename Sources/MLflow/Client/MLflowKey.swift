import Foundation

/// MLflow's rules for metric, param and tag keys.
public enum MLflowKey {
    /// Replaces what `^[/\w.\- :]*$` does not allow with `_`, removes what would make the key
    /// name another path (`..`, a leading `/`, `//`) and cuts it to `maxLength`.
    public static func sanitize(_ key: String, maxLength: Int = 250) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in key.unicodeScalars {
            let allowed =
                CharacterSet.alphanumerics.contains(scalar) || scalar == "_" || scalar == "/" || scalar == "."
                || scalar == "-" || scalar == " " || scalar == ":"
            scalars.append(allowed ? scalar : "_")
        }
        var result = String(scalars)
        while result.contains("//") { result = result.replacingOccurrences(of: "//", with: "/") }
        while result.contains("..") { result = result.replacingOccurrences(of: "..", with: "_") }
        while result.hasPrefix("/") { result.removeFirst() }
        if result.isEmpty { result = "_" }
        return truncate(result, to: maxLength)
    }

    /// Cuts a value to `limit` code points (how the server counts), never inside a character.
    public static func truncate(_ value: String, to limit: Int) -> String {
        guard value.unicodeScalars.count > limit else { return value }
        var scalars = String.UnicodeScalarView()
        for scalar in value.unicodeScalars {
            if scalars.count >= limit { break }
            scalars.append(scalar)
        }
        return String(scalars)
    }
}

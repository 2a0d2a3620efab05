import Foundation

/// Just enough XML for S3's answers: the text of named elements, entities decoded.
enum S3XML {
    /// The text of every `<tag>…</tag>` in `xml`, in order.
    static func values(_ tag: String, in xml: String) -> [String] {
        var out: [String] = []
        var rest = Substring(xml)
        let open = "<\(tag)>", close = "</\(tag)>"
        while let start = rest.range(of: open) {
            guard let end = rest.range(of: close, range: start.upperBound..<rest.endIndex) else { break }
            out.append(decode(String(rest[start.upperBound..<end.lowerBound])))
            rest = rest[end.upperBound...]
        }
        return out
    }

    static func value(_ tag: String, in xml: String) -> String? { values(tag, in: xml).first }

    /// Each `<tag>…</tag>` block, raw, for nested lists (`Contents`, `Upload`).
    static func blocks(_ tag: String, in xml: String) -> [String] {
        var out: [String] = []
        var rest = Substring(xml)
        while let start = rest.range(of: "<\(tag)>"), let end = rest.range(of: "</\(tag)>", range: start.upperBound..<rest.endIndex) {
            out.append(String(rest[start.upperBound..<end.lowerBound]))
            rest = rest[end.upperBound...]
        }
        return out
    }

    static func decode(_ text: String) -> String {
        guard text.contains("&") else { return text }
        return text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&#34;", with: "\"").replacingOccurrences(of: "&amp;", with: "&")
    }

    /// Escapes what element text must (`&`, `<`, `>`); quotes stay, as S3 writes ETags.
    static func escapeText(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

import Foundation

/// An extra ultralytics argument: `--arg lr0=0.01` arrives as text and is sent typed.
public enum JSONArgument: Codable, Sendable, Equatable {
    case string(String)
    case number(Double)
    case bool(Bool)

    /// Reads `true`/`false`, numbers, and anything else as a string.
    public init(parsing text: String) {
        switch text.lowercased() {
        case "true": self = .bool(true)
        case "false": self = .bool(false)
        default: self = Double(text).map { .number($0) } ?? .string(text)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let s): try container.encode(s)
        case .number(let n):
            if n == n.rounded(), abs(n) < 1e15 { try container.encode(Int64(n)) } else { try container.encode(n) }
        case .bool(let b): try container.encode(b)
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let b = try? container.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? container.decode(Double.self) {
            self = .number(n)
        } else {
            self = .string(try container.decode(String.self))
        }
    }
}

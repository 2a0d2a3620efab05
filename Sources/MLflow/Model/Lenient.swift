import Foundation

/// Decoding helpers for MLflow's JSON, where int64 fields may arrive as numbers or strings and
/// doubles as numbers or `"NaN"`/`"Infinity"`, and empty fields are left out.
extension KeyedDecodingContainer {
    func int64(_ key: Key) throws -> Int64? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        if let value = try? decode(Int64.self, forKey: key) { return value }
        if let text = try? decode(String.self, forKey: key), let value = Int64(text) { return value }
        if let value = try? decode(Double.self, forKey: key) { return Int64(value) }
        throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "not an integer")
    }

    func double(_ key: Key) throws -> Double? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        if let value = try? decode(Double.self, forKey: key) { return value }
        if let text = try? decode(String.self, forKey: key) {
            switch text {
            case "NaN": return .nan
            case "Infinity": return .infinity
            case "-Infinity": return -.infinity
            default: if let value = Double(text) { return value }
            }
        }
        throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "not a number")
    }

    func string(_ key: Key) throws -> String? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        if let value = try? decode(String.self, forKey: key) { return value }
        if let value = try? decode(Int64.self, forKey: key) { return String(value) }
        throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "not a string")
    }

    func list<T: Decodable>(_ key: Key, of: T.Type = T.self) throws -> [T] {
        try decodeIfPresent([T].self, forKey: key) ?? []
    }
}

/// A `{key, value}` pair: how MLflow sends tags and params.
public struct KeyValue: Codable, Sendable, Hashable {
    public var key: String
    public var value: String

    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }

    enum CodingKeys: String, CodingKey { case key, value }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        key = try c.string(.key) ?? ""
        value = try c.string(.value) ?? ""
    }
}

extension Array where Element == KeyValue {
    /// The pairs as a dictionary; a later duplicate key wins.
    public var dictionary: [String: String] {
        Dictionary(map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
    }
}

extension Dictionary where Key == String, Value == String {
    /// Sorted pairs, so requests are deterministic.
    var keyValues: [KeyValue] { sorted { $0.key < $1.key }.map { KeyValue(key: $0.key, value: $0.value) } }
}

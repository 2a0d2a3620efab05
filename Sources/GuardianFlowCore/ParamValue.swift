import Foundation

/// An argument of a training (a JSON or YAML value of any type) as the text its MLflow param
/// shows, written as Python writes it: `None`, `True`, `0.01`, `[640, 640]`, `{a: 1}`. The
/// trainer's `started` event and an imported run's `args.yaml` give the same text for the same
/// value.
public struct ParamValue: Decodable, Sendable, Equatable {
    public var text: String

    public init(text: String) { self.text = text }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            text = "None"
        } else if let b = try? c.decode(Bool.self) {
            text = b ? "True" : "False"
        } else if let i = try? c.decode(Int64.self) {
            text = String(i)
        } else if let d = try? c.decode(Double.self) {
            text = String(d)
        } else if let s = try? c.decode(String.self) {
            text = s
        } else if let list = try? c.decode([ParamValue].self) {
            text = "[" + list.map(\.text).joined(separator: ", ") + "]"
        } else if let dict = try? c.decode([String: ParamValue].self) {
            text = "{" + dict.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value.text)" }.joined(separator: ", ") + "}"
        } else {
            text = ""
        }
    }

    /// A value as a YAML parser gives it (Yams' `load`: NSNull, Bool, Int, Double, String,
    /// arrays and dictionaries).
    public init(yaml value: Any?) {
        switch value {
        case nil, is NSNull: text = "None"
        case let b as Bool: text = b ? "True" : "False"
        case let i as Int: text = String(i)
        case let d as Double: text = String(d)
        case let s as String: text = s
        case let list as [Any]: text = "[" + list.map { ParamValue(yaml: $0).text }.joined(separator: ", ") + "]"
        case let dict as [String: Any]:
            text =
                "{" + dict.sorted { $0.key < $1.key }.map { "\($0.key): \(ParamValue(yaml: $0.value).text)" }.joined(separator: ", ") + "}"
        case let dict as [AnyHashable: Any]:
            text =
                "{"
                + dict.map { ("\($0.key)", ParamValue(yaml: $0.value).text) }.sorted { $0.0 < $1.0 }.map { "\($0.0): \($0.1)" }
                .joined(separator: ", ") + "}"
        case let other?: text = "\(other)"
        }
    }
}

import Foundation
import GuardianFlowCore

/// Builds ``Settings`` from flags, the environment, a config file and defaults, in that order.
///
/// The config file is `--config PATH` when given, else `guardianflow.yaml` in the working
/// directory, else `~/.config/guardianflow/guardianflow.yaml`. It is a YAML mapping of the
/// keys of ``SettingKey`` (`tracking_uri: http://…`).
public struct ConfigLoader: Sendable {
    public var environment: [String: String]
    public var currentDirectory: String
    public var homeDirectory: String

    public init(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        currentDirectory: String = FileManager.default.currentDirectoryPath,
        homeDirectory: String = NSHomeDirectory()
    ) {
        self.environment = environment
        self.currentDirectory = currentDirectory
        self.homeDirectory = homeDirectory
    }

    /// The default work dir: `~/.guardianflow`.
    public static func defaultWorkDir(home: String) -> String {
        (home as NSString).appendingPathComponent(".guardianflow")
    }

    /// The config files looked for when none is given, in order.
    public var searchPaths: [String] {
        [
            (currentDirectory as NSString).appendingPathComponent("guardianflow.yaml"),
            (homeDirectory as NSString).appendingPathComponent(".config/guardianflow/guardianflow.yaml"),
        ]
    }

    /// Loads the effective settings.
    ///
    /// - Parameters:
    ///   - flags: values given on the command line, by key.
    ///   - configFile: an explicit config file; it must exist.
    /// - Throws: ``GuardianFlowError/invalidInput(_:)`` for an unreadable or malformed config
    ///   file, an unknown key, or a value of the wrong kind, naming the file and key.
    public func load(flags: [SettingKey: String] = [:], configFile: String? = nil) throws -> Settings {
        let fileValues: [SettingKey: String]
        let filePath: String?
        if let configFile {
            let path = absolute(configFile)
            guard FileManager.default.fileExists(atPath: path) else {
                throw GuardianFlowError.invalidInput(
                    "The config file \(path) does not exist. Create it or drop --config.")
            }
            filePath = path
        } else {
            filePath = searchPaths.first { FileManager.default.fileExists(atPath: $0) }
        }
        if let filePath {
            fileValues = try Self.readFile(filePath)
        } else {
            fileValues = [:]
        }

        var entries: [SettingKey: Setting] = [:]
        for key in SettingKey.allCases {
            if let value = flags[key] {
                entries[key] = Setting(key: key, value: value, source: .flag("--" + key.rawValue.replacingOccurrences(of: "_", with: "-")))
            } else if let name = key.environmentNames.first(where: { environment[$0].map { !$0.isEmpty } ?? false }) {
                entries[key] = Setting(key: key, value: environment[name], source: .environment(name))
            } else if let value = fileValues[key] {
                entries[key] = Setting(key: key, value: value, source: .file(filePath ?? ""))
            } else if key == .workDir {
                entries[key] = Setting(key: key, value: Self.defaultWorkDir(home: homeDirectory), source: .defaultValue)
            } else if let value = key.defaultValue {
                entries[key] = Setting(key: key, value: value, source: .defaultValue)
            } else {
                entries[key] = Setting(key: key, value: nil, source: .unset)
            }
        }
        if let workDir = entries[.workDir]?.value {
            entries[.workDir]?.value = absolute(workDir)
        }
        let settings = Settings(entries: entries, configFile: filePath)
        try validate(settings)
        return settings
    }

    func absolute(_ path: String) -> String {
        let expanded = (path as NSString).expandingTildeInPath
        if expanded.hasPrefix("/") { return (expanded as NSString).standardizingPath }
        return ((currentDirectory as NSString).appendingPathComponent(expanded) as NSString).standardizingPath
    }

    static func readFile(_ path: String) throws -> [SettingKey: String] {
        let node = try YAMLFile(role: "The config file", example: "It must be a mapping such as `tracking_uri: http://host:5000`.")
            .read(path).document
        guard let node else { return [:] }
        guard let mapping = node as? [String: Any] else {
            throw GuardianFlowError.invalidInput(
                "The config file \(path) must be a YAML mapping of settings, such as `tracking_uri: http://host:5000`.")
        }
        var values: [SettingKey: String] = [:]
        for (rawKey, rawValue) in mapping {
            let key = SettingKey(rawValue: rawKey.lowercased())
                ?? SettingKey.allCases.first { $0.environmentNames.contains(rawKey) }
            guard let key else {
                let known = SettingKey.allCases.map(\.rawValue).joined(separator: ", ")
                throw GuardianFlowError.invalidInput(
                    "The config file \(path) has an unknown key '\(rawKey)'. Known keys: \(known).")
            }
            switch rawValue {
            case let string as String: values[key] = string
            case let bool as Bool: values[key] = bool ? "true" : "false"
            case let int as Int: values[key] = String(int)
            case let double as Double: values[key] = String(double)
            case is NSNull: continue
            default:
                throw GuardianFlowError.invalidInput(
                    "The config file \(path): '\(rawKey)' must be a single value, not a list or mapping.")
            }
        }
        return values
    }

    func validate(_ settings: Settings) throws {
        func origin(_ key: SettingKey) -> String { "\(key.rawValue) (from \(settings.source(of: key)))" }
        if let value = settings[.trackingInsecureTLS] {
            _ = try Self.parseBool(value, key: .trackingInsecureTLS, origin: origin(.trackingInsecureTLS))
        }
        if let value = settings[.serverPort] {
            guard let port = Int(value), (1...65535).contains(port) else {
                throw GuardianFlowError.invalidInput(
                    "\(origin(.serverPort)) is '\(value)'; it must be a port number between 1 and 65535.")
            }
        }
        try checkSeconds(settings, .httpRetrySeconds, 0...3600, origin: origin)
        try checkSeconds(settings, .httpTimeoutSeconds, 0.1...3600, origin: origin)
        try checkSeconds(settings, .outageWaitSeconds, 0...86400, origin: origin)
        try checkSeconds(settings, .systemMetricsInterval, 0.1...3600, allowZero: true, origin: origin)
        for key in [SettingKey.slurmGPUs, .slurmCPUs] {
            if let value = settings[key], (Int(value) ?? 0) < 1 {
                throw GuardianFlowError.invalidInput("\(origin(key)) is '\(value)'; it must be a whole number, 1 or more.")
            }
        }
        if let level = settings[.logLevel], GuardianFlowLogging.level(named: level) == nil {
            throw GuardianFlowError.invalidInput(
                "\(origin(.logLevel)) is '\(level)'; it must be one of \(GuardianFlowLogging.levelNames.joined(separator: ", ")).")
        }
        if let uri = settings[.trackingURI] {
            let lower = uri.lowercased()
            guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else {
                throw GuardianFlowError.invalidInput(
                    "\(origin(.trackingURI)) is '\(Redaction.redactURIs(uri))'; guardianflow talks to an MLflow "
                        + "server over http(s). Give its address (http://host:5000), or unset it to use the local server.")
            }
        }
        if let endpoint = settings[.s3EndpointURL] {
            let lower = endpoint.lowercased()
            guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else {
                throw GuardianFlowError.invalidInput(
                    "\(origin(.s3EndpointURL)) is '\(Redaction.redactURIs(endpoint))'; it must be an http(s):// address such as http://seaweedfs:8333.")
            }
        }
    }

    /// Reads a boolean as MLflow does: `true/false/1/0`, any case; anything else is an error.
    /// A setting that is a number of seconds within `range` (or 0, when that turns it off).
    func checkSeconds(
        _ settings: Settings, _ key: SettingKey, _ range: ClosedRange<Double>, allowZero: Bool = false, origin: (SettingKey) -> String
    ) throws {
        guard let value = settings[key] else { return }
        if let seconds = Double(value), range.contains(seconds) || (allowZero && seconds == 0) { return }
        let bounds = "\(Self.format(range.lowerBound)) to \(Self.format(range.upperBound))"
        throw GuardianFlowError.invalidInput(
            "\(origin(key)) is '\(value)'; it must be a number of seconds from \(bounds)\(allowZero ? ", or 0 to turn it off" : "").")
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }

    public static func parseBool(_ value: String, key: SettingKey, origin: String? = nil) throws -> Bool {
        switch value.lowercased() {
        case "true", "1": return true
        case "false", "0": return false
        default:
            throw GuardianFlowError.invalidInput(
                "\(origin ?? key.rawValue) is '\(value)'; it must be true, false, 1 or 0.")
        }
    }
}

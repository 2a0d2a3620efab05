import Foundation
import GuardianFlowCore
import Logging
import S3

/// The effective configuration: flags over environment over config file over defaults.
public struct Settings: Sendable {
    public private(set) var entries: [SettingKey: Setting]
    /// The config file that was read, if any.
    public var configFile: String?

    public init(entries: [SettingKey: Setting], configFile: String? = nil) {
        self.entries = entries
        self.configFile = configFile
    }

    public subscript(key: SettingKey) -> String? {
        entries[key]?.value.flatMap { $0.isEmpty ? nil : $0 }
    }

    public func source(of key: SettingKey) -> SettingSource {
        entries[key]?.source ?? .unset
    }

    /// Every setting in a stable order.
    public var all: [Setting] {
        SettingKey.allCases.map { entries[$0] ?? Setting(key: $0, value: nil, source: .unset) }
    }

    /// Returns a copy with one value replaced (as if given by `source`).
    public func with(_ key: SettingKey, _ value: String?, source: SettingSource = .flag("library")) -> Settings {
        var copy = self
        copy.entries[key] = Setting(key: key, value: value, source: source)
        return copy
    }

    // MARK: Typed views

    public var trackingURI: String? { self[.trackingURI] }
    public var workDir: String { self[.workDir] ?? ConfigLoader.defaultWorkDir(home: NSHomeDirectory()) }
    public var insecureTLS: Bool { (try? ConfigLoader.parseBool(self[.trackingInsecureTLS] ?? "false", key: .trackingInsecureTLS)) ?? false }
    public var serverPort: Int { Int(self[.serverPort] ?? "5000") ?? 5000 }
    public var httpTimeout: Duration { .milliseconds(Int64((Double(self[.httpTimeoutSeconds] ?? "30") ?? 30) * 1000)) }
    public var httpRetrySeconds: Double { Double(self[.httpRetrySeconds] ?? "3") ?? 3 }
    /// Seconds between system metric samples; nil when they are off (0).
    public var systemMetricsInterval: Duration? {
        let seconds = Double(self[.systemMetricsInterval] ?? "10") ?? 10
        return seconds > 0 ? .milliseconds(Int64(seconds * 1000)) : nil
    }
    /// How long the end of a training waits for MLflow during an outage.
    public var outageWait: Duration { .seconds(Int64(Double(self[.outageWaitSeconds] ?? "300") ?? 300)) }
    public var nvmlLibrary: String { self[.nvmlLibrary] ?? SettingKey.nvmlLibrary.defaultValue! }
    /// How much guardianflow says on stderr (`--verbose` and `--quiet` override it).
    public var logLevel: Logger.Level { self[.logLevel].flatMap(GuardianFlowLogging.level(named:)) ?? .notice }
    public var awsRegion: String { self[.awsDefaultRegion] ?? "us-east-1" }

    /// The S3 store for `s3://` artifact URIs, when credentials are configured. The endpoint
    /// defaults to AWS's for the region.
    public var s3Configuration: S3Configuration? {
        guard let key = self[.awsAccessKeyID], let secret = self[.awsSecretAccessKey] else { return nil }
        let endpoint = self[.s3EndpointURL] ?? "https://s3.\(awsRegion).amazonaws.com"
        var configuration = S3Configuration(endpoint: endpoint, region: awsRegion, accessKeyId: key, secretAccessKey: secret)
        configuration.insecureTLS = insecureTLS
        return configuration
    }

    /// Every secret value set, so outputs can be checked or scrubbed.
    public var secretValues: [String] {
        SettingKey.allCases.filter(\.isSecret).compactMap { self[$0] }.filter { $0.count >= 4 }
    }
}

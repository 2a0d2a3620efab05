import Config
import Foundation
import GuardianFlowCore

/// The tags every run gets: who, where, from what code, with which versions.
enum RunTags {
    /// MLflow's standard tags plus guardianflow's own.
    static func standard(
        experimentCommand: String, options: TrainingOptions, modelArch: String, dataset: TrainingInputValidator.Dataset
    ) async -> [String: String] {
        var tags: [String: String] = [
            "mlflow.user": ProcessInfo.processInfo.environment["USER"] ?? NSUserName(),
            "mlflow.source.type": "LOCAL",
            "mlflow.source.name": experimentCommand,
            "host": ProcessInfo.processInfo.hostName,
            "guardianflow.version": GuardianFlowInfo.version,
            "model_arch": modelArch,
            "dataset": dataset.yamlPath,
            "dataset.sha256": dataset.contentHash,
            "dataset.classes": dataset.classNames.joined(separator: ","),
        ]
        if let customer = options.customer { tags["customer"] = customer }
        if let task = options.task { tags["task"] = task }
        for (key, value) in await gitTags() { tags[key] = value }
        for (key, value) in options.tags { tags[key] = value }
        return tags
    }

    /// `mlflow.source.git.*` when the working directory is inside a git checkout.
    static func gitTags() async -> [String: String] {
        var tags: [String: String] = [:]
        let git = ["/usr/bin/git", "/usr/local/bin/git"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let git else { return tags }
        func ask(_ args: [String]) async -> String? {
            guard let result = try? await ChildProcess.run(git, args, timeout: .seconds(5)), result.exit.succeeded else { return nil }
            let text = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            return text.isEmpty ? nil : text
        }
        guard let commit = await ask(["rev-parse", "HEAD"]) else { return tags }
        tags["mlflow.source.git.commit"] = commit
        if let branch = await ask(["rev-parse", "--abbrev-ref", "HEAD"]) { tags["mlflow.source.git.branch"] = branch }
        if let url = await ask(["config", "--get", "remote.origin.url"]) {
            tags["mlflow.source.git.repoURL"] = Redaction.redactURIs(url)
        }
        return tags
    }
}

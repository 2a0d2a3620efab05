import Foundation
import MLflow

/// What a promote or rollback did.
public struct LifecycleResult: Sendable, Equatable, Encodable {
    public var model: String
    public var champion: String
    public var rollback: String?
    public var entry: HistoryEntry
    /// The gate's verdict (nil when resumed).
    public var gate: String?
    /// True when this call finished an operation an earlier, interrupted call had started.
    public var resumed: Bool
}

extension ModelRegistry {
    /// Makes `version` (default: the candidate's) the champion; the old champion becomes
    /// `rollback`; `candidate` is removed if it pointed there.
    ///
    /// Writes happen in an order that leaves every alias on an existing version if it stops
    /// between any two, and an operation that was interrupted is finished by calling again.
    ///
    /// - Throws: ``GuardianFlowError/gateRefused(_:)`` (exit 5) showing both numbers;
    ///   ``GuardianFlowError/registryState(_:)`` (exit 6) for an unknown model or version, no
    ///   candidate, or a version that already is champion. A refusal writes nothing.
    public func promote(
        modelName: String, version: String? = nil, gate: PromotionGate = PromotionGate(), force: Bool = false,
        reason: String? = nil
    ) async throws -> LifecycleResult {
        // The model and an explicitly named version are read at once.
        async let explicitRead: ModelVersion? = version == nil ? nil : try await self.version(version!, of: modelName)
        let registered = try await model(named: modelName)
        if let pending = unfinished(registered), pending.action == .promote, version == nil || version == pending.version {
            return try await complete(pending, model: modelName, aliases: registered.aliases, resumed: true, gate: nil)
        }
        guard let target = version ?? registered.aliases[Self.candidate] else {
            throw GuardianFlowError.registryState(
                "Model '\(modelName)' has no @candidate to promote; train one, or give --version N.")
        }
        let championVersion = registered.aliases[Self.champion]
        if championVersion == target {
            throw GuardianFlowError.registryState("Version \(target) already is the champion of '\(modelName)'.")
        }
        // The champion's version is read only when the gate needs it.
        async let championRead: ModelVersion? =
            force ? nil : (championVersion == nil ? nil : try await self.version(championVersion!, of: modelName))
        let targetVersion: ModelVersion
        if let explicit = try await explicitRead {
            targetVersion = explicit
        } else {
            targetVersion = try await self.version(target, of: modelName)
        }
        guard targetVersion.isReady else {
            throw GuardianFlowError.registryState("Version \(target) of '\(modelName)' is \(targetVersion.status), not READY.")
        }
        let candidateValue = try await metricValue(gate.metric, of: targetVersion)
        var championValue: Double?
        if let champion = try await championRead { championValue = try await metricValue(gate.metric, of: champion) }
        var verdictText = "skipped (--force)"
        if !force {
            switch gate.judge(candidate: candidateValue, champion: championValue) {
            case .pass:
                verdictText = "first champion"
            case .passBy(let c, let ch):
                verdictText = "\(gate.metric) \(Self.format(c)) vs champion \(Self.format(ch)) (margin \(Self.format(gate.margin)))"
            case .refuse(let c, let ch):
                throw GuardianFlowError.gateRefused(
                    "Refused: version \(target) has \(gate.metric) \(Self.format(c)), worse than champion version "
                        + "\(championVersion ?? "?")'s \(Self.format(ch)) by more than the margin \(Self.format(gate.margin)). "
                        + "Nothing changed. Use --margin to allow it, or --force to skip the gate (recorded in the history).")
            case .missing:
                throw GuardianFlowError.gateRefused(
                    "Refused: version \(target) has no \(gate.metric) to compare with champion version \(championVersion ?? "?")'s "
                        + "\(championValue.map(Self.format) ?? "-"). Nothing changed. Choose another --metric, or --force.")
            }
        }
        let entry = newEntry(
            .promote, version: target, from: championVersion, rollback: championVersion, reason: reason, forced: force,
            metric: gate.metric, value: candidateValue, championValue: championValue)
        return try await complete(entry, model: modelName, aliases: registered.aliases, resumed: false, gate: verdictText)
    }

    /// Puts the rollback version back as champion; `rollback` then points at the champion
    /// before that one in the history, or is removed when there is none.
    ///
    /// - Throws: ``GuardianFlowError/registryState(_:)`` (exit 6) when there is no rollback
    ///   version; nothing is written then.
    public func rollback(modelName: String, reason: String? = nil) async throws -> LifecycleResult {
        let registered = try await model(named: modelName)
        if let pending = unfinished(registered), pending.action == .rollback {
            return try await complete(pending, model: modelName, aliases: registered.aliases, resumed: true, gate: nil)
        }
        guard let target = registered.aliases[Self.rollback] else {
            throw GuardianFlowError.registryState(
                "Model '\(modelName)' has no @rollback version to go back to (champion: "
                    + "\(registered.aliases[Self.champion].map { "version \($0)" } ?? "none")).")
        }
        let current = registered.aliases[Self.champion]
        guard current != target else {
            // An invalid state left by concurrent writers: repair it and say so.
            try await repair(modelName)
            throw GuardianFlowError.registryState(
                "@rollback and @champion of '\(modelName)' both pointed at version \(target); the rollback alias was cleared. Nothing to roll back to.")
        }
        let history = HistoryEntry.entries(fromTags: registered.tags)
        let next = try await previousChampion(before: target, excluding: [target], history: history, model: modelName)
        let entry = newEntry(
            .rollback, version: target, from: current, rollback: next, reason: reason, forced: false, metric: nil, value: nil,
            championValue: nil)
        return try await complete(entry, model: modelName, aliases: registered.aliases, resumed: false, gate: nil)
    }

    func newEntry(
        _ action: HistoryEntry.Action, version: String, from: String?, rollback: String?, reason: String?, forced: Bool,
        metric: String?, value: Double?, championValue: Double?
    ) -> HistoryEntry {
        let at = now()
        return HistoryEntry(
            id: Self.newID(), action: action, version: version, from: from, rollback: rollback, by: actor, at: Self.iso(at),
            timestamp: mlflowTimestamp(at), reason: reason.map { MLflowKey.truncate($0, to: 1000) }, forced: forced,
            metric: metric, value: value, championValue: championValue)
    }

    /// The operation recorded as pending whose history entry was never written and whose
    /// process is gone: it was interrupted, and calling the same command again finishes it.
    func unfinished(_ registered: RegisteredModel) -> HistoryEntry? {
        guard let pending = PendingOperation.decode(registered.tags[PendingOperation.tagKey]),
            registered.tags[pending.entry.tagKey] == nil, !pending.mayBeInFlight(now: now())
        else { return nil }
        return pending.entry
    }

    /// The champion that `version` replaced most recently, if it still exists.
    func previousChampion(before version: String, excluding: Set<String>, history: [HistoryEntry], model: String) async throws -> String? {
        for entry in history where entry.action == .promote && entry.version == version {
            guard let from = entry.from, !excluding.contains(from) else { continue }
            if (try? await client.getModelVersion(name: model, version: from)) != nil { return from }
        }
        return nil
    }

    /// The writes of an operation, each idempotent, in crash-safe order; then the re-read.
    ///
    /// The pending mark goes first and the history entry last: an operation whose history
    /// entry is missing is unfinished. Writes whose relative order does not matter go together.
    func complete(
        _ entry: HistoryEntry, model: String, aliases: [String: String], resumed: Bool, gate: String?
    ) async throws -> LifecycleResult {
        let pending = PendingOperation(entry: entry)
        switch entry.action {
        case .promote:
            // 1. The pending mark, and rollback ← the champion being replaced (harmless on its
            //    own: both point at existing versions and champion has not moved).
            try await together {
                $0.addTask {
                    try beforeWrite("pending")
                    try await client.setRegisteredModelTag(name: model, key: PendingOperation.tagKey, value: pending.encoded())
                }
                if let rollback = entry.rollback {
                    $0.addTask {
                        try beforeWrite("rollback")
                        try await client.setAlias(name: model, alias: Self.rollback, version: rollback)
                    }
                }
            }
            // 2. champion ← the new version.
            try beforeWrite("champion")
            try await client.setAlias(name: model, alias: Self.champion, version: entry.version)
        case .rollback:
            // 1. The pending mark first: once @rollback moves, the operation must be findable.
            try beforeWrite("pending")
            try await client.setRegisteredModelTag(name: model, key: PendingOperation.tagKey, value: pending.encoded())
            // 2. rollback moves off the version coming back, so it never equals champion.
            try beforeWrite("rollback")
            if let next = entry.rollback {
                try await client.setAlias(name: model, alias: Self.rollback, version: next)
            } else {
                try await deleteAliasIfPresent(model, Self.rollback)
            }
            // 3. champion ← the rollback version.
            try beforeWrite("champion")
            try await client.setAlias(name: model, alias: Self.champion, version: entry.version)
        }
        // Then, in any order: the promoted candidate goes, the audit tags; the history entry
        // (which marks the operation finished) only after they succeeded.
        let prefix = entry.action == .promote ? "guardianflow.promoted" : "guardianflow.rolled_back"
        var tags: [String: String] = ["\(prefix)_at": entry.at, "\(prefix)_by": entry.by, "\(prefix)_from": entry.from ?? ""]
        if let reason = entry.reason { tags["guardianflow.reason"] = reason }
        try await together {
            if entry.action == .promote, aliases[Self.candidate] == entry.version {
                $0.addTask {
                    try beforeWrite("candidate")
                    try await deleteAliasIfPresent(model, Self.candidate)
                }
            }
            for (key, value) in tags {
                $0.addTask {
                    try beforeWrite("audit")
                    try await client.setModelVersionTag(name: model, version: entry.version, key: key, value: value)
                }
            }
        }
        try beforeWrite("done")
        try await client.setRegisteredModelTag(name: model, key: entry.tagKey, value: entry.encoded())
        // Re-read: concurrent writers may have left rollback == champion.
        let final = try await repair(model)
        return LifecycleResult(
            model: model, champion: final[Self.champion] ?? entry.version, rollback: final[Self.rollback], entry: entry,
            gate: gate, resumed: resumed)
    }

    /// Runs writes concurrently and waits for all of them.
    func together(_ add: (inout ThrowingTaskGroup<Void, any Error>) -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            add(&group)
            try await group.waitForAll()
        }
    }

    /// Re-reads the aliases and clears `rollback` when it equals `champion`.
    @discardableResult
    func repair(_ model: String) async throws -> [String: String] {
        var aliases = try await self.model(named: model).aliases
        if let champion = aliases[Self.champion], aliases[Self.rollback] == champion {
            try await deleteAliasIfPresent(model, Self.rollback)
            aliases[Self.rollback] = nil
        }
        return aliases
    }

    func deleteAliasIfPresent(_ model: String, _ alias: String) async throws {
        do {
            try await client.deleteAlias(name: model, alias: alias)
        } catch let error as MLflowError where error.isNotFound || error.errorCode == "INVALID_PARAMETER_VALUE" {
            // Already gone.
        }
    }

    static func newID() -> String {
        String(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(12))
    }

    static func iso(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    static func format(_ value: Double) -> String { String(format: "%.4f", value) }
}

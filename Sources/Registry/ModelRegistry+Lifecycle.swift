import Foundation
import GuardianFlowCore
import MLflow

/// What a promote or rollback did.
public struct LifecycleResult: Sendable, Equatable, Encodable {
    public var model: String
    /// The version this operation made champion (a concurrent promote or rollback may have
    /// moved `champion` on since).
    public var champion: String
    /// Where `rollback` points once the operation is done, read back after its writes.
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
        var registered = try await model(named: modelName)
        if let pending = try await interrupted(.promote, version: version, in: &registered) {
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
        let targetVersion = try await self.version(target, of: modelName)
        guard targetVersion.isReady else {
            throw GuardianFlowError.registryState("Version \(target) of '\(modelName)' is \(targetVersion.status), not READY.")
        }
        let candidateValue = try await metricValue(gate.metric, of: targetVersion)
        // The champion's version is read only when the gate needs it.
        var championValue: Double?
        if !force, let championVersion {
            championValue = try await metricValue(gate.metric, of: try await self.version(championVersion, of: modelName))
        }
        var verdictText = "skipped (--force)"
        if !force {
            switch gate.judge(candidate: candidateValue, champion: championValue, hasChampion: championVersion != nil) {
            case .pass:
                verdictText = "first champion"
            case .passBy(let c, let ch):
                verdictText = "\(gate.metric) \(Self.format(c)) vs champion \(Self.format(ch)) (margin \(Self.format(gate.margin)))"
            case .refuse(let c, let ch):
                throw GuardianFlowError.gateRefused(
                    "Refused: version \(target) has \(gate.metric) \(Self.format(c)), worse than champion version "
                        + "\(championVersion ?? "?")'s \(Self.format(ch)) by more than the margin \(Self.format(gate.margin)). "
                        + "Nothing changed. Use --margin to allow it, or --force to skip the gate (recorded in the history).")
            case .missing(let which):
                let missing = which == "champion" ? "champion version \(championVersion ?? "?")" : "version \(target)"
                throw GuardianFlowError.gateRefused(
                    "Refused: \(missing) has no \(gate.metric) (as a version tag or a metric of its run), so the gate cannot compare "
                        + "version \(target) (\(candidateValue.map(Self.format) ?? "-")) with champion version \(championVersion ?? "?") "
                        + "(\(championValue.map(Self.format) ?? "-")). Nothing changed. Check the name with --metric, or skip the gate with --force.")
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
        var registered = try await model(named: modelName)
        let pending = try await interrupted(.rollback, in: &registered)
        let history = HistoryEntry.entries(fromTags: registered.tags)
        if let pending {
            return try await complete(pending, model: modelName, aliases: registered.aliases, resumed: true, gate: nil, history: history)
        }
        guard let target = registered.aliases[Self.rollback] else {
            throw GuardianFlowError.registryState(
                "Model '\(modelName)' has no @rollback version to go back to (champion: "
                    + "\(registered.aliases[Self.champion].map { "version \($0)" } ?? "none")).")
        }
        let current = registered.aliases[Self.champion]
        guard current != target else {
            // An invalid state (left by a crash or outside edits): repair it and say so.
            try await deleteAliasIfPresent(modelName, Self.rollback)
            throw GuardianFlowError.registryState(
                "@rollback and @champion of '\(modelName)' both pointed at version \(target); the rollback alias was cleared. Nothing to roll back to.")
        }
        let next = previousChampions(before: target, history: history).first
        let entry = newEntry(
            .rollback, version: target, from: current, rollback: next, reason: reason, forced: false, metric: nil, value: nil,
            championValue: nil)
        return try await complete(entry, model: modelName, aliases: registered.aliases, resumed: false, gate: nil, history: history)
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

    /// An interrupted operation of this kind (and of this version, when one is named) to finish
    /// instead of starting a new one. Its owner may have finished it between the read and the
    /// check that the owner is gone, so one that is found is confirmed by reading again.
    func interrupted(_ action: HistoryEntry.Action, version: String? = nil, in registered: inout RegisteredModel) async throws -> HistoryEntry? {
        guard let pending = unfinished(registered), pending.action == action, version == nil || version == pending.version else {
            return nil
        }
        registered = try await model(named: registered.name)
        guard let still = unfinished(registered), still.id == pending.id else { return nil }
        return still
    }

    /// The operation recorded as pending whose history entry was never written and whose
    /// process is gone: it was interrupted, and calling the same command again finishes it.
    func unfinished(_ registered: RegisteredModel) -> HistoryEntry? {
        guard let pending = PendingOperation.decode(registered.tags[PendingOperation.tagKey]),
            registered.tags[pending.entry.tagKey] == nil, !pending.mayBeInFlight(now: now())
        else { return nil }
        return pending.entry
    }

    /// The champions that `version` replaced, most recent first: where `rollback` goes when
    /// `version` comes back. Whether each still exists is found out by pointing the alias at it.
    func previousChampions(before version: String, history: [HistoryEntry]) -> [String] {
        var seen: Set<String> = [version]
        return history.compactMap { entry in
            guard entry.action == .promote, entry.version == version, let from = entry.from, seen.insert(from).inserted else { return nil }
            return from
        }
    }

    /// The writes of an operation, each idempotent, one after another in crash-safe order.
    ///
    /// The pending mark goes first and the history entry last: an operation whose history entry
    /// is missing is unfinished, and running the command again finishes it. The aliases move so
    /// that every alias is on an existing version and `rollback` never equals `champion`, between
    /// any two writes. The writes are not sent concurrently: the server applies a model's writes
    /// one at a time, so sending them together only costs connections (BENCHMARKS.md).
    func complete(
        _ entry: HistoryEntry, model: String, aliases: [String: String], resumed: Bool, gate: String?,
        history: [HistoryEntry] = []
    ) async throws -> LifecycleResult {
        var entry = entry
        // 1. The pending mark: from here on, running the command again finds and finishes it.
        try beforeWrite("pending")
        try await client.setRegisteredModelTag(name: model, key: PendingOperation.tagKey, value: PendingOperation(entry: entry).encoded())
        // 2. The aliases. `rollback` moves before `champion` only to a version that is not the
        //    champion now (a rollback's next version, usually); otherwise it first leaves the
        //    version that becomes champion, and takes its new place once `champion` has moved.
        let champion = aliases[Self.champion]
        let fallbacks =
            entry.action == .rollback
            ? Array(previousChampions(before: entry.version, history: history).drop { $0 != entry.rollback }.dropFirst()) : []
        let rollbackFirst = entry.action == .rollback && entry.rollback != nil && entry.rollback != champion
        if rollbackFirst {
            try beforeWrite("rollback")
            entry.rollback = try await moveRollback(model, to: entry.rollback, fallbacks: fallbacks.filter { $0 != champion })
        } else if aliases[Self.rollback] == entry.version {
            try beforeWrite("rollback")
            try await deleteAliasIfPresent(model, Self.rollback)
        }
        try beforeWrite("champion")
        try await client.setAlias(name: model, alias: Self.champion, version: entry.version)
        if !rollbackFirst, entry.action == .rollback || entry.rollback != nil {
            try beforeWrite("rollback")
            entry.rollback = try await moveRollback(model, to: entry.rollback, fallbacks: fallbacks)
        }
        // 3. The promoted candidate goes, and the audit tags.
        if entry.action == .promote, aliases[Self.candidate] == entry.version {
            try beforeWrite("candidate")
            try await deleteAliasIfPresent(model, Self.candidate)
        }
        let prefix = entry.action == .promote ? "guardianflow.promoted" : "guardianflow.rolled_back"
        var tags: [(String, String)] = [("\(prefix)_at", entry.at), ("\(prefix)_by", entry.by), ("\(prefix)_from", entry.from ?? "")]
        if let reason = entry.reason { tags.append(("guardianflow.reason", reason)) }
        for (key, value) in tags {
            try beforeWrite("audit")
            try await client.setModelVersionTag(name: model, version: entry.version, key: key, value: value)
        }
        // 4. Read back: concurrent writers may have left rollback == champion. Before the history
        //    entry, so that a failure here too leaves the operation to finish by running it again.
        let rollback = try await repair(model)
        // 5. The history entry: the operation is done.
        try beforeWrite("done")
        try await client.setRegisteredModelTag(name: model, key: entry.tagKey, value: entry.encoded())
        return LifecycleResult(model: model, champion: entry.version, rollback: rollback, entry: entry, gate: gate, resumed: resumed)
    }

    /// Points `rollback` at `version`, or at the next of `fallbacks` when that version was
    /// deleted, or removes it when there is none; returns where it points.
    func moveRollback(_ model: String, to version: String?, fallbacks: [String]) async throws -> String? {
        for candidate in ([version] + fallbacks.map(Optional.some)) {
            guard let candidate else { break }
            do {
                try await client.setAlias(name: model, alias: Self.rollback, version: candidate)
                return candidate
            } catch let error as MLflowError where error.isNotFound {
                continue  // That version was deleted; the one before it then.
            }
        }
        try await deleteAliasIfPresent(model, Self.rollback)
        return nil
    }

    /// Re-reads where `rollback` points and clears it when that version is also the champion;
    /// returns where it points afterwards. One lookup: the version an alias names lists all of
    /// its aliases.
    func repair(_ model: String) async throws -> String? {
        guard let rollback = try await client.modelVersion(name: model, alias: Self.rollback) else { return nil }
        if rollback.aliases.contains(Self.champion) {
            try await deleteAliasIfPresent(model, Self.rollback)
            return nil
        }
        return rollback.version
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
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    static func format(_ value: Double) -> String { String(format: "%.4f", value) }
}

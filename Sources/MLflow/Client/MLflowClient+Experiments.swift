import Foundation

extension MLflowClient {
    struct ExperimentResponse: Decodable { var experiment: Experiment }
    struct CreateExperimentResponse: Decodable {
        var experimentId: String
        enum CodingKeys: String, CodingKey { case experimentId = "experiment_id" }
        init(from decoder: any Decoder) throws {
            experimentId = try decoder.container(keyedBy: CodingKeys.self).string(.experimentId) ?? ""
        }
    }
    struct SearchExperimentsResponse: Decodable {
        var experiments: [Experiment]?
        var nextPageToken: String?
        enum CodingKeys: String, CodingKey { case experiments, nextPageToken = "next_page_token" }
    }

    /// The experiment of this name, or nil when there is none. It may be a deleted one.
    public func getExperiment(named name: String) async throws -> Experiment? {
        do {
            return try await get("experiments/get-by-name", query: [("experiment_name", name)], as: ExperimentResponse.self)
                .experiment
        } catch let error as MLflowError where error.isNotFound {
            return nil
        }
    }

    /// The experiment with this id.
    public func getExperiment(id: String) async throws -> Experiment {
        try await get("experiments/get", query: [("experiment_id", id)], as: ExperimentResponse.self).experiment
    }

    /// Creates an experiment and returns its id.
    public func createExperiment(
        named name: String, artifactLocation: String? = nil, tags: [String: String] = [:]
    ) async throws -> String {
        var body: [String: JSONValue] = ["name": .string(name)]
        if let artifactLocation { body["artifact_location"] = .string(artifactLocation) }
        if !tags.isEmpty { body["tags"] = .array(tags.keyValues.map(\.json)) }
        return try await call("POST", "experiments/create", body: body, as: CreateExperimentResponse.self).experimentId
    }

    /// Restores a deleted experiment.
    public func restoreExperiment(id: String) async throws {
        try await call("POST", "experiments/restore", body: ["experiment_id": .string(id)], as: Empty.self)
    }

    /// Sets a tag on an experiment.
    public func setExperimentTag(experimentId: String, key: String, value: String) async throws {
        try await call(
            "POST", "experiments/set-experiment-tag",
            body: ["experiment_id": .string(experimentId), "key": .string(key), "value": .string(value)],
            as: Empty.self)
    }

    /// Gets the experiment of this name, creating it if it does not exist and restoring it if
    /// it was deleted; safe when several processes do this at once.
    public func getOrCreateExperiment(named name: String, tags: [String: String] = [:]) async throws -> Experiment {
        if let existing = try await getExperiment(named: name) {
            return try await restoredIfDeleted(existing)
        }
        do {
            let id = try await createExperiment(named: name, tags: tags)
            return try await getExperiment(id: id)
        } catch let error as MLflowError where error.isAlreadyExists {
            // Another process created it first, or a deleted experiment holds the name.
            guard let existing = try await getExperiment(named: name) else { throw error }
            return try await restoredIfDeleted(existing)
        }
    }

    private func restoredIfDeleted(_ experiment: Experiment) async throws -> Experiment {
        guard experiment.isDeleted else { return experiment }
        do {
            try await restoreExperiment(id: experiment.experimentId)
        } catch let error as MLflowError where error.errorCode == "INVALID_PARAMETER_VALUE" {
            // Restored by someone else in the meantime.
        }
        return try await getExperiment(id: experiment.experimentId)
    }

    /// One page of experiments.
    public func searchExperiments(
        filter: String? = nil, viewType: ViewType = .activeOnly, orderBy: [String] = [],
        maxResults: Int = 1000, pageToken: String? = nil
    ) async throws -> (experiments: [Experiment], nextPageToken: String?) {
        var body: [String: JSONValue] = ["max_results": .int(Int64(maxResults)), "view_type": .string(viewType.rawValue)]
        if let filter { body["filter"] = .string(filter) }
        if !orderBy.isEmpty { body["order_by"] = .array(orderBy.map { .string($0) }) }
        if let pageToken { body["page_token"] = .string(pageToken) }
        let page = try await call("POST", "experiments/search", body: body, as: SearchExperimentsResponse.self)
        return (page.experiments ?? [], page.nextPageToken.flatMap { $0.isEmpty ? nil : $0 })
    }

    /// Every experiment that matches, following the pages.
    public func allExperiments(filter: String? = nil, viewType: ViewType = .activeOnly) async throws -> [Experiment] {
        var all: [Experiment] = []
        var token: String?
        repeat {
            let page = try await searchExperiments(filter: filter, viewType: viewType, pageToken: token)
            all += page.experiments
            token = page.nextPageToken
        } while token != nil
        return all
    }
}

import Foundation

extension MLflowClient {
    struct RegisteredModelResponse: Decodable {
        var registeredModel: RegisteredModel
        enum CodingKeys: String, CodingKey { case registeredModel = "registered_model" }
    }
    struct SearchRegisteredModelsResponse: Decodable {
        var registeredModels: [RegisteredModel]?
        var nextPageToken: String?
        enum CodingKeys: String, CodingKey { case registeredModels = "registered_models", nextPageToken = "next_page_token" }
    }
    struct ModelVersionResponse: Decodable {
        var modelVersion: ModelVersion
        enum CodingKeys: String, CodingKey { case modelVersion = "model_version" }
    }
    struct SearchModelVersionsResponse: Decodable {
        var modelVersions: [ModelVersion]?
        var nextPageToken: String?
        enum CodingKeys: String, CodingKey { case modelVersions = "model_versions", nextPageToken = "next_page_token" }
    }
    struct DownloadURIResponse: Decodable {
        var artifactUri: String
        enum CodingKeys: String, CodingKey { case artifactUri = "artifact_uri" }
    }

    // MARK: Registered models

    /// Creates a registered model.
    @discardableResult
    public func createRegisteredModel(
        name: String, tags: [String: String] = [:], description: String? = nil
    ) async throws -> RegisteredModel {
        var body: [String: JSONValue] = ["name": .string(name)]
        if !tags.isEmpty { body["tags"] = .array(tags.keyValues.map(\.json)) }
        if let description { body["description"] = .string(description) }
        return try await call("POST", "registered-models/create", body: body, as: RegisteredModelResponse.self)
            .registeredModel
    }

    /// The registered model of this name, or nil when there is none.
    public func getRegisteredModel(name: String) async throws -> RegisteredModel? {
        do {
            return try await get("registered-models/get", query: [("name", name)], as: RegisteredModelResponse.self)
                .registeredModel
        } catch let error as MLflowError where error.isNotFound {
            return nil
        }
    }

    /// Gets the registered model, creating it when it does not exist (safe under races).
    public func getOrCreateRegisteredModel(name: String, tags: [String: String] = [:]) async throws -> RegisteredModel {
        if let model = try await getRegisteredModel(name: name) { return model }
        do {
            return try await createRegisteredModel(name: name, tags: tags)
        } catch let error as MLflowError where error.isAlreadyExists {
            guard let model = try await getRegisteredModel(name: name) else { throw error }
            return model
        }
    }

    /// One page of registered models (`filter` such as `name LIKE '%ppe%'`).
    public func searchRegisteredModels(
        filter: String? = nil, orderBy: [String] = [], maxResults: Int = 1000, pageToken: String? = nil
    ) async throws -> (models: [RegisteredModel], nextPageToken: String?) {
        var query: [(String, String?)] = [("max_results", String(maxResults)), ("filter", filter), ("page_token", pageToken)]
        query += orderBy.map { ("order_by", $0) }
        let page = try await get("registered-models/search", query: query, as: SearchRegisteredModelsResponse.self)
        return (page.registeredModels ?? [], page.nextPageToken.flatMap { $0.isEmpty ? nil : $0 })
    }

    /// Every registered model that matches, following the pages.
    public func allRegisteredModels(filter: String? = nil) async throws -> [RegisteredModel] {
        var all: [RegisteredModel] = []
        var token: String?
        repeat {
            let page = try await searchRegisteredModels(filter: filter, orderBy: ["name ASC"], pageToken: token)
            all += page.models
            token = page.nextPageToken
        } while token != nil
        return all
    }

    /// Sets a tag on a registered model.
    public func setRegisteredModelTag(name: String, key: String, value: String) async throws {
        try await call(
            "POST", "registered-models/set-tag",
            body: ["name": .string(name), "key": .string(key), "value": .string(value)], as: Empty.self)
    }

    /// Removes a tag from a registered model.
    public func deleteRegisteredModelTag(name: String, key: String) async throws {
        try await call("DELETE", "registered-models/delete-tag", body: ["name": .string(name), "key": .string(key)], as: Empty.self)
    }

    /// Deletes a registered model and all its versions.
    public func deleteRegisteredModel(name: String) async throws {
        try await call("DELETE", "registered-models/delete", body: ["name": .string(name)], as: Empty.self)
    }

    // MARK: Model versions

    /// Creates a model version; it starts PENDING_REGISTRATION. See ``waitUntilReady(name:version:timeout:)``.
    ///
    /// Created once: a create whose answer was lost is found again by its
    /// ``MLflowClient/createTokenTag`` instead of being sent twice.
    public func createModelVersion(
        name: String, source: String, runId: String? = nil, tags: [String: String] = [:],
        description: String? = nil
    ) async throws -> ModelVersion {
        var body: [String: JSONValue] = ["name": .string(name), "source": .string(source)]
        if let runId { body["run_id"] = .string(runId) }
        let token = UUID().uuidString
        var tags = tags
        tags[Self.createTokenTag] = token
        body["tags"] = .array(tags.keyValues.map { KeyValue(key: $0.key, value: MLflowKey.truncate($0.value, to: 5000)).json })
        if let description { body["description"] = .string(description) }
        return try await createOnce { once in
            try await once.call("POST", "model-versions/create", body: body, as: ModelVersionResponse.self).modelVersion
        } lookup: {
            var filter = "name='\(name.replacingOccurrences(of: "'", with: "\\'"))'"
            if let runId { filter += " and run_id='\(runId.replacingOccurrences(of: "'", with: "\\'"))'" }
            var page: String?
            repeat {
                let found = try await searchModelVersions(filter: filter, pageToken: page)
                if let made = found.versions.first(where: { $0.tags[Self.createTokenTag] == token }) { return made }
                page = found.nextPageToken
            } while page != nil
            return nil
        }
    }

    /// Polls a model version until it is READY.
    ///
    /// - Throws: ``MLflowError/registration(name:version:detail:)`` when it ends
    ///   FAILED_REGISTRATION or is not READY within `timeout`.
    @discardableResult
    public func waitUntilReady(name: String, version: String, timeout: Duration = .seconds(300)) async throws -> ModelVersion {
        let started = clock.now
        var delay = Duration.milliseconds(50)
        while true {
            let current = try await getModelVersion(name: name, version: version)
            switch current.status {
            case "READY": return current
            case "FAILED_REGISTRATION":
                throw MLflowError.registration(
                    name: name, version: version,
                    detail: current.statusMessage.isEmpty ? "FAILED_REGISTRATION" : current.statusMessage)
            default:
                if clock.now - started + delay > timeout {
                    throw MLflowError.registration(
                        name: name, version: version, detail: "still \(current.status) after \(timeout)")
                }
                try await clock.sleep(for: delay)
                delay = min(delay * 2, .seconds(2))
            }
        }
    }

    /// One model version.
    public func getModelVersion(name: String, version: String) async throws -> ModelVersion {
        try await get("model-versions/get", query: [("name", name), ("version", version)], as: ModelVersionResponse.self)
            .modelVersion
    }

    /// One page of model versions (`filter` such as `name='ppe'`). Aliases may not be filled in
    /// by the server here; ``getModelVersion(name:version:)`` has them.
    public func searchModelVersions(
        filter: String? = nil, orderBy: [String] = [], maxResults: Int = 10000, pageToken: String? = nil
    ) async throws -> (versions: [ModelVersion], nextPageToken: String?) {
        var query: [(String, String?)] = [("max_results", String(maxResults)), ("filter", filter), ("page_token", pageToken)]
        query += orderBy.map { ("order_by", $0) }
        let page = try await get("model-versions/search", query: query, as: SearchModelVersionsResponse.self)
        return (page.modelVersions ?? [], page.nextPageToken.flatMap { $0.isEmpty ? nil : $0 })
    }

    /// Every version of a registered model, newest first.
    public func allModelVersions(name: String) async throws -> [ModelVersion] {
        var all: [ModelVersion] = []
        var token: String?
        let filter = "name='\(name.replacingOccurrences(of: "'", with: "\\'"))'"
        repeat {
            let page = try await searchModelVersions(filter: filter, pageToken: token)
            all += page.versions
            token = page.nextPageToken
        } while token != nil
        return all.sorted { (Int($0.version) ?? 0) > (Int($1.version) ?? 0) }
    }

    /// Sets a tag on a model version.
    public func setModelVersionTag(name: String, version: String, key: String, value: String) async throws {
        try await call(
            "POST", "model-versions/set-tag",
            body: [
                "name": .string(name), "version": .string(version), "key": .string(key),
                "value": .string(MLflowKey.truncate(value, to: 5000)),
            ], as: Empty.self)
    }

    /// Removes a tag from a model version.
    public func deleteModelVersionTag(name: String, version: String, key: String) async throws {
        try await call(
            "DELETE", "model-versions/delete-tag",
            body: ["name": .string(name), "version": .string(version), "key": .string(key)], as: Empty.self)
    }

    /// Deletes a model version; aliases pointing at it go with it.
    public func deleteModelVersion(name: String, version: String) async throws {
        try await call("DELETE", "model-versions/delete", body: ["name": .string(name), "version": .string(version)], as: Empty.self)
    }

    /// Where a model version's files are (`model-versions/get-download-uri`).
    public func downloadURI(name: String, version: String) async throws -> String {
        try await get(
            "model-versions/get-download-uri", query: [("name", name), ("version", version)], as: DownloadURIResponse.self
        ).artifactUri
    }

    // MARK: Aliases

    /// Points `alias` at `version`, moving it if it pointed elsewhere.
    public func setAlias(name: String, alias: String, version: String) async throws {
        try await call(
            "POST", "registered-models/alias",
            body: ["name": .string(name), "alias": .string(alias), "version": .string(version)], as: Empty.self)
    }

    /// Removes an alias.
    public func deleteAlias(name: String, alias: String) async throws {
        try await call("DELETE", "registered-models/alias", body: ["name": .string(name), "alias": .string(alias)], as: Empty.self)
    }

    /// The version an alias points at, or nil when the alias is not set.
    public func modelVersion(name: String, alias: String) async throws -> ModelVersion? {
        do {
            return try await get("registered-models/alias", query: [("name", name), ("alias", alias)], as: ModelVersionResponse.self)
                .modelVersion
        } catch let error as MLflowError where error.isNotFound || error.isAliasNotFound {
            // MLflow answers INVALID_PARAMETER_VALUE "Registered model alias X not found.".
            return nil
        }
    }
}

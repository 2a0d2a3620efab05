import Foundation

extension MLflowClient {
    struct RunResponse: Decodable { var run: Run }
    struct SearchRunsResponse: Decodable {
        var runs: [Run]?
        var nextPageToken: String?
        enum CodingKeys: String, CodingKey {
            case runs
            case nextPageToken = "next_page_token"
        }
    }
    struct UpdateRunResponse: Decodable {
        var runInfo: RunInfo?
        enum CodingKeys: String, CodingKey { case runInfo = "run_info" }
    }
    struct MetricHistoryResponse: Decodable {
        var metrics: [Metric]?
        var nextPageToken: String?
        enum CodingKeys: String, CodingKey {
            case metrics
            case nextPageToken = "next_page_token"
        }
    }

    /// Creates a run in RUNNING state, once: a create whose answer was lost is found again by
    /// its ``MLflowClient/createTokenTag`` instead of being sent twice.
    ///
    /// - Parameter createToken: the token tagged on the run; a fresh one when nil. A caller that
    ///   records it first (a lease) can find the run even when this process dies mid-call.
    public func createRun(
        experimentId: String, runName: String? = nil, startTime: Int64 = mlflowTimestamp(),
        tags: [String: String] = [:], createToken: String = UUID().uuidString
    ) async throws -> RunInfo {
        var body: [String: JSONValue] = ["experiment_id": .string(experimentId), "start_time": .int(startTime)]
        if let runName { body["run_name"] = .string(runName) }
        var tags = tags
        tags[Self.createTokenTag] = createToken
        let cleanTags = tags.keyValues.map {
            KeyValue(key: MLflowKey.sanitize($0.key), value: MLflowKey.truncate($0.value, to: batchLimits.maxTagValueLength))
        }
        body["tags"] = .array(cleanTags.map(\.json))
        return try await createOnce { once in
            try await once.call("POST", "runs/create", body: body, as: RunResponse.self).run.info
        } lookup: {
            try await findRun(experimentId: experimentId, createToken: createToken)
        }
    }

    /// The run of an experiment that carries this create token, deleted ones included.
    public func findRun(experimentId: String, createToken: String) async throws -> RunInfo? {
        let filter = "tags.`\(Self.createTokenTag)` = '\(createToken.replacingOccurrences(of: "'", with: "\\'"))'"
        return try await searchRuns(experimentIds: [experimentId], filter: filter, viewType: .all, maxResults: 1).runs.first?.info
    }

    /// Records the datasets a run used (`runs/log-inputs`); MLflow keeps one dataset per name
    /// and digest, so logging the same one again adds nothing.
    public func logInputs(runId: String, datasets: [DatasetInput]) async throws {
        guard !datasets.isEmpty else { return }
        try await call(
            "POST", "runs/log-inputs", body: ["run_id": .string(runId), "datasets": .array(datasets.map(\.json))], as: Empty.self)
    }

    /// Sets a run's status and end time.
    @discardableResult
    public func updateRun(
        runId: String, status: RunStatus, endTime: Int64? = nil, runName: String? = nil
    ) async throws -> RunInfo? {
        var body: [String: JSONValue] = ["run_id": .string(runId), "status": .string(status.rawValue)]
        if let endTime { body["end_time"] = .int(endTime) }
        if let runName { body["run_name"] = .string(runName) }
        return try await call("POST", "runs/update", body: body, as: UpdateRunResponse.self).runInfo
    }

    /// Marks a run deleted (MLflow keeps it, restorable, until its garbage collection).
    public func deleteRun(runId: String) async throws {
        try await call("POST", "runs/delete", body: ["run_id": .string(runId)], as: Empty.self)
    }

    /// A run with its latest metrics, params and tags.
    public func getRun(id runId: String) async throws -> Run {
        try await get("runs/get", query: [("run_id", runId)], as: RunResponse.self).run
    }

    /// One page of runs.
    public func searchRuns(
        experimentIds: [String], filter: String? = nil, viewType: ViewType = .activeOnly,
        orderBy: [String] = [], maxResults: Int = 1000, pageToken: String? = nil
    ) async throws -> (runs: [Run], nextPageToken: String?) {
        var body: [String: JSONValue] = [
            "experiment_ids": .array(experimentIds.map { .string($0) }),
            "run_view_type": .string(viewType.rawValue), "max_results": .int(Int64(maxResults)),
        ]
        if let filter { body["filter"] = .string(filter) }
        if !orderBy.isEmpty { body["order_by"] = .array(orderBy.map { .string($0) }) }
        if let pageToken { body["page_token"] = .string(pageToken) }
        let page = try await call("POST", "runs/search", body: body, as: SearchRunsResponse.self)
        return (page.runs ?? [], page.nextPageToken.flatMap { $0.isEmpty ? nil : $0 })
    }

    /// Every run that matches, following the pages (up to `limit`). Any number of experiments:
    /// runs/search takes at most 100 at once, so more are asked 100 at a time.
    public func allRuns(
        experimentIds: [String], filter: String? = nil, viewType: ViewType = .activeOnly,
        orderBy: [String] = [], limit: Int = .max
    ) async throws -> [Run] {
        var all: [Run] = []
        for start in stride(from: 0, to: max(experimentIds.count, 1), by: 100) where all.count < limit {
            let chunk = Array(experimentIds[start..<min(start + 100, experimentIds.count)])
            var token: String?
            repeat {
                let page = try await searchRuns(
                    experimentIds: chunk, filter: filter, viewType: viewType, orderBy: orderBy,
                    maxResults: min(1000, max(1, limit - all.count)), pageToken: token)
                all += page.runs
                token = page.nextPageToken
            } while token != nil && all.count < limit
        }
        return all
    }

    /// Logs any number of metrics, params and tags, in as many requests as the server's limits
    /// need, in order. Non-finite metric values are dropped; keys are made valid; long values
    /// are truncated (see ``LogBatchPlanner``).
    ///
    /// - Parameter concurrency: how many of the requests it splits into may be in flight at once
    ///   (a replay of many metrics); 1 sends them in order.
    public func logBatch(
        runId: String, metrics: [Metric] = [], params: [KeyValue] = [], tags: [KeyValue] = [], concurrency: Int = 1
    ) async throws {
        let batches = LogBatchPlanner(limits: batchLimits).plan(metrics: metrics, params: params, tags: tags)
        @Sendable func send(_ batch: LogBatch) async throws {
            try await call(
                "POST", "runs/log-batch",
                body: [
                    "run_id": .string(runId),
                    "metrics": .array(batch.metrics.map(\.json)),
                    "params": .array(batch.params.map(\.json)),
                    "tags": .array(batch.tags.map(\.json)),
                ], as: Empty.self)
        }
        guard concurrency > 1, batches.count > 1 else {
            for batch in batches { try await send(batch) }
            return
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            var running = 0
            for batch in batches {
                if running == concurrency {
                    try await group.next()
                    running -= 1
                }
                group.addTask { try await send(batch) }
                running += 1
            }
            try await group.waitForAll()
        }
    }

    /// Sets (overwrites) one run tag.
    public func setTag(runId: String, key: String, value: String) async throws {
        try await call(
            "POST", "runs/set-tag",
            body: [
                "run_id": .string(runId), "key": .string(MLflowKey.sanitize(key)),
                "value": .string(MLflowKey.truncate(value, to: batchLimits.maxTagValueLength)),
            ], as: Empty.self)
    }

    /// Every point of one metric, following the pages.
    public func metricHistory(runId: String, key: String) async throws -> [Metric] {
        var all: [Metric] = []
        var token: String?
        repeat {
            let page = try await get(
                "metrics/get-history",
                query: [("run_id", runId), ("metric_key", key), ("max_results", "25000"), ("page_token", token)],
                as: MetricHistoryResponse.self)
            all += page.metrics ?? []
            token = page.nextPageToken.flatMap { $0.isEmpty ? nil : $0 }
        } while token != nil
        return all
    }
}

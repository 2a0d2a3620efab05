import MLflow

/// The experiments guardianflow trains in, marked as model training: MLflow 3's UI opens an
/// experiment without a kind as a GenAI one (evaluation runs, traces), not as training runs.
public enum TrainingExperiment {
    /// The experiment tag MLflow's UI reads, and the value for model training.
    public static let kindTag = "mlflow.experimentKind"
    public static let kind = "custom_model_development"

    /// The experiment of this name, created (or restored) when needed, with its kind set.
    static func named(_ name: String, client: MLflowClient) async throws -> Experiment {
        let experiment = try await client.getOrCreateExperiment(named: name, tags: [kindTag: kind])
        try await markKind(experiment, client: client)
        return experiment
    }

    /// Sets the kind on an experiment that has none; a kind someone set is left alone.
    static func markKind(_ experiment: Experiment, client: MLflowClient) async throws {
        guard experiment.tags[kindTag] == nil else { return }
        try await client.setExperimentTag(experimentId: experiment.experimentId, key: kindTag, value: kind)
    }
}

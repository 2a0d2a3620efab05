/// What `guardianflow import` was asked to do.
public struct ImportOptions: Sendable {
    /// The experiment the runs go to (made when missing).
    public var experiment: String
    public var customer: String?
    public var task: String?
    /// Register the best.pt of FINISHED runs as model versions (no alias is moved).
    public var register = false
    /// The registered model: `--model-name`, else `<customer>-<task>`, else the experiment.
    public var modelName: String?
    /// Upload the files (weights, results.csv, args, plots, the manifest); off: params, metrics and tags only.
    public var uploadArtifacts = true
    /// How many runs are imported at once.
    public var concurrency = 4

    public init(experiment: String) {
        self.experiment = experiment
    }

    public var registeredModelName: String {
        if let modelName, !modelName.isEmpty { return modelName }
        if let customer, let task, !customer.isEmpty, !task.isEmpty { return "\(customer)-\(task)" }
        return experiment
    }
}

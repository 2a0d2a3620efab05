import Config
import Delivery
import Foundation
import GuardianFlowCore
import MLflow
import S3
import SystemMonitoring
import Tracking

/// Checks that everything a training needs is in place, one ``DoctorCheck`` each.
///
/// It never starts the local server: it says whether it answers and how to start it.
public struct Doctor: Sendable {
    public var settings: Settings
    public var nvml: @Sendable () -> NVMLAvailability

    public init(settings: Settings, nvml: (@Sendable () -> NVMLAvailability)? = nil) {
        self.settings = settings
        self.nvml = nvml ?? { NVMLAvailability.probe(path: settings.nvmlLibrary) }
    }

    /// Runs every check.
    public func run() async -> [DoctorCheck] {
        var checks: [DoctorCheck] = []
        checks.append(configCheck())
        let tracking = await trackingCheck()
        checks.append(tracking.check)
        if let client = tracking.client {
            checks.append(await artifactCheck(client))
        } else {
            checks.append(
                DoctorCheck(
                    name: "artifact store", outcome: .skipped, detail: "needs the tracking server", required: false))
        }
        checks.append(await s3Check())
        checks.append(await pythonCheck())
        checks.append(nvmlCheck())
        checks.append(leftoversCheck())
        return checks
    }

    /// What dead guardianflow processes left in the work dir: journals waiting for delivery,
    /// runs whose holder is gone.
    func leftoversCheck() -> DoctorCheck {
        let workDir = settings.workDir
        let leases = RunLease.all(workDir: workDir)
        let live = Set(leases.filter(\.holderIsAlive).map(\.runId))
        let zombies = leases.filter { !$0.holderIsAlive }.map { $0.isPending ? "a run being created" : $0.runId }
        let journals = RunJournal.runIds(workDir: workDir).filter { !live.contains($0) }
        if zombies.isEmpty && journals.isEmpty {
            let running = live.isEmpty ? "no training running" : "\(live.count) training(s) running"
            return DoctorCheck(name: "journals, leases", outcome: .ok, detail: "nothing left behind; \(running)", required: false)
        }
        var parts: [String] = []
        if !journals.isEmpty { parts.append("\(journals.count) journal(s) not delivered (\(journals.prefix(3).joined(separator: ", ")))") }
        if !zombies.isEmpty { parts.append("\(zombies.count) run(s) whose guardianflow process is gone (\(zombies.prefix(3).joined(separator: ", ")))") }
        return DoctorCheck(
            name: "journals, leases", outcome: .warning, detail: parts.joined(separator: "; ") + " in \(workDir)",
            fix: "guardianflow sync delivers the journals; guardianflow runs reap also ends the runs left RUNNING", required: false)
    }

    func configCheck() -> DoctorCheck {
        let file = settings.configFile.map { "config file \($0)" } ?? "no config file (using flags, environment, defaults)"
        return DoctorCheck(name: "config", outcome: .ok, detail: "\(file); work dir \(settings.workDir)", required: false)
    }

    func trackingCheck() async -> (check: DoctorCheck, client: MLflowClient?) {
        let connector = TrackingConnector(settings: settings)
        let client: MLflowClient
        do {
            client = try connector.makeClient(retry: RetryPolicy(maxAttempts: 2, budget: .seconds(2)))
        } catch {
            return (
                DoctorCheck(
                    name: "tracking server", outcome: .failed, detail: "\(error)", fix: "fix MLFLOW_TRACKING_URI",
                    exitCode: 65), nil
            )
        }
        let uri = TrackingURI.redact(client.trackingURI.baseURL)
        do {
            let version = try await client.serverVersion()
            // A read that needs auth: /version may be open while the API is not.
            _ = try await client.searchExperiments(maxResults: 1)
            let which = connector.usesEmbeddedServer ? "local server" : "server"
            return (DoctorCheck(name: "tracking server", outcome: .ok, detail: "\(which) \(uri) answers, MLflow \(version)"), client)
        } catch let error as MLflowError {
            if case .authenticationRefused = error {
                return (
                    DoctorCheck(
                        name: "tracking server", outcome: .failed, detail: "\(uri) refused the credentials",
                        fix: "set MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD or MLFLOW_TRACKING_TOKEN",
                        exitCode: 77), nil
                )
            }
            let fix =
                connector.usesEmbeddedServer
                ? "run `guardianflow server start` (or any command that needs it starts it)"
                : "check that the server at \(uri) runs and MLFLOW_TRACKING_URI is right"
            let detail: String
            switch error {
            case .unreachable(_, let why, _): detail = "\(uri) is not answering (\(why))"
            default: detail = "\(uri): \(error)"
            }
            return (
                DoctorCheck(
                    name: "tracking server", outcome: .failed, detail: detail, fix: fix,
                    exitCode: GuardianFlowError.exitCode(for: error)), nil
            )
        } catch {
            return (DoctorCheck(name: "tracking server", outcome: .failed, detail: "\(error)", fix: nil), nil)
        }
    }

    func artifactCheck(_ client: MLflowClient) async -> DoctorCheck {
        let probe = "guardianflow-doctor/probe-\(UUID().uuidString.lowercased()).txt"
        do {
            try await client.uploadArtifact(data: Data("guardianflow doctor probe\n".utf8), to: probe)
            try? await client.deleteArtifact(probe)
            return DoctorCheck(name: "artifact store", outcome: .ok, detail: "the server's artifact proxy accepts uploads")
        } catch let error as MLflowError {
            if let status = error.status, status == 404 || status == 503 || status == 501 {
                return DoctorCheck(
                    name: "artifact store", outcome: .warning,
                    detail: "the server does not proxy artifacts (HTTP \(status)); runs will write to their artifact URI directly",
                    fix: "start mlflow server with --serve-artifacts, or configure S3 (MLFLOW_S3_ENDPOINT_URL)",
                    required: false)
            }
            return DoctorCheck(
                name: "artifact store", outcome: .failed, detail: "upload through the proxy failed: \(error)",
                fix: "check the server's --artifacts-destination is writable", exitCode: 69)
        } catch {
            return DoctorCheck(name: "artifact store", outcome: .failed, detail: "\(error)", exitCode: 69)
        }
    }

    func s3Check() async -> DoctorCheck {
        guard let endpoint = settings[.s3EndpointURL] else {
            return DoctorCheck(
                name: "S3 store", outcome: .skipped, detail: "no MLFLOW_S3_ENDPOINT_URL set (artifacts go through the tracking server)",
                required: false)
        }
        guard let configuration = settings.s3Configuration else {
            return DoctorCheck(
                name: "S3 store", outcome: .failed, detail: "\(Redaction.redactURIs(endpoint)) is set but credentials are missing",
                fix: "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", exitCode: 77)
        }
        var quick = configuration
        quick.retry = RetryPolicy(maxAttempts: 2, budget: .seconds(2))
        quick.requestTimeout = .seconds(5)
        let key = Redaction.maskAccessKey(configuration.accessKeyId)
        do {
            let buckets = try await S3Client(configuration: quick).listBuckets()
            return DoctorCheck(
                name: "S3 store", outcome: .ok,
                detail: "\(Redaction.redactURIs(endpoint)) accepts key \(key) (region \(configuration.region)); \(buckets.count) bucket(s) visible")
        } catch let error as S3Error {
            let code: Int32 = error.isCredentials ? 77 : 69
            return DoctorCheck(
                name: "S3 store", outcome: .failed, detail: error.description,
                fix: error.isCredentials ? "fix AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY" : "check MLFLOW_S3_ENDPOINT_URL and that the store runs",
                exitCode: code)
        } catch {
            return DoctorCheck(name: "S3 store", outcome: .failed, detail: "\(error)", exitCode: 69)
        }
    }

    func pythonCheck() async -> DoctorCheck {
        let python = PythonEnvironment.locate(settings: settings)
        guard python.exists else {
            return DoctorCheck(
                name: "python venv", outcome: .failed, detail: "no Python at \(python.python)",
                fix: "run scripts/setup, or set GUARDIANFLOW_PYTHON", exitCode: 65)
        }
        do {
            let versions = try await python.packageVersions()
            let missing = versions.filter { $0.value == nil }.map(\.key).sorted()
            let found = versions.compactMap { key, value in value.map { "\(key) \($0)" } }.sorted().joined(separator: ", ")
            if !missing.isEmpty {
                return DoctorCheck(
                    name: "python venv", outcome: .failed, detail: "\(python.python): missing \(missing.joined(separator: ", "))",
                    fix: "run scripts/setup (pip install -r python/requirements.txt)", exitCode: 65)
            }
            return DoctorCheck(name: "python venv", outcome: .ok, detail: "\(python.python): \(found)")
        } catch {
            return DoctorCheck(
                name: "python venv", outcome: .failed, detail: "\(error)", fix: "run scripts/setup", exitCode: 65)
        }
    }

    func nvmlCheck() -> DoctorCheck {
        switch nvml() {
        case .available(let path, let devices):
            let gpus = devices.isEmpty ? "no GPU listed" : devices.enumerated().map { "\($0.offset): \($0.element)" }.joined(separator: ", ")
            return DoctorCheck(
                name: "NVML", outcome: devices.isEmpty ? .warning : .ok,
                detail: "\(path) loads; \(gpus); GPU metrics will be logged for the training's GPU", required: false)
        case .absent(let reason):
            return DoctorCheck(
                name: "NVML", outcome: .warning, detail: "absent (\(reason)); training works, without GPU metrics",
                fix: "on a GPU machine install the NVIDIA driver (libnvidia-ml.so.1), or set GUARDIANFLOW_NVML_LIBRARY to its path",
                required: false)
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GuardianFlow
import MLflow
import Testing
import TestSupport

/// Every command against bad input: arguments, config files, environment values, data YAML,
/// server answers (4xx, 5xx, garbage, timeouts, closed connections, TLS), S3. Each gets its
/// documented exit code and a message that says what to do, never a stack trace, and leaves
/// nothing behind in MLflow.
@Suite("Bad-input catalogue", .mlflowServer, .serialized)
struct BadInputCatalogueTests {
    /// Where a case's tracking URI points.
    enum Target: Sendable {
        /// The suite's real MLflow server (its state is compared before and after).
        case real
        /// A scripted HTTP server answering every request the same way.
        case fake(FakeAnswer)
        /// TLS to a server that speaks plain HTTP.
        case tlsToPlain
        /// A port nothing listens on.
        case nothing
        /// A real MLflow server whose artifact root is s3://bucket/prefix at an endpoint nobody answers.
        case s3Root
    }

    enum FakeAnswer: Sendable {
        case status(Int, String)
        case garbage
        case html502
        case close
        case slow
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var arguments: [String]
        var target: Target = .real
        var environment: [String: String] = [:]
        /// Written to a file whose path replaces `@config` in the arguments.
        var configFile: String?
        var exitCode: Int32
        var message: String
        var testDescription: String { name }
    }

    static let data = TestEnvironment.repoRoot + "/examples/ppe-sample/data.yaml"
    static func train(_ extra: [String] = [], data: String = data) -> [String] {
        ["train", "--experiment", "catalogue", "--data", data, "--model", "yolov8n.yaml", "--epochs", "1", "--imgsz", "32",
         "--device", "cpu"] + extra
    }

    /// Data YAML variants, written at test time under @tmp.
    static let yamlFiles: [String: String] = [
        "unparseable.yaml": "train: [unclosed\n",
        "nonames.yaml": "path: \(TestEnvironment.repoRoot)/examples/ppe-sample\ntrain: images/train\nval: images/val\n",
        "missingdir.yaml": "path: /nonexistent/ds\ntrain: images/train\nval: images/val\nnames: {0: a}\n",
        "notrain.yaml": "path: \(TestEnvironment.repoRoot)/examples/ppe-sample\nval: images/val\nnames: {0: a}\n",
        "a-file": "not a folder\n",
    ]

    static let cases: [Case] = [
        // Arguments (ArgumentParser: 64)
        Case(name: "unknown command", arguments: ["frobnicate"], exitCode: 64, message: "Unexpected argument 'frobnicate'"),
        Case(name: "train without --experiment", arguments: ["train", "--data", "d.yaml", "--model", "m"], exitCode: 64, message: "Missing --experiment"),
        Case(name: "train without --data", arguments: ["train", "--experiment", "x", "--model", "m"], exitCode: 64, message: "Missing --data"),
        Case(name: "train --epochs not a number", arguments: train(["--epochs", "abc"]), exitCode: 64, message: "'abc' is invalid for '--epochs"),
        Case(name: "train --tag without =", arguments: train(["--tag", "novalue"]), exitCode: 64, message: "must be key=value"),
        Case(
            name: "train --resume with settings the run fixed", arguments: ["train", "--resume", "0123abcd", "--epochs", "5", "--batch", "8"],
            exitCode: 64, message: "--epochs, --batch cannot be given with it"),
        Case(name: "promote without a model", arguments: ["promote"], exitCode: 64, message: "Missing expected argument '<model>'"),
        Case(name: "promote --margin below 0", arguments: ["promote", "m", "--margin=-1"], exitCode: 64, message: "--margin must be 0 or more"),
        Case(name: "pull of a malformed reference", arguments: ["pull", "a@", "-o", "@tmp/out"], exitCode: 64, message: "not a model reference"),
        Case(name: "list of an unknown kind", arguments: ["list", "foo"], exitCode: 64, message: "Unexpected argument 'foo'"),
        Case(name: "system-metrics --interval 0", arguments: ["system-metrics", "--interval", "0"], exitCode: 64, message: "--interval must be"),
        Case(name: "system-metrics --count 0", arguments: ["system-metrics", "--count", "0"], exitCode: 64, message: "--count must be 1 or more"),
        // Training inputs (65, checked before anything reaches MLflow)
        Case(name: "train --epochs 0", arguments: train(["--epochs", "0"]), exitCode: 65, message: "--epochs"),
        Case(name: "train --batch 0", arguments: train(["--batch", "0"]), exitCode: 65, message: "--batch"),
        Case(name: "train --imgsz 0", arguments: train(["--imgsz", "0"]), exitCode: 65, message: "--imgsz"),
        Case(name: "train --device tpu", arguments: train(["--device", "tpu"]), exitCode: 65, message: "not a device"),
        Case(name: "train --device naming a GPU twice", arguments: train(["--device", "0,0"]), exitCode: 65, message: "names GPU 0 twice"),
        Case(name: "train with an unknown model config", arguments: ["train", "--experiment", "catalogue", "--data", data, "--model", "yolov99z.yaml"],
             exitCode: 65, message: "not an ultralytics model config"),
        Case(name: "train with missing weights", arguments: ["train", "--experiment", "catalogue", "--data", data, "--model", "/nonexistent/best.pt"],
             exitCode: 65, message: "does not exist"),
        Case(name: "train with a missing data YAML", arguments: train(data: "/nonexistent/data.yaml"), exitCode: 65, message: "does not exist"),
        Case(name: "train with an unparseable data YAML", arguments: train(data: "@tmp/unparseable.yaml"), exitCode: 65, message: "not valid YAML"),
        Case(name: "train with a data YAML without names", arguments: train(data: "@tmp/nonames.yaml"), exitCode: 65, message: "no 'names:' key"),
        Case(name: "train with a data YAML without train", arguments: train(data: "@tmp/notrain.yaml"), exitCode: 65, message: "no 'train:' key"),
        Case(name: "train with image folders that do not exist", arguments: train(data: "@tmp/missingdir.yaml"), exitCode: 65, message: "does not exist"),
        Case(name: "train --resume of an unknown run", arguments: ["train", "--resume", "0123456789abcdef0123456789abcdef"], exitCode: 6, message: "There is no run"),
        // Config files (65)
        Case(name: "--config that does not exist", arguments: ["list", "models", "--config", "/nonexistent/guardianflow.yaml"], exitCode: 65,
             message: "does not exist. Create it or drop --config"),
        Case(name: "config file that is a list", arguments: ["list", "models", "--config", "@config"], configFile: "- a\n- b\n", exitCode: 65,
             message: "must be a YAML mapping"),
        Case(name: "config file with a misspelt key", arguments: ["list", "models", "--config", "@config"], configFile: "trackng_uri: http://x\n",
             exitCode: 65, message: "unknown key 'trackng_uri'"),
        Case(name: "config file that is not YAML", arguments: ["list", "models", "--config", "@config"], configFile: "tracking_uri: [x\n",
             exitCode: 65, message: "not valid YAML"),
        Case(name: "config server_port out of range", arguments: ["config", "show", "--config", "@config"], configFile: "server_port: 99999\n",
             exitCode: 65, message: "port number between 1 and 65535"),
        Case(name: "config system_metrics_interval negative", arguments: ["train", "--config", "@config"] + train().dropFirst(),
             configFile: "system_metrics_interval: -1\n", exitCode: 65, message: "system_metrics_interval (from file"),
        // Environment values (65)
        Case(name: "MLFLOW_TRACKING_URI not http", arguments: ["list", "models"], target: .fake(.status(200, "{}")),
             environment: ["MLFLOW_TRACKING_URI": "ftp://example"], exitCode: 65, message: "over http(s)"),
        Case(name: "GUARDIANFLOW_SERVER_PORT not a number", arguments: ["server", "status"], environment: ["GUARDIANFLOW_SERVER_PORT": "abc"],
             exitCode: 65, message: "server_port (from env GUARDIANFLOW_SERVER_PORT)"),
        Case(name: "GUARDIANFLOW_HTTP_RETRY_SECONDS negative", arguments: ["list", "models"], environment: ["GUARDIANFLOW_HTTP_RETRY_SECONDS": "-5"],
             exitCode: 65, message: "from 0 to 3600"),
        Case(name: "MLFLOW_TRACKING_INSECURE_TLS not a boolean", arguments: ["list", "models"], environment: ["MLFLOW_TRACKING_INSECURE_TLS": "perhaps"],
             exitCode: 65, message: "true, false, 1 or 0"),
        Case(name: "GUARDIANFLOW_OUTAGE_WAIT_SECONDS not a number", arguments: train(), environment: ["GUARDIANFLOW_OUTAGE_WAIT_SECONDS": "forever"],
             exitCode: 65, message: "outage_wait_seconds"),
        Case(name: "GUARDIANFLOW_HTTP_TIMEOUT_SECONDS zero", arguments: ["list", "models"], environment: ["GUARDIANFLOW_HTTP_TIMEOUT_SECONDS": "0"],
             exitCode: 65, message: "http_timeout_seconds"),
        Case(name: "a work dir that cannot be written", arguments: train(), environment: ["GUARDIANFLOW_WORK_DIR": "@tmp/a-file/work"],
             exitCode: 65, message: "is not writable"),
        Case(name: "GUARDIANFLOW_NVML_LIBRARY missing, a GPU asked for", arguments: ["system-metrics", "--device", "0"],
             environment: ["GUARDIANFLOW_NVML_LIBRARY": "/nonexistent/libnvidia-ml.so.1"], exitCode: 69, message: "GUARDIANFLOW_NVML_LIBRARY"),
        // Server answers
        Case(name: "server answers 500", arguments: ["list", "models"], target: .fake(.status(500, #"{"error_code": "INTERNAL_ERROR", "message": "boom"}"#)),
             exitCode: 69, message: "HTTP 500"),
        Case(name: "server answers 503", arguments: ["list", "experiments"], target: .fake(.status(503, "{}")), exitCode: 69, message: "HTTP 503"),
        Case(name: "server answers garbage JSON", arguments: ["list", "models"], target: .fake(.garbage), exitCode: 69, message: "is not MLflow's API"),
        Case(name: "a proxy answers an HTML 502", arguments: ["list", "runs", "--experiment", "x"], target: .fake(.html502), exitCode: 69, message: "502"),
        Case(name: "server closes the connection", arguments: ["list", "models"], target: .fake(.close), exitCode: 69, message: "not answering"),
        Case(name: "server too slow (request timeout)", arguments: ["list", "models"], target: .fake(.slow),
             environment: ["GUARDIANFLOW_HTTP_TIMEOUT_SECONDS": "1"], exitCode: 69, message: "not answering"),
        Case(name: "server refuses the credentials (401)", arguments: ["list", "models"],
             target: .fake(.status(401, #"{"error_code": "UNAUTHENTICATED", "message": "nope"}"#)),
             environment: ["MLFLOW_TRACKING_USERNAME": "u", "MLFLOW_TRACKING_PASSWORD": "wrong-password"], exitCode: 77, message: "refused the credentials"),
        Case(name: "server forbids (403)", arguments: ["promote", "m"], target: .fake(.status(403, #"{"error_code": "PERMISSION_DENIED"}"#)),
             exitCode: 77, message: "refused the credentials"),
        Case(name: "train against a server answering 500", arguments: train(), target: .fake(.status(500, "{}")), exitCode: 69, message: "HTTP 500"),
        Case(name: "TLS to a plain-HTTP server", arguments: ["list", "models"], target: .tlsToPlain, exitCode: 69, message: "TLS"),
        Case(name: "nothing listening", arguments: ["history", "m"], target: .nothing, exitCode: 69, message: "not answering"),
        // Registry state on a real server (6)
        Case(name: "promote an unknown model", arguments: ["promote", "no-such-model"], exitCode: 6, message: "no registered model 'no-such-model'"),
        Case(name: "rollback an unknown model", arguments: ["rollback", "no-such-model"], exitCode: 6, message: "no registered model"),
        Case(name: "models show of an unknown model", arguments: ["models", "show", "no-such-model"], exitCode: 6, message: "no registered model"),
        Case(name: "history of an unknown model", arguments: ["history", "no-such-model"], exitCode: 6, message: "no registered model"),
        Case(name: "pull of an unknown model", arguments: ["pull", "no-such-model@champion", "-o", "@tmp/pulled"], exitCode: 6, message: "no registered model"),
        // S3 (an s3:// artifact root)
        Case(name: "s3 artifact root without AWS credentials", arguments: train(), target: .s3Root, exitCode: 65, message: "AWS_ACCESS_KEY_ID"),
        Case(name: "s3 endpoint nobody answers", arguments: train(), target: .s3Root,
             environment: ["AWS_ACCESS_KEY_ID": "AKIDCATALOGUE", "AWS_SECRET_ACCESS_KEY": "catalogue-secret", "S3_ENDPOINT_URL": "http://127.0.0.1:1"],
             exitCode: 69, message: "127.0.0.1:1"),
    ]

    /// What MLflow holds: experiments, runs, models and versions.
    static func snapshot(_ client: MLflowClient) async throws -> [String] {
        let experiments = try await client.allExperiments()
        let runs = try await client.allRuns(experimentIds: experiments.map(\.experimentId))
        let models = try await client.allRegisteredModels()
        var versions: [String] = []
        for model in models { versions += try await client.allModelVersions(name: model.name).map { "\(model.name)/\($0.version)" } }
        return experiments.map { "experiment \($0.name)" } + runs.map { "run \($0.info.runId)" } + models.map { "model \($0.name)" } + versions
    }

    @Test("each bad input: its exit code, a message saying what to do, no stack trace, nothing left in MLflow", arguments: cases)
    func badInput(_ badCase: Case) async throws {
        #expect(Self.cases.count >= 40)
        let server = try currentServer()
        let tmp = TestEnvironment.temporaryDirectory("catalogue")
        for (name, text) in Self.yamlFiles { try text.write(toFile: "\(tmp)/\(name)", atomically: true, encoding: .utf8) }
        var arguments = badCase.arguments.map { $0.replacingOccurrences(of: "@tmp", with: tmp) }
        if let config = badCase.configFile {
            try config.write(toFile: "\(tmp)/guardianflow.yaml", atomically: true, encoding: .utf8)
            arguments = arguments.map { $0 == "@config" ? "\(tmp)/guardianflow.yaml" : $0 }
        }
        var environment = ["GUARDIANFLOW_WORK_DIR": "\(tmp)/work", "GUARDIANFLOW_HTTP_RETRY_SECONDS": "0.5"]

        var fake: TestHTTPServer?
        var s3Server: MLflowTestServer?
        switch badCase.target {
        case .real:
            environment["MLFLOW_TRACKING_URI"] = server.uri
        case .fake(let answer):
            let started = try await TestHTTPServer { _ in
                switch answer {
                case .status(let status, let body): .json(body, status: status)
                case .garbage: .json("this is not {json")
                case .html502: .reply(status: 502, headers: [("Content-Type", "text/html")], body: Data("<html><body>Bad Gateway</body></html>".utf8))
                case .close: .close
                case .slow: .delayed(.seconds(5), status: 200, body: Data("{}".utf8))
                }
            }
            fake = started
            environment["MLFLOW_TRACKING_URI"] = started.url
        case .tlsToPlain:
            let started = try await TestHTTPServer { _ in .json("{}") }
            fake = started
            environment["MLFLOW_TRACKING_URI"] = started.url.replacingOccurrences(of: "http://", with: "https://")
        case .nothing:
            environment["MLFLOW_TRACKING_URI"] = "http://127.0.0.1:\(TestEnvironment.freePort())"
        case .s3Root:
            let started = try await MLflowTestServer.start(defaultArtifactRoot: "s3://catalogue-bucket/mlflow")
            s3Server = started
            environment["MLFLOW_TRACKING_URI"] = started.uri
        }
        for (key, value) in badCase.environment { environment[key] = value.replacingOccurrences(of: "@tmp", with: tmp) }
        defer {
            if let fake { Task { await fake.shutdown() } }
        }

        let stateClient = try (s3Server ?? server).client()
        let before = try await Self.snapshot(stateClient)
        let result = try await CLI.run(arguments, environment: TestEnvironment.cleanEnvironment(environment), timeout: .seconds(120))
        let after = try await Self.snapshot(stateClient)
        if let s3Server { await s3Server.stop() }

        #expect(result.exitCode == badCase.exitCode, "\(badCase.name): exit \(result.exitCode)\n\(result.stderr)")
        #expect(result.stderr.contains(badCase.message), "\(badCase.name): stderr does not say '\(badCase.message)':\n\(result.stderr)")
        for trace in ["Fatal error", "Stack dump", "Traceback (most recent call last)", "Current stack trace", "#0 0x"] {
            #expect(!result.stderr.contains(trace) && !result.stdout.contains(trace), "\(badCase.name): a stack trace:\n\(result.stderr)")
        }
        #expect(result.stderr.split(separator: "\n").count <= 12, "\(badCase.name): a message, not a dump:\n\(result.stderr)")
        #expect(after == before, "\(badCase.name) left something in MLflow: \(Set(after).symmetricDifference(before))")
        if let secret = badCase.environment["AWS_SECRET_ACCESS_KEY"] ?? badCase.environment["MLFLOW_TRACKING_PASSWORD"] {
            #expect(!result.stderr.contains(secret) && !result.stdout.contains(secret), "\(badCase.name): the secret was printed")
        }
    }
}

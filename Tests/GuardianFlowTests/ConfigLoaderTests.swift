import Foundation
import GuardianFlow
import Testing
import TestSupport

@Suite("Configuration: flags > environment > file > defaults")
struct ConfigLoaderTests {
    func loader(env: [String: String] = [:], file: String? = nil) throws -> (ConfigLoader, String) {
        let dir = TestEnvironment.temporaryDirectory("config")
        if let file { try file.write(toFile: dir + "/guardianflow.yaml", atomically: true, encoding: .utf8) }
        return (ConfigLoader(environment: env, currentDirectory: dir, homeDirectory: dir + "/home"), dir)
    }

    @Test("each layer wins over the ones below it, and says where it came from")
    func precedence() throws {
        let (loader, dir) = try loader(
            env: ["MLFLOW_TRACKING_URI": "http://env:5000", "AWS_DEFAULT_REGION": "eu-west-1"],
            file: "tracking_uri: http://file:5000\naws_default_region: ap-east-1\nserver_port: 5055\n")
        let settings = try loader.load(flags: [.trackingURI: "http://flag:5000"])
        #expect(settings.trackingURI == "http://flag:5000")
        #expect(settings.source(of: .trackingURI) == .flag("--tracking-uri"))
        #expect(settings.awsRegion == "eu-west-1")
        #expect(settings.source(of: .awsDefaultRegion) == .environment("AWS_DEFAULT_REGION"))
        #expect(settings.serverPort == 5055)
        #expect(settings.source(of: .serverPort) == .file(dir + "/guardianflow.yaml"))
        #expect(settings.source(of: .httpRetrySeconds) == .defaultValue)
        #expect(settings.workDir == dir + "/home/.guardianflow")
    }

    @Test("the shorter aliases S3_ENDPOINT_URL and WORK_DIR work; the MLflow names win")
    func aliases() throws {
        let (loader, dir) = try loader(env: ["S3_ENDPOINT_URL": "http://s3:8333", "WORK_DIR": "rel/work"])
        let settings = try loader.load()
        #expect(settings[.s3EndpointURL] == "http://s3:8333")
        #expect(settings.workDir == dir + "/rel/work")
        let (both, _) = try self.loader(env: ["S3_ENDPOINT_URL": "http://b:1", "MLFLOW_S3_ENDPOINT_URL": "http://a:1"])
        #expect(try both.load()[.s3EndpointURL] == "http://a:1")
    }

    @Test("a file may use the environment names as keys")
    func environmentNamesInFile() throws {
        let (loader, _) = try loader(file: "MLFLOW_TRACKING_URI: http://x:1\n")
        #expect(try loader.load().trackingURI == "http://x:1")
    }

    @Test(
        "bad config is refused naming the key and the fix",
        arguments: [
            ("tracking_uri: [a, b]\n", "single value"),
            ("trackng_uri: http://x\n", "unknown key 'trackng_uri'"),
            ("tracking_uri: file:///tmp/mlruns\n", "over http(s)"),
            ("server_port: 99999\n", "port number"),
            ("http_retry_seconds: soon\n", "number of seconds"),
            ("tracking_insecure_tls: yes please\n", "true, false, 1 or 0"),
            ("- just\n- a list\n", "YAML mapping"),
            ("a: [unclosed\n", "not valid YAML"),
        ])
    func badFiles(text: String, expected: String) throws {
        let (loader, _) = try loader(file: text)
        #expect {
            try loader.load()
        } throws: { error in
            guard let error = error as? GuardianFlowError, error.exitCode == 65 else { return false }
            return error.description.contains(expected)
        }
    }

    @Test("a missing --config file is an error; an empty file is fine")
    func explicitFile() throws {
        let (loader, dir) = try loader(file: "")
        #expect(throws: GuardianFlowError.self) { try loader.load(configFile: dir + "/nope.yaml") }
        #expect(try loader.load().configFile == dir + "/guardianflow.yaml")
    }

    @Test("MLflow's boolean rule for MLFLOW_TRACKING_INSECURE_TLS")
    func booleans() throws {
        for (text, value) in [("true", true), ("TRUE", true), ("1", true), ("false", false), ("0", false)] {
            let (loader, _) = try loader(env: ["MLFLOW_TRACKING_INSECURE_TLS": text])
            #expect(try loader.load().insecureTLS == value)
        }
        let (bad, _) = try loader(env: ["MLFLOW_TRACKING_INSECURE_TLS": "yes"])
        #expect(throws: GuardianFlowError.self) { try bad.load() }
    }

    @Test("secrets are masked and URI passwords redacted in what is shown")
    func masking() throws {
        let (loader, _) = try loader(env: [
            "MLFLOW_TRACKING_URI": "http://ann:hunter22@host:5000", "MLFLOW_TRACKING_PASSWORD": "pw-canary-1",
            "MLFLOW_TRACKING_TOKEN": "tok-canary-2", "AWS_SECRET_ACCESS_KEY": "aws-canary-3", "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        ])
        let settings = try loader.load()
        let shown = settings.all.map(\.displayValue).joined(separator: " ")
        for secret in ["hunter22", "pw-canary-1", "tok-canary-2", "aws-canary-3", "AKIDEXAMPLE"] {
            #expect(!shown.contains(secret))
        }
        #expect(shown.contains("http://ann:****@host:5000"))
        #expect(shown.contains("AKID****"))
        #expect(Set(settings.secretValues) == ["pw-canary-1", "tok-canary-2", "aws-canary-3"])
        #expect(Redaction.scrub("x pw-canary-1 y", secrets: settings.secretValues) == "x **** y")
    }
}

@Suite("Exit codes")
struct ExitCodeTests {
    @Test("MLflow failures map to the documented codes")
    func mapping() {
        #expect(GuardianFlowError.mlflow(.unreachable(uri: "u", detail: "d", attempts: 1)).exitCode == 69)
        #expect(GuardianFlowError.mlflow(.authenticationRefused(uri: "u", status: 401, message: "")).exitCode == 77)
        #expect(GuardianFlowError.mlflow(.api(endpoint: "e", status: 404, errorCode: "RESOURCE_DOES_NOT_EXIST", message: "")).exitCode == 6)
        #expect(GuardianFlowError.mlflow(.api(endpoint: "e", status: 400, errorCode: "INVALID_PARAMETER_VALUE", message: "")).exitCode == 65)
        #expect(GuardianFlowError.mlflow(.api(endpoint: "e", status: 503, errorCode: nil, message: "")).exitCode == 69)
        #expect(GuardianFlowError.interrupted(signal: 15, "").exitCode == 143)
        #expect(GuardianFlowError.interrupted(signal: 2, "").exitCode == 130)
    }
}

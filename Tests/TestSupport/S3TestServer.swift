import Foundation
import GuardianFlow
import Testing

/// moto's standalone S3 API server with request signing enforced: the first three requests
/// (creating an IAM user, its access key and its policy) are the only unauthenticated ones, so
/// every later request must carry a valid SigV4 signature from that user's keys.
public final class S3TestServer: TestServer {
    public let endpoint: String
    public let accessKeyId: String
    public let secretAccessKey: String
    let child: ChildProcess

    /// The running suite's server (see ``S3ServerTrait``).
    @TaskLocal public static var current: S3TestServer?

    public static func start() async throws -> S3TestServer {
        let directory = TestEnvironment.temporaryDirectory("moto")
        let port = TestEnvironment.freePort()
        let moto = (TestEnvironment.python as NSString).deletingLastPathComponent + "/moto_server"
        let log = "\(directory)/moto.log"
        let child = try ChildProcess.spawn(
            ProcessSpec(
                executable: moto, arguments: ["-H", "127.0.0.1", "-p", String(port)],
                environment: TestEnvironment.cleanEnvironment(["INITIAL_NO_AUTH_ACTION_COUNT": "3", "MOTO_ALLOW_NONEXISTENT_REGION": "true"]),
                workingDirectory: directory, stdout: .file(log, append: true), stderr: .file(log, append: true), grouping: .newGroup))
        TestEnvironment.register(pgid: child.pid)
        let endpoint = "http://127.0.0.1:\(port)"
        do {
            let keys = try await Python.json(
                """
                import json, time, boto3, urllib.request
                for _ in range(300):
                    try:
                        urllib.request.urlopen('\(endpoint)/moto-api/data.json'); break
                    except Exception:
                        time.sleep(0.1)
                iam = boto3.client('iam', endpoint_url='\(endpoint)', region_name='us-east-1',
                                   aws_access_key_id='bootstrap', aws_secret_access_key='bootstrap')
                iam.create_user(UserName='guardianflow')
                key = iam.create_access_key(UserName='guardianflow')['AccessKey']
                iam.put_user_policy(UserName='guardianflow', PolicyName='s3', PolicyDocument=json.dumps(
                    {'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': 's3:*', 'Resource': '*'}]}))
                print(json.dumps([key['AccessKeyId'], key['SecretAccessKey']]))
                """)
            guard let pair = keys as? [String], pair.count == 2 else { throw Python.Failure(description: "no keys from moto") }
            return S3TestServer(endpoint: endpoint, accessKeyId: pair[0], secretAccessKey: pair[1], child: child)
        } catch {
            await child.terminate(grace: .seconds(2))
            TestEnvironment.unregister(pgid: child.pid)
            throw error
        }
    }

    init(endpoint: String, accessKeyId: String, secretAccessKey: String, child: ChildProcess) {
        self.endpoint = endpoint
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.child = child
    }

    public func stop() async {
        await child.terminate(grace: .seconds(3))
        TestEnvironment.unregister(pgid: child.pid)
    }

    /// The environment a client of this store needs.
    public var environment: [String: String] {
        ["MLFLOW_S3_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": accessKeyId, "AWS_SECRET_ACCESS_KEY": secretAccessKey,
         "AWS_DEFAULT_REGION": "us-east-1"]
    }
}

/// One moto S3 server for a whole suite, stopped after it whatever happened.
public struct S3ServerTrait: SuiteTrait, TestScoping {
    public var isRecursive: Bool { false }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        try await withStopping(try await S3TestServer.start()) { server in
            try await S3TestServer.$current.withValue(server) { try await function() }
        }
    }
}

extension Trait where Self == S3ServerTrait {
    /// One moto S3 server, with signatures checked, for the whole suite.
    public static var s3Server: S3ServerTrait { S3ServerTrait() }
}

/// The running suite's S3 server.
public func currentS3Server() throws -> S3TestServer {
    try #require(S3TestServer.current, "the suite needs the .s3Server trait")
}

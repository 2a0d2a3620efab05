import Foundation
import Testing

@testable import MLflow

@Suite("Tracking URIs and auth")
struct TrackingURITests {
    @Test("credentials come out of the URI, the base URL keeps host, port and prefix")
    func parses() throws {
        let uri = try TrackingURI("https://ann:p%40ss@mlflow.example:8443/prefix/")
        #expect(uri.baseURL == "https://mlflow.example:8443/prefix")
        #expect(uri.credentials == TrackingURI.Credentials(username: "ann", password: "p@ss"))
    }

    @Test("non-http URIs are refused with the URI redacted", arguments: ["file:///tmp/mlruns", "databricks", "ftp://u:secret@host", ""])
    func refuses(text: String) {
        #expect {
            try TrackingURI(text)
        } throws: { error in
            let message = "\(error)"
            return message.contains("not an http") && !message.contains("secret")
        }
    }

    @Test("redaction masks passwords wherever a URI appears")
    func redacts() {
        #expect(TrackingURI.redact("http://ann:hunter2@h:5000/x") == "http://ann:****@h:5000/x")
        #expect(TrackingURI.redact("see https://tok@h and http://b:c@d/") == "see https://****@h and http://b:****@d/")
        #expect(TrackingURI.redact("no uri here") == "no uri here")
    }

    @Test("username and password win over a token; URI credentials come last")
    func authOrder() {
        #expect(MLflowAuth.resolve(username: "u", password: "p", token: "t", uriCredentials: ("x", "y")) == .basic(username: "u", password: "p"))
        #expect(MLflowAuth.resolve(username: nil, password: nil, token: "t", uriCredentials: ("x", "y")) == .bearer(token: "t"))
        #expect(MLflowAuth.resolve(username: nil, password: nil, token: nil, uriCredentials: ("x", "y")) == .basic(username: "x", password: "y"))
        #expect(MLflowAuth.resolve(username: nil, password: nil, token: nil, uriCredentials: nil) == MLflowAuth.none)
        #expect(MLflowAuth.basic(username: "u", password: "p").headerValue == "Basic dTpw")
        #expect(MLflowAuth.bearer(token: "abc").headerValue == "Bearer abc")
    }

    @Test("artifact URIs map to proxy paths")
    func proxyPaths() {
        #expect(MLflowClient.proxyPath(ofArtifactURI: "mlflow-artifacts:/1/abc/artifacts") == "1/abc/artifacts")
        #expect(MLflowClient.proxyPath(ofArtifactURI: "mlflow-artifacts://host:5000/1/abc/artifacts/") == "1/abc/artifacts")
        #expect(MLflowClient.proxyPath(ofArtifactURI: "s3://bucket/x") == nil)
    }
}

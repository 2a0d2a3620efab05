import Foundation

extension MLflowClient {
    struct ListArtifactsResponse: Decodable {
        var files: [FileInfo]?
        var nextPageToken: String?
        enum CodingKeys: String, CodingKey { case files, nextPageToken = "next_page_token" }
    }

    /// The proxy path (relative to the server's artifact root) of an `mlflow-artifacts:` URI,
    /// or nil when the URI is another scheme.
    ///
    /// `mlflow-artifacts:/1/abc/artifacts` and `mlflow-artifacts://host:5000/1/abc/artifacts`
    /// both give `1/abc/artifacts`.
    public static func proxyPath(ofArtifactURI uri: String) -> String? {
        guard uri.hasPrefix("mlflow-artifacts:") else { return nil }
        var rest = uri.dropFirst("mlflow-artifacts:".count)
        if rest.hasPrefix("//") {
            rest = rest.dropFirst(2)
            guard let slash = rest.firstIndex(of: "/") else { return "" }
            rest = rest[slash...]
        }
        while rest.hasPrefix("/") { rest = rest.dropFirst() }
        while rest.hasSuffix("/") { rest = rest.dropLast() }
        return String(rest)
    }

    func artifactURL(_ path: String) -> String {
        let encoded = path.split(separator: "/", omittingEmptySubsequences: true).map {
            $0.addingPercentEncoding(withAllowedCharacters: .urlPathAllowedSegment) ?? String($0)
        }.joined(separator: "/")
        return url("/api/2.0/mlflow-artifacts/artifacts/" + encoded)
    }

    /// Uploads a local file through the server's artifact proxy, streamed from disk.
    ///
    /// - Parameter path: the destination relative to the artifact root, e.g.
    ///   `"\(proxyPath)/weights/best.pt"`.
    public func uploadArtifact(localFile: String, to path: String) async throws {
        let attributes: [FileAttributeKey: Any]
        do {
            attributes = try FileManager.default.attributesOfItem(atPath: localFile)
        } catch {
            throw MLflowError.file(path: localFile, detail: "it cannot be read (\(error.localizedDescription))")
        }
        let size = (attributes[.size] as? NSNumber)?.int64Value ?? 0
        _ = try await send(endpoint: "PUT mlflow-artifacts/\(path)") {
            HTTPRequest(
                method: "PUT", url: artifactURL(path), headers: [("Content-Type", "application/octet-stream")],
                body: .file(path: localFile, size: size))
        }
    }

    /// Uploads bytes from memory through the artifact proxy.
    public func uploadArtifact(data: Data, to path: String) async throws {
        _ = try await send(endpoint: "PUT mlflow-artifacts/\(path)") {
            HTTPRequest(
                method: "PUT", url: artifactURL(path), headers: [("Content-Type", "application/octet-stream")],
                body: .bytes(data))
        }
    }

    /// Downloads one artifact through the proxy, streamed to `destination` (replaced only when
    /// the whole file arrived).
    public func downloadArtifact(_ path: String, to destination: String) async throws {
        _ = try await send(endpoint: "GET mlflow-artifacts/\(path)", download: destination) {
            HTTPRequest(method: "GET", url: artifactURL(path))
        }
    }

    /// Deletes one artifact through the proxy.
    public func deleteArtifact(_ path: String) async throws {
        _ = try await send(endpoint: "DELETE mlflow-artifacts/\(path)") {
            HTTPRequest(method: "DELETE", url: artifactURL(path))
        }
    }

    /// Lists a folder through the proxy; paths in the answer are relative to that folder.
    public func listArtifacts(proxyPath path: String) async throws -> [FileInfo] {
        let endpoint = "GET mlflow-artifacts?path=\(path)"
        let response = try await send(endpoint: endpoint) {
            HTTPRequest(method: "GET", url: url("/api/2.0/mlflow-artifacts/artifacts", query: [("path", path)]))
        }
        return try decode(ListArtifactsResponse.self, from: response, endpoint: endpoint).files ?? []
    }

    /// Lists a run's artifacts (`artifacts/list`); paths are relative to the run's artifact root.
    public func listArtifacts(runId: String, path: String? = nil) async throws -> [FileInfo] {
        var all: [FileInfo] = []
        var token: String?
        repeat {
            let page = try await get(
                "artifacts/list", query: [("run_id", runId), ("path", path), ("page_token", token)],
                as: ListArtifactsResponse.self)
            all += page.files ?? []
            token = page.nextPageToken.flatMap { $0.isEmpty ? nil : $0 }
        } while token != nil
        return all
    }
}

extension CharacterSet {
    /// Unreserved characters only, so `:`, `+`, `#`, `?` and spaces in a name are escaped.
    static let urlPathAllowedSegment: CharacterSet = {
        var set = CharacterSet()
        set.insert(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        return set
    }()
}

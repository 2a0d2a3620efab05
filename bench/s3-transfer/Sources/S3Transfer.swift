// s3-transfer: one upload or download through guardianflow's S3 client, timed in-process.
//
//   s3-transfer upload|download ENDPOINT BUCKET KEY FILE [--part-size MiB] [--concurrency N] [--sha256 HEX]
//
// --sha256 (downloads): the digest the file must have; the client checks it before keeping the file.
// Credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (region AWS_DEFAULT_REGION, else
// us-east-1). Prints one JSON line: {"seconds": S, "bytes": N, "sha256": "...", ...}, where seconds
// is the `upload(file:bucket:key:)` / `download(bucket:key:to:)` call alone (process start-up
// excluded) and sha256 is what the client computed (of the file sent, or of the file written); then
// cpu_seconds, the process's CPU time so far (user + system, all threads), and the settings used
// (part_size, concurrency, multipart_threshold: bytes, bytes and parts, bytes).
import Foundation
import S3

@main
struct S3Transfer {
    static let usage = "usage: s3-transfer upload|download ENDPOINT BUCKET KEY FILE [--part-size MiB] [--concurrency N] [--sha256 HEX]"

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("s3-transfer: \(message)\n".utf8))
        exit(1)
    }

    static func main() async {
        var positional: [String] = []
        var partSizeMiB: Int64?
        var concurrency: Int?
        var expectedSHA256: String?
        var arguments = CommandLine.arguments.dropFirst()
        while let argument = arguments.popFirst() {
            switch argument {
            case "--part-size":
                guard let value = arguments.popFirst().flatMap({ Int64($0) }), value >= 1 else { fail("--part-size needs a whole number of MiB") }
                partSizeMiB = value
            case "--concurrency":
                guard let value = arguments.popFirst().flatMap({ Int($0) }), value >= 1 else { fail("--concurrency needs a positive integer") }
                concurrency = value
            case "--sha256":
                guard let value = arguments.popFirst(), value.count == 64 else { fail("--sha256 needs a hex SHA-256") }
                expectedSHA256 = value
            case "-h", "--help":
                print(usage)
                exit(0)
            default:
                if argument.hasPrefix("--") { fail("unknown option \(argument)\n\(usage)") }
                positional.append(argument)
            }
        }
        guard positional.count == 5, ["upload", "download"].contains(positional[0]) else { fail(usage) }
        let (operation, endpoint, bucket, key) = (positional[0], positional[1], positional[2], positional[3])
        // Absolute, so that errors name one unambiguous path.
        let file = positional[4].hasPrefix("/") ? positional[4] : FileManager.default.currentDirectoryPath + "/" + positional[4]
        let environment = ProcessInfo.processInfo.environment
        guard let accessKey = environment["AWS_ACCESS_KEY_ID"], let secretKey = environment["AWS_SECRET_ACCESS_KEY"] else {
            fail("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        }
        var configuration = S3Configuration(
            endpoint: endpoint, region: environment["AWS_DEFAULT_REGION"] ?? "us-east-1", accessKeyId: accessKey,
            secretAccessKey: secretKey)
        if let partSizeMiB { configuration.partSize = partSizeMiB * 1024 * 1024 }
        if let concurrency { configuration.concurrency = concurrency }
        let client = S3Client(configuration: configuration)

        let clock = ContinuousClock()
        let started = clock.now
        let bytes: Int64
        let sha256: String
        do {
            if operation == "upload" {
                let result = try await client.upload(file: file, bucket: bucket, key: key)
                bytes = result.size
                sha256 = result.sha256
            } else {
                sha256 = try await client.download(bucket: bucket, key: key, to: file, sha256: expectedSHA256)
                let attributes = try FileManager.default.attributesOfItem(atPath: file)
                bytes = (attributes[.size] as? NSNumber)?.int64Value ?? -1
            }
        } catch {
            fail("\(operation) failed: \(error)")
        }
        let elapsed = clock.now - started
        let (whole, atto) = elapsed.components
        let seconds = Double(whole) + Double(atto) / 1e18
        var cpu = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu)
        let cpuSeconds = Double(cpu.tv_sec) + Double(cpu.tv_nsec) / 1e9
        print(
            "{\"seconds\": \(String(format: "%.6f", seconds)), \"bytes\": \(bytes), \"sha256\": \"\(sha256)\", "
                + "\"cpu_seconds\": \(String(format: "%.3f", cpuSeconds)), \"part_size\": \(configuration.partSize), "
                + "\"concurrency\": \(configuration.concurrency), \"multipart_threshold\": \(configuration.multipartThreshold)}")
    }
}

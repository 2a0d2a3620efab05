import Foundation
import GuardianFlow
import MLflow
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `submit`, `jobs`, `cancel` and `runs reap` against a real one-node Slurm cluster each test
/// starts and stops (scripts/slurm: slurmctld, slurmd and munged with two GPUs declared in gres.conf) and a
/// real MLflow server. One training is real (ultralytics on CPU); the others replay a recorded one
/// (the load test's stand-in Python), which Slurm schedules all the same.
@Suite("Slurm: submit, jobs, cancel, reaping by Slurm's state", .mlflowServer, .serialized)
struct SlurmTests {
    static let data = TestEnvironment.repoRoot + "/examples/ppe-sample/data.yaml"
    static let recording = Task<String, any Error> { try await LoadTests.record() }

    func env(_ server: MLflowTestServer, _ cluster: SlurmTestCluster, work: String, python: String? = nil) -> [String: String] {
        var extra = cluster.environment
        extra["MLFLOW_TRACKING_URI"] = server.uri
        extra["GUARDIANFLOW_WORK_DIR"] = work
        extra["YOLO_OFFLINE"] = "1"
        if let python { extra["GUARDIANFLOW_PYTHON"] = python }
        return TestEnvironment.cleanEnvironment(extra)
    }

    func submit(_ arguments: [String], _ environment: [String: String], device: String? = "cpu") async throws -> (
        CLI.Result, [String: String]
    ) {
        let result = try await CLI.run(
            ["submit", "--data", Self.data, "--epochs", "2", "--batch", "8", "--imgsz", "64"] + (device.map { ["--device", $0] } ?? [])
                + ["--workers", "0", "--arg", "plots=false", "--json"] + arguments, environment: environment, timeout: .seconds(180))
        let json = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]) ?? [:]
        return (result, json.compactMapValues { $0 as? String })
    }

    /// Waits until the run is in one of `statuses` (and, with `epoch`, has logged that epoch).
    func waitFor(_ runId: String, _ statuses: Set<RunStatus>, epoch: Int64? = nil, client: MLflowClient, timeout: Duration = .seconds(300))
        async throws -> Run
    {
        let deadline = ContinuousClock.now + timeout
        var run = try await client.getRun(id: runId)
        while ContinuousClock.now < deadline {
            run = try await client.getRun(id: runId)
            let epochReached = epoch.map { e in run.metrics.contains { $0.key == "mAP50" && $0.step >= e } } ?? true
            if statuses.contains(run.info.status) && epochReached { return run }
            try await Task.sleep(for: .milliseconds(500))
        }
        Issue.record("run \(runId) is \(run.info.status.rawValue), not \(statuses.map(\.rawValue)), after \(timeout)")
        return run
    }

    @Test(
        "submit: SCHEDULED with its params and job id, then a real training on the node FINISHED and registered @candidate, with the GPU Slurm gave"
    )
    func submitFinishes() async throws {
        let server = try currentServer()
        try await withStopping(try await SlurmTestCluster.start()) { cluster in
            let work = TestEnvironment.temporaryDirectory("slurm-work")
            let experiment = "slurm-\(UUID().uuidString.prefix(6))"
            let (result, json) = try await submit(
                ["--experiment", experiment, "--gpus", "1", "--customer", "acme", "--task", "ppe"], env(server, cluster, work: work))
            #expect(result.exitCode == 0, "\(result.stderr.suffix(3000))")
            let runId = try #require(json["run_id"], "\(result.stdout)")
            let jobId = try #require(json["job_id"])
            #expect(result.stderr.contains("The job's node must reach these paths"), "\(result.stderr)")
            let client = try server.client()
            let queued = try await client.getRun(id: runId)
            #expect(queued.tags[SchedulingTags.jobId] == jobId && queued.tags[SchedulingTags.executor] == "slurm")
            #expect(queued.params["epochs"] == "2" && queued.params["imgsz"] == "64", "submitted with its params: \(queued.params)")
            #expect(FileManager.default.fileExists(atPath: work + "/jobs/\(runId).sh"), "the batch script under the work dir")
            let script = try String(contentsOfFile: work + "/jobs/\(runId).sh", encoding: .utf8)
            #expect(
                script.contains("train' '--attach' '\(runId)'") && !script.contains(server.uri),
                "no server address or secret in the script: \(script)")

            let run = try await waitFor(runId, [.finished, .failed, .killed], client: client, timeout: .seconds(400))
            let output = (try? String(contentsOfFile: work + "/jobs/\(runId)-\(jobId).out", encoding: .utf8)) ?? ""
            #expect(run.info.status == .finished, "\(output.suffix(3000))")
            #expect(
                ["0", "1"].contains(run.tags["guardianflow.cuda_visible_devices"] ?? ""), "Slurm gave it one of the two GPUs: \(run.tags)")
            #expect(run.tags["guardianflow.slurm_job_id"] == jobId)
            #expect(run.metrics.contains { $0.key == "mAP50" && $0.step == 2 })
            let version = try await client.modelVersion(name: "acme-ppe", alias: "candidate")
            #expect(version?.runId == runId, "registered @candidate as a local train")

            let jobs = try await CLI.run(["jobs", "--json"], environment: env(server, cluster, work: work))
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(jobs.stdout.utf8)) as? [[String: Any]], "\(jobs.stderr)")
            let row = try #require(rows.first { $0["run_id"] as? String == runId })
            #expect(
                row["job_id"] as? String == jobId && row["status"] as? String == "FINISHED" && row["experiment"] as? String == experiment)
            #expect(["COMPLETED", "COMPLETING"].contains(row["scheduler_state"] as? String ?? ""), "\(row)")
        }
    }

    @Test("cancel: a pending job's run ends KILLED at once; a running one ends KILLED with last.pt uploaded; unknown or local runs: exit 6")
    func cancel() async throws {
        let server = try currentServer()
        try await withStopping(try await SlurmTestCluster.start()) { cluster in
            let python = try ReplayingPython.make(recording: try await Self.recording.value, delay: 3)
            let environment = env(server, cluster, work: TestEnvironment.temporaryDirectory("slurm-work"), python: python)
            let client = try server.client()

            let (held, heldJSON) = try await submit(["--experiment", "slurm-cancel", "--sbatch-arg=--hold"], environment)
            #expect(held.exitCode == 0, "\(held.stderr)")
            let pending = try #require(heldJSON["run_id"])
            #expect(try await client.getRun(id: pending).info.status == .scheduled)
            let cancelled = try await CLI.run(["cancel", pending, "--json"], environment: environment)
            #expect(cancelled.exitCode == 0, "\(cancelled.stderr)")
            let pendingRun = try await client.getRun(id: pending)
            #expect(pendingRun.info.status == .killed)
            #expect(pendingRun.tags[SchedulingTags.endedBy] == "cancelled")
            let squeue = try await cluster.command("squeue", ["-h", "-j", heldJSON["job_id"] ?? ""])
            #expect(!squeue.contains(" PD "), "out of the queue: \(squeue)")

            let (running, runningJSON) = try await submit(["--experiment", "slurm-cancel"], environment)
            #expect(running.exitCode == 0, "\(running.stderr)")
            let runId = try #require(runningJSON["run_id"])
            _ = try await waitFor(runId, [.running], epoch: 1, client: client, timeout: .seconds(120))
            let stop = try await CLI.run(["cancel", runId, "--json"], environment: environment, timeout: .seconds(200))
            #expect(stop.exitCode == 0, "\(stop.stderr)")
            let stopped = try await client.getRun(id: runId)
            #expect(stopped.info.status == .killed, "\(stop.stderr)")
            let files = try await client.listArtifacts(runId: runId, path: "weights").map(\.path)
            #expect(files.contains("weights/last.pt"), "last.pt uploaded for a resume: \(files)")

            let unknown = try await CLI.run(["cancel", "0123456789abcdef0123456789abcdef"], environment: environment)
            #expect(unknown.exitCode == 6, "\(unknown.stderr)")
            let notSubmitted = try await client.createRun(experimentId: stopped.info.experimentId, runName: "by-hand")
            let local = try await CLI.run(["cancel", notSubmitted.runId], environment: environment)
            #expect(local.exitCode == 6 && local.stderr.contains("was not submitted"), "\(local.stderr)")
            try await client.updateRun(runId: notSubmitted.runId, status: .finished)
        }
    }

    @Test("the time limit: Slurm's SIGTERM before it ends the run KILLED, tagged as the time limit")
    func timeLimit() async throws {
        let server = try currentServer()
        try await withStopping(try await SlurmTestCluster.start()) { cluster in
            let python = try ReplayingPython.make(recording: try await Self.recording.value, delay: 60)
            let environment = env(server, cluster, work: TestEnvironment.temporaryDirectory("slurm-work"), python: python)
            let (result, json) = try await submit(["--experiment", "slurm-time", "--time", "3", "--signal-lead", "60"], environment)
            #expect(result.exitCode == 0, "\(result.stderr)")
            let runId = try #require(json["run_id"])
            let run = try await waitFor(runId, [.finished, .failed, .killed], client: try server.client(), timeout: .seconds(300))
            #expect(run.info.status == .killed)
            #expect(run.tags[SchedulingTags.endedBy] == "time limit", "\(run.tags)")
        }
    }

    @Test(
        "a job whose guardianflow is killed behind its back (SIGKILL): the run stays RUNNING until `runs reap` ends it with Slurm's state")
    func killedThenReaped() async throws {
        let server = try currentServer()
        try await withStopping(try await SlurmTestCluster.start()) { cluster in
            let python = try ReplayingPython.make(recording: try await Self.recording.value, delay: 5)
            let nodeWork = TestEnvironment.temporaryDirectory("slurm-node-work")
            let environment = env(server, cluster, work: TestEnvironment.temporaryDirectory("slurm-work"), python: python)
            // The node keeps its own work dir (as a node of a real cluster would): no lease of it here.
            let (result, json) = try await submit(
                ["--experiment", "slurm-killed", "--sbatch-arg=--export=ALL,GUARDIANFLOW_WORK_DIR=\(nodeWork)"], environment)
            #expect(result.exitCode == 0, "\(result.stderr)")
            let runId = try #require(json["run_id"])
            let jobId = try #require(json["job_id"])
            let client = try server.client()
            _ = try await waitFor(runId, [.running], epoch: 1, client: client, timeout: .seconds(120))
            // SIGKILL to guardianflow on the node, as the kernel's OOM killer or a crash would: no handler runs.
            let lease = try #require(
                try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: nodeWork + "/leases/\(runId).json")))
                    as? [String: Any])
            let pid = try #require(lease["pid"] as? Int)
            #expect(kill(Int32(pid), SIGKILL) == 0)
            var state = ""
            for _ in 0..<60 where !["FAILED", "CANCELLED", "COMPLETED", "NODE_FAIL"].contains(state) {
                try await Task.sleep(for: .milliseconds(500))
                state =
                    try await cluster.command("scontrol", ["show", "job", "-o", jobId]).split(separator: " ")
                    .first { $0.hasPrefix("JobState=") }.map { String($0.dropFirst("JobState=".count)) } ?? ""
            }
            let afterKill = try await client.getRun(id: runId)
            #expect(afterKill.info.status == .running, "nothing ended it: it was killed: \(afterKill.info.status)")

            let reap = try await CLI.run(["runs", "reap", "--json"], environment: environment, timeout: .seconds(120))
            #expect(reap.exitCode == 0, "\(reap.stderr)")
            #expect(reap.stdout.contains(runId), "\(reap.stdout)")
            let reaped = try await client.getRun(id: runId)
            #expect(reaped.info.status == JobReaper.status(forJobState: state), "Slurm says \(state)")
            #expect(!state.isEmpty && reaped.tags[SchedulingTags.schedulerState] == state, "\(reaped.tags)")
            #expect(reaped.tags["guardianflow.reaped"] == "true")
        }
    }

    @Test("a request Slurm refuses exits 65 with Slurm's message and leaves no run; no sbatch on PATH exits 69 naming Slurm")
    func refused() async throws {
        let server = try currentServer()
        try await withStopping(try await SlurmTestCluster.start()) { cluster in
            let experiment = "slurm-refused-\(UUID().uuidString.prefix(6))"
            let environment = env(server, cluster, work: TestEnvironment.temporaryDirectory("slurm-work"))
            for (flags, message) in [
                (["--partition", "nope"], "invalid partition"), (["--gpus", "3"], "Requested node configuration is not available"),
            ] {
                let (result, _) = try await submit(["--experiment", experiment] + flags, environment)
                #expect(result.exitCode == 65, "\(result.stderr)")
                #expect(result.stderr.lowercased().contains(message.lowercased()), "Slurm's own message: \(result.stderr)")
            }
            let client = try server.client()
            let found = try #require(try await client.getExperiment(named: experiment))
            #expect(
                try await client.allRuns(experimentIds: [found.experimentId], viewType: .activeOnly).isEmpty,
                "the SCHEDULED runs were removed")

            var noSlurm = environment
            noSlurm["PATH"] = "/nonexistent"
            let (missing, _) = try await submit(["--experiment", experiment], noSlurm)
            #expect(missing.exitCode == 69, "\(missing.stderr)")
            #expect(missing.stderr.contains("Slurm"), "\(missing.stderr)")
        }
    }

    @Test(
        "--gpus 2: Slurm gives the job both GPUs and it trains with --device 0,1 (multi-GPU DDP); a node that cannot use them fails the run with the reason at once"
    )
    func twoGPUs() async throws {
        let server = try currentServer()
        try await withStopping(try await SlurmTestCluster.start()) { cluster in
            let python = try ReplayingPython.make(recording: try await Self.recording.value, delay: 0)
            let work = TestEnvironment.temporaryDirectory("slurm-work")
            let environment = env(server, cluster, work: work, python: python)
            // Asking for a GPU the job will not have is refused before anything is queued.
            let (beyond, _) = try await submit(["--experiment", "slurm-ddp", "--gpus", "2"], environment, device: "0,2")
            #expect(beyond.exitCode == 65 && beyond.stderr.contains("asks for GPU 2"), "\(beyond.stderr)")

            let (result, json) = try await submit(["--experiment", "slurm-ddp", "--gpus", "2"], environment, device: nil)
            #expect(result.exitCode == 0, "\(result.stderr)")
            let runId = try #require(json["run_id"], "\(result.stdout)")
            let script = try String(contentsOfFile: work + "/jobs/\(runId).sh", encoding: .utf8)
            #expect(script.contains("'--device' '0,1'"), "\(script)")
            let client = try server.client()
            let run = try await waitFor(runId, [.finished, .failed, .killed], client: client)
            #expect(run.params["device"] == "0,1", "\(run.params)")
            #expect(run.tags["guardianflow.cuda_visible_devices"] == "0,1", "Slurm gave it both GPUs: \(run.tags)")
            if !TrainingInputValidator.nvidiaDriverLoaded() {
                // The GPUs here are declared, not real: the node's check refuses them, and the run
                // says so itself (not left SCHEDULED for the reaper to end with only Slurm's state).
                #expect(run.info.status == .failed)
                #expect(run.tags["guardianflow.error.kind"] == "input", "\(run.tags)")
                #expect(run.tags["guardianflow.error.message"]?.contains("no NVIDIA driver") == true, "\(run.tags)")
                #expect(run.tags[SchedulingTags.endedBy] == "input check")
                #expect(run.tags["guardianflow.reaped"] == nil)
            }
        }
    }

    @Test("8 submissions of one GPU each on a node of two: Slurm runs at most two at once, and all eight end FINISHED")
    func eightOnTwoGPUs() async throws {
        let server = try currentServer()
        try await withStopping(try await SlurmTestCluster.start()) { cluster in
            let python = try ReplayingPython.make(recording: try await Self.recording.value, delay: 1)
            let environment = env(server, cluster, work: TestEnvironment.temporaryDirectory("slurm-work"), python: python)
            var runIds: [String] = []
            for _ in 0..<8 {
                let (result, json) = try await submit(["--experiment", "slurm-eight", "--gpus", "1"], environment)
                #expect(result.exitCode == 0, "\(result.stderr)")
                runIds.append(try #require(json["run_id"]))
            }
            let client = try server.client()
            var runs: [Run] = []
            for runId in runIds {
                runs.append(try await waitFor(runId, [.finished, .failed, .killed], client: client, timeout: .seconds(400)))
            }
            #expect(runs.allSatisfy { $0.info.status == .finished }, "\(runs.map(\.info.status))")
            // When each ran: from its start on the node to its end; never more than two at once.
            let spans = runs.compactMap { run -> (Date, Date)? in
                guard let started = run.tags["guardianflow.started_at"].flatMap(SchedulingTags.date),
                    let end = run.info.endTime
                else { return nil }
                return (started, Date(timeIntervalSince1970: Double(end) / 1000))
            }
            #expect(spans.count == 8)
            for (start, _) in spans {
                let overlapping = spans.filter { $0.0 <= start && start < $0.1 }.count
                #expect(overlapping <= 2, "\(overlapping) trainings ran at once")
            }
            #expect(Set(runs.compactMap { $0.tags["guardianflow.cuda_visible_devices"] }).isSubset(of: ["0", "1"]))
        }
    }
}

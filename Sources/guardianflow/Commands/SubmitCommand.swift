import ArgumentParser
import Foundation
import GuardianFlow

struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Queue a training on the cluster's GPU servers with Slurm, tracked in MLflow from the moment it is queued.",
        discussion: """
            Takes train's options plus Slurm's. Everything is checked as `train` checks it; then the run is \
            created SCHEDULED (the MLflow UI shows it queued) with its params and tags, the batch script is \
            written to <work dir>/jobs/<run id>.sh and submitted with sbatch, and the run is tagged with the \
            job id (guardianflow.job_id). The job runs `guardianflow train --attach RUN_ID` on its node: the \
            run goes RUNNING, then FINISHED with its version registered as @candidate, exactly as a local \
            `train`.

            The nodes must reach, at the same paths, the guardianflow binary, the project venv, the dataset \
            and the model (a filesystem they share): submit lists them, and warns about those on a filesystem \
            only this machine has. Artifacts go through MLflow or S3, never through that filesystem. The job \
            gets this shell's environment (sbatch --export=ALL): the tracking URI and credentials reach it \
            without being written anywhere.

            --time limits the job; the training gets SIGTERM --signal-lead seconds before (sbatch \
            --signal=B:TERM@N), so it ends KILLED with last.pt uploaded and the tag \
            guardianflow.ended_by=time limit, ready for `train --resume RUN_ID`. A job that Slurm ends \
            otherwise (FAILED, NODE_FAIL, OUT_OF_MEMORY, TIMEOUT, CANCELLED, or forgotten) while its run is \
            open is ended FAILED or KILLED by `guardianflow runs reap` and before every submit, with Slurm's \
            state in guardianflow.scheduler_state.

            Slurm's options also come from the config file (slurm_partition, slurm_gpus, slurm_cpus, \
            slurm_mem, slurm_time, slurm_account, slurm_qos) and the environment \
            (GUARDIANFLOW_SLURM_PARTITION, …); flags win.

            Exit codes: 0 queued, 65 bad input or a request Slurm refuses (its message; the SCHEDULED run is \
            removed), 69 no Slurm here (sbatch not on PATH) or MLflow unreachable, 64 usage.

            Examples:
              guardianflow submit --experiment ppe --data /shared/site-a/data.yaml --model yolov8n.yaml \\
                --epochs 100 --gpus 1 --partition gpu --time 12:00:00
              guardianflow jobs
              guardianflow cancel RUN_ID
            """
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var training: TrainingFlags
    @Option(help: "The Slurm partition (default: slurm_partition, else the cluster's default).") var partition: String?
    @Option(
        help: "GPUs for the training (sbatch --gpus); CUDA_VISIBLE_DEVICES on the node says which. Above one, the training uses them all (multi-GPU DDP) unless --device says otherwise."
    ) var gpus: Int?
    @Option(help: "CPUs for the training (sbatch --cpus-per-task).") var cpus: Int?
    @Option(help: ArgumentHelp("Memory for the training, as sbatch takes it (32G).", valueName: "size")) var mem: String?
    @Option(help: ArgumentHelp("The time limit, as sbatch takes it (minutes, HH:MM:SS, D-HH:MM:SS).", valueName: "limit")) var time: String?
    @Option(help: "The Slurm account.") var account: String?
    @Option(help: "The Slurm QOS.") var qos: String?
    @Option(
        name: .customLong("sbatch-arg"), parsing: .unconditionalSingleValue,
        help: ArgumentHelp("Another sbatch argument, passed as it is; repeatable (--sbatch-arg=--constraint=a100).", valueName: "arg"))
    var sbatchArguments: [String] = []
    @Option(help: ArgumentHelp("Seconds before the time limit that the training gets SIGTERM (default 120).", valueName: "seconds"))
    var signalLead = 120
    @Option(help: ArgumentHelp("Where the training runs: slurm, or local (in the background on this machine).", valueName: "executor"))
    var executor = "slurm"
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard training.experiment != nil else { throw ValidationError("Missing --experiment NAME.") }
        guard training.data != nil else {
            throw ValidationError("Missing --data DATA.yaml (a dataset YAML, or the name of an ultralytics dataset such as coco8.yaml).")
        }
        try training.validatePairs()
        if let gpus, gpus < 1 { throw ValidationError("--gpus must be 1 or more (got \(gpus)); leave it out for a CPU training.") }
        if let cpus, cpus < 1 { throw ValidationError("--cpus must be 1 or more (got \(cpus)).") }
        if signalLead < 1 { throw ValidationError("--signal-lead must be 1 second or more.") }
        guard ["slurm", "local"].contains(executor) else { throw ValidationError("--executor is slurm or local (got '\(executor)').") }
    }

    func resources(_ settings: Settings) -> SlurmResources {
        var resources = SlurmResources()
        resources.partition = partition ?? settings[.slurmPartition]
        resources.gpus = gpus ?? settings[.slurmGPUs].flatMap { Int($0) }
        resources.cpus = cpus ?? settings[.slurmCPUs].flatMap { Int($0) }
        resources.memory = mem ?? settings[.slurmMemory]
        resources.time = time ?? settings[.slurmTime]
        resources.account = account ?? settings[.slurmAccount]
        resources.qos = qos ?? settings[.slurmQOS]
        resources.sbatchArguments = sbatchArguments
        resources.signalLeadSeconds = signalLead
        return resources
    }

    func run() async throws {
        try await global.run(flags: training.systemMetricsInterval.map { [.systemMetricsInterval: $0] } ?? [:]) { settings in
            var runner = TrainingRunner(
                experimentName: training.experiment ?? "", modelArch: training.model ?? TrainingOptions.defaultModel,
                dataYAML: training.data ?? "",
                settings: settings, logger: log)
            // The job's node has the GPUs (and checks them when the job starts), not this machine.
            runner.checksGPUsHere = executor == "local"
            let executor: any TrainingExecutor = executor == "local" ? LocalExecutor() : SlurmExecutor(logger: log)
            let python = PythonEnvironment.locate(settings: settings)
            var paths = [PythonEnvironment.currentExecutable(), python.python, settings.workDir]
            if let data = training.data, FileManager.default.fileExists(atPath: data) { paths.append(FilePaths.absolute(data)) }
            if let model = training.model, FileManager.default.fileExists(atPath: model) { paths.append(FilePaths.absolute(model)) }
            let shared = TrainingSubmitter.sharedPaths(paths)
            if self.executor == "slurm" {
                log.notice("The job's node must reach these paths, as they are here: \(shared.all.joined(separator: ", ")).")
                if !shared.local.isEmpty {
                    log.warning(
                        "\(shared.local.joined(separator: ", ")) \(shared.local.count == 1 ? "is" : "are") on a filesystem only this machine has (/tmp or tmpfs): a job on another node will not find \(shared.local.count == 1 ? "it" : "them")."
                    )
                }
            }
            let submitted = try await TrainingSubmitter(runner: runner, executor: executor, settings: settings, logger: log).submit(
                options: training.options, trainArguments: training.commandLine, resources: resources(settings))
            try await output.print(submitted) {
                Console.out("Run \(submitted.runId) SCHEDULED as \(submitted.executor) job \(submitted.jobId) (\(submitted.runName)).")
                Console.out("  output: \(submitted.output)")
                Console.out("  follow it: guardianflow jobs   stop it: guardianflow cancel \(submitted.runId)")
            }
        }
    }
}

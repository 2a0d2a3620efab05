/// What a job asks Slurm for: `submit`'s flags, else the settings (`slurm_partition`, … in the
/// config file, `GUARDIANFLOW_SLURM_PARTITION`, … in the environment).
public struct SlurmResources: Sendable, Equatable {
    public var partition: String?
    public var gpus: Int?
    public var cpus: Int?
    /// As sbatch takes it: `16G`, `4000M`.
    public var memory: String?
    /// As sbatch takes it: minutes, `HH:MM:SS`, `D-HH:MM:SS`.
    public var time: String?
    public var account: String?
    public var qos: String?
    /// Any other sbatch arguments, passed as they are (`--constraint=a100`, `--hold`).
    public var sbatchArguments: [String] = []
    /// How long before the time limit the training gets SIGTERM (sbatch `--signal=B:TERM@N`), to
    /// end KILLED with last.pt uploaded.
    public var signalLeadSeconds = 120

    public init() {}

    /// sbatch's arguments for these resources.
    public var arguments: [String] {
        var out: [String] = []
        if let partition { out.append("--partition=\(partition)") }
        if let gpus { out.append("--gpus=\(gpus)") }
        if let cpus { out.append("--cpus-per-task=\(cpus)") }
        if let memory { out.append("--mem=\(memory)") }
        if let time { out.append("--time=\(time)") }
        if let account { out.append("--account=\(account)") }
        if let qos { out.append("--qos=\(qos)") }
        out.append("--signal=B:TERM@\(signalLeadSeconds)")
        return out + sbatchArguments
    }
}

import Foundation

/// Every setting guardianflow reads, with its config-file key, environment names and default.
///
/// Environment names follow the MLflow and AWS ecosystem, so an existing shell set-up works.
public enum SettingKey: String, CaseIterable, Sendable, Codable {
    case trackingURI = "tracking_uri"
    case trackingUsername = "tracking_username"
    case trackingPassword = "tracking_password"
    case trackingToken = "tracking_token"
    case trackingInsecureTLS = "tracking_insecure_tls"
    case s3EndpointURL = "s3_endpoint_url"
    case awsAccessKeyID = "aws_access_key_id"
    case awsSecretAccessKey = "aws_secret_access_key"
    case awsDefaultRegion = "aws_default_region"
    case workDir = "work_dir"
    case python = "python"
    case serverPort = "server_port"
    case httpRetrySeconds = "http_retry_seconds"
    case systemMetricsInterval = "system_metrics_interval"
    case nvmlLibrary = "nvml_library"
    case outageWaitSeconds = "outage_wait_seconds"
    case httpTimeoutSeconds = "http_timeout_seconds"
    case logLevel = "log_level"
    case slurmPartition = "slurm_partition"
    case slurmGPUs = "slurm_gpus"
    case slurmCPUs = "slurm_cpus"
    case slurmMemory = "slurm_mem"
    case slurmTime = "slurm_time"
    case slurmAccount = "slurm_account"
    case slurmQOS = "slurm_qos"

    /// Environment variables that set it, the first one winning.
    public var environmentNames: [String] {
        switch self {
        case .trackingURI: ["MLFLOW_TRACKING_URI"]
        case .trackingUsername: ["MLFLOW_TRACKING_USERNAME"]
        case .trackingPassword: ["MLFLOW_TRACKING_PASSWORD"]
        case .trackingToken: ["MLFLOW_TRACKING_TOKEN"]
        case .trackingInsecureTLS: ["MLFLOW_TRACKING_INSECURE_TLS"]
        case .s3EndpointURL: ["MLFLOW_S3_ENDPOINT_URL", "S3_ENDPOINT_URL"]
        case .awsAccessKeyID: ["AWS_ACCESS_KEY_ID"]
        case .awsSecretAccessKey: ["AWS_SECRET_ACCESS_KEY"]
        case .awsDefaultRegion: ["AWS_DEFAULT_REGION"]
        case .workDir: ["GUARDIANFLOW_WORK_DIR", "WORK_DIR"]
        case .python: ["GUARDIANFLOW_PYTHON"]
        case .serverPort: ["GUARDIANFLOW_SERVER_PORT"]
        case .httpRetrySeconds: ["GUARDIANFLOW_HTTP_RETRY_SECONDS"]
        case .systemMetricsInterval: ["GUARDIANFLOW_SYSTEM_METRICS_INTERVAL"]
        case .nvmlLibrary: ["GUARDIANFLOW_NVML_LIBRARY"]
        case .outageWaitSeconds: ["GUARDIANFLOW_OUTAGE_WAIT_SECONDS"]
        case .httpTimeoutSeconds: ["GUARDIANFLOW_HTTP_TIMEOUT_SECONDS"]
        case .logLevel: ["GUARDIANFLOW_LOG_LEVEL"]
        case .slurmPartition: ["GUARDIANFLOW_SLURM_PARTITION"]
        case .slurmGPUs: ["GUARDIANFLOW_SLURM_GPUS"]
        case .slurmCPUs: ["GUARDIANFLOW_SLURM_CPUS"]
        case .slurmMemory: ["GUARDIANFLOW_SLURM_MEM"]
        case .slurmTime: ["GUARDIANFLOW_SLURM_TIME"]
        case .slurmAccount: ["GUARDIANFLOW_SLURM_ACCOUNT"]
        case .slurmQOS: ["GUARDIANFLOW_SLURM_QOS"]
        }
    }

    /// Secrets are masked in every output and never logged to MLflow.
    public var isSecret: Bool {
        switch self {
        case .trackingPassword, .trackingToken, .awsSecretAccessKey: true
        default: false
        }
    }

    /// The value used when nothing sets it; nil means "not set" (the work dir default depends
    /// on the home directory and is filled in by ``ConfigLoader``).
    public var defaultValue: String? {
        switch self {
        case .trackingInsecureTLS: "false"
        case .awsDefaultRegion: "us-east-1"
        case .serverPort: "5000"
        case .httpRetrySeconds: "3"
        case .systemMetricsInterval: "10"
        case .nvmlLibrary: "libnvidia-ml.so.1"  // the driver's soname, as NVML.defaultLibrary
        case .outageWaitSeconds: "300"
        case .httpTimeoutSeconds: "30"
        case .logLevel: "notice"
        default: nil
        }
    }

    /// One line for `config show` and the documentation.
    public var summary: String {
        switch self {
        case .trackingURI: "MLflow tracking server; unset means the local embedded server"
        case .trackingUsername: "Basic auth user for the tracking server"
        case .trackingPassword: "Basic auth password for the tracking server"
        case .trackingToken: "Bearer token for the tracking server (username/password win)"
        case .trackingInsecureTLS: "skip TLS certificate verification (true/false)"
        case .s3EndpointURL: "S3 API endpoint for s3:// artifact stores (SeaweedFS, MinIO)"
        case .awsAccessKeyID: "S3 access key id"
        case .awsSecretAccessKey: "S3 secret access key"
        case .awsDefaultRegion: "S3 signing region"
        case .workDir: "where guardianflow keeps the local server, runs and journals"
        case .python: "the Python with ultralytics and mlflow (the project venv)"
        case .serverPort: "port of the local embedded MLflow server"
        case .httpRetrySeconds: "how long a command retries an unanswering server"
        case .systemMetricsInterval: "seconds between system/GPU metric samples during training; 0 turns them off"
        case .nvmlLibrary: "NVIDIA's management library, opened at run time for GPU metrics"
        case .httpTimeoutSeconds: "how long one request to the tracking server may take"
        case .logLevel: "what guardianflow says on stderr: trace, debug, info, notice, warning, error or critical (--verbose: debug, --quiet: error)"
        case .outageWaitSeconds: "how long a finished training waits for an unanswering MLflow before leaving the rest to `guardianflow sync`"
        case .slurmPartition: "`submit`: the Slurm partition (sbatch --partition)"
        case .slurmGPUs: "`submit`: GPUs per training (sbatch --gpus)"
        case .slurmCPUs: "`submit`: CPUs per training (sbatch --cpus-per-task)"
        case .slurmMemory: "`submit`: memory per training, e.g. 32G (sbatch --mem)"
        case .slurmTime: "`submit`: the time limit, e.g. 12:00:00 (sbatch --time); the training gets SIGTERM before it and ends KILLED with last.pt"
        case .slurmAccount: "`submit`: the Slurm account (sbatch --account)"
        case .slurmQOS: "`submit`: the Slurm QOS (sbatch --qos)"
        }
    }
}

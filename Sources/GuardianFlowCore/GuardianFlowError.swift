import Foundation
import MLflow
import S3

/// Everything guardianflow reports to a user, each with its exit code (the list in README.md,
/// "Exit codes", and in `guardianflow --help`).
public enum GuardianFlowError: Error, Sendable, CustomStringConvertible {
    /// A command line that cannot work (exit 64).
    case usage(String)
    /// Bad input data: dataset, model, config (exit 65).
    case invalidInput(String)
    /// A service is unreachable (exit 69).
    case unavailable(String)
    /// Credentials refused (exit 77).
    case authentication(String)
    /// A local disk failure: the work dir's journal, a file that cannot be written or read back,
    /// a full or read-only disk (exit 74, EX_IOERR as sysexits).
    case io(String)
    /// Training failed (exit 3).
    case trainingFailed(String)
    /// Out of memory (exit 4).
    case outOfMemory(String)
    /// The promotion gate refused (exit 5).
    case gateRefused(String)
    /// The registry is not in a state that allows this (exit 6).
    case registryState(String)
    /// Done for some of the inputs, and some were skipped (exit 8): `import` with a damaged run
    /// folder among good ones.
    case partlyDone(String)
    /// Stopped by Ctrl-C (130) or SIGTERM (143).
    case interrupted(signal: Int32, String)
    /// An MLflow failure, classified by ``exitCode``.
    case mlflow(MLflowError)
    /// Something guardianflow did not expect (exit 70).
    case `internal`(String)

    public var description: String {
        switch self {
        case .usage(let m), .invalidInput(let m), .unavailable(let m), .authentication(let m), .io(let m),
            .trainingFailed(let m), .outOfMemory(let m), .gateRefused(let m), .registryState(let m),
            .partlyDone(let m), .internal(let m):
            return m
        case .interrupted(_, let m):
            return m
        case .mlflow(let error):
            return error.description
        }
    }

    /// The process exit code for this error.
    public var exitCode: Int32 {
        switch self {
        case .usage: 64
        case .invalidInput: 65
        case .unavailable: 69
        case .authentication: 77
        case .io: 74
        case .trainingFailed: 3
        case .outOfMemory: 4
        case .gateRefused: 5
        case .registryState: 6
        case .partlyDone: 8
        case .interrupted(let signal, _): 128 + signal
        case .internal: 70
        case .mlflow(let error): Self.exitCode(for: error)
        }
    }

    package static func exitCode(for error: MLflowError) -> Int32 {
        switch error {
        case .unreachable, .tls: return 69
        case .authenticationRefused: return 77
        case .invalidResponse: return 69
        case .registration: return 6
        case .file: return 74
        case .invalidArgument: return 65
        case .api(_, let status, let code, _):
            if code == "RESOURCE_DOES_NOT_EXIST" { return 6 }
            if code == "INVALID_PARAMETER_VALUE" { return 65 }
            return status >= 500 ? 69 : 65
        }
    }

    /// The error of this message that exits with `code`, for a failure known by its exit code
    /// (a recovery outcome).
    public static func exiting(_ code: Int32, _ message: String) -> GuardianFlowError {
        switch code {
        case 64: .usage(message)
        case 65: .invalidInput(message)
        case 69: .unavailable(message)
        case 74: .io(message)
        case 77: .authentication(message)
        case 3: .trainingFailed(message)
        case 4: .outOfMemory(message)
        case 5: .gateRefused(message)
        case 6: .registryState(message)
        case 8: .partlyDone(message)
        case 130: .interrupted(signal: 2, message)
        case 143: .interrupted(signal: 15, message)
        default: .internal(message)
        }
    }

    /// Wraps any error as a ``GuardianFlowError`` (MLflow errors keep their detail).
    public static func wrap(_ error: any Error) -> GuardianFlowError {
        switch error {
        case let error as GuardianFlowError: return error
        case let error as MLflowError: return .mlflow(error)
        case let error as S3Error:
            switch error {
            case .credentials: return .authentication(error.description)
            case .file: return .io(error.description)
            case .integrity: return .invalidInput(error.description)
            case .service(_, 404, _, _, _, _, _): return .invalidInput(error.description)
            case .unreachable, .clockSkew, .service: return .unavailable(error.description)
            }
        case is CancellationError: return .interrupted(signal: 2, "Interrupted.")
        case let error as CocoaError where error.isFileError:
            return .io("A local file could not be read or written: \(error.localizedDescription)")
        case let error as POSIXError:
            return .io("A local file operation failed: \(error.localizedDescription)")
        default: return .internal("Unexpected error: \(error)")
        }
    }
}

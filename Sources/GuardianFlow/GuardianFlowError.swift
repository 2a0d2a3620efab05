import Foundation
import MLflow
import S3

/// Everything guardianflow reports to a user, each with the exit code of DESIGN.md section 10.
public enum GuardianFlowError: Error, Sendable, CustomStringConvertible {
    /// A command line that cannot work (exit 64).
    case usage(String)
    /// Bad input data: dataset, model, config (exit 65).
    case invalidInput(String)
    /// A service is unreachable (exit 69).
    case unavailable(String)
    /// Credentials refused (exit 77).
    case authentication(String)
    /// Training failed (exit 3).
    case trainingFailed(String)
    /// Out of memory (exit 4).
    case outOfMemory(String)
    /// The promotion gate refused (exit 5).
    case gateRefused(String)
    /// The registry is not in a state that allows this (exit 6).
    case registryState(String)
    /// Stopped by Ctrl-C (130) or SIGTERM (143).
    case interrupted(signal: Int32, String)
    /// An MLflow failure, classified by ``exitCode``.
    case mlflow(MLflowError)
    /// Something guardianflow did not expect (exit 70).
    case `internal`(String)

    public var description: String {
        switch self {
        case .usage(let m), .invalidInput(let m), .unavailable(let m), .authentication(let m),
            .trainingFailed(let m), .outOfMemory(let m), .gateRefused(let m), .registryState(let m),
            .internal(let m):
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
        case .trainingFailed: 3
        case .outOfMemory: 4
        case .gateRefused: 5
        case .registryState: 6
        case .interrupted(let signal, _): 128 + signal
        case .internal: 70
        case .mlflow(let error): Self.exitCode(for: error)
        }
    }

    static func exitCode(for error: MLflowError) -> Int32 {
        switch error {
        case .unreachable, .tls: return 69
        case .authenticationRefused: return 77
        case .invalidResponse: return 69
        case .registration: return 6
        case .file: return 65
        case .invalidArgument: return 65
        case .api(_, let status, let code, _):
            if code == "RESOURCE_DOES_NOT_EXIST" { return 6 }
            if code == "INVALID_PARAMETER_VALUE" { return 65 }
            return status >= 500 ? 69 : 65
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
            case .integrity, .file: return .invalidInput(error.description)
            case .service(_, 404, _, _, _, _, _): return .invalidInput(error.description)
            case .unreachable, .clockSkew, .service: return .unavailable(error.description)
            }
        case is CancellationError: return .interrupted(signal: 2, "Interrupted.")
        default: return .internal("Unexpected error: \(error)")
        }
    }
}

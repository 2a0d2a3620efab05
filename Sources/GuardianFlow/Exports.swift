// `import GuardianFlow` brings the whole library: each domain target, and the MLflow and S3
// clients the public API speaks in. ARCHITECTURE.md draws how the targets depend on each other.
@_exported import Artifacts
@_exported import Config
@_exported import Delivery
@_exported import GuardianFlowCore
@_exported import Import
@_exported import Logging
@_exported import MLflow
@_exported import PathSupport
@_exported import Registry
@_exported import S3
@_exported import Scheduling
@_exported import SystemMonitoring
@_exported import Tracking
@_exported import Training

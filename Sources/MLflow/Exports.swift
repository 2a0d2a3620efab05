// The HTTP seam and retry policy are shared with the S3 module; MLflow users get them with it.
@_exported import HTTPSupport

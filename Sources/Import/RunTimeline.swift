import Foundation

/// When an imported run happened: its start, its end, and each epoch's timestamp, with where each
/// came from. A run is dated when it trained, never when it was imported.
///
/// - The start is when `args.yaml` (YOLOv5: `opt.yaml`) was written: at the training's start.
/// - The end is the finished checkpoint's `date`, else when `results.csv` was last written.
/// - Epochs are timed by the `time` column (seconds since the training started) where there is
///   one, else spread evenly between the start and the end.
/// - A resumed run restarts `time` and rewrites `args.yaml` at the resume: the last part is timed
///   from that start, and each earlier part is placed to end where the next one starts.
/// - Files copied without their times (their modification time after the end) are not trusted:
///   the start is then the end minus the `time` column's last value.
public struct RunTimeline: Sendable, Equatable {
    /// Milliseconds since 1970, as MLflow keeps them.
    public var start: Int64
    public var end: Int64
    /// One per epoch, in order.
    public var epochTimestamps: [Int64]
    /// `args.yaml`, or `checkpoint date − time column` (files copied without their times).
    public var startSource: String
    /// `checkpoint date` or `results.csv modified`.
    public var endSource: String
    /// `time column` or `interpolated`.
    public var epochSource: String

    /// - Parameters:
    ///   - argsWritten: when args.yaml/opt.yaml was last modified.
    ///   - checkpointDate: the latest checkpoint's `date`, if any.
    ///   - resultsModified: when results.csv was last modified, if there is one.
    ///   - times: the `time` column of the imported rows (nil where there is none), in order.
    public init(argsWritten: Date?, checkpointDate: Date?, resultsModified: Date?, times: [Double?]) {
        let hasTimes = !times.isEmpty && times.allSatisfy { $0 != nil }
        let timeValues = times.map { $0 ?? 0 }
        // The parts `time` counts from (it restarts at each resume).
        var parts: [Range<Int>] = []
        var partStart = 0
        for index in timeValues.indices.dropFirst() where timeValues[index] < timeValues[index - 1] {
            parts.append(partStart..<index)
            partStart = index
        }
        if !timeValues.isEmpty { parts.append(partStart..<timeValues.count) }
        let lastPartElapsed = hasTimes ? (timeValues.last ?? 0) : 0
        let earlierElapsed = hasTimes ? parts.dropLast().reduce(0.0) { $0 + (timeValues[$1.upperBound - 1]) } : 0

        var end: Date
        if let checkpointDate {
            end = checkpointDate
            endSource = "checkpoint date"
        } else if let resultsModified {
            end = resultsModified
            endSource = "results.csv modified"
        } else {
            end = argsWritten ?? Date(timeIntervalSince1970: 0)
            endSource = "args.yaml modified"
        }
        // The last part's start: when args.yaml was (re)written, unless that is after the end.
        var lastPartStart: Date
        if let argsWritten, argsWritten <= end.addingTimeInterval(1) {
            lastPartStart = argsWritten
            startSource = "args.yaml"
        } else if hasTimes {
            lastPartStart = end.addingTimeInterval(-lastPartElapsed)
            startSource = "checkpoint date − time column"
        } else {
            lastPartStart = min(argsWritten ?? end, end)
            startSource = "args.yaml (after the end: copied without times)"
        }
        if lastPartStart > end { end = lastPartStart }
        let start = lastPartStart.addingTimeInterval(-earlierElapsed)

        func ms(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
        func ms(_ seconds: Double) -> Int64 { Int64((seconds * 1000).rounded()) }
        var stamps: [Int64] = []
        if hasTimes {
            epochSource = "time column"
            var partAnchor = ms(start)
            for part in parts {
                for index in part { stamps.append(partAnchor + ms(timeValues[index])) }
                partAnchor += ms(timeValues[part.upperBound - 1])
            }
        } else {
            epochSource = "interpolated"
            let count = times.count
            for index in 0..<count {
                let fraction = Double(index + 1) / Double(count)
                stamps.append(ms(start.addingTimeInterval(end.timeIntervalSince(start) * fraction)))
            }
        }
        self.start = ms(start)
        self.end = max(ms(end), stamps.last ?? 0)
        self.epochTimestamps = stamps
    }

    /// The tag that says where the times came from.
    public var sourceTag: String { "start: \(startSource); end: \(endSource); epochs: \(epochSource)" }
}

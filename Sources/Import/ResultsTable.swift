import Foundation
import GuardianFlowCore

/// A run's `results.csv`, whichever version wrote it: one row per epoch, values as numbers.
///
/// - up to ultralytics 8.3.8 the header and values are space-padded and there is no `time` column;
/// - from 8.3.9 they are not padded, and `time` holds the seconds since the training (re)started;
/// - a resumed run restarts `time` from 0 and goes on counting epochs;
/// - an older ultralytics appended a rerun into the same folder, its epochs starting again at 1;
/// - YOLOv5 counts epochs from 0 (``RunFolder/Format/yolov5``): the steps are shifted by one.
public struct ResultsTable: Sendable, Equatable {
    public struct Row: Sendable, Equatable {
        /// The 1-based epoch (YOLOv5's 0-based one plus one).
        public var epoch: Int
        /// Seconds since the training (re)started, where the file has a `time` column.
        public var time: Double?
        /// Every other column: its header → its value (nil for an empty or `nan` cell).
        public var values: [String: Double?]
        /// The line as written, its fields trimmed: what the content fingerprints hash.
        public var normalized: String
    }

    /// The header's column names, trimmed.
    public var columns: [String]
    public var rows: [Row]
    /// Whether the header and values were space-padded (ultralytics up to 8.3.8, YOLOv5).
    public var padded: Bool
    public var hasTime: Bool { columns.contains("time") }

    /// Parses the file's text.
    ///
    /// - Throws: ``GuardianFlowError/invalidInput(_:)`` naming the file, the line and what is wrong.
    public init(text: String, file: String, format: RunFolder.Format) throws {
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).map(String.init)
        while let last = lines.last, last.trimmingCharacters(in: .whitespaces).isEmpty { lines.removeLast() }
        guard let header = lines.first, !header.isEmpty else {
            throw GuardianFlowError.invalidInput("\(file) is empty: it has no header line.")
        }
        let rawColumns = header.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        columns = rawColumns.map { $0.trimmingCharacters(in: .whitespaces) }
        padded = rawColumns.contains { $0.hasPrefix(" ") }
        guard let epochIndex = columns.firstIndex(of: "epoch") else {
            throw GuardianFlowError.invalidInput(
                "\(file) has no 'epoch' column (its header is '\(header.prefix(120))'): it is not a results.csv of ultralytics or YOLOv5.")
        }
        if Set(columns).count != columns.count || columns.contains("") {
            throw GuardianFlowError.invalidInput("\(file): its header has an empty or repeated column name ('\(header.prefix(160))').")
        }
        let timeIndex = columns.firstIndex(of: "time")
        var rows: [Row] = []
        for (offset, line) in lines.dropFirst().enumerated() {
            let lineNumber = offset + 2
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count == columns.count else {
                throw GuardianFlowError.invalidInput(
                    "\(file), line \(lineNumber): \(fields.count) values for \(columns.count) columns. The file is damaged (cut short, or edited)."
                )
            }
            var values: [String: Double?] = [:]
            var epoch: Int?
            var time: Double?
            for (index, field) in fields.enumerated() {
                let value: Double?
                if field.isEmpty || field.lowercased() == "nan" {
                    value = nil
                } else if let number = Double(field) {
                    value = number.isFinite ? number : nil
                } else {
                    throw GuardianFlowError.invalidInput(
                        "\(file), line \(lineNumber): '\(field.prefix(40))' in column '\(columns[index])' is not a number. The file is damaged (or not a results.csv)."
                    )
                }
                if index == epochIndex {
                    guard let value, value == value.rounded(), value >= 0 else {
                        throw GuardianFlowError.invalidInput("\(file), line \(lineNumber): the epoch '\(field)' is not a whole number.")
                    }
                    epoch = Int(value) + (format == .yolov5 ? 1 : 0)
                } else if index == timeIndex {
                    time = value
                } else {
                    values[columns[index]] = value
                }
            }
            guard let epoch, epoch >= 1 else {
                throw GuardianFlowError.invalidInput(
                    "\(file), line \(lineNumber): epoch 0 in an ultralytics results.csv, which counts from 1.")
            }
            rows.append(Row(epoch: epoch, time: time, values: values, normalized: fields.joined(separator: ",")))
        }
        self.rows = rows
    }

    /// Where each training that wrote into the file begins: a row whose epoch does not follow the
    /// one before (a rerun into the same folder, epochs from 1 again). The last one is the
    /// training the folder's args and weights belong to.
    public var trainingStarts: [Int] {
        var starts = [0]
        for index in rows.indices.dropFirst() where rows[index].epoch <= rows[index - 1].epoch {
            starts.append(index)
        }
        return starts
    }

    /// Where `time` starts again within rows `range` (a resume): the rows of each part.
    public func timeParts(_ range: Range<Int>) -> [Range<Int>] {
        var parts: [Range<Int>] = []
        var start = range.lowerBound
        for index in range.dropFirst() {
            if let time = rows[index].time, let before = rows[index - 1].time, time < before {
                parts.append(start..<index)
                start = index
            }
        }
        if start < range.upperBound { parts.append(start..<range.upperBound) }
        return parts
    }
}

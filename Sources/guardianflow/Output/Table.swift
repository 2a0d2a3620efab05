import Foundation

/// A plain-text table: a header row and aligned columns, cells cut to fit.
struct Table {
    var headers: [String]
    var rows: [[String]] = []
    var maxCellWidth = 60

    init(_ headers: String...) {
        self.headers = headers
    }

    mutating func add(_ cells: String...) {
        rows.append(cells)
    }

    func render() -> String {
        let all = [headers] + rows
        var widths = Array(repeating: 0, count: headers.count)
        for row in all {
            for (i, cell) in row.enumerated() where i < widths.count {
                widths[i] = min(maxCellWidth, max(widths[i], cell.count))
            }
        }
        func line(_ row: [String]) -> String {
            row.enumerated().map { i, cell in
                let text = cell.count > widths[i] ? String(cell.prefix(widths[i] - 1)) + "…" : cell
                return i == row.count - 1 ? text : text.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        var lines = [line(headers), line(widths.map { String(repeating: "-", count: $0) })]
        lines += rows.map(line)
        return lines.joined(separator: "\n")
    }
}

/// Formats MLflow millisecond timestamps for tables, in local time with its zone.
enum TimeFormat {
    static func date(_ milliseconds: Int64?) -> String {
        guard let milliseconds, milliseconds > 0 else { return "-" }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd HH:mm zzz"
        return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }

    static func duration(from start: Int64?, to end: Int64?) -> String {
        guard let start, let end, end >= start else { return "-" }
        let seconds = Int((end - start) / 1000)
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m\(String(format: "%02d", seconds % 60))s" }
        return "\(seconds / 3600)h\(String(format: "%02d", seconds % 3600 / 60))m"
    }
}

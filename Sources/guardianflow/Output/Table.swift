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

import Foundation

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

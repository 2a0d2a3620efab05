import Foundation
import GuardianFlow

/// The version table shared by `models show` and `list versions`.
enum VersionTable {
    static func print(_ versions: [ModelVersionSummary]) {
        var table = Table("VERSION", "ALIASES", "STATUS", "mAP50_95", "mAP50", "CREATED", "RUN ID")
        for v in versions {
            table.add(
                v.version, v.aliases.isEmpty ? "-" : v.aliases.map { "@" + $0 }.joined(separator: " "), v.status,
                v.tags["best/mAP50_95"] ?? "-", v.tags["best/mAP50"] ?? "-", TimeFormat.date(v.createdAt),
                v.runId.isEmpty ? "-" : v.runId)
        }
        Console.out(table.render())
    }
}

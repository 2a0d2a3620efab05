import Foundation
import GuardianFlow

enum LifecycleOutput {
    static func print(_ result: LifecycleResult, output: OutputOptions) async throws {
        try await output.print(result) { human(result) }
    }

    static func human(_ result: LifecycleResult) {
        let verb = result.entry.action == .promote ? "Promoted" : "Rolled back to"
        Console.out(
            "\(verb) \(result.model) version \(result.champion) as @champion"
                + (result.entry.from.map { " (was version \($0))" } ?? " (first champion)")
                + (result.resumed ? ", finishing an interrupted \(result.entry.action.rawValue)" : "") + ".")
        Console.out("  @rollback: \(result.rollback.map { "version \($0)" } ?? "none")")
        if let gate = result.gate { Console.out("  gate: \(gate)") }
        Console.out("  deploy: models:/\(result.model)@champion")
    }
}

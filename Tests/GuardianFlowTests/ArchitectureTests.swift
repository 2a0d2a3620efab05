import Foundation
import Testing
import TestSupport

/// ARCHITECTURE.md draws the domain's targets; Package.swift is what the compiler enforces.
@Suite("Architecture")
struct ArchitectureTests {
    /// The targets the drawing covers: the domain and the executable.
    static let drawn: Set<String> = [
        "guardianflow", "GuardianFlow", "Training", "Delivery", "Tracking", "Registry", "Artifacts", "SystemMonitoring", "Config",
        "Import", "Scheduling",
    ]

    /// `A --> B` lines of the mermaid graph.
    static func drawnEdges(_ markdown: String) -> Set<String> {
        let graph = markdown.components(separatedBy: "```mermaid").dropFirst().first?.components(separatedBy: "```").first ?? ""
        return Set(
            graph.split(separator: "\n").compactMap { line -> String? in
                let parts = line.split(separator: " ").filter { $0 != "-->" }
                guard line.contains("-->"), parts.count == 2 else { return nil }
                return "\(parts[0]) --> \(parts[1])"
            })
    }

    /// Each target's project dependencies, read from the manifest's `name: "X", dependencies: [...]`.
    static func declaredEdges(_ manifest: String) throws -> Set<String> {
        var edges: Set<String> = []
        let target = try Regex(#"name: "(\w+)",\s*dependencies:\s*\[([^\]]*)\]"#)
        let quoted = try Regex(#""(\w+)""#)
        for match in manifest.matches(of: target) {
            guard let name = match.output[1].substring.map(String.init), drawn.contains(name),
                let list = match.output[2].substring
            else { continue }
            for dependency in list.matches(of: quoted) {
                if let d = dependency.output[1].substring.map(String.init), drawn.contains(d) { edges.insert("\(name) --> \(d)") }
            }
        }
        return edges
    }

    @Test("the dependency graph in ARCHITECTURE.md is the one Package.swift declares")
    func graphMatchesManifest() throws {
        let root = TestEnvironment.repoRoot
        let manifest = try String(contentsOfFile: root + "/Package.swift", encoding: .utf8)
        let architecture = try String(contentsOfFile: root + "/ARCHITECTURE.md", encoding: .utf8)
        let declared = try Self.declaredEdges(manifest)
        let drawnEdges = Self.drawnEdges(architecture)
        #expect(declared.count >= 15, "the manifest's targets were found: \(declared.sorted())")
        #expect(drawnEdges.subtracting(declared).sorted() == [], "drawn but not declared")
        #expect(declared.subtracting(drawnEdges).sorted() == [], "declared but not drawn")
    }

    @Test("only GuardianFlow and Scheduling (which queues trainings) depend on Training; Import never; nothing on the executable")
    func dependenciesPointOneWay() throws {
        let manifest = try String(contentsOfFile: TestEnvironment.repoRoot + "/Package.swift", encoding: .utf8)
        let declared = try Self.declaredEdges(manifest)
        #expect(declared.filter { $0.hasSuffix("--> Training") }.sorted() == ["GuardianFlow --> Training", "Scheduling --> Training"])
        #expect(declared.filter { $0.hasSuffix("--> guardianflow") }.isEmpty)
        #expect(declared.filter { $0.hasPrefix("Delivery -->") && ($0.hasSuffix("Training") || $0.hasSuffix("Tracking")) }.isEmpty)
    }
}

import ArgumentParser
import Foundation
import GuardianFlow

struct PullCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Download a version's weights and check their SHA-256.",
        discussion: """
            MODEL means MODEL@champion; MODEL@ALIAS and MODEL/VERSION pick another. best.pt (and last.pt) \
            land in the output folder only when best.pt's SHA-256 matches the version's weights.sha256 tag.
            """
    )
    @OptionGroup var global: GlobalOptions
    @Argument(help: "MODEL, MODEL@ALIAS or MODEL/VERSION.") var reference: String
    @Option(name: [.customShort("o"), .long], help: ArgumentHelp("The folder to write the weights to.", valueName: "dir"))
    var output: String = "."
    @Flag(help: "Print JSON on stdout (and nothing else there).") var json = false

    func run() async throws {
        try await global.withClient { settings, client in
            let parsed = try ModelReference(parsing: reference)
            let pulled = try await ModelRegistry(client: client, s3: settings.s3Configuration).pull(parsed, to: output)
            if json {
                try Console.json(pulled)
            } else {
                Console.out("Pulled \(pulled.model) version \(pulled.version) (\(parsed)): sha256 \(pulled.sha256) verified.")
                for file in pulled.files { Console.out("  \(file)") }
            }
        }
    }
}

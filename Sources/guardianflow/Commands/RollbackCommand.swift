import ArgumentParser
import Foundation
import GuardianFlow

struct RollbackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback",
        abstract: "Put the previous champion (@rollback) back as champion.",
        discussion: """
            @champion ← the @rollback version; @rollback then points at the champion before that one \
            in the history, or is removed. Refuses with exit 6 when there is no @rollback.
            """
    )
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The registered model.") var model: String
    @Option(help: "Why, recorded in the history.") var reason: String?
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await global.withClient { settings, client in
            let registry = ModelRegistry(client: client)
            try await LifecycleOutput.print(try await registry.rollback(modelName: model, reason: reason), output: output)
        }
    }
}

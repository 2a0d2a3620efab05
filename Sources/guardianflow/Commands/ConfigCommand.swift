import ArgumentParser
import Foundation
import GuardianFlow

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Show the effective settings and where each came from.",
        subcommands: [Show.self]
    )

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Print every setting, its value (secrets masked) and its source.",
            discussion: """
                Precedence: flags > environment > config file > defaults. The config file is --config, \
                else ./guardianflow.yaml, else ~/.config/guardianflow/guardianflow.yaml; its keys are the \
                KEY column (e.g. `tracking_uri: http://mlflow:5000`).
                """
        )
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions

        struct Row: Encodable {
            var key: String
            var value: String?
            var source: String
            var environment: [String]
            var secret: Bool
            var description: String
        }

        func run() async throws {
            try await global.run { settings in
                let rows = settings.all.map {
                    Row(
                        key: $0.key.rawValue, value: $0.value == nil ? nil : $0.displayValue, source: $0.source.description,
                        environment: $0.key.environmentNames, secret: $0.key.isSecret, description: $0.key.summary)
                }
                try await output.print(rows) { printTable(settings) }
            }
        }

        func printTable(_ settings: Settings) {
            var table = Table("KEY", "VALUE", "SOURCE", "ENVIRONMENT")
            table.maxCellWidth = 70
            for setting in settings.all {
                table.add(
                    setting.key.rawValue, setting.value == nil ? "-" : setting.displayValue,
                    setting.source.description, setting.key.environmentNames.joined(separator: ", "))
            }
            Console.out(table.render())
            Console.out(
                "\nConfig file: "
                    + (settings.configFile
                        ?? "none (looked for ./guardianflow.yaml and ~/.config/guardianflow/guardianflow.yaml)"))
            if settings[.python] == nil {
                let found = PythonEnvironment.locate(settings: settings)
                Console.out(
                    found.exists
                        ? "Python (no `python` set): \(found.python), the .venv found beside the executable."
                        : "Python (no `python` set): no .venv beside the executable or here; run scripts/setup, or set `python`.")
            }
            if settings.trackingURI == nil {
                Console.out("No tracking URI: commands use the local MLflow server at http://127.0.0.1:\(settings.serverPort).")
            }
        }
    }
}

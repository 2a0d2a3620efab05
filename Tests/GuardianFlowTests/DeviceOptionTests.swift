import Foundation
import GuardianFlow
import Testing

/// `--device`: what the validator takes is what `train --help` offers, on any machine.
@Suite("The --device option")
struct DeviceOptionTests {
    func validator(gpu: Bool) -> TrainingInputValidator {
        TrainingInputValidator(ultralyticsPackage: nil, gpuPresent: { gpu })
    }

    func options(device: String) -> TrainingOptions {
        var options = TrainingOptions()
        options.device = device
        return options
    }

    @Test("cpu and one GPU index are taken where a GPU is present", arguments: ["cpu", "0", "1", "cuda:0", "cuda"])
    func oneDevice(_ device: String) throws {
        try validator(gpu: true).validate(options: options(device: device))
    }

    @Test("several GPUs are refused with what to give instead", arguments: ["0,1", "cuda:0,1"])
    func severalGPUs(_ device: String) {
        #expect(throws: GuardianFlowError.self) { try validator(gpu: true).validate(options: options(device: device)) }
        do {
            try validator(gpu: true).validate(options: options(device: device))
        } catch {
            #expect("\(error)".contains("Give one GPU"), "\(error)")
        }
    }

    @Test("a GPU index without an NVIDIA driver is refused, naming the fix")
    func noDriver() {
        do {
            try validator(gpu: false).validate(options: options(device: "0"))
            Issue.record("expected a refusal")
        } catch {
            #expect("\(error)".contains("no NVIDIA driver"), "\(error)")
            #expect("\(error)".contains("--device cpu"), "\(error)")
        }
    }
}

import Foundation
import GuardianFlow
import Logging
import Testing

/// `--device`: what the validator takes is what `train --help` offers, on any machine.
@Suite("The --device option")
struct DeviceOptionTests {
    func validator(gpus: Int?) -> TrainingInputValidator {
        TrainingInputValidator(ultralyticsPackage: nil, visibleGPUs: { gpus })
    }

    func options(device: String, batch: Int = 16) -> TrainingOptions {
        var options = TrainingOptions()
        options.device = device
        options.batch = batch
        return options
    }

    func refusal(_ gpus: Int?, _ options: TrainingOptions) -> String? {
        do {
            try validator(gpus: gpus).validate(options: options)
            return nil
        } catch let error as GuardianFlowError {
            #expect(error.exitCode == 65)
            return error.description
        } catch {
            return "\(error)"
        }
    }

    @Test("cpu and one GPU index are taken where a GPU is present", arguments: ["cpu", "0", "1", "cuda:0", "cuda"])
    func oneDevice(_ device: String) throws {
        try validator(gpus: 2).validate(options: options(device: device))
    }

    @Test("several GPUs (multi-GPU DDP) are taken when that many are visible", arguments: ["0,1", "cuda:0,1", "1,0"])
    func severalGPUs(_ device: String) throws {
        try validator(gpus: 2).validate(options: options(device: device))
        try validator(gpus: nil).validate(options: options(device: device))  // a count nobody knows: submit's case
    }

    @Test("a GPU beyond the visible ones is refused, naming the count and the indices to use")
    func beyondVisible() throws {
        let message = try #require(refusal(1, options(device: "0,1")))
        #expect(message.contains("asks for GPU 1") && message.contains("1 GPU is visible") && message.contains("use 0"), "\(message)")
        let four = try #require(refusal(2, options(device: "0,3")))
        #expect(four.contains("indices 0 to 1"), "\(four)")
    }

    @Test("a GPU named twice is refused")
    func twice() throws {
        let message = try #require(refusal(4, options(device: "0,0")))
        #expect(message.contains("names GPU 0 twice"), "\(message)")
    }

    @Test("AutoBatch and a batch smaller than the GPU count are refused for several GPUs, with a batch that works")
    func multiGPUBatch() throws {
        let autoBatch = try #require(refusal(2, options(device: "0,1", batch: -1)))
        #expect(autoBatch.contains("--batch 16"), "\(autoBatch)")
        let small = try #require(refusal(4, options(device: "0,1,2,3", batch: 2)))
        #expect(small.contains("multiple of 4") && small.contains("--batch 32"), "\(small)")
        try validator(gpus: 2).validate(options: options(device: "0,1", batch: 2))
    }

    @Test("a GPU index without an NVIDIA driver is refused, naming the fix", arguments: ["0", "0,1"])
    func noDriver(_ device: String) {
        let message = refusal(0, options(device: device)) ?? ""
        #expect(message.contains("no NVIDIA driver"), "\(message)")
        #expect(message.contains("--device cpu"), "\(message)")
    }

    @Test("device lists parse to GPU indices")
    func indices() {
        #expect(TrainingInputValidator.gpuIndices("0,1") == [0, 1])
        #expect(TrainingInputValidator.gpuIndices("cuda:2,3") == [2, 3])
        #expect(TrainingInputValidator.gpuIndices("1") == [1])
        #expect(TrainingInputValidator.gpuIndices("cpu") == nil)
        #expect(TrainingInputValidator.gpuIndices("cuda") == nil)
        #expect(TrainingInputValidator.gpuIndices("0,") == nil)
    }

    @Test("the GPUs a training here sees: none without a driver, else CUDA_VISIBLE_DEVICES' entries up to the first CUDA stops at")
    func visibleCount() {
        guard TrainingInputValidator.nvidiaDriverLoaded() else {
            #expect(TrainingInputValidator.visibleGPUCount(environment: ["CUDA_VISIBLE_DEVICES": "0,1"]) == 0)
            return
        }
        #expect(TrainingInputValidator.visibleGPUCount(environment: ["CUDA_VISIBLE_DEVICES": "0,1"]) == 2)
        #expect(TrainingInputValidator.visibleGPUCount(environment: ["CUDA_VISIBLE_DEVICES": "2,-1,3"]) == 1)
        #expect(TrainingInputValidator.visibleGPUCount(environment: ["CUDA_VISIBLE_DEVICES": ""]) == 0)
    }

    @Test("submit: --gpus N above one trains on all N unless --device says otherwise; a --device beyond them is refused")
    func submitDevice() throws {
        let logger = Logger(label: "test")
        #expect(try TrainingSubmitter.device(nil, gpus: nil, logger: logger) == nil)
        #expect(try TrainingSubmitter.device(nil, gpus: 1, logger: logger) == nil)
        #expect(try TrainingSubmitter.device(nil, gpus: 4, logger: logger) == "0,1,2,3")
        #expect(try TrainingSubmitter.device("1", gpus: 2, logger: logger) == "1")
        #expect(try TrainingSubmitter.device("cpu", gpus: 2, logger: logger) == "cpu")
        #expect(try TrainingSubmitter.device("0", gpus: nil, logger: logger) == "0")
        #expect {
            try TrainingSubmitter.device("0,1", gpus: 1, logger: logger)
        } throws: { error in
            let text = "\(error)"
            return text.contains("asks for GPU 1") && text.contains("--gpus 1") && text.contains("Leave --device out")
        }
    }
}

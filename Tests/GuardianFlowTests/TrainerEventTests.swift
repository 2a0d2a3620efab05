import Foundation
import GuardianFlow
import Testing

@Suite("Trainer events and metric names")
struct TrainerEventTests {
    @Test("an epoch line becomes guardianflow's metric names, zeros and nulls handled")
    func epoch() throws {
        let line = #"{"event":"epoch","epoch":3,"epochs":10,"time":1.5,"metrics":{"train/box_loss":1.25,"train/cls_loss":0.5,"train/dfl_loss":0.75,"metrics/precision(B)":0.0,"metrics/recall(B)":null,"metrics/mAP50(B)":0.25,"metrics/mAP50-95(B)":0.125,"val/box_loss":2.0},"lr":{"lr/pg0":0.01,"lr/pg1":0.02,"lr/pg2":0.03}}"#
        guard case .epoch(let epoch) = try #require(TrainerEvent.parse(line)) else {
            Issue.record("not an epoch")
            return
        }
        #expect(epoch.epoch == 3)
        let metrics = TrainingMetrics.epochMetrics(epoch)
        #expect(metrics == [
            "box_loss": 1.25, "cls_loss": 0.5, "dfl_loss": 0.75, "precision": 0.0, "mAP50": 0.25, "mAP50_95": 0.125,
            "val/box_loss": 2.0, "lr/pg0": 0.01, "lr/pg1": 0.02, "lr/pg2": 0.03,
        ])
    }

    @Test("TrainingMetrics turns into a prefixed dictionary of the values that are set")
    func prefixed() {
        let metrics = TrainingMetrics(mAP50: 0.5, mAP50_95: 0.25, precision: .nan)
        #expect(metrics.dictionary(prefix: "best/") == ["best/mAP50": 0.5, "best/mAP50_95": 0.25])
    }

    @Test("started, finished and error lines; other lines are ignored")
    func others() throws {
        let started = try #require(TrainerEvent.parse(
            #"{"event":"started","pid":7,"save_dir":"/s","ultralytics":"8.4.190","torch":"2.15","device":"cpu","epochs":2,"start_epoch":1,"resume":false,"args":{"epochs":2,"amp":true,"lr0":0.01,"name":null,"imgsz":[64,64]}}"#))
        guard case .started(let s) = started else { Issue.record("not started"); return }
        #expect(s.args == ["epochs": "2", "amp": "True", "lr0": "0.01", "name": "None", "imgsz": "[64, 64]"])
        let finished = try #require(TrainerEvent.parse(
            #"{"event":"finished","save_dir":"/s","best":"/s/weights/best.pt","last":null,"epochs_completed":2,"best_metrics":{"metrics/mAP50-95(B)":0.5},"speed_ms":{"inference":2.5}}"#))
        guard case .finished(let f) = finished else { Issue.record("not finished"); return }
        #expect(f.best == "/s/weights/best.pt")
        #expect(f.last == nil)
        #expect(TrainingMetrics(ultralytics: f.bestMetrics).mAP50_95 == 0.5)
        #expect(TrainerEvent.parse(#"{"event":"error","kind":"oom","message":"CUDA out of memory"}"#)
            == .error(kind: "oom", message: "CUDA out of memory", traceback: ""))
        #expect(TrainerEvent.parse("Ultralytics 8.4.190 🚀 Python-3.11") == nil)
        #expect(TrainerEvent.parse(#"{"event":"unknown"}"#) == nil)
    }

    @Test("the registered model's name: --model-name, else customer-task, else the experiment")
    func modelName() {
        var options = TrainingOptions()
        #expect(options.registeredModelName(experiment: "ppe") == "ppe")
        options.customer = "acme"
        #expect(options.registeredModelName(experiment: "ppe") == "ppe")
        options.task = "helmets"
        #expect(options.registeredModelName(experiment: "ppe") == "acme-helmets")
        options.modelName = "custom"
        #expect(options.registeredModelName(experiment: "ppe") == "custom")
    }
}

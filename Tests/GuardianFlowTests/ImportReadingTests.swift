import Foundation
import GuardianFlow
import Testing

/// How `import` reads a run folder's results.csv whichever version wrote it, names its columns,
/// dates it, and decides what to do with a run imported before. The real folders and the MLflow
/// side are in IntegrationTests/ImportTests.swift.
@Suite("Import: reading run folders")
struct ImportReadingTests {
    static let today =
        """
        epoch,time,train/box_loss,train/cls_loss,train/dfl_loss,metrics/precision(B),metrics/recall(B),metrics/mAP50(B),metrics/mAP50-95(B),val/box_loss,lr/pg0
        1,6.3578,0.03721,0.65314,0.0232,0.1,0.2,0.3,0.2,0.02027,0.00111133
        2,15.5914,0.02191,0.65093,0.01308,0.2,0.3,0.4,0.25,0.02027,0.000841835
        """

    @Test("today's format (8.3.9 on): unpadded, a time column, steps = the epochs")
    func todaysFormat() throws {
        let table = try ResultsTable(text: Self.today, file: "r.csv", format: .ultralytics)
        #expect(!table.padded)
        #expect(table.hasTime)
        #expect(table.rows.map(\.epoch) == [1, 2])
        #expect(table.rows.map(\.time) == [6.3578, 15.5914])
        #expect(table.rows[1].values["metrics/mAP50-95(B)"] == 0.25)
        #expect(table.rows[0].values["time"] == nil, "time is the timestamp, not a metric")
    }

    @Test("up to 8.3.8: space-padded header and values, no time column")
    func paddedFormat() throws {
        let text = """
                                epoch,         train/box_loss,   metrics/mAP50-95(B)
                                    1,                 1.2345,                0.1
                                    2,                 1.1000,                0.2

            """
        let table = try ResultsTable(text: text, file: "r.csv", format: .ultralytics)
        #expect(table.padded)
        #expect(!table.hasTime)
        #expect(table.columns == ["epoch", "train/box_loss", "metrics/mAP50-95(B)"])
        #expect(table.rows.map(\.epoch) == [1, 2])
        #expect(table.rows[0].normalized == "1,1.2345,0.1", "the fingerprints hash the trimmed fields")
    }

    @Test("YOLOv5 counts epochs from 0: shifted by one")
    func yolov5Epochs() throws {
        let text =
            "               epoch,      train/box_loss,     metrics/mAP_0.5\n                   0,             0.1,             0.01\n                   1,             0.09,            0.02\n"
        let table = try ResultsTable(text: text, file: "r.csv", format: .yolov5)
        #expect(table.rows.map(\.epoch) == [1, 2])
        #expect(throws: GuardianFlowError.self, "ultralytics counts from 1: an epoch 0 there is damage") {
            try ResultsTable(text: text, file: "r.csv", format: .ultralytics)
        }
    }

    @Test("a rerun into the same folder starts its epochs at 1 again; a resume restarts time only")
    func rerunsAndResumes() throws {
        let text = "epoch,time,metrics/mAP50(B)\n1,10,0.1\n2,20,0.2\n1,9,0.05\n2,19,0.15\n3,5,0.2\n"
        let table = try ResultsTable(text: text, file: "r.csv", format: .ultralytics)
        #expect(table.trainingStarts == [0, 2], "the last training starts at row 2")
        #expect(table.timeParts(2..<5) == [2..<4, 4..<5], "a resume after its epoch 2")
    }

    @Test("a damaged results.csv names the file, the line and what is wrong")
    func damaged() {
        for (text, expected) in [
            ("epoch,time,x\n1,2\n", "line 2: 2 values for 3 columns"),
            ("epoch,time,x\n1,2,abc\n", "line 2: 'abc' in column 'x' is not a number"),
            ("time,x\n1,2\n", "no 'epoch' column"),
            ("", "is empty"),
            ("epoch,x,x\n1,2,3\n", "repeated column"),
        ] {
            #expect {
                try ResultsTable(text: text, file: "/runs/train/results.csv", format: .ultralytics)
            } throws: { error in
                let message = (error as? GuardianFlowError)?.description ?? ""
                return message.contains("/runs/train/results.csv") && message.contains(expected)
                    && (error as? GuardianFlowError)?.exitCode == 65
            }
        }
    }

    @Test("columns get train's names; other tasks' columns are kept under names MLflow accepts")
    func columnNames() {
        let names = MetricColumns.names([
            "epoch", "metrics/mAP50(B)", "metrics/mAP50-95(B)", "metrics/precision(B)", "metrics/recall(B)", "train/box_loss",
            "val/box_loss", "lr/pg0", "metrics/mAP50-95(M)", "train/seg_loss", "metrics/accuracy_top1", "metrics/mAP_0.5:0.95",
            "x/lr1", "odd column!",
        ])
        #expect(names["metrics/mAP50(B)"] == "mAP50")
        #expect(names["metrics/mAP50-95(B)"] == "mAP50_95")
        #expect(names["metrics/precision(B)"] == "precision")
        #expect(names["train/box_loss"] == "box_loss")
        #expect(names["val/box_loss"] == "val/box_loss")
        #expect(names["lr/pg0"] == "lr/pg0")
        #expect(names["metrics/mAP50-95(M)"] == "mAP50_95_M")
        #expect(names["train/seg_loss"] == "seg_loss")
        #expect(names["metrics/accuracy_top1"] == "accuracy_top1")
        #expect(names["x/lr1"] == "lr/pg1")
        #expect(names["metrics/mAP_0.5:0.95"] == "metrics/mAP_0.5:0.95", "a second mAP50_95 keeps its own header's name")
        #expect(names["odd column!"] == "odd column_")
        #expect(names["epoch"] == nil)
    }

    @Test("times: from the time column, anchored at args.yaml; interpolated without one; a resume's earlier part ends where it starts")
    func timeline() {
        let start = Date(timeIntervalSince1970: 1_700_000_000)
        let end = start.addingTimeInterval(100)
        let timed = RunTimeline(argsWritten: start, checkpointDate: end, resultsModified: nil, times: [10, 20, 30])
        #expect(timed.start == 1_700_000_000_000)
        #expect(timed.end == 1_700_000_100_000)
        #expect(timed.epochTimestamps == [1_700_000_010_000, 1_700_000_020_000, 1_700_000_030_000])
        #expect(timed.sourceTag == "start: args.yaml; end: checkpoint date; epochs: time column")

        let spread = RunTimeline(argsWritten: start, checkpointDate: nil, resultsModified: end, times: [nil, nil, nil, nil])
        #expect(spread.epochTimestamps == [1_700_000_025_000, 1_700_000_050_000, 1_700_000_075_000, 1_700_000_100_000])
        #expect(spread.endSource == "results.csv modified")
        #expect(spread.epochSource == "interpolated")

        // Resumed: args.yaml was rewritten at the resume; the first part (30 s) ends where it starts.
        let resumed = RunTimeline(argsWritten: start, checkpointDate: end, resultsModified: nil, times: [10, 30, 5, 15])
        #expect(resumed.start == 1_700_000_000_000 - 30_000)
        #expect(resumed.epochTimestamps == [1_699_999_980_000, 1_700_000_000_000, 1_700_000_005_000, 1_700_000_015_000])

        // Copied without its times: args.yaml written after the end.
        let copied = RunTimeline(argsWritten: end.addingTimeInterval(3600), checkpointDate: end, resultsModified: nil, times: [10, 40])
        #expect(copied.start == 1_700_000_060_000, "the end minus the time column")
        #expect(copied.startSource == "checkpoint date − time column")
    }

    @Test("checkpoint dates with an offset (8.3 on) and without (older, local time)")
    func checkpointDates() throws {
        let micro = try #require(CheckpointInfo.parseDate("2026-11-30T14:12:44.828576+00:00"))
        #expect(abs(micro.timeIntervalSince1970 - 1_796_047_964.828576) < 0.000_01, "microseconds kept: \(micro.timeIntervalSince1970)")
        #expect(CheckpointInfo.parseDate("2026-11-30T14:12:44+02:00") == Date(timeIntervalSince1970: 1_796_040_764))
        #expect(CheckpointInfo.parseDate("2023-01-02T03:04:05.123456") != nil)
        #expect(CheckpointInfo.parseDate("yesterday") == nil)
    }

    func run(_ tags: [String: String], id: String = "r1") throws -> Run {
        let json: [String: Any] = [
            "info": ["run_id": id, "experiment_id": "1", "status": "FINISHED", "artifact_uri": "mlflow-artifacts:/1/\(id)/artifacts"],
            "data": ["tags": tags.map { ["key": $0.key, "value": $0.value] }],
        ]
        return try JSONDecoder().decode(Run.self, from: JSONSerialization.data(withJSONObject: json))
    }

    func imported(rows: Int, firstRow: Int = 0, status: RunStatus = .finished) throws -> ImportedRun {
        let folder = TestTemporary.folder()
        var text = "epoch,time,metrics/mAP50-95(B)\n"
        for e in 1...rows { text += "\(e),\(e * 10),0.\(e)\n" }
        try "epochs: \(status == .finished ? rows : rows + 5)\nsave_dir: /runs/train\n".write(
            toFile: folder + "/args.yaml", atomically: true, encoding: .utf8)
        try text.write(toFile: folder + "/results.csv", atomically: true, encoding: .utf8)
        return try RunFolderReader(checkpoints: [:]).read(RunFolder(path: folder, format: .ultralytics))
    }

    @Test("a second import: unchanged, grown (append the new rows), partial or rewritten (replace), an older copy (left)")
    func decisions() throws {
        let three = try imported(rows: 3, status: .killed)
        #expect(three.status == .killed)
        #expect(three.statusReason.contains("interrupted after epoch 3 of 8"))
        #expect(RunImporter.decide(three, existing: []) == .create)

        let complete: [String: String] = [
            ImportTags.state: "complete", ImportTags.content: three.content, ImportTags.rows: "3", ImportTags.firstRow: "0",
            ImportTags.rowsDigest: three.rowsDigest(3),
        ]
        #expect(RunImporter.decide(three, existing: [try run(complete)]) == .unchanged(runId: "r1"))

        var partial = complete
        partial[ImportTags.state] = "partial"
        guard case .replace(["r1"], let reason) = RunImporter.decide(three, existing: [try run(partial)]) else {
            Issue.record("a partial run is replaced")
            return
        }
        #expect(reason.contains("interrupted"))

        let five = try imported(rows: 5)
        #expect(five.origin == three.origin, "the same training: same save_dir and first epoch")
        #expect(RunImporter.decide(five, existing: [try run(complete)]) == .append(runId: "r1", fromRow: 3))

        var rewritten = complete
        rewritten[ImportTags.rowsDigest] = "0000"
        #expect(
            RunImporter.decide(five, existing: [try run(rewritten)])
                == .replace(runIds: ["r1"], reason: "its results.csv was rewritten since it was imported"))

        var grown = complete
        grown[ImportTags.rows] = "5"
        grown[ImportTags.content] = five.content
        #expect(RunImporter.decide(three, existing: [try run(grown)]) == .olderCopy(runId: "r1", rows: 5))

        let two = [try run(complete, id: "a"), try run(complete, id: "b")]
        #expect(RunImporter.decide(three, existing: two) == .replace(runIds: ["a", "b"], reason: "2 runs came from this folder"))
    }

    @Test("finding runs: ultralytics and YOLOv5 folders anywhere below a path, not inside a run; a path with none is refused (65)")
    func finding() throws {
        let root = TestTemporary.folder()
        let manager = FileManager.default
        for (folder, files) in [
            ("detect/train", ["args.yaml", "results.csv"]), ("detect/train2", ["args.yaml", "weights/last.pt"]),
            ("detect/train2/weights/nested", ["args.yaml", "results.csv"]), ("v5/exp", ["opt.yaml", "hyp.yaml"]),
            ("detect/notrun", ["args.yaml"]), ("other", ["readme.txt"]),
        ] {
            for file in files {
                let path = "\(root)/\(folder)/\(file)"
                try manager.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                manager.createFile(atPath: path, contents: Data())
            }
        }
        let found = try RunFolder.find(in: [root])
        #expect(found.map(\.path) == ["\(root)/detect/train", "\(root)/detect/train2", "\(root)/v5/exp"])
        #expect(found.map(\.format) == [.ultralytics, .ultralytics, .yolov5])
        #expect(try RunFolder.find(in: ["\(root)/detect/train"]).count == 1, "a run's own folder")
        #expect { try RunFolder.find(in: ["\(root)/other"]) } throws: { error in
            (error as? GuardianFlowError)?.exitCode == 65 && "\(error)".contains("looked for an ultralytics run")
        }
        #expect { try RunFolder.find(in: ["\(root)/missing"]) } throws: { error in
            (error as? GuardianFlowError)?.exitCode == 65 && "\(error)".contains("does not exist")
        }
    }
}

enum TestTemporary {
    static func folder() -> String {
        let path = NSTemporaryDirectory() + "import-unit-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

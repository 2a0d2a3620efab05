import Foundation
import Testing

@testable import MLflow

@Suite("Log-batch planning")
struct LogBatchPlannerTests {
    let planner = LogBatchPlanner()

    func metrics(_ count: Int, key: (Int) -> String = { "m\($0 % 20)" }) -> [Metric] {
        (0..<count).map { Metric(key: key($0), value: Double($0), timestamp: 1_700_000_000_000, step: Int64($0 / 20)) }
    }

    @Test("2500 metrics become 1000 + 1000 + 500, order kept")
    func splitsMetrics() {
        let batches = planner.plan(metrics: metrics(2500), params: [], tags: [])
        #expect(batches.map(\.metrics.count) == [1000, 1000, 500])
        #expect(batches.flatMap(\.metrics).map(\.value) == (0..<2500).map(Double.init))
    }

    @Test("250 params become three batches of at most 100")
    func splitsParams() {
        let params = (0..<250).map { KeyValue(key: "p\($0)", value: "v\($0)") }
        let batches = planner.plan(metrics: [], params: params, tags: [])
        #expect(batches.map(\.params.count) == [100, 100, 50])
    }

    @Test("params, tags and metrics together never exceed 1000 entities or 100 params/tags")
    func mixedLimits() {
        let params = (0..<150).map { KeyValue(key: "p\($0)", value: "v") }
        let tags = (0..<150).map { KeyValue(key: "t\($0)", value: "v") }
        let batches = planner.plan(metrics: metrics(1900), params: params, tags: tags)
        for batch in batches {
            #expect(batch.params.count <= 100)
            #expect(batch.tags.count <= 100)
            #expect(batch.metrics.count <= 1000)
            #expect(batch.count <= 1000)
        }
        #expect(batches.reduce(0) { $0 + $1.count } == 2200)
    }

    @Test("requests stay under 1 MB even with long values")
    func byteLimit() throws {
        let long = String(repeating: "x", count: 6000)
        let params = (0..<100).map { KeyValue(key: "param_\($0)", value: long) }
        let tags = (0..<100).map { KeyValue(key: "tag_\($0)", value: String(repeating: "é", count: 8000)) }
        let batches = planner.plan(metrics: [], params: params, tags: tags)
        #expect(batches.count >= 2)
        for batch in batches {
            let body = try JSONValue.object([
                "run_id": .string(String(repeating: "a", count: 32)),
                "metrics": .array(batch.metrics.map(\.json)), "params": .array(batch.params.map(\.json)),
                "tags": .array(batch.tags.map(\.json)),
            ]).encoded()
            #expect(body.count < 1_000_000)
        }
    }

    @Test("non-finite metric values are dropped, never sent")
    func dropsNonFinite() {
        let input = [
            Metric(key: "a", value: .nan, timestamp: 1), Metric(key: "b", value: .infinity, timestamp: 1),
            Metric(key: "c", value: -.infinity, timestamp: 1), Metric(key: "d", value: 0.5, timestamp: 1),
        ]
        let batches = planner.plan(metrics: input, params: [], tags: [])
        #expect(batches.flatMap(\.metrics).map(\.key) == ["d"])
    }

    @Test("long param values are cut to 6000 code points, tags to 8000")
    func truncates() {
        let batches = planner.plan(
            metrics: [], params: [KeyValue(key: "p", value: String(repeating: "ü", count: 7000))],
            tags: [KeyValue(key: "t", value: String(repeating: "a", count: 9000))])
        #expect(batches[0].params[0].value.unicodeScalars.count == 6000)
        #expect(batches[0].tags[0].value.count == 8000)
    }

    @Test("a param given twice is sent once, with its first value, as MLflow and the journal's replay keep it")
    func dedupesParams() {
        let batches = planner.plan(
            metrics: [], params: [KeyValue(key: "lr", value: "1"), KeyValue(key: "lr", value: "2")], tags: [])
        #expect(batches[0].params == [KeyValue(key: "lr", value: "1")])
    }

    @Test(
        "keys are made valid",
        arguments: [
            ("metrics/mAP50(B)", "metrics/mAP50_B_"), ("lr/pg0", "lr/pg0"), ("a//b", "a/b"), ("/abs", "abs"),
            ("../up", "_/up"), ("ok key:1.5-x", "ok key:1.5-x"), ("", "_"), ("a#b?c", "a_b_c"),
        ])
    func sanitizesKeys(input: String, expected: String) {
        #expect(MLflowKey.sanitize(input) == expected)
    }

    @Test("keys are cut to 250 characters")
    func longKeys() {
        #expect(MLflowKey.sanitize(String(repeating: "k", count: 400)).count == 250)
    }

    @Test("nothing to log means no request")
    func empty() {
        #expect(planner.plan(metrics: [], params: [], tags: []).isEmpty)
    }
}

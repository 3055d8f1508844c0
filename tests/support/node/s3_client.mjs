// A real AWS client for the forwarder's S3 archive tests: the AWS SDK for
// JavaScript v3 (@aws-sdk/client-s3), path style, static credentials, all
// from the environment:
//
//   S3_ENDPOINT   http://127.0.0.1:PORT (required)
//   AWS_REGION    default us-east-1
//   AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
//
// Usage:
//   node s3_client.mjs create-bucket <bucket>
//   node s3_client.mjs sign '<json>'
//       the AWS SDK's own SigV4 signer (@smithy/signature-v4, S3's rules: no
//       path escaping, signed payload hash) over {method, path, query,
//       headers, date, region, access_key, secret_key}: prints
//       {"authorization": "..."}; the test compares it with hawser's
//   node s3_client.mjs dump <bucket> <prefix>
//       every object under the prefix, listed two keys per page (so the
//       continuation token is followed), fetched, gunzipped: prints
//       {"objects":[{"key","etag","content_type","bytes","records":[...]}]}
// Exit code 0 unless a call failed (then the error is on stderr).
import { gunzipSync } from "node:zlib";
import * as s3 from "@aws-sdk/client-s3";
import { Sha256 } from "@aws-crypto/sha256-js";
import { HttpRequest } from "@smithy/protocol-http";
import { SignatureV4 } from "@smithy/signature-v4";

async function sign(input) {
  const signer = new SignatureV4({
    service: "s3",
    region: input.region,
    credentials: { accessKeyId: input.access_key, secretAccessKey: input.secret_key },
    sha256: Sha256,
    uriEscapePath: false,
    applyChecksum: true,
  });
  const d = input.date; // 20261202T100000Z
  const when = new Date(`${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}T${d.slice(9, 11)}:${d.slice(11, 13)}:${d.slice(13, 15)}Z`);
  const request = new HttpRequest({
    method: input.method,
    protocol: "http:",
    hostname: input.headers.host.split(":")[0],
    port: Number(input.headers.host.split(":")[1] || 80),
    path: input.path,
    query: input.query,
    headers: input.headers,
  });
  const signed = await signer.sign(request, { signingDate: when });
  return { authorization: signed.headers.authorization };
}

const endpoint = process.env.S3_ENDPOINT;
if (process.argv[2] === "sign") {
  console.log(JSON.stringify(await sign(JSON.parse(process.argv[3]))));
  process.exit(0);
}
if (!endpoint) {
  console.error("S3_ENDPOINT is required");
  process.exit(2);
}
const client = new s3.S3Client({
  endpoint,
  region: process.env.AWS_REGION || "us-east-1",
  forcePathStyle: true,
  credentials: {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID || "S3RVER",
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY || "S3RVER",
  },
  maxAttempts: 1,
});

async function dump(bucket, prefix) {
  const objects = [];
  let token;
  for (let page = 0; page < 10000; page++) {
    const out = await client.send(
      new s3.ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 2, ContinuationToken: token }),
    );
    for (const o of out.Contents || []) {
      const got = await client.send(new s3.GetObjectCommand({ Bucket: bucket, Key: o.Key }));
      const bytes = Buffer.from(await got.Body.transformToByteArray());
      const lines = gunzipSync(bytes).toString("utf8").split("\n").filter((l) => l.length > 0);
      objects.push({
        key: o.Key,
        etag: got.ETag,
        content_type: got.ContentType,
        bytes: bytes.length,
        records: lines.map((l) => JSON.parse(l)),
      });
    }
    if (!out.IsTruncated) break;
    token = out.NextContinuationToken;
  }
  return { objects };
}

const [command, ...args] = process.argv.slice(2);
try {
  if (command === "create-bucket") {
    await client.send(new s3.CreateBucketCommand({ Bucket: args[0] }));
    console.log(JSON.stringify({ ok: true }));
  } else if (command === "dump") {
    console.log(JSON.stringify(await dump(args[0], args[1] || "")));
  } else {
    console.error("usage: s3_client.mjs create-bucket <bucket> | dump <bucket> <prefix>");
    process.exit(2);
  }
} catch (e) {
  console.error(`${e.name}: ${e.message}`);
  process.exit(1);
}

#include "dataplane/forwarder/capture_command.h"

#include <boost/asio/io_context.hpp>
#include <boost/json/serialize.hpp>

#include <fstream>
#include <iostream>

#include "dataplane/forwarder/s3_client.h"
#include "discovery/cloudmap/credentials_provider.h"
#include "telemetry/capture/export.h"
#include "telemetry/capture/record.h"
#include "telemetry/capture/segment.h"

namespace hawser::forwarder {
namespace {

const char* kHelp =
    "usage: hawser capture export --from DIR|s3://BUCKET[/PREFIX] --format har|ndjson [--service S]\n"
    "                             [--since TIME] [--until TIME] [--output FILE]\n"
    "                             [--endpoint URL] [--region R] [--path-style]\n"
    "\n"
    "  --from DIR      an archive directory (the forwarder's storage.directory) or a spool\n"
    "  --from s3://B/P the objects under prefix P of bucket B (the forwarder's storage.s3)\n"
    "  --format        har (HAR 1.2, for browser devtools and HAR tools) or ndjson (the records)\n"
    "  --service S     only the records of service S\n"
    "  --since/--until RFC 3339 UTC times (2026-12-02T10:00:00Z): start >= since, start < until\n"
    "  --output FILE   write there instead of stdout\n"
    "  --endpoint URL  S3 endpoint (default AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS's)\n"
    "  --region R      signing region (default AWS_REGION, AWS_DEFAULT_REGION, else us-east-1)\n"
    "  --path-style    https://endpoint/bucket/key instead of https://bucket.endpoint/key\n"
    "AWS credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY[/AWS_SESSION_TOKEN], or ECS container credentials.\n"
    "\n"
    "Records sent twice (a batch stored but not acknowledged, then retried) appear once.\n";

int usage(const std::string& message) {
  std::cerr << "hawser: " << message << "\n\n" << kHelp;
  return 2;
}

// Credentials for a one-shot command: the environment, or one fetch of the
// container credentials (the provider's loop, run until it has them or 10 s).
std::optional<discovery::aws::Credentials> commandCredentials(std::string& error) {
  namespace cm = discovery::cloudmap;
  boost::asio::io_context ctx{1};
  std::shared_ptr<cm::CredentialsProvider> provider;
  try {
    provider = cm::makeDefaultCredentialsProvider(ctx.get_executor(), cm::processEnvironment(), cm::fileReader());
  } catch (const std::exception& e) {
    error = e.what();
    return std::nullopt;
  }
  if (!provider) {
    error =
        "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run with ECS container credentials";
    return std::nullopt;
  }
  provider->start();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!provider->current() && std::chrono::steady_clock::now() < deadline && !ctx.stopped())
    ctx.run_one_until(deadline);
  auto credentials = provider->current();
  provider->stop();
  ctx.poll();
  if (!credentials) error = "could not fetch AWS credentials (" + provider->describe() + ")";
  return credentials;
}

struct S3Source {
  std::string endpoint, region;
  bool path_style = false;
};

// Every *.ndjson.gz object under s3://bucket/prefix, as readCaptured does for a directory.
std::vector<boost::json::object> readCapturedS3(const std::string& from, const S3Source& opts,
                                                const telemetry::ExportFilter& filter, telemetry::ExportStats& stats,
                                                std::string& error) {
  const auto rest = from.substr(5);
  const auto slash = rest.find('/');
  S3Location where{opts.endpoint, opts.region, rest.substr(0, slash), opts.path_style};
  std::string prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (!prefix.empty() && prefix.back() != '/') prefix += '/';
  const auto env = discovery::cloudmap::processEnvironment();
  if (where.region.empty()) where.region = defaultS3Region(env);
  if (where.endpoint.empty()) where.endpoint = defaultS3Endpoint(env, where.region);
  if (where.bucket.empty()) {
    error = "s3:// needs a bucket: s3://BUCKET[/PREFIX]";
    return {};
  }
  if (!s3Origin(where)) {
    error = "--endpoint: not http(s)://host[:port]: " + where.endpoint;
    return {};
  }
  auto credentials = commandCredentials(error);
  if (!credentials) return {};
  S3Client client(where, S3Options{}, [&credentials] { return credentials; });
  std::vector<std::string> keys;
  if (!client.list(prefix, keys, error)) return {};
  std::vector<boost::json::object> out;
  for (const auto& key : keys) {
    if (key.size() < 10 || key.compare(key.size() - 10, 10, ".ndjson.gz") != 0) continue;
    std::string body, text, problem;
    if (!client.get(key, body, error)) return {};
    if (!telemetry::gunzipBounded(body, size_t(4) << 30, text, problem)) {
      error = "s3://" + where.bucket + "/" + key + ": " + problem;
      return {};
    }
    ++stats.files;
    telemetry::addCapturedLines(text, out, stats);
  }
  telemetry::finishCaptured(out, filter, stats);
  return out;
}

}  // namespace

int captureMain(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << kHelp;
    return args.empty() ? 2 : 0;
  }
  if (args[0] != "export") return usage("unknown capture command '" + args[0] + "'");
  std::string from, format, output;
  S3Source s3;
  telemetry::ExportFilter filter;
  for (size_t i = 1; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a == "--help" || a == "-h") {
      std::cout << kHelp;
      return 0;
    }
    if (a == "--path-style") {
      s3.path_style = true;
      continue;
    }
    if (i + 1 >= args.size()) return usage("option '" + a + "' needs a value");
    const auto& v = args[++i];
    int64_t us = 0;
    if (a == "--from") {
      from = v;
    } else if (a == "--format") {
      format = v;
    } else if (a == "--service") {
      filter.service = v;
    } else if (a == "--output") {
      output = v;
    } else if (a == "--endpoint") {
      s3.endpoint = v;
    } else if (a == "--region") {
      s3.region = v;
    } else if (a == "--since" || a == "--until") {
      if (!telemetry::parseTimestamp(v, us)) return usage(a + ": not an RFC 3339 UTC time: '" + v + "'");
      (a == "--since" ? filter.since_us : filter.until_us) = us;
    } else {
      return usage("unknown option '" + a + "'");
    }
  }
  if (from.empty()) return usage("--from is required");
  if (format != "har" && format != "ndjson") return usage("--format must be har or ndjson");
  const bool from_s3 = from.rfind("s3://", 0) == 0;
  if (!from_s3 && (!s3.endpoint.empty() || !s3.region.empty() || s3.path_style))
    return usage("--endpoint, --region and --path-style go with --from s3://");
  telemetry::ExportStats stats;
  std::string error;
  auto records =
      from_s3 ? readCapturedS3(from, s3, filter, stats, error) : telemetry::readCaptured(from, filter, stats, error);
  if (!error.empty()) {
    std::cerr << "hawser: " << error << "\n";
    return 1;
  }
  std::ofstream file;
  if (!output.empty()) {
    file.open(output, std::ios::binary | std::ios::trunc);
    if (!file) {
      std::cerr << "hawser: cannot write " << output << "\n";
      return 1;
    }
  }
  std::ostream& out = output.empty() ? std::cout : file;
  if (format == "har") {
    out << boost::json::serialize(telemetry::toHar(records)) << "\n";
  } else {
    for (const auto& r : records) out << boost::json::serialize(r) << "\n";
  }
  out.flush();
  std::cerr << "hawser: exported " << records.size() << " records from " << stats.files << " files ("
            << stats.duplicates << " duplicates dropped, " << stats.invalid << " invalid lines skipped)\n";
  return out ? 0 : 1;
}

}  // namespace hawser::forwarder

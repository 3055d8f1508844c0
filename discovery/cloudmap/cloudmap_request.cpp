#include "discovery/cloudmap/cloudmap_request.h"

#include "discovery/aws/cloudmap_codec.h"
#include "discovery/aws/sigv4.h"

namespace hawser::discovery::cloudmap {

HttpRequest makeCloudMapRequest(const std::string& url, const std::string& host_header, std::string_view target,
                                std::string body, std::chrono::milliseconds timeout, const std::string& region,
                                const aws::Credentials* credentials) {
  HttpRequest request;
  request.method = "POST";
  request.url = url;
  request.timeout = timeout;
  request.headers = {{"Host", host_header},
                     {"Content-Type", std::string(aws::kCloudMapContentType)},
                     {"X-Amz-Target", std::string(target)}};
  if (credentials) {
    aws::HttpRequestToSign to_sign{"POST", "/", request.headers, aws::sha256Hex(body)};
    aws::SigningParams params;
    params.region = region;
    params.service = std::string(aws::kCloudMapSigningName);
    params.amz_date = aws::formatAmzDate(std::chrono::system_clock::now());
    auto signed_request = aws::signRequest(to_sign, *credentials, params);
    for (auto& h : signed_request.headers_to_add) request.headers.push_back(std::move(h));
  }
  request.body = std::move(body);
  return request;
}

}  // namespace hawser::discovery::cloudmap

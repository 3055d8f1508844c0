// The file discovery source with endpoint attributes: items are "host:port"
// strings or {address, attributes} mappings (mixed in one list), attributes
// reach the Endpoint, which reads its `weight` (else `srv_weight`, clamped to
// 1-10000, 1 when absent or unparsable) and `AVAILABILITY_ZONE`; a changed
// attribute makes a new Endpoint (fresh per-host state), an unchanged one
// keeps the old object.
#include "discovery/file_source.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "discovery/endpoint.h"

namespace hawser::discovery {
namespace {

using Attrs = std::map<std::string, std::string>;

TEST(FileSourceAttributesTest, PlainStringsHaveNoAttributes) {
  auto r = parseEndpointList("- \"10.0.1.7:15006\"\n- \"[::1]:8080\"\n");
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.endpoints.size(), 2u);
  EXPECT_EQ(r.endpoints[0].host, "10.0.1.7");
  EXPECT_EQ(r.endpoints[0].port, 15006);
  EXPECT_TRUE(r.endpoints[0].attributes.empty());
  EXPECT_EQ(r.endpoints[1].host, "::1");
  EXPECT_EQ(r.endpoints[1].port, 8080);
}

TEST(FileSourceAttributesTest, MappingItemsCarryTheirAttributes) {
  auto r = parseEndpointList(
      "- \"10.0.1.7:15006\"\n"
      "- {address: \"10.0.1.8:15006\", attributes: {version: v2, weight: \"3\", AVAILABILITY_ZONE: eu-west-1b}}\n"
      "- address: 10.0.1.9:15007\n"
      "  attributes:\n"
      "    version: v1\n");
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.endpoints.size(), 3u);
  EXPECT_TRUE(r.endpoints[0].attributes.empty());
  EXPECT_EQ(r.endpoints[1].host, "10.0.1.8");
  EXPECT_EQ(r.endpoints[1].port, 15006);
  EXPECT_EQ(r.endpoints[1].attributes,
            (Attrs{{"version", "v2"}, {"weight", "3"}, {"AVAILABILITY_ZONE", "eu-west-1b"}}));
  EXPECT_EQ(r.endpoints[2].host, "10.0.1.9");
  EXPECT_EQ(r.endpoints[2].port, 15007);
  EXPECT_EQ(r.endpoints[2].attributes, (Attrs{{"version", "v1"}}));
}

TEST(FileSourceAttributesTest, AMappingWithoutAttributesOrWithNullAttributesIsPlain) {
  auto r = parseEndpointList("- {address: \"10.0.1.7:1\"}\n- {address: \"10.0.1.7:2\", attributes: ~}\n");
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.endpoints.size(), 2u);
  EXPECT_TRUE(r.endpoints[0].attributes.empty());
  EXPECT_TRUE(r.endpoints[1].attributes.empty());
}

TEST(FileSourceAttributesTest, NumericAttributeValuesAreKeptAsWritten) {
  // YAML would read `weight: 3` as an integer; the attribute is its text.
  auto r = parseEndpointList("- {address: \"10.0.1.7:1\", attributes: {weight: 3, canary: true}}\n");
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.endpoints.size(), 1u);
  EXPECT_EQ(r.endpoints[0].attributes, (Attrs{{"weight", "3"}, {"canary", "true"}}));
}

TEST(FileSourceAttributesTest, AnUnknownKeyInAnItemIsAnErrorNamingTheItemAndKey) {
  auto r = parseEndpointList("- \"10.0.1.7:1\"\n- {address: \"10.0.1.7:2\", weight: \"3\"}\n");
  EXPECT_TRUE(r.endpoints.empty());
  EXPECT_NE(r.error.find("item 1"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("unknown key \"weight\""), std::string::npos) << r.error;
}

TEST(FileSourceAttributesTest, AttributesThatAreNotAMappingAreAnError) {
  auto r = parseEndpointList("- {address: \"10.0.1.7:1\", attributes: [version, v2]}\n");
  EXPECT_TRUE(r.endpoints.empty());
  EXPECT_NE(r.error.find("item 0"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("attributes must be a mapping"), std::string::npos) << r.error;
}

TEST(FileSourceAttributesTest, AMappingWithoutAValidAddressIsAnError) {
  for (const char* text :
       {"- {attributes: {version: v1}}\n", "- {address: \"10.0.1.7\"}\n", "- {address: \"10.0.1.7:0\"}\n",
        "- {address: [\"10.0.1.7:1\"]}\n", "- {address: \"10.0.1.7:70000\"}\n"}) {
    auto r = parseEndpointList(text);
    EXPECT_TRUE(r.endpoints.empty()) << text;
    EXPECT_NE(r.error.find("item 0: invalid endpoint"), std::string::npos) << text << " -> " << r.error;
  }
}

TEST(FileSourceAttributesTest, TheWholeListFailsWhenOneItemIsBad) {
  auto r = parseEndpointList("- {address: \"10.0.1.7:1\", attributes: {version: v1}}\n- nonsense\n");
  EXPECT_TRUE(r.endpoints.empty());
  EXPECT_NE(r.error.find("item 1"), std::string::npos) << r.error;
}

TEST(FileSourceAttributesTest, AMappingAtTheTopLevelIsAnError) {
  auto r = parseEndpointList("address: \"10.0.1.7:1\"\n");
  EXPECT_TRUE(r.endpoints.empty());
  EXPECT_NE(r.error, "");
}

TEST(EndpointAttributesTest, WeightComesFromTheWeightAttribute) {
  EXPECT_EQ(Endpoint("h", 1).weight, 1u);
  EXPECT_EQ(Endpoint("h", 1, {{"weight", "3"}}).weight, 3u);
  EXPECT_EQ(Endpoint("h", 1, {{"weight", "10000"}}).weight, 10000u);
}

TEST(EndpointAttributesTest, WeightIsClampedTo1To10000) {
  EXPECT_EQ(Endpoint("h", 1, {{"weight", "0"}}).weight, 1u);
  EXPECT_EQ(Endpoint("h", 1, {{"weight", "10001"}}).weight, 10000u);
  EXPECT_EQ(Endpoint("h", 1, {{"weight", "4000000000"}}).weight, 10000u);
}

TEST(EndpointAttributesTest, AnUnparsableWeightCountsAsAbsent) {
  for (const char* w : {"", "abc", "3x", "-2", " 3", "1.5"}) {
    EXPECT_EQ(Endpoint("h", 1, {{"weight", w}}).weight, 1u) << '"' << w << '"';
  }
}

TEST(EndpointAttributesTest, SrvWeightIsTheFallback) {
  EXPECT_EQ(Endpoint("h", 1, {{"srv_weight", "7"}}).weight, 7u);
  EXPECT_EQ(Endpoint("h", 1, {{"weight", "2"}, {"srv_weight", "7"}}).weight, 2u);
  EXPECT_EQ(Endpoint("h", 1, {{"weight", "bad"}, {"srv_weight", "7"}}).weight, 7u);
}

TEST(EndpointAttributesTest, ZoneComesFromAvailabilityZone) {
  EXPECT_EQ(Endpoint("h", 1).zone, "");
  EXPECT_EQ(Endpoint("h", 1, {{"AVAILABILITY_ZONE", "eu-west-1a"}}).zone, "eu-west-1a");
  // The attribute name is exact (as ECS writes it in Cloud Map).
  EXPECT_EQ(Endpoint("h", 1, {{"availability_zone", "eu-west-1a"}}).zone, "");
}

TEST(EndpointAttributesTest, ParsedItemsBecomeWeightedZonedEndpoints) {
  auto r = parseEndpointList(
      "- \"127.0.0.1:1\"\n"
      "- {address: \"127.0.0.1:2\", attributes: {weight: \"3\", AVAILABILITY_ZONE: zone-b, version: v2}}\n");
  ASSERT_EQ(r.error, "");
  auto set = mergeEndpoints(nullptr, r.endpoints);
  ASSERT_EQ(set->size(), 2u);
  EXPECT_EQ((*set)[0]->key, "127.0.0.1:1");
  EXPECT_EQ((*set)[0]->weight, 1u);
  EXPECT_EQ((*set)[0]->zone, "");
  EXPECT_EQ((*set)[1]->key, "127.0.0.1:2");
  EXPECT_EQ((*set)[1]->weight, 3u);
  EXPECT_EQ((*set)[1]->zone, "zone-b");
  EXPECT_EQ((*set)[1]->attributes.at("version"), "v2");
}

TEST(EndpointAttributesTest, MergeKeepsEndpointsWhoseAttributesDidNotChange) {
  auto first = mergeEndpoints(nullptr, parseEndpointList("- {address: \"127.0.0.1:1\", attributes: {weight: \"2\"}}\n"
                                                         "- {address: \"127.0.0.1:2\", attributes: {weight: \"2\"}}\n")
                                           .endpoints);
  (*first)[0]->ejected = true;  // per-host state
  (*first)[1]->unhealthy = true;
  auto second =
      mergeEndpoints(first.get(), parseEndpointList("- {address: \"127.0.0.1:1\", attributes: {weight: \"2\"}}\n"
                                                    "- {address: \"127.0.0.1:2\", attributes: {weight: \"5\"}}\n")
                                      .endpoints);
  ASSERT_EQ(second->size(), 2u);
  EXPECT_EQ((*second)[0].get(), (*first)[0].get()) << "same attributes: the same Endpoint, state kept";
  EXPECT_TRUE((*second)[0]->ejected);
  EXPECT_NE((*second)[1].get(), (*first)[1].get()) << "a changed attribute makes a new Endpoint";
  EXPECT_EQ((*second)[1]->weight, 5u);
  EXPECT_FALSE((*second)[1]->unhealthy);
}

TEST(EndpointAttributesTest, ADuplicateAddressAppearsOnceWithItsFirstAttributes) {
  auto r = parseEndpointList(
      "- {address: \"127.0.0.1:1\", attributes: {weight: \"4\"}}\n"
      "- {address: \"127.0.0.1:1\", attributes: {weight: \"9\"}}\n");
  ASSERT_EQ(r.error, "");
  auto set = mergeEndpoints(nullptr, r.endpoints);
  ASSERT_EQ(set->size(), 1u);
  EXPECT_EQ((*set)[0]->weight, 4u);
}

class FileSourcePollTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("hawser-file-source-" + std::to_string(::getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "endpoints.yaml").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& text) {
    const auto tmp = path_ + ".tmp";
    {
      std::ofstream out(tmp);
      out << text;
    }
    std::filesystem::rename(tmp, path_);
  }
  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(FileSourcePollTest, AnAttributeChangeIsAChange) {
  write("- {address: \"127.0.0.1:1\", attributes: {version: v1}}\n");
  FileSource src(path_);
  FileParseResult r;
  ASSERT_TRUE(src.poll(r));
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.endpoints.size(), 1u);
  EXPECT_EQ(r.endpoints[0].attributes, (Attrs{{"version", "v1"}}));
  EXPECT_FALSE(src.poll(r)) << "unchanged contents";
  write("- {address: \"127.0.0.1:1\", attributes: {version: v2}}\n");
  ASSERT_TRUE(src.poll(r));
  ASSERT_EQ(r.endpoints.size(), 1u);
  EXPECT_EQ(r.endpoints[0].attributes, (Attrs{{"version", "v2"}}));
}

TEST_F(FileSourcePollTest, ABrokenItemIsAnErrorResult) {
  write("- {address: \"127.0.0.1:1\", attributes: {version: v1}, extra: 1}\n");
  FileSource src(path_);
  FileParseResult r;
  ASSERT_TRUE(src.poll(r));
  EXPECT_TRUE(r.endpoints.empty());
  EXPECT_NE(r.error.find("unknown key \"extra\""), std::string::npos) << r.error;
}

}  // namespace
}  // namespace hawser::discovery

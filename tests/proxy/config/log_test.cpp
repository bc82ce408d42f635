// [log].
#include "proxy/config/config.hpp"

#include <catch2/catch.hpp>

#include "tests/proxy/config/config_test_support.hpp"

using namespace maintgate;
using namespace maintgate::config_test;

TEST_CASE("log: destinations, level and format", "[config]") {
    const std::string log = base + "[log]\n";
    check_single_errors({
        {log + "level = \"verbose\"\n",
         "t.toml:6:9: log.level: \"verbose\" is not one of \"trace\", \"debug\", \"info\", \"warn\", \"error\", "
         "\"critical\" or \"off\""},
        {log + "level = \"INFO\"\n",
         "t.toml:6:9: log.level: \"INFO\" is not one of \"trace\", \"debug\", \"info\", \"warn\", \"error\", "
         "\"critical\" or \"off\""},
        {log + "level = 3\n",
         "t.toml:6:9: log.level: expected one of \"trace\", \"debug\", \"info\", \"warn\", \"error\", \"critical\" "
         "or \"off\", got integer 3"},
        {log + "access_format = \"clf\"\n",
         "t.toml:6:17: log.access_format: \"clf\" is not one of \"combined\" or \"json\""},
        {log + "error = \"\"\n", "t.toml:6:9: log.error: must be \"stderr\" or a file path, got \"\""},
        {log + "error = 1\n",
         "t.toml:6:9: log.error: expected a string (\"stderr\" or a file path), got integer 1"},
        {log + "access = false\n",
         "t.toml:6:10: log.access: expected a string (\"\" for none, \"stdout\", \"stderr\" or a file path), got "
         "boolean false"},
    });
}

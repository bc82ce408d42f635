// What hook output may not carry into the audit log.
#include "proxy/hooks/redact.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>

using namespace maintgate;

TEST_CASE("redact: names that always hide their values", "[hooks]") {
    CHECK(is_secret_name("PGPASSWORD"));
    CHECK(is_secret_name("api_token"));
    CHECK(is_secret_name("AWS_SECRET_ACCESS_KEY"));
    CHECK(is_secret_name("SSH_KEY_FILE"));
    CHECK_FALSE(is_secret_name("PATH"));
    CHECK_FALSE(is_secret_name("PGUSER"));
    CHECK(is_env_name_entry("DB_URL"));
    CHECK(is_env_name_entry("_X1"));
    CHECK_FALSE(is_env_name_entry("db_url"));  // lower case: a regex
    CHECK_FALSE(is_env_name_entry("Bearer .*"));
    CHECK_FALSE(is_env_name_entry("1ABC"));
    CHECK(redact_pattern_problem("Bearer [A-Za-z0-9]+").empty());
    CHECK_FALSE(redact_pattern_problem("(unclosed").empty());
}

TEST_CASE("redact: secret values, named values and patterns become ***", "[hooks]") {
    ::setenv("MAINTGATE_TEST_DB_URL", "postgres://u:pw@db/app", 1);
    const std::vector<std::pair<std::string, std::string>> env{
        {"PGPASSWORD", "hunter2hunter2"},
        {"API_TOKEN", "tok-123456"},
        {"PATH", "/usr/bin"},
        {"KEY_ID", "1"},  // too short to replace: every "1" would go
        {"DB_NAME", "app"},
    };
    const redactor r(env, {"MAINTGATE_TEST_DB_URL", "DB_NAME", "Bearer [A-Za-z0-9]+"});
    CHECK(r.apply("password hunter2hunter2 token tok-123456 in /usr/bin") ==
          "password *** token *** in /usr/bin");
    CHECK(r.apply("connecting to postgres://u:pw@db/app") == "connecting to ***");
    CHECK(r.apply("db app, id 1") == "db ***, id 1");
    CHECK(r.apply("Authorization: Bearer abcDEF123 ok") == "Authorization: *** ok");
    CHECK(r.apply("twice: hunter2hunter2hunter2hunter2") == "twice: ******");
    CHECK(r.longest() == std::string("postgres://u:pw@db/app").size());
    ::unsetenv("MAINTGATE_TEST_DB_URL");
}

TEST_CASE("redact: a secret that contains another is replaced whole", "[hooks]") {
    const redactor r({{"A_SECRET", "abcdef"}, {"B_SECRET", "abcdefghij"}}, {});
    CHECK(r.apply("x abcdefghij y abcdef") == "x *** y ***");
}

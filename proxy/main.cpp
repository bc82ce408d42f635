// The maintgate binary: parses the command line and wires config, logging and server
// together. Everything else lives in its own unit.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/spdlog.h>

#include "proxy/config/config.hpp"
#include "proxy/config/preflight.hpp"
#include "proxy/admin/ctl.hpp"
#include "proxy/cli_docs.hpp"
#include "proxy/logging.hpp"
#include "proxy/net/server.hpp"
#include "proxy/net/tls.hpp"

namespace {

constexpr std::string_view usage_text =
    "usage: maintgate <command> [options]\n"
    "\n"
    "commands:\n"
    "  run   [-c FILE]   serve (without -c: the embedded default, in front of 127.0.0.1:3000)\n"
    "  check  -c FILE    validate FILE; print every error as file:line:column and exit non-zero\n"
    "  ctl   [-c FILE | --socket PATH] [--json] [--timeout DURATION] COMMAND...\n"
    "                    send one admin command (status, set mode, freeze, reopen, ...) to a\n"
    "                    running maintgate; 'maintgate ctl --help' lists them\n"
    "  man               print the manual page (roff) on stdout\n"
    "  completion bash   print the bash completion script on stdout\n"
    "\n"
    "options:\n"
    "  -c, --config FILE   configuration file (TOML); see maintgate.example.toml\n"
    "  -h, --help          this help\n"
    "  -V, --version       print the version\n";

void print_errors(const std::vector<maintgate::config_error>& errors) {
    for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
    std::fprintf(stderr, "%zu error%s; configuration refused\n", errors.size(),
                 errors.size() == 1 ? "" : "s");
}

maintgate::load_result load(const std::string& path) {
    if (path.empty())
        return maintgate::load_config_string(maintgate::default_config_text(), "<embedded default>");
    return maintgate::load_config_file(path);
}

int cmd_check(const std::string& path) {
    auto r = load(path);
    if (!r.errors.empty()) {
        print_errors(r.errors);
        return 1;
    }
    auto& c = *r.cfg;
    // The certificates as run would load them: readable, each key matching its
    // certificate, and in date. An expired one is an error here (run serves it, loudly).
    const auto tls = maintgate::proxy::build_tls(c, nullptr, true, std::chrono::system_clock::now());
    // And everything else run opens: folders, files, the socket's owner, the addresses.
    const auto pre = maintgate::preflight(c);
    if (!tls.errors.empty() || !tls.expired.empty() || !pre.errors.empty()) {
        for (const auto& e : tls.errors) std::fprintf(stderr, "%s\n", e.c_str());
        for (const auto& e : tls.expired) std::fprintf(stderr, "%s\n", e.c_str());
        for (const auto& e : pre.errors) std::fprintf(stderr, "%s\n", e.c_str());
        const std::size_t n = tls.errors.size() + tls.expired.size() + pre.errors.size();
        std::fprintf(stderr, "%zu error%s; configuration refused\n", n, n == 1 ? "" : "s");
        return 1;
    }
    for (const auto& w : tls.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
    for (const auto& w : pre.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
    std::printf("%s: configuration OK\n", c.source.c_str());
    for (const auto& l : c.listeners) {
        if (l.https())
            std::printf("  listener  %s (https, TLS %s and up)\n", l.address.c_str(),
                        l.tls_min_version == 0x0304   ? "1.3"
                        : l.tls_min_version == 0x0303 ? "1.2"
                        : l.tls_min_version == 0x0302 ? "1.1"
                                                      : "1.0");
        else if (l.redirect_https)
            std::printf("  listener  %s (http, redirecting to %s)\n", l.address.c_str(),
                        l.redirect_to.empty() ? "https on the first HTTPS listener" : l.redirect_to.c_str());
        else
            std::printf("  listener  %s\n", l.address.c_str());
    }
    for (const auto& ci : tls.certificates) {
        std::string names;
        for (const auto& n : ci.names) names += (names.empty() ? "" : ", ") + n;
        const auto days =
            std::chrono::duration_cast<std::chrono::hours>(ci.not_after - std::chrono::system_clock::now())
                .count() /
            24;
        std::printf("  cert      %s: %s (%s), valid until %s (%lld days)\n", ci.what.c_str(), ci.file.c_str(),
                    names.c_str(), maintgate::format_iso8601(ci.not_after).c_str(),
                    static_cast<long long>(days));
    }
    std::printf("  upstream  %s\n", c.upstream.url.c_str());
    if (const auto& t = c.upstream.tls_context) {
        std::string how = "certificate NOT verified (tls_verify = false)";
        if (t->verifies())
            how = "certificate verified against " +
                  (c.upstream.tls_ca_file.empty() ? std::string("the system CAs") : c.upstream.tls_ca_file) +
                  ", name " + t->server_name();
        std::printf("  upstream  TLS: %s\n", how.c_str());
    }
    std::printf("  workers   %u\n", c.workers);
    const auto& g = c.gate;
    std::printf("  gate      initial mode %.*s; state %s\n",
                int(maintgate::policy::to_string(g.initial_mode).size()),
                maintgate::policy::to_string(g.initial_mode).data(),
                g.state_file.empty() ? "not persisted (no state_file)" : g.state_file.c_str());
    std::printf("  audit     %s\n", g.audit_log.empty() ? "not kept (no audit_log)" : g.audit_log.c_str());
    for (const auto& f : pre.creates) std::printf("  creates   %s, at start-up\n", f.c_str());
    const auto& a = c.admin;
    if (a.socket.empty())
        std::printf("  admin     no socket: the mode can change only through the state file and a restart\n");
    else
        std::printf("  admin     socket %s (mode %04o)\n", a.socket.c_str(), a.socket_mode);
    if (!a.metrics.empty()) std::printf("  metrics   http://%s/metrics\n", a.metrics.c_str());
    if (const auto& cl = c.cluster) {
        // How this replica will reach etcd and who it will be there: what a TLS or auth
        // setup is checked against first.
        std::string urls;
        bool tls = false;
        for (const auto& ep : cl->etcd) {
            urls += (urls.empty() ? "" : ", ") + ep.url;
            tls |= ep.tls;
        }
        std::printf("  cluster   etcd %s, prefix %s, replica %s\n", urls.c_str(), cl->prefix.c_str(),
                    cl->replica_id.empty() ? "<hostname>:<first listener's port>" : cl->replica_id.c_str());
        if (tls)
            std::printf("  cluster   TLS: etcd's certificate verified against %s%s%s\n",
                        cl->tls_ca_file.empty() ? "the system CAs" : cl->tls_ca_file.c_str(),
                        cl->tls_cert.empty() ? "; no client certificate" : "; client certificate ",
                        cl->tls_cert.c_str());
        if (!cl->user.empty())
            std::printf("  cluster   auth: user %s, password from %s\n", cl->user.c_str(), cl->password_file.c_str());
    }
    const auto& ro = c.reopen;
    if (ro.health)
        std::printf("  health    %s %s -> %u within %s, every %s\n", ro.health->method.c_str(),
                    ro.health->path.c_str(), ro.health->expect_status,
                    maintgate::format_duration(ro.health->timeout).c_str(),
                    ro.health_interval.count() ? maintgate::format_duration(ro.health_interval).c_str()
                                               : "(on demand only)");
    else if (!ro.smoke.empty())
        std::printf("  health    no health check: reopen steps are gated by smoke checks only\n");
    else
        std::printf("  health    no health check and no smoke checks: reopen steps are not gated\n");
    for (const auto& sc : ro.smoke)
        std::printf("  smoke     %s: %s %s -> %u%s%s\n", sc.name.c_str(), sc.method.c_str(), sc.path.c_str(),
                    sc.expect_status, sc.body_contains.empty() ? "" : ", body contains ",
                    sc.body_contains.c_str());
    if (ro.watch.count())
        std::printf(
            "  watch     %s after each reopen step: back one stage above %.1f%% 5xx (after %llu responses)\n",
            maintgate::format_duration(ro.watch).c_str(), ro.max_error_rate * 100.0,
            static_cast<unsigned long long>(ro.min_requests));
    std::printf("  bypass    %zu network(s)%s\n", g.policy.bypass_cidrs.size(),
                g.policy.bypass_secret.empty() ? "" : ", secret header and cookie");
    // The exceptions are the gate's holes by design: list each with its reason, in the
    // order they are matched, so a review sees exactly what stays open.
    if (g.policy.rules.empty())
        std::printf("  rules     none: every write is held while the gate is closed\n");
    for (std::size_t i = 0; i < g.policy.rules.size(); ++i) {
        const auto& r = g.policy.rules[i];
        std::string match;
        if (!r.host.empty()) match += "host " + r.host + " ";
        if (!r.methods.empty()) {
            for (const auto& m : r.methods) match += m + (&m == &r.methods.back() ? " " : ",");
        }
        if (!r.path.empty()) match += "path " + r.path;
        if (!r.path_prefix.empty())
            match += (r.path.empty() ? "" : " ") + std::string("prefix ") + r.path_prefix;
        if (r.regex)
            match += std::string(r.path.empty() && r.path_prefix.empty() ? "" : " ") + "regex " +
                     r.regex->pattern();
        auto action = maintgate::policy::to_string(r.action);
        std::printf("  rule %-4zu %-26.*s %s\n            reason: %s\n", i + 1, int(action.size()),
                    action.data(), match.c_str(), r.reason.c_str());
    }
    return 0;
}

int cmd_run(const std::string& path) {
    auto r = load(path);
    if (!r.errors.empty()) {
        print_errors(r.errors);
        return 1;
    }
    auto cfg = std::make_shared<const maintgate::config>(std::move(*r.cfg));
    try {
        maintgate::init_logging(cfg->log);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "maintgate: %s\n", e.what());
        return 1;
    }
    // The folders maintgate owns, as systemd's StateDirectory/RuntimeDirectory would
    // make them; whatever still stops the start is reported by the part that opens it.
    const auto made = maintgate::create_owned_folders(*cfg);
    for (const auto& m : made.created) spdlog::info("{}", m);
    for (const auto& e : made.errors) spdlog::error("{}", e);
    // A peer that closes mid-write must give EPIPE on that socket, not kill the process.
    std::signal(SIGPIPE, SIG_IGN);
    // A write past RLIMIT_FSIZE (a full quota, a limit set by the service manager) must
    // fail with EFBIG, which the state file and audit log report as "nothing changed",
    // not kill the proxy in the middle of a mode change.
    std::signal(SIGXFSZ, SIG_IGN);
    int rc = maintgate::proxy::run_server(cfg);
    maintgate::shutdown_logging();
    return rc;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string_view> args(argv + 1, argv + argc);
    if (args.empty()) {
        std::fputs(usage_text.data(), stderr);
        return 2;
    }
    std::string command;
    std::string config_path;
    for (std::size_t i = 0; i < args.size(); ++i) {
        auto a = args[i];
        if (a == "-h" || a == "--help" || a == "help") {
            std::fputs(usage_text.data(), stdout);
            return 0;
        }
        if (a == "-V" || a == "--version") {
            std::printf("maintgate %s\n", MAINTGATE_VERSION);
            return 0;
        }
        if (a == "-c" || a == "--config") {
            if (i + 1 >= args.size()) {
                std::fprintf(stderr, "maintgate: %.*s needs a file name\n", int(a.size()), a.data());
                return 2;
            }
            config_path = std::string(args[++i]);
            continue;
        }
        // Everything after "ctl" is ctl's: its options, then the admin command's words.
        if (command.empty() && a == "ctl") {
            const std::span<const std::string_view> rest(args.data() + i + 1, args.size() - i - 1);
            return maintgate::proxy::run_ctl(rest, config_path);
        }
        // Generated from the same texts and command table as the help, so they cannot drift.
        if (command.empty() && a == "man") {
            std::fputs(maintgate::proxy::man_page(usage_text, MAINTGATE_VERSION).c_str(), stdout);
            return 0;
        }
        if (command.empty() && a == "completion") {
            if (i + 1 < args.size() && args[i + 1] == "bash" && i + 2 == args.size()) {
                std::fputs(maintgate::proxy::bash_completion(usage_text).c_str(), stdout);
                return 0;
            }
            std::fprintf(stderr, "maintgate: usage: maintgate completion bash\n");
            return 2;
        }
        if (command.empty() && (a == "run" || a == "check")) {
            command = std::string(a);
            continue;
        }
        std::fprintf(stderr, "maintgate: unknown argument '%.*s'\n\n%s", int(a.size()), a.data(),
                     usage_text.data());
        return 2;
    }
    if (command == "check") {
        if (config_path.empty()) {
            std::fprintf(stderr, "maintgate: check needs -c FILE\n");
            return 2;
        }
        return cmd_check(config_path);
    }
    if (command == "run") return cmd_run(config_path);
    std::fprintf(stderr, "maintgate: no command given\n\n%s", usage_text.data());
    return 2;
}

#include "proxy/config/preflight.hpp"

#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace maintgate {

namespace {

std::string errno_text(int e) { return std::strerror(e); }

std::string folder_of(const std::string& path) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

std::string mode_text(unsigned mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", mode);
    return buf;
}

// A path maintgate opens, and whether (and with which mode) run makes its folder.
struct owned_path {
    const char* what;  // the key, for messages
    std::string path;
    unsigned folder_mode;  // 0: run does not create the folder
};

std::vector<owned_path> paths_of(const config& cfg) {
    std::vector<owned_path> v;
    // The socket's folder is searched by whoever connects: the group needs it too
    // when socket_mode lets the group in.
    const unsigned socket_folder = (cfg.admin.socket_mode & 0070) ? 0750 : 0700;
    if (!cfg.gate.state_file.empty()) v.push_back({"gate.state_file", cfg.gate.state_file, 0750});
    if (!cfg.gate.audit_log.empty()) v.push_back({"gate.audit_log", cfg.gate.audit_log, 0750});
    if (!cfg.admin.socket.empty()) v.push_back({"admin.socket", cfg.admin.socket, socket_folder});
    // The spool's folder (its first segment stands for every file in it).
    if (!cfg.spool.dir.empty()) v.push_back({"spool.dir", cfg.spool.dir + "/0000000000000001.seg", 0750});
    if (cfg.log.error != "stderr" && !cfg.log.error.empty()) v.push_back({"log.error", cfg.log.error, 0});
    if (!cfg.log.access.empty() && cfg.log.access != "stdout" && cfg.log.access != "stderr")
        v.push_back({"log.access", cfg.log.access, 0});
    return v;
}

bool is_writable_folder(const std::string& dir) {
    struct stat st {};
    return ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && ::access(dir.c_str(), W_OK | X_OK) == 0;
}

// True when something accepts connections on the Unix socket at path.
bool socket_answers(const std::string& path) {
    sockaddr_un addr{};
    if (path.size() >= sizeof addr.sun_path) return false;
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    const int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return false;
    const bool ok = ::connect(s, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
    ::close(s);
    return ok;
}

// Binds host:port as the listeners do (SO_REUSEADDR) and lets it go. 0 or an errno.
int try_bind(const std::string& host, std::uint16_t port) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    int family = AF_INET;
    if (auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
        ::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        len = sizeof *v4;
    } else if (auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
               ::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        len = sizeof *v6;
        family = AF_INET6;
    } else {
        return EINVAL;  // the loader accepts literal addresses only
    }
    const int s = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return errno;
    const int one = 1;
    ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (family == AF_INET6) ::setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    int err = 0;
    if (::bind(s, reinterpret_cast<const sockaddr*>(&ss), len) != 0) err = errno;
    ::close(s);
    return err;
}

bool is_number(const std::string& s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

preflight_report preflight(const config& cfg) {
    preflight_report r;
    const std::string& src = cfg.source;
    const auto fail = [&](const std::string& what, const std::string& message) {
        r.errors.push_back(src + ": " + what + ": " + message);
    };

    bool running = false;  // the admin socket answers: this config's maintgate is up
    for (const auto& p : paths_of(cfg)) {
        const std::string dir = folder_of(p.path);
        struct stat st {};
        if (::stat(dir.c_str(), &st) == 0) {
            if (!S_ISDIR(st.st_mode))
                fail(p.what, dir + " is not a folder");
            else if (::access(dir.c_str(), W_OK | X_OK) != 0)
                fail(p.what, "cannot create files in " + dir + ": " + errno_text(errno));
        } else if (errno != ENOENT) {
            fail(p.what, "cannot check the folder " + dir + ": " + errno_text(errno));
            continue;
        } else if (p.folder_mode == 0) {
            fail(p.what, "the folder " + dir + " does not exist");
            continue;
        } else if (const std::string up = folder_of(dir); !is_writable_folder(up)) {
            fail(p.what, "the folder " + dir +
                             " does not exist, and run creates only the last folder of a path: " + up +
                             (::access(up.c_str(), F_OK) == 0 ? " does not let this user create it"
                                                              : " is missing too"));
            continue;
        } else {
            const std::string line = dir + " (mode " + mode_text(p.folder_mode) + ")";
            bool seen = false;
            for (const auto& c : r.creates) seen = seen || c == line;
            if (!seen) r.creates.push_back(line);
            continue;
        }

        if (::lstat(p.path.c_str(), &st) != 0) {
            if (errno != ENOENT) fail(p.what, "cannot check " + p.path + ": " + errno_text(errno));
            continue;  // run creates it
        }
        if (std::string_view(p.what) == "admin.socket") {
            if (!S_ISSOCK(st.st_mode))
                fail(p.what, p.path + " exists and is not a socket; run will not replace it");
            else if (socket_answers(p.path))
                running = true;
            continue;
        }
        if (!S_ISREG(st.st_mode)) {
            fail(p.what, p.path + " is not a regular file");
            continue;
        }
        // The state file and audit log are read back (restore, history) as well as written.
        const bool logs = p.what[0] == 'l';
        if (::access(p.path.c_str(), logs ? W_OK : R_OK | W_OK) != 0)
            fail(p.what, "cannot " + std::string(logs ? "write " : "read and write ") + p.path + ": " +
                             errno_text(errno));
    }
    if (running)
        r.warnings.push_back(
            "admin socket " + cfg.admin.socket +
            " answers: maintgate is running with it (a second run beside it would refuse to start)");

    if (!cfg.admin.socket_owner.empty() && !is_number(cfg.admin.socket_owner) &&
        !::getpwnam(cfg.admin.socket_owner.c_str()))
        fail("admin.socket_owner", "no such user '" + cfg.admin.socket_owner + "'");
    if (!cfg.admin.socket_group.empty() && !is_number(cfg.admin.socket_group) &&
        !::getgrnam(cfg.admin.socket_group.c_str()))
        fail("admin.socket_group", "no such group '" + cfg.admin.socket_group + "'");

    const auto bind_check = [&](const std::string& what, const std::string& address, const std::string& host,
                                std::uint16_t port) {
        const int err = try_bind(host, port);
        if (err == 0) return;
        if (err == EADDRINUSE && running)
            r.warnings.push_back(what + " " + address + " is in use, by the running maintgate it seems");
        else
            fail(what, "cannot bind " + address + ": " + errno_text(err) +
                           (err == EACCES ? " (ports below 1024 need root or CAP_NET_BIND_SERVICE)" : ""));
    };
    // [cluster]: run reads these before it joins and stops on any it cannot read.
    if (cfg.cluster) {
        const auto readable = [&](const char* what, const std::string& path) {
            if (path.empty()) return;
            struct stat st {};
            if (::stat(path.c_str(), &st) != 0)
                fail(what, "cannot read " + path + ": " + errno_text(errno));
            else if (!S_ISREG(st.st_mode))
                fail(what, path + " is not a regular file");
            else if (::access(path.c_str(), R_OK) != 0)
                fail(what, "cannot read " + path + ": " + errno_text(errno));
        };
        readable("cluster.tls_ca_file", cfg.cluster->tls_ca_file);
        readable("cluster.tls_cert", cfg.cluster->tls_cert);
        readable("cluster.tls_key", cfg.cluster->tls_key);
        readable("cluster.password_file", cfg.cluster->password_file);
    }

    for (std::size_t i = 0; i < cfg.listeners.size(); ++i)
        bind_check("listener[" + std::to_string(i + 1) + "]", cfg.listeners[i].address, cfg.listeners[i].host,
                   cfg.listeners[i].port);
    if (!cfg.admin.metrics.empty())
        bind_check("admin.metrics", cfg.admin.metrics, cfg.admin.metrics_host, cfg.admin.metrics_port);
    return r;
}

folders_made create_owned_folders(const config& cfg) {
    folders_made out;
    for (const auto& p : paths_of(cfg)) {
        if (p.folder_mode == 0) continue;
        const std::string dir = folder_of(p.path);
        if (::mkdir(dir.c_str(), p.folder_mode) == 0) {
            // mkdir's mode passes through the umask; the folder gets exactly the mode said.
            ::chmod(dir.c_str(), p.folder_mode);
            out.created.push_back("created " + dir + " (mode " + mode_text(p.folder_mode) + ") for " +
                                  p.what);
        } else if (errno != EEXIST) {
            out.errors.push_back(p.what + std::string(": cannot create the folder ") + dir + ": " +
                                 errno_text(errno));
        }
    }
    return out;
}

}  // namespace maintgate

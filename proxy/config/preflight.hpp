#pragma once
// What `maintgate check` opens of what `maintgate run` will open, in the manner of
// `nginx -t`: a config that loads can still fail to start on a missing folder, a file it
// may not write, an owner that does not exist or an address it cannot bind. Also the one
// thing run does before opening them: create the folders it owns, as systemd's
// StateDirectory= and RuntimeDirectory= would.
#include <string>
#include <vector>

#include "proxy/config/config.hpp"

namespace maintgate {

struct preflight_report {
    std::vector<std::string> errors;  // each one stops `run`
    std::vector<std::string> warnings;  // run may still start (an address in use by this maintgate)
    std::vector<std::string> creates;  // folders `run` will create: "/run/maintgate (mode 0700)"
};

// Checks, without changing anything: the folders of gate.state_file, gate.audit_log,
// admin.socket and file logs exist (or run can create them) and are writable; existing
// files are readable and writable; an existing admin socket path is a socket; the socket's
// owner and group exist; every listener and the metrics address can be bound (an address
// in use while the admin socket answers is the running maintgate: a warning); the
// [cluster] TLS files and password file are readable.
// Certificates are checked by build_tls. Never throws (beyond bad_alloc).
preflight_report preflight(const config& cfg);

// Creates the missing last folder of each path maintgate owns (state file and audit log:
// mode 0750; admin socket: 0700, or 0750 when socket_mode lets the group in). Only the
// last component, and only when its parent exists: a folder further up is the
// operator's to make. Returns one line per folder created, or the error that stops run.
struct folders_made {
    std::vector<std::string> created;
    std::vector<std::string> errors;
};
folders_made create_owned_folders(const config& cfg);

}  // namespace maintgate

#pragma once
// The admin socket: a Unix stream socket, the only way to change the gate at run time.
// One command per line (proxy/admin/admin_command.hpp parses it), a text or JSON reply per
// command (the protocol is described there). Runs on the admin thread with gate_control;
// never on a worker, never reachable from the public listeners.
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>

#include "proxy/admin/admin_command.hpp"
#include "proxy/config/config.hpp"
#include "proxy/admin/gate_control.hpp"
#include "proxy/net.hpp"

namespace maintgate::proxy {

using unix_socket = net::local::stream_protocol;

class admin_server {
public:
    admin_server(net::io_context& ioc, gate_control& gate);
    ~admin_server();

    // Creates the socket file with the configured mode, owner and group. A stale socket
    // left by a crashed run is replaced; a live one (another maintgate answering) or a
    // path that is not a socket is refused. Returns "" or what went wrong.
    std::string listen(const admin_config& a);
    void start();
    // Stops accepting and removes the socket file, if it is still the one we made.
    void stop();

    // Runs one line as the admin peer `who` would; the reply ends as the protocol says.
    // Public for the tests and for SIGHUP (which runs "reload").
    net::awaitable<std::string> execute_line(std::string_view line, const admin_peer& who);

private:
    net::awaitable<void> accept_loop();
    net::awaitable<void> serve(unix_socket::socket s);

    net::io_context& ioc_;
    gate_control& gate_;
    // Reset by stop(): the io_context may be destroyed before this object.
    std::optional<unix_socket::acceptor> acceptor_;
    std::string path_;
    ino_t inode_ = 0;
    dev_t device_ = 0;
    std::size_t open_ = 0;
};

}  // namespace maintgate::proxy

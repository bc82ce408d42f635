#include "proxy/cli_docs.hpp"

#include <algorithm>
#include <vector>

#include "policy/gate.hpp"
#include "proxy/admin/admin_command.hpp"
#include "proxy/admin/ctl.hpp"

namespace maintgate::proxy {
namespace {

std::vector<std::string_view> lines_of(std::string_view text) {
    std::vector<std::string_view> out;
    while (!text.empty()) {
        const auto nl = text.find('\n');
        out.push_back(text.substr(0, nl));
        if (nl == std::string_view::npos) break;
        text.remove_prefix(nl + 1);
    }
    return out;
}

std::vector<std::string_view> words_of(std::string_view text) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && text[i] == ' ') ++i;
        std::size_t j = i;
        while (j < text.size() && text[j] != ' ') ++j;
        if (j > i) out.push_back(text.substr(i, j - i));
        i = j;
    }
    return out;
}

std::string_view trim_left(std::string_view s) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    return s;
}

// A placeholder in a usage line: FILE, PATH, DURATION, STAGE, TEXT..., N.
bool is_placeholder(std::string_view w) {
    if (w.ends_with("...")) w.remove_suffix(3);
    return !w.empty() && std::all_of(w.begin(), w.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

// Text set in roff: a backslash would start an escape and a '-' may be set as a hyphen.
std::string roff(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '\\')
            out += "\\e";
        else if (c == '-')
            out += "\\-";
        else
            out += c;
    }
    return out;
}

// A line of running text in roff: one starting with '.' or '\'' would be a request.
std::string roff_line(std::string_view s) {
    std::string out = roff(s);
    if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out.insert(0, "\\&");
    return out + "\n";
}

// Preformatted text, kept as it is laid out in --help.
std::string roff_block(std::string_view text) {
    std::string out = ".PP\n.nf\n";
    for (auto l : lines_of(text)) out += l.empty() ? std::string(".sp\n") : roff_line(l);
    return out + ".fi\n";
}

// The part of a help text after the line `heading` up to the next empty line.
std::vector<std::string_view> section_of(std::string_view text, std::string_view heading) {
    std::vector<std::string_view> out;
    bool in = false;
    for (auto l : lines_of(text)) {
        if (!in) {
            in = l.starts_with(heading);
            continue;
        }
        if (l.empty()) break;
        out.push_back(l);
    }
    return out;
}

// Options from a help section: lines whose first word starts with '-'. An option followed
// by a placeholder takes a value.
struct option_word {
    std::string_view name;
    std::string_view value;  // the placeholder, or empty
};

std::vector<option_word> options_in(const std::vector<std::string_view>& lines) {
    std::vector<option_word> out;
    for (auto l : lines) {
        l = trim_left(l);
        if (!l.starts_with('-')) continue;
        // The option part ends at the first run of two spaces (then its description).
        l = l.substr(0, l.find("  "));
        std::vector<std::string_view> ws;
        for (auto w : words_of(l)) {
            if (w.ends_with(',')) w.remove_suffix(1);
            ws.push_back(w);
        }
        std::string_view value;
        if (!ws.empty() && is_placeholder(ws.back())) value = ws.back();
        for (auto w : ws)
            if (w.starts_with('-')) out.push_back({w, value});
    }
    return out;
}

// The top-level commands under "commands:", each with its arguments: "  run   [-c FILE]
// serve ...". A description starts at the column that its continuation lines are
// indented to; arguments too long for that column run on to the end of the line.
struct command_line {
    std::string_view name;
    std::string_view args;
};

std::vector<command_line> commands_in(std::string_view usage) {
    const auto lines = section_of(usage, "commands:");
    std::size_t column = std::string_view::npos;
    for (auto l : lines)
        if (l.starts_with("   ")) {
            column = l.size() - trim_left(l).size();
            break;
        }
    std::vector<command_line> out;
    for (auto l : lines) {
        if (!l.starts_with("  ") || l.starts_with("   ")) continue;  // a description running on
        const auto body = trim_left(l);
        const auto name = body.substr(0, body.find(' '));
        std::string_view rest = l.substr(l.size() - body.size() + name.size());
        const std::size_t at = l.size() - rest.size();  // column of `rest`
        if (column != std::string_view::npos && column > at + 1 && l.size() > column &&
            l.substr(column - 2, 2) == "  " && l[column] != ' ') {
            rest = trim_left(l.substr(at, column - at));
        } else {
            rest = trim_left(rest);
            rest = rest.substr(0, rest.find("  "));
        }
        while (!rest.empty() && rest.back() == ' ') rest.remove_suffix(1);
        out.push_back({name, rest});
    }
    return out;
}

// An admin command's keywords (what the usage spells in lower case after the command's
// own words) and which of them take a value.
struct command_words {
    std::vector<std::string_view> keywords;
    std::vector<std::string_view> takes_value;  // keyword followed by a placeholder
    std::vector<std::string_view> takes_stage;  // ... by STAGE
};

command_words keywords_of(const admin::command_info& c) {
    command_words out;
    std::string_view rest = c.usage.substr(std::min(c.usage.size(), c.words.size()));
    std::vector<std::string> tokens;
    std::string t;
    for (char ch : rest) {
        if (ch == ' ' || ch == '[' || ch == ']' || ch == '|') {
            if (!t.empty()) tokens.push_back(std::move(t));
            t.clear();
        } else {
            t += ch;
        }
    }
    if (!t.empty()) tokens.push_back(std::move(t));
    // Point into c.usage (static) rather than into the local tokens.
    auto find_in_usage = [&c](const std::string& w) { return c.usage.substr(c.usage.find(w), w.size()); };
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        if (is_placeholder(tokens[i]) || tokens[i] == "...") continue;  // "[hook POINT NAME]...": repeatable
        auto kw = find_in_usage(tokens[i]);
        out.keywords.push_back(kw);
        if (i + 1 < tokens.size() && is_placeholder(tokens[i + 1])) {
            out.takes_value.push_back(kw);
            if (tokens[i + 1] == "STAGE") out.takes_stage.push_back(kw);
        }
    }
    return out;
}

std::string joined(const std::vector<std::string_view>& ws) {
    std::string out;
    for (auto w : ws) {
        if (!out.empty()) out += ' ';
        out += w;
    }
    return out;
}

// Unique words, in first-seen order, space-separated.
std::string unique_joined(const std::vector<std::string_view>& ws) {
    std::vector<std::string_view> seen;
    for (auto w : ws)
        if (std::find(seen.begin(), seen.end(), w) == seen.end()) seen.push_back(w);
    return joined(seen);
}

std::string stage_names() {
    std::vector<std::string_view> out;
    for (auto s : {policy::stage::maintenance, policy::stage::operators, policy::stage::read_only,
                   policy::stage::writes, policy::stage::open})
        out.push_back(policy::to_string(s));
    return joined(out);
}

}  // namespace

std::string man_page(std::string_view usage, std::string_view version) {
    std::string m;
    m += ".\\\" Generated by `maintgate man` from the --help texts and the admin command table.\n";
    m += ".TH MAINTGATE 1 \"\" \"maintgate " + roff(version) + "\" \"User Commands\"\n";
    m += ".SH NAME\nmaintgate \\- a reverse proxy that gates writes around maintenance\n";
    m += ".SH SYNOPSIS\n";
    for (const auto& c : commands_in(usage)) {
        m += ".B maintgate " + roff(c.name) + "\n";
        if (!c.args.empty()) m += roff_line(c.args);
        m += ".br\n";
    }
    m += ".SH DESCRIPTION\n"
         "maintgate sits permanently in front of one web app. In normal operation it is an "
         "HTTP/1.1 reverse proxy. Around a risky change the operator switches it, live, to\n"
         ".B read\\-only\n"
         "(reads forwarded, writes refused with 503 and Retry\\-After) or\n"
         ".B maintenance\n"
         "(a maintenance page for everything), and reopens in stages gated by health and smoke "
         "checks. The mode survives restarts and reloads; every change is in an audit log.\n";
    m += ".SH COMMANDS\n";
    m += roff_block(usage);
    m += ".SH CTL\n";
    m += roff_block(ctl_usage_text());
    m += ".SH ADMIN COMMANDS\n"
         "The commands of the admin socket, as\n.B maintgate ctl\n"
         "sends them and\n.B help\n"
         "lists them. Those marked (audited) change state and are written to the audit log.\n";
    for (const auto& c : admin::command_table()) {
        m += ".TP\n.B " + roff(c.usage) + "\n";
        m += roff_line(std::string(c.summary) + (c.changes_state ? " (audited)" : ""));
    }
    // The notes after the command list in `help` (TIME, DURATION, STAGE, N, quoting):
    // what follows its legend line for the state-changing mark.
    const std::string help = admin::help_text();
    const auto help_lines = lines_of(help);
    std::string notes;
    bool in_notes = false;
    for (auto l : help_lines) {
        if (in_notes) notes += std::string(l) + "\n";
        if (l.starts_with("* changes state")) in_notes = true;
    }
    m += roff_block(notes);
    m += ".SH SIGNALS\n"
         ".TP\n.B SIGTERM\\fR, \\fBSIGINT\n"
         "Stop accepting, let requests in flight finish within timeouts.shutdown, exit 0.\n"
         ".TP\n.B SIGHUP\n"
         "Re\\-read the configuration file, as the reload command does; mode and stage are kept.\n"
         ".TP\n.B SIGUSR1\n"
         "Reopen the error and access log files by name (for logrotate's postrotate).\n";
    m += ".SH ENVIRONMENT\n"
         ".TP\n.B NOTIFY_SOCKET\n"
         "Set by systemd for Type=notify: maintgate sends READY=1 once every listener is bound "
         "and the mode restored, RELOADING=1 and READY=1 around a reload, STOPPING=1 on "
         "shutdown, and STATUS= with the mode. Unset: nothing is sent.\n"
         ".TP\n.B WATCHDOG_USEC\n"
         "Set by systemd for WatchdogSec=: WATCHDOG=1 is sent every half period for as long as "
         "every worker thread answers.\n";
    m += ".SH FILES\n"
         ".TP\n.I /etc/maintgate/maintgate.toml\n"
         "The configuration the systemd unit runs; an annotated example with every key is "
         "installed as share/doc/maintgate/maintgate.example.toml.\n"
         ".TP\n.I /run/maintgate/admin.sock\n"
         "The admin socket in the installed configuration ([admin] socket).\n"
         ".TP\n.I /var/lib/maintgate/state.json\n"
         "The mode, kept across restarts ([gate] state_file).\n"
         ".TP\n.I /var/log/maintgate/\n"
         "The audit and access logs.\n";
    m += ".SH EXIT STATUS\n"
         "run and check: 0 on success, 1 when the configuration is refused or the proxy cannot "
         "start, 2 on a usage error. ctl: see CTL above.\n";
    m += ".SH SEE ALSO\n.BR systemd.service (5),\n.BR logrotate (8)\n";
    return m;
}

std::string bash_completion(std::string_view usage) {
    // A word list as a bash single-quoted string, padded so ' WORD ' tests membership.
    const auto list = [](const std::string& words) { return "' " + words + " '"; };
    const auto names = [](const std::vector<option_word>& opts, bool with_value, std::string_view kind) {
        std::vector<std::string_view> out;
        for (const auto& o : opts) {
            const bool is_file = o.value == "FILE" || o.value == "PATH";
            if (!with_value || (!o.value.empty() && (kind == "file") == is_file)) out.push_back(o.name);
        }
        return out;
    };
    const auto top_opts = options_in(section_of(usage, "options:"));
    const auto ctl_opts = options_in(section_of(ctl_usage_text(), "options"));

    // One line per admin command, tab-separated: its words, its keywords, those of them
    // that take a value, those that take a stage name. A keyword's kind is the command's
    // own (`mode` takes a value after `window plan`, but is a word of `set mode`). Each
    // list is padded with spaces, so that no field is empty (bash's read would merge two
    // tabs) and ' WORD ' tests membership.
    std::string table;
    for (const auto& c : admin::command_table()) {
        const auto k = keywords_of(c);
        table += std::string(c.words) + "\t " + unique_joined(k.keywords) + " \t " + unique_joined(k.takes_value) +
                 " \t " + unique_joined(k.takes_stage) + " \n";
    }

    std::string s;
    s += "# bash completion for maintgate. Generated by `maintgate completion bash` from the\n"
         "# --help texts and the admin command table that `maintgate ctl help` prints: do not\n"
         "# edit; regenerate. Install as share/bash-completion/completions/maintgate.\n\n";
    std::vector<std::string_view> commands;
    for (const auto& c : commands_in(usage)) commands.push_back(c.name);
    s += "_maintgate_commands='" + joined(commands) + "'\n";
    s += "_maintgate_options='" + joined(names(top_opts, false, "")) + "'\n";
    s += "_maintgate_file_options=" + list(joined(names(top_opts, true, "file"))) + "\n";
    s += "_maintgate_ctl_options='" + joined(names(ctl_opts, false, "")) + "'\n";
    s += "_maintgate_ctl_file_options=" + list(joined(names(ctl_opts, true, "file"))) + "\n";
    s += "_maintgate_ctl_value_options=" + list(joined(names(ctl_opts, true, "value"))) + "\n";
    s += "_maintgate_ctl_table='" + table + "'\n";
    s += "_maintgate_stages='" + stage_names() + "'\n";
    s += R"bash(
_maintgate_reply() {
    local IFS=$' \t\n'
    mapfile -t COMPREPLY < <(compgen -W "$1" -- "$2")
}

# File names, one per line, so names with spaces stay whole.
_maintgate_files() {
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -- "$1")
}

# The admin command words after `maintgate [options] ctl [ctl options]`.
_maintgate_ctl() {
    local i=$1 cur=$2 prev=$3 w
    local -a typed=()
    while ((i < COMP_CWORD)); do
        w=${COMP_WORDS[i]}
        if ((${#typed[@]} == 0)); then
            if [[ $_maintgate_ctl_file_options == *" $w "* || $_maintgate_ctl_value_options == *" $w "* ]]; then
                ((i += 2))
                continue
            fi
            if [[ $w == -* ]]; then
                ((i += 1))
                continue
            fi
        fi
        typed+=("$w")
        ((i += 1))
    done
    if ((${#typed[@]} == 0)); then
        if [[ $_maintgate_ctl_file_options == *" $prev "* ]]; then
            _maintgate_files "$cur"
            return
        fi
        [[ $_maintgate_ctl_value_options == *" $prev "* ]] && return
        if [[ $cur == -* ]]; then
            _maintgate_reply "$_maintgate_ctl_options" "$cur"
            return
        fi
    fi
    # The command whose words are the longest prefix of what was typed, and the next
    # word of every command that what was typed is a strict prefix of.
    local cwords keywords values stages best=-1 best_keywords='' best_values='' best_stages='' next='' n j match
    local -a cw
    while IFS=$'\t' read -r cwords keywords values stages; do
        [[ -z $cwords ]] && continue
        read -r -a cw <<<"$cwords"
        n=${#cw[@]}
        match=1
        for ((j = 0; j < n && j < ${#typed[@]}; j++)); do
            [[ ${cw[j]} == "${typed[j]}" ]] || { match=0; break; }
        done
        ((match)) || continue
        if ((${#typed[@]} < n)); then
            next+=" ${cw[${#typed[@]}]}"
        elif ((n > best)); then
            best=$n
            best_keywords=$keywords
            best_values=$values
            best_stages=$stages
        fi
    done <<<"$_maintgate_ctl_table"
    if ((best < 0)); then
        _maintgate_reply "$next" "$cur"
        return
    fi
    # A keyword's value comes after the command's own words.
    if ((${#typed[@]} > best)); then
        if [[ $best_stages == *" $prev "* ]]; then
            _maintgate_reply "$_maintgate_stages" "$cur"
            return
        fi
        [[ $best_values == *" $prev "* ]] && return
    fi
    _maintgate_reply "$best_keywords --json $next" "$cur"
}

_maintgate() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev='' command='' i=1 w
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
    while ((i < COMP_CWORD)); do
        w=${COMP_WORDS[i]}
        if [[ $_maintgate_file_options == *" $w "* ]]; then
            ((i += 2))
            continue
        fi
        ((i += 1))
        [[ $w == -* ]] && continue
        command=$w
        break
    done
    if [[ $_maintgate_file_options == *" $prev "* ]]; then
        _maintgate_files "$cur"
        return
    fi
    case $command in
        "") _maintgate_reply "$_maintgate_commands $_maintgate_options" "$cur" ;;
        ctl) _maintgate_ctl "$i" "$cur" "$prev" ;;
        completion) ((i == COMP_CWORD)) && _maintgate_reply "bash" "$cur" ;;
        *) [[ $cur == -* ]] && _maintgate_reply "$_maintgate_file_options" "$cur" ;;
    esac
}
complete -F _maintgate maintgate
)bash";
    return s;
}

}  // namespace maintgate::proxy

"""The results: CSV files, gnuplot charts and report.md."""

import csv
import os
import platform
import re
import subprocess

from . import callgrind
from .common import BenchError, REPO, _read, median_min_max
from .scenarios import IDLE_WHAT, IR_WHAT, SCENARIOS, SCENARIO_NAMES


RUN_FIELDS = ["scenario", "contender", "kind", "workers", "round", "requests", "seconds", "rps", "mib_s",
              "p50_us", "p90_us", "p99_us", "p999_us", "max_us", "cpu_us_per_req", "cpu_us_per_mib",
              "upstream_cpu_us_per_req", "rss_kib", "socket_errors", "unexpected_status", "flips",
              "flip_failures"]
IDLE_FIELDS = ["contender", "kind", "workers", "round", "connections", "still_open", "rss_before_kib",
               "rss_after_kib", "bytes_per_conn"]
IR_FIELDS = ["contender", "kind", "round", "requests", "ir"]
OUTPUTS = ["report.md", "runs.csv", "idle.csv", "ir.csv", "summary.csv", "requests.png", "throughput.png",
           "latency-p99.png", "cpu.png", "rss.png", "idle.png"]
SUMMARY_METRICS = ["rps", "mib_s", "p50_us", "p99_us", "p999_us", "cpu_us_per_req", "cpu_us_per_mib"]


def _fmt_num(v, digits):
    if v is None:
        return "–"
    if digits == 0:
        return "{:,.0f}".format(v)
    return "{:,.{}f}".format(v, digits)


def cell(mmm, scale=1.0, digits=0):
    """median [min–max]"""
    if mmm is None:
        return "–"
    med, lo, hi = (x * scale for x in mmm)
    if lo == hi:
        return _fmt_num(med, digits)
    return "%s [%s–%s]" % (_fmt_num(med, digits), _fmt_num(lo, digits), _fmt_num(hi, digits))


class Report:
    def __init__(self, bench):
        self.b = bench
        self.s = bench.settings

    def stat(self, scenario, contender, metric):
        return median_min_max([r[metric] for r in self.b.runs
                               if r["scenario"] == scenario and r["contender"] == contender])

    def med(self, scenario, contender, metric):
        m = self.stat(scenario, contender, metric)
        return m[0] if m else None

    def ir_stat(self, contender):
        """(median, min, max) Ir per request over the callgrind rounds, and the round count."""
        return callgrind.per_request(self.b.ir, contender, self.s.ir_counts)

    def idle_stat(self, contender):
        return median_min_max([r["bytes_per_conn"] for r in self.b.idle if r["contender"] == contender])

    def contenders_in(self, scenario):
        seen = []
        for r in self.b.runs:
            if r["scenario"] == scenario and r["contender"] not in seen:
                seen.append(r["contender"])
        return seen

    @staticmethod
    def label(cid):
        if cid == "direct":
            return "direct (no proxy)"
        kind, w = cid.rsplit("-", 1)
        return "%s ×%s" % (kind, w)

    # -- files --

    def clear(self):
        """Removes what an earlier run wrote here, so no stale plot sits next to this report."""
        for name in OUTPUTS:
            try:
                os.remove(os.path.join(self.s.results, name))
            except FileNotFoundError:
                pass

    def write_csv(self):
        res = self.s.results
        with open(os.path.join(res, "runs.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=RUN_FIELDS)
            w.writeheader()
            for r in self.b.runs:
                w.writerow({k: ("" if r[k] is None else (round(r[k], 3) if isinstance(r[k], float) else r[k]))
                            for k in RUN_FIELDS})
        with open(os.path.join(res, "idle.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=IDLE_FIELDS)
            w.writeheader()
            for r in self.b.idle:
                w.writerow({k: (round(r[k], 1) if isinstance(r[k], float) else r[k]) for k in IDLE_FIELDS})
        if self.b.ir:
            with open(os.path.join(res, "ir.csv"), "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=IR_FIELDS)
                w.writeheader()
                for r in self.b.ir:
                    w.writerow({k: r[k] for k in IR_FIELDS})
        with open(os.path.join(res, "summary.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["scenario", "contender", "metric", "median", "min", "max", "runs"])
            for sc in self.scenarios_run():
                for cid in self.contenders_in(sc.name):
                    n = sum(1 for r in self.b.runs if r["scenario"] == sc.name and r["contender"] == cid)
                    for metric in SUMMARY_METRICS:
                        m = self.stat(sc.name, cid, metric)
                        if m:
                            w.writerow([sc.name, cid, metric] + [round(x, 3) for x in m] + [n])
                    if (sc.name, cid) in self.b.peak_rss:
                        pk = self.b.peak_rss[(sc.name, cid)]
                        w.writerow([sc.name, cid, "peak_rss_kib", pk, pk, pk, n])
            cids = []
            for r in self.b.idle:
                if r["contender"] not in cids:
                    cids.append(r["contender"])
            for cid in cids:
                m = self.idle_stat(cid)
                n = sum(1 for r in self.b.idle if r["contender"] == cid)
                w.writerow(["idle", cid, "bytes_per_conn"] + [round(x, 1) for x in m] + [n])
            for cid in self.ir_contenders():
                m, n = self.ir_stat(cid)
                if m:
                    w.writerow(["ir", cid, "ir_per_req"] + [round(x, 1) for x in m] + [n])

    def ir_contenders(self):
        seen = []
        for r in self.b.ir:
            if r["contender"] not in seen:
                seen.append(r["contender"])
        return seen

    def scenarios_run(self):
        return [sc for sc in SCENARIOS if any(r["scenario"] == sc.name for r in self.b.runs)]

    # -- plots --

    def plot(self):
        """PNG bar charts through gnuplot: one cluster per scenario, one bar per contender
        (the median, with a bar from min to max). The .dat files stay in the temp dir."""
        scs = self.scenarios_run()
        order = {cid: i for i, cid in enumerate(["direct"] + ["%s-%d" % (k, w) for w in (1, 2, 3, 4)
                                                               for k in ("maintgate", "nginx", "haproxy")])}
        cids = sorted({r["contender"] for r in self.b.runs} | {r["contender"] for r in self.b.idle},
                      key=lambda c: order.get(c, 99))
        script = ['set terminal pngcairo size 1280,640 font "DejaVu Sans,10"',
                  "set style data histogram", "set style histogram errorbars gap 2 lw 1",
                  "set style fill solid 0.85 border -1", 'set datafile missing "NaN"',
                  "set key outside right top", "set grid ytics", "set xtics nomirror", "set bars front"]
        made = []

        def chart(png, title, ylabel, logy, rows):
            # rows: [(cluster label, {contender: (median, min, max)})]
            cols = [c for c in cids if any(c in vals for _, vals in rows)]
            if not rows or not cols:
                return
            dat = os.path.join(self.b.tmp, png[:-4] + ".dat")
            with open(dat, "w") as f:
                for name, vals in rows:
                    f.write('"%s" %s\n' % (name, " ".join(
                        " ".join("%g" % x for x in vals[c]) if c in vals else "NaN NaN NaN" for c in cols)))
            plots = ["'%s' using %d:%d:%d%s title '%s'%s"
                     % (dat if i == 0 else "", 2 + 3 * i, 3 + 3 * i, 4 + 3 * i, ":xtic(1)" if i == 0 else "",
                        self.label(c), _color(c)) for i, c in enumerate(cols)]
            script.extend(["set output '%s'" % os.path.join(self.s.results, png),
                           "set title '%s'" % title, "set ylabel '%s'" % ylabel,
                           "set logscale y" if logy else "unset logscale y",
                           "set yrange [*:*]" if logy else "set yrange [0:*]",
                           "plot " + ", ".join(plots)])
            made.append(png)

        def rows_of(metric, scale, names=None):
            rows = []
            for sc in scs:
                if names is None or sc.name in names:
                    vals = {}
                    for cid in self.contenders_in(sc.name):
                        m = self.stat(sc.name, cid, metric)
                        if m is not None:
                            vals[cid] = tuple(x * scale for x in m)
                    rows.append((sc.name, vals))
            return rows

        spread = "median, bar from min to max over %d round%s" % (self.s.rounds, "" if self.s.rounds == 1 else "s")
        chart("requests.png", "Requests per second (%s)" % spread, "requests/s (log scale)", True,
              rows_of("rps", 1.0))
        chart("throughput.png", "Body throughput (%s)" % spread, "MiB/s", False,
              rows_of("mib_s", 1.0, ("64k", "upload", "16m")))
        chart("latency-p99.png", "p99 latency (%s)" % spread, "ms (log scale)", True, rows_of("p99_us", 0.001))
        chart("cpu.png", "Proxy CPU time per request (%s)" % spread, "µs (log scale)", True,
              rows_of("cpu_us_per_req", 1.0))
        chart("rss.png", "Peak RSS of the proxy processes per scenario (VmHWM, from a fresh start)", "MiB",
              False, [(sc.name, {c: (v / 1024,) * 3 for (n, c), v in self.b.peak_rss.items() if n == sc.name})
                      for sc in scs])
        idle = {c: tuple(x / 1024 for x in self.idle_stat(c)) for c in cids if self.idle_stat(c)}
        if idle:
            chart("idle.png", "Memory per idle keep-alive connection (%s)" % spread, "KiB per connection", False,
                  [("%d idle connections" % self.s.idle_conns, idle)])
        if not made:
            return []
        gp = os.path.join(self.b.tmp, "plots.gp")
        with open(gp, "w") as f:
            f.write("\n".join(script) + "\n")
        r = subprocess.run(["gnuplot", gp], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise BenchError("gnuplot failed:\n%s" % r.stderr)
        return made

    # -- targets (issue 14) --

    def targets(self):
        """(target, figures, result) rows; result is met / not met / not measured / n/a."""
        rows = []
        cores = os.cpu_count() or 1

        def verdict(ok):
            return "**met**" if ok else "**not met**"

        def ms(v):
            return "%.3f ms" % (v / 1000)

        def against_peers(title, scenario, metric, unit, better, factor=1.0, stretch=None):
            """maintgate's median against the better of nginx's and HAProxy's: better is min
            (costs) or max (rates); the bound is factor times the better peer."""
            vals = [self.med(scenario, c, metric) for c in (mg, ng, hp)]
            if None in vals:
                rows.append((title + tag, "", "not measured"))
                return
            best = better(vals[1], vals[2])
            bound = factor * best
            ok = vals[0] <= bound if better is min else vals[0] >= bound
            fig = ("maintgate %s; nginx %s, HAProxy %s → bound %s (ratio %.2f to the better)"
                   % (unit(vals[0]), unit(vals[1]), unit(vals[2]), unit(bound), vals[0] / best))
            res = verdict(ok)
            if stretch is not None:
                res += "; stretch (≤ %.2f×) %s" % (stretch, "met" if vals[0] <= stretch * best else "not met")
            rows.append((title + tag, fig, res))

        us = lambda v: "%.2f µs" % v  # noqa: E731
        count = lambda v: _fmt_num(v, 0)  # noqa: E731
        for w in self.s.workers:
            mg, ng, hp = "maintgate-%d" % w, "nginx-%d" % w, "haproxy-%d" % w
            tag = " (%d worker%s)" % (w, "" if w == 1 else "s")
            against_peers("Small GET: CPU/request ≤ 0.85 × the better peer", "small", "cpu_us_per_req", us, min,
                          0.85, stretch=0.70)
            against_peers("Small GET: requests/s ≥ 1.1 × the better peer", "small", "rps", count, max, 1.1)
            p99 = [self.med("small", c, "p99_us") for c in (mg, ng, hp)]
            if None in p99:
                rows.append(("Small GET: p99 ≤ nginx's and HAProxy's" + tag, "", "not measured"))
            else:
                rows.append(("Small GET: p99 ≤ nginx's and HAProxy's" + tag,
                             "maintgate %s; nginx %s, HAProxy %s" % (ms(p99[0]), ms(p99[1]), ms(p99[2])),
                             verdict(p99[0] <= min(p99[1], p99[2]))))
            against_peers("New connection per request (`close`): CPU/request ≤ the better peer", "close",
                          "cpu_us_per_req", us, min)
            # Memory per idle connection: an absolute bound, the peers beside it.
            im = self.idle_stat(mg)
            if im is None:
                rows.append(("Memory per idle keep-alive connection ≤ 2 KB (2,048 B)" + tag, "", "not measured"))
            else:
                peers = ["%s %.0f B" % (k, self.idle_stat(c)[0]) for k, c in (("nginx", ng), ("HAProxy", hp))
                         if self.idle_stat(c)]
                rows.append(("Memory per idle keep-alive connection ≤ 2 KB (2,048 B)" + tag,
                             "maintgate %.0f B%s" % (im[0], "; " + ", ".join(peers) if peers else ""),
                             verdict(im[0] <= 2048)))
            mib = lambda v: "%.0f µs" % v  # noqa: E731
            against_peers("1 MiB uploads: CPU/MiB ≤ the better peer", "upload", "cpu_us_per_mib", mib, min)
            against_peers("16 MiB downloads: CPU/MiB ≤ the better peer", "16m", "cpu_us_per_mib", mib, min)
            # Local replies: at least nginx's static 503.
            for sc, what in (("page", "Maintenance page"), ("refuse", "Refused writes")):
                a, b = self.med(sc, mg, "rps"), self.med(sc, ng, "rps")
                if a is None or b is None:
                    rows.append(("%s: requests/s ≥ nginx's static 503%s" % (what, tag), "", "not measured"))
                else:
                    rows.append(("%s: requests/s ≥ nginx's static 503%s" % (what, tag),
                                 "maintgate %s; nginx %s (ratio %.2f)" % (_fmt_num(a, 0), _fmt_num(b, 0), a / b),
                                 verdict(a >= b)))
            # Not an issue-14 target, kept from issue 5: memory does not grow with bodies.
            rss = {sc: self.b.peak_rss.get((sc, mg)) for sc in ("small", "64k", "upload", "16m")}
            if rss["64k"] is None or (rss["upload"] is None and rss["16m"] is None):
                rows.append(("maintgate's peak RSS flat across body sizes" + tag, "", "not measured"))
            else:
                big = max(v for k, v in rss.items() if k in ("upload", "16m") and v is not None)
                rows.append(("maintgate's peak RSS flat across body sizes: 1 MiB uploads and 16 MiB "
                             "downloads ≤ 1.25 × 64 KiB responses" + tag,
                             ", ".join("%s %.1f MiB" % (k, v / 1024) for k, v in rss.items() if v is not None),
                             verdict(big <= 1.25 * rss["64k"])))
        # The deterministic figure beside the wall-clock ones: not a target of its own.
        irs = {c: self.ir_stat(c)[0] for c in ("maintgate-1", "nginx-1", "haproxy-1")}
        if irs["maintgate-1"] and irs["nginx-1"]:
            fig = "; ".join("%s %s" % (c.split("-")[0], _fmt_num(v[0], 0)) for c, v in irs.items() if v)
            rows.append(("Instructions per small GET under callgrind (1 worker): the figure that does not "
                         "move with the machine's load", fig + " (ratio to nginx %.2f)"
                         % (irs["maintgate-1"][0] / irs["nginx-1"][0]), "figure"))
        # Scaling: 2 workers against 1.
        a, b = self.med("small", "maintgate-2", "rps"), self.med("small", "maintgate-1", "rps")
        if a is None or b is None:
            rows.append(("Small GET: 2 workers ≥ 1.6 × 1 worker", "", "not measured"))
        else:
            others = []
            for k in ("nginx", "haproxy"):
                x, y = self.med("small", k + "-2", "rps"), self.med("small", k + "-1", "rps")
                if x and y:
                    others.append("%s %.2f×" % (k, x / y))
            fig = "maintgate %.2f× (%s → %s)%s" % (a / b, _fmt_num(b, 0), _fmt_num(a, 0),
                                                   "; " + ", ".join(others) if others else "")
            # wrk, the upstream and two proxy workers each need a core of their own.
            if cores < 4:
                rows.append(("Small GET: 2 workers ≥ 1.6 × 1 worker", fig,
                             "n/a: %d cores, fewer than the 4 that wrk, the upstream and 2 workers need" % cores))
            else:
                rows.append(("Small GET: 2 workers ≥ 1.6 × 1 worker", fig, verdict(a >= 1.6 * b)))
        # Flips: nothing may fail.
        flips = [r for r in self.b.runs if r["scenario"] == "flip"]
        if flips:
            bad = sum(r["unexpected_status"] + r["socket_errors"] for r in flips)
            failed = sum(r["flip_failures"] or 0 for r in flips)
            rows.append(("Mode flips every %d ms: no failed GET" % self.s.flip_interval_ms,
                         "%d GETs, %d non-2xx or socket errors; %d flips, %d failed"
                         % (sum(r["requests"] for r in flips), bad, sum(r["flips"] or 0 for r in flips), failed),
                         verdict(bad == 0 and failed == 0)))
        else:
            note = " ".join(self.b.notes.get("flip", [])) or "not run"
            rows.append(("Mode flips every %d ms: no failed GET" % self.s.flip_interval_ms, note, "not measured"))
        return rows

    # -- markdown --

    def ir_section(self):
        b, s = self.b, self.s
        lo, hi = s.ir_counts
        out = ["## Instructions per request under callgrind (`ir`)", "",
               IR_WHAT.replace("N_HI", "%d" % hi).replace("N_LO", "%d" % lo), ""]
        cids = self.ir_contenders()
        if cids:
            base = self.ir_stat("nginx-1")[0]
            out.append("| contender | Ir/request | relative to nginx | Ir at %d GETs | Ir at %d GETs | rounds |"
                       % (lo, hi))
            out.append("|---|---:|---:|---:|---:|---:|")
            for cid in cids:
                m, n = self.ir_stat(cid)
                total = {c: median_min_max([r["ir"] for r in b.ir if r["contender"] == cid and r["requests"] == c])
                         for c in (lo, hi)}
                out.append("| %s | %s | %s | %s | %s | %d |" % (
                    self.label(cid), cell(m), "%.2f" % (m[0] / base[0]) if m and base else "–",
                    cell(total[lo]), cell(total[hi]), n))
            out.append("")
        for n in b.notes.get("ir", []):
            out.append("- " + n)
        if b.notes.get("ir"):
            out.append("")
        return out

    def write(self, pngs):
        b, s = self.b, self.s
        out = []
        commit = _git("rev-parse", "--short", "HEAD") or "unknown"
        dirty = _git("status", "--porcelain", "--untracked-files=no")
        out.append("# maintgate against nginx and HAProxy")
        out.append("")
        out.append("Written by `bench/run.sh%s` on %s (UTC) in %s; commit %s%s."
                   % (" " + " ".join(b.scenario_names) if b.scenario_names != SCENARIO_NAMES else "",
                      b.started.strftime("%Y-%m-%d %H:%M"),
                      _elapsed((b.finished - b.started).total_seconds()),
                      commit, " with local changes" if dirty else ""))
        out.append("")
        out.append("- Machine: %d cores (%s), %s; load average before %s, after %s. wrk, the upstream "
                   "and the proxies share these cores." % (os.cpu_count() or 0, _cpu_model(), platform.platform(),
                                                         " ".join(b.load_before), " ".join(b.load_after)))
        out.append("- Versions: %s." % "; ".join(_versions(s.maintgate)))
        out.append("- Load: wrk -t%d -c%d, %d s per run after a %d s warm-up, %d interleaved round%s "
                   "(each contender once per round, in the order of the tables). Upstream: nginx, %d worker%s, "
                   "access_log off.%s"
                   % (s.wrk_threads, s.connections, s.duration, s.warmup, s.rounds, "" if s.rounds == 1 else "s",
                      s.upstream_workers, "" if s.upstream_workers == 1 else "s",
                      " **Quick run (BENCH_QUICK=1): too short for conclusions.**" if s.quick else ""))
        out.append("- Each cell: median [min–max] over the rounds. CPU is the proxy's own user+sys time "
                   "(/proc/PID/stat, all its processes and threads) divided by the requests wrk completed. "
                   "Peak RSS is the sum of VmHWM of the proxy's processes (nginx: master and workers) over "
                   "the scenario, from a fresh start. How each figure is made: `bench/README.md`.")
        out.append("- Raw figures: `runs.csv` (one row per wrk run), `idle.csv`, `summary.csv`.")
        out.append("")
        out.append("## Targets (issue 14)")
        out.append("")
        out.append("| target | figures (medians) | result |")
        out.append("|---|---|---|")
        for t, fig, res in self.targets():
            out.append("| %s | %s | %s |" % (t, fig or "–", res))
        out.append("")
        if b.failures:
            out.append("**Some runs failed** (their figures are in the tables but do not count):")
            out.append("")
            out.extend("- " + f for f in b.failures)
            out.append("")
        for sc in SCENARIOS:
            if sc.name not in b.scenario_names:
                continue
            out.append("## %s (`%s`)" % (sc.title, sc.name))
            out.append("")
            out.append(sc.what.replace("BENCH_FLIP_INTERVAL_MS", "%d ms" % s.flip_interval_ms))
            out.append("")
            cids = self.contenders_in(sc.name)
            if cids:
                big = sc.name in ("upload", "16m")
                per_mib = sc.name == "16m"  # for uploads it equals CPU per request (1 MiB each)
                head = ["contender", "requests/s"] + (["MiB/s"] if big else []) + \
                       ["p50 ms", "p99 ms", "p99.9 ms", "CPU µs/req"] + (["CPU µs/MiB"] if per_mib else []) + \
                       ["peak RSS MiB", "errors"]
                # The deterministic figure beside the wall-clock ones, when this run measured it.
                with_ir = sc.name == "small" and bool(b.ir)
                if with_ir:
                    head.append("Ir/req (callgrind)")
                if sc.variant == "flip":
                    head.append("flips (failed)")
                out.append("| " + " | ".join(head) + " |")
                out.append("|---|" + "---:|" * (len(head) - 1))
                for cid in cids:
                    rows = [r for r in b.runs if r["scenario"] == sc.name and r["contender"] == cid]
                    errors = sum(r["socket_errors"] + r["unexpected_status"] for r in rows)
                    pk = b.peak_rss.get((sc.name, cid))
                    line = [self.label(cid), cell(self.stat(sc.name, cid, "rps"))]
                    if big:
                        line.append(cell(self.stat(sc.name, cid, "mib_s")))
                    line += [cell(self.stat(sc.name, cid, "p50_us"), 0.001, 3),
                             cell(self.stat(sc.name, cid, "p99_us"), 0.001, 3),
                             cell(self.stat(sc.name, cid, "p999_us"), 0.001, 3),
                             cell(self.stat(sc.name, cid, "cpu_us_per_req"), 1.0, 2)]
                    if per_mib:
                        line.append(cell(self.stat(sc.name, cid, "cpu_us_per_mib")))
                    line += ["%.1f" % (pk / 1024) if pk else "–", str(errors)]
                    if with_ir:
                        line.append(cell(self.ir_stat(cid)[0]))
                    if sc.variant == "flip":
                        line.append("%d (%d)" % (sum(r["flips"] or 0 for r in rows),
                                                 sum(r["flip_failures"] or 0 for r in rows)))
                    out.append("| " + " | ".join(line) + " |")
                out.append("")
            notes = list(b.notes.get(sc.name, []))
            if sc.variant == "flip":
                # What the flips cost: the same GET load without them, from this run.
                for cid in cids:
                    a, base = self.med("flip", cid, "rps"), self.med("small", cid, "rps")
                    if a and base:
                        notes.append("%s: %.0f%% of its requests/s without flips (`small`, %s)."
                                     % (self.label(cid), 100 * a / base, _fmt_num(base, 0)))
            for n in notes:
                out.append("- " + n)
            if notes:
                out.append("")
        if "idle" in b.scenario_names:
            out.append("## Idle keep-alive connections (`idle`)")
            out.append("")
            out.append(IDLE_WHAT.replace("N ", "%d " % s.idle_conns, 1))
            out.append("")
            cids = []
            for r in b.idle:
                if r["contender"] not in cids:
                    cids.append(r["contender"])
            if cids:
                out.append("| contender | bytes per idle connection | RSS before MiB | RSS with the connections MiB | still open |")
                out.append("|---|---:|---:|---:|---:|")
                for cid in cids:
                    rows = [r for r in b.idle if r["contender"] == cid]
                    out.append("| %s | %s | %s | %s | %s |" % (
                        self.label(cid), cell(self.idle_stat(cid)),
                        cell(median_min_max([r["rss_before_kib"] for r in rows]), 1 / 1024, 1),
                        cell(median_min_max([r["rss_after_kib"] for r in rows]), 1 / 1024, 1),
                        "%d of %d" % (min(r["still_open"] for r in rows), s.idle_conns)))
                out.append("")
            for n in b.notes.get("idle", []):
                out.append("- " + n)
            if b.notes.get("idle"):
                out.append("")
        if "ir" in b.scenario_names:
            out.extend(self.ir_section())
        if pngs:
            out.append("## Plots")
            out.append("")
            for png in pngs:
                out.append("![%s](%s)" % (png[:-4], png))
                out.append("")
        with open(os.path.join(s.results, "report.md"), "w") as f:
            f.write("\n".join(out))
        return "\n".join(out)


# One colour per contender in every plot: the two worker counts of a proxy in two shades.
COLORS = {"direct": "#888888", "maintgate-1": "#41ab5d", "maintgate-2": "#006d2c",
          "nginx-1": "#6baed6", "nginx-2": "#08519c", "haproxy-1": "#fd8d3c", "haproxy-2": "#a63603"}


def _color(cid):
    return " lc rgb '%s'" % COLORS[cid] if cid in COLORS else ""


def _elapsed(seconds):
    return "%.0f s" % seconds if seconds < 120 else "%.0f min" % (seconds / 60)


def _git(*args):
    try:
        r = subprocess.run(["git", "-C", REPO, *args], capture_output=True, text=True, timeout=10,
                           env=dict(os.environ, GIT_OPTIONAL_LOCKS="0"))
        return r.stdout.strip() if r.returncode == 0 else ""
    except OSError:
        return ""


def _cpu_model():
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def _versions(maintgate):
    out = []
    for argv, pattern in (([maintgate, "--version"], r"maintgate \S+"),
                          (["nginx", "-v"], r"nginx/\S+"),
                          (["haproxy", "-v"], r"HAProxy version \S+"),
                          (["wrk", "-v"], r"wrk \S+")):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            m = re.search(pattern, r.stdout + r.stderr)
            out.append(m.group(0) if m else argv[0] + " ?")
        except OSError:
            out.append(argv[0] + " missing")
    return out

"""maintgate against nginx and HAProxy, side by side: the driver behind bench/run.sh.

It starts one upstream (nginx), then per scenario the contenders in front of it (direct,
maintgate, nginx, HAProxy, each with 1 and with 2 workers), checks that each answers the
way the scenario needs, runs wrk against them in interleaved rounds, and writes
report.md, runs.csv, idle.csv, summary.csv and PNG plots into the results folder.
Everything it starts listens on 127.0.0.1 and is stopped by pid when it ends.

Run it through bench/run.sh (which installs the packages and builds maintgate);
bench/README.md explains the scenarios, the settings and how each figure is computed.

The code lives in maintbench/: scenarios.py (the load shapes), contenders.py (the upstream
and the proxies with their configs), procs.py (processes, /proc figures, HTTP checks),
load.py (wrk and idle connections), runner.py (a run: checks and interleaved rounds),
report.py (CSV, plots, report.md), settings.py, common.py and cli.py (this command line).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from maintbench.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

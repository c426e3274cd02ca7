"""Update throughput, FLOPs and evaluation speed (the suite `crl bench` runs), written to BENCHMARKS.md.

python benchmarks/throughput.py [--paper] [--seeds 4] [--length 200]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform

import jax
from report import BENCHMARKS, write_section

from crl.bench import suite

SECTION = "## Update throughput and evaluation speed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paper", action="store_true", help="paper-size configs (a GPU's job)")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--length", type=int, default=200, help="updates per timed chunk")
    args = parser.parse_args()
    table = suite(args.paper, args.seeds, args.length)
    device = jax.devices()[0].device_kind
    lines = [
        SECTION + (" (paper configs)" if args.paper else " (quick configs)"),
        "",
        f"Produced by `python benchmarks/throughput.py{' --paper' * args.paper} --length {args.length}` "
        f"on {datetime.date.today()}. Machine: {platform.machine()}, {os.cpu_count()} CPU cores, "
        f"JAX device: {device}; jax {jax.__version__}.",
        "Each rate is the median of 3 timed chunks after one untimed (compiling) chunk, on a synthetic "
        "pointmaze-sized dataset (1M rows; an update's cost does not depend on the values). "
        "'Where the time goes' is one traced chunk of one seed (`crl.profiling`): the executed XLA ops "
        "(kernels on a GPU) per update, and their summed time by what they compute and by pass "
        "(forward or backward of a differentiated loss; no-grad: sampling, target networks and other "
        "stop-gradient inputs, the optimizer). On a CPU ops run on several threads, so summed op time "
        "can exceed wall time. Cores busy (on a CPU): the process's CPU time over the timed chunks' wall "
        "time; near the core count, the update is bound by the work it runs, not by idle cores.",
        "",
        table,
    ]
    write_section(BENCHMARKS, lines[0], "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

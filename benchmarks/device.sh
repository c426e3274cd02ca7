#!/usr/bin/env bash
# The brief's standing GPU order as one device call: update rates, FLOPs and profiles at the papers' sizes
# (benchmarks/throughput.py --paper, the suite `crl bench --paper` prints) and matmul precision
# (benchmarks/precision.py --paper). Each script rewrites its section of BENCHMARKS.md there; the
# rewritten file and the log come back under $OUT, to be copied over this checkout's BENCHMARKS.md.
#
#   benchmarks/device.sh wheels   # here, once: the packages the device lacks, as Python 3.12 wheels in .whl/
#   benchmarks/device.sh          # there: the device tool's run, carry [".whl"], timeout_s 600
#   benchmarks/device.sh experts  # there, a second call: the humanoid and antball experts' training speed
#
# The device has jax, flax, optax, orbax and tensorstore; it lacks ogbench and mujoco (evaluation speed
# and the precision run's dataset need them) and tyro (crl's command line). Versions are constraints.txt's.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = wheels ]; then
    packages=(ogbench mujoco mujoco-core mujoco-studio websockets glfw PyOpenGL gymnasium Farama-Notifications
              tyro docstring_parser typeguard)
    pins=()
    for p in "${packages[@]}"; do
        pin=$(grep -i "^${p}==" constraints.txt) || { echo "device.sh: $p is not in constraints.txt"; exit 2; }
        pins+=("$pin")
    done
    platforms=()
    for tag in manylinux_2_28 manylinux_2_27 manylinux_2_17 manylinux2014 manylinux1; do
        platforms+=(--platform "${tag}_x86_64")
    done
    rm -rf .whl
    exec python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        "${platforms[@]}" -d .whl "${pins[@]}"
fi

: "${OUT:?device.sh runs on the device machine (the device tool sets OUT); here, run: benchmarks/device.sh wheels}"
[ -d .whl ] || { echo "device.sh: no .whl/ (run benchmarks/device.sh wheels here, and carry .whl)"; exit 2; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || exit 1
export PYTHONPATH="$PWD/src:/tmp/site" PYTHONUNBUFFERED=1 CRL_DATA_DIR=/tmp/crl-data

crl=(python3 -c 'import sys; from crl.cli import main; sys.exit(main())')  # the `crl` command, uninstalled

# Each step has its own limit, so that one slow step leaves the others their time; the results so far
# are copied to $OUT after every step, as a command stopped at the call's limit returns only $OUT.
step() {
    local limit=$1
    shift
    echo "== $* (limit ${limit} s)" | tee -a "$OUT/log.txt"
    SECONDS=0
    timeout "$limit" "$@" 2>&1 | tee -a "$OUT/log.txt"
    echo "== exit ${PIPESTATUS[0]} after ${SECONDS} s" | tee -a "$OUT/log.txt"
    cp BENCHMARKS.md "$OUT/BENCHMARKS.md"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/log.txt"
python3 -c 'import jax, flax, optax; print("jax", jax.__version__, jax.devices(), "flax", flax.__version__)' \
    | tee -a "$OUT/log.txt"
if [ "${1:-}" = experts ]; then  # the humanoid expert's wall time, which 2 CPU cores put at 11 days
    step 500 python3 benchmarks/experts.py --experts humanoid antball
    exit 0
fi
step 330 python3 benchmarks/throughput.py --paper
step 60 "${crl[@]}" data generate pointmaze-medium-navigate-v0 --workers 16
step 150 python3 benchmarks/precision.py --paper

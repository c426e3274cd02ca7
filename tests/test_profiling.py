"""The profile's op classification (HLO text -> kind and pass) and a traced chunk's accounting."""

from __future__ import annotations

import gzip
import json
import threading
import time

import jax
import jax.numpy as jnp
import pytest

from crl.bench import process_cpu_s, synthetic_dataset
from crl.config import CRLConfig
from crl.data.sampling import to_device
from crl.profiling import classify_hlo, profile_chunk, summarize, trace_events

HLO = """HloModule m

%fused_matmul (p0: f32[4,4], p1: f32[4,4]) -> f32[4] {
  %p0 = f32[4,4]{1,0} parameter(0)
  %p1 = f32[4,4]{1,0} parameter(1)
  %d = f32[4,4]{1,0} dot(%p0, %p1), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  %z = f32[] constant(0)
  ROOT %r = f32[4]{0} reduce(%d, %z), dimensions={1}, to_apply=%add
}

%fused_gather (p0: f32[8,4], p1: s32[2]) -> f32[2,4] {
  %p0 = f32[8,4]{1,0} parameter(0)
  %p1 = s32[2]{0} parameter(1)
  %g = f32[2,4]{1,0} gather(%p0, %p1), offset_dims={1}, collapsed_slice_dims={0}, start_index_map={0}
  ROOT %e = f32[2,4]{1,0} exponential(%g)
}

%nested (p0: f32[4,4], p1: f32[4,4]) -> f32[4] {
  %p0 = f32[4,4]{1,0} parameter(0)
  %p1 = f32[4,4]{1,0} parameter(1)
  ROOT %f = f32[4]{0} fusion(%p0, %p1), kind=kLoop, calls=%fused_matmul
}

ENTRY %main (a: f32[4,4], t: f32[8,4], i: s32[2]) -> (f32[4], f32[2,4]) {
  %a = f32[4,4]{1,0} parameter(0)
  %t = f32[8,4]{1,0} parameter(1)
  %i = s32[2]{0} parameter(2)
  %mm = f32[4]{0} fusion(%a, %a), kind=kOutput, calls=%fused_matmul, metadata={op_name="f/jvp(n)/dot"}
  %outer = f32[4]{0} fusion(%a, %a), kind=kLoop, calls=%nested, metadata={op_name="f/transpose(jvp(n))"}
  %ga = f32[2,4]{1,0} fusion(%t, %i), kind=kLoop, calls=%fused_gather, metadata={op_name="jit(f)/gather"}
  %cp = f32[4,4]{0,1} copy(%a)
  %w = (s32[], f32[4]) while(%tuple), condition=%cond, body=%body
  %s = f32[4,4]{1,0} custom-call(%a, %a), custom_call_target="__cublas$gemm"
  ROOT %out = (f32[4]{0}, f32[2,4]{1,0}) tuple(%mm, %ga)
}
"""


def test_classify_hlo_by_what_fusions_compute_and_by_pass():
    ops = classify_hlo(HLO)
    assert (ops["mm"].category, ops["mm"].phase) == ("matmul", "forward")  # a dot outranks its reduce
    assert (ops["outer"].category, ops["outer"].phase) == ("matmul", "backward")  # through a nested fusion
    assert (ops["ga"].category, ops["ga"].phase) == ("gather/scatter", "no-grad")
    assert ops["cp"].category == "copy"
    assert ops["w"].category == "container"
    assert ops["s"].category == "matmul"  # a cuBLAS gemm call
    assert ops["out"].category == "elementwise"
    assert ops["r"].category == "reduction" and ops["e"].category == "elementwise"


def test_classify_hlo_of_a_compiled_gradient():
    def loss(w, x, idx):
        return jnp.sum(jnp.tanh(x[idx] @ w))

    args = (jnp.ones((8, 8)), jnp.ones((64, 8)), jnp.arange(16))
    ops = classify_hlo(jax.jit(jax.grad(loss)).lower(*args).compile().as_text())
    kinds = {(op.category, op.phase) for op in ops.values()}
    assert ("matmul", "forward") in kinds and ("matmul", "backward") in kinds
    assert any(op.category == "gather/scatter" for op in ops.values())


@pytest.fixture(scope="module", autouse=True)
def optimised_programs():
    """Profiles describe the programs users run: XLA's full optimisation, which conftest lowers for the
    other tests."""
    jax.config.update("jax_disable_most_optimizations", False)
    yield
    jax.config.update("jax_disable_most_optimizations", True)


def _profile(width: int, length: int):
    config = CRLConfig(batch_size=width, hidden=(width, width), latent_dim=16).for_run(5000)
    data = to_device(synthetic_dataset(5000, obs_dim=2, action_dim=2))
    return profile_chunk(config, data, seeds=1, obs_dim=2, action_dim=2, length=length)


@pytest.fixture(scope="module")
def profile():
    return _profile(width=32, length=5)


def test_profile_accounts_for_every_traced_op(profile):
    assert profile.updates == 5 and profile.wall_s > 0
    assert profile.op_count > 5 * 10  # an update is many ops: encoders, losses, gradients, Adam
    assert profile.unattributed_s < 0.01 * profile.total_op_s  # CPU events name ops of the program
    assert profile.share("matmul") > 0 and profile.share(phase="backward") > 0
    assert all(op.category != "container" for _, op, _ in profile.top)


def test_profile_scales_with_the_work(profile):
    # Twice the updates, 8x wider layers: the same ops per update (a per-update figure, not per chunk),
    # and matmuls a larger share of the time (what the classification is for). Shares are timings, so
    # the widths are far apart (a 512x larger matmul per update) and the comparison has no margin.
    wide = _profile(width=256, length=10)
    assert wide.updates == 10
    assert wide.op_count / wide.updates == pytest.approx(profile.op_count / profile.updates, rel=0.2)
    assert wide.share("matmul") > profile.share("matmul")


def _write_trace(directory, events):
    path = directory / "plugins" / "profile" / "run" / "perfetto_trace.json.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(json.dumps({"traceEvents": events}).encode()))


def test_a_gpu_trace_counts_device_kernels_once_and_reports_what_it_cannot_attribute(tmp_path):
    """Host launch events and device kernels both name the op: only the device's count. A kernel
    named after its fusion (fusion_3 for fusion.3) is matched; a library kernel is unattributed."""
    meta = [
        {"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "/host:CPU"}},
        {"ph": "M", "name": "process_name", "pid": 2, "args": {"name": "/device:GPU:0"}},
    ]
    launch = {
        "ph": "X",
        "pid": 1,
        "dur": 50.0,
        "name": "mm",
        "args": {"hlo_op": "mm", "hlo_module": "jit_run_chunk"},
    }
    kernels = [
        {
            "ph": "X",
            "pid": 2,
            "dur": 30.0,
            "name": "mm",
            "args": {"hlo_op": "mm", "hlo_module": "jit_run_chunk"},
        },
        {"ph": "X", "pid": 2, "dur": 10.0, "name": "ga", "args": {}},
        {"ph": "X", "pid": 2, "dur": 40.0, "name": "sm90_xmma_gemm", "args": {}},
        {
            "ph": "X",
            "pid": 2,
            "dur": 99.0,
            "name": "other",
            "args": {"hlo_op": "x", "hlo_module": "jit_other"},
        },
    ]
    _write_trace(tmp_path, meta + [launch] + kernels)
    events = trace_events(tmp_path, "run_chunk")
    assert sorted(events) == sorted([("mm", 30e-6), ("ga", 10e-6), ("sm90_xmma_gemm", 40e-6)])
    ops = classify_hlo(HLO.replace("%ga =", "%fusion.3 =").replace("ga)", "fusion.3)"))
    profile = summarize([("mm", 30e-6), ("fusion_3", 10e-6), ("sm90_xmma_gemm", 40e-6)], ops, 2, 1, 1e-3)
    assert profile.op_count == 2 and profile.unattributed_s == pytest.approx(40e-6)
    assert profile.share("matmul") == pytest.approx(0.75) and profile.share(
        "gather/scatter"
    ) == pytest.approx(0.25)
    assert profile.share(phase="forward") == pytest.approx(0.75)


def test_process_cpu_time_counts_work_in_other_threads_and_not_sleep():
    """`crl bench` reports cores busy as process CPU time over wall time: it must count the CPU time of
    threads the process starts (XLA's pool), and a sleeping process must not look busy."""

    def spin(seconds: float) -> None:
        end = time.thread_time() + seconds
        while time.thread_time() < end:
            pass

    before = process_cpu_s()
    worker = threading.Thread(target=spin, args=(0.3,))
    worker.start()
    worker.join()
    assert process_cpu_s() - before >= 0.3
    before = process_cpu_s()
    time.sleep(0.3)
    assert process_cpu_s() - before < 0.1

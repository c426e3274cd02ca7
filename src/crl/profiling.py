"""Where a training chunk's time goes: a JAX profiler trace of one compiled chunk, with every executed
XLA op classified by what it computes (matmul, gather/scatter, reduction, copy, elementwise) and by
the pass it belongs to: forward or backward of a differentiated loss, or no-grad (everything no
gradient flows through: sampling, target networks and other stop-gradient inputs, the optimizer).

The classification reads the compiled program's HLO text. CPU trace events name their HLO op; GPU
kernels are matched by the op their event names or by their fusion's name, and traced time that
matches no op is reported rather than dropped. Only the CPU path has run on a real trace so far."""

from __future__ import annotations

import gzip
import json
import re
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import jax

from crl.config import AgentConfig
from crl.data.sampling import DeviceData
from crl.train import initial_states, run_chunk

CATEGORIES = ("matmul", "gather/scatter", "reduction", "copy", "elementwise")
PASSES = ("forward", "backward", "no-grad")
CONTAINERS = {"while", "call", "conditional", "async-start", "async-done", "async-update"}
_OPCODES = {
    "matmul": {"dot", "convolution"},
    "gather/scatter": {"gather", "scatter", "dynamic-slice", "dynamic-update-slice"},
    "reduction": {"reduce", "reduce-window", "sort", "all-reduce"},
    "copy": {"copy", "transpose", "bitcast", "reshape", "copy-start", "copy-done"},
}
_INSTRUCTION = re.compile(r"^\s*(?:ROOT\s+)?%?([\w.\-]+) = (.*)$")
_COMPUTATION = re.compile(r"^(?:ENTRY\s+)?%?([\w.\-]+) \(.*\{\s*$")
_OPCODE = re.compile(r"(?<=\s)([a-z][\w\-]*)\(")


@dataclass(frozen=True)
class HloOp:
    category: str  # one of CATEGORIES, or "container" (while/call: their time is their ops' time)
    phase: str  # one of PASSES


def _category(opcode: str, line: str, called: list[str]) -> str:
    if opcode in CONTAINERS:
        return "container"
    if opcode == "custom-call" and re.search(r"gemm|matmul|cublas", line, re.I):
        return "matmul"
    if opcode == "fusion" and called:
        return called[0]
    for category, opcodes in _OPCODES.items():
        if opcode in opcodes:
            return category
    return "elementwise"


def _phase(line: str) -> str:
    match = re.search(r'op_name="([^"]*)"', line)
    name = match.group(1) if match else ""
    if "transpose(" in name:  # JAX names the ops of a VJP's backward pass transpose(...)
        return "backward"
    return "forward" if "jvp(" in name else "no-grad"


def classify_hlo(hlo_text: str) -> dict[str, HloOp]:
    """Every instruction of a compiled module, by name. A fusion takes the most telling category of
    what it fuses: matmul over gather/scatter over reduction over copy over elementwise."""
    lines: dict[str, tuple[str, str, str]] = {}  # name -> (opcode, line, computation it belongs to)
    computations: dict[str, list[str]] = {}
    current = ""
    for line in hlo_text.splitlines():
        head = _COMPUTATION.match(line)
        if head:
            current = head.group(1)
            computations[current] = []
            continue
        match = _INSTRUCTION.match(line)
        if not match:
            continue
        opcode = _OPCODE.search(" " + match.group(2))
        lines[match.group(1)] = (opcode.group(1) if opcode else "", line, current)
        computations.setdefault(current, []).append(match.group(1))

    memo: dict[str, str] = {}

    def fused_category(computation: str) -> str:
        if computation not in memo:
            memo[computation] = "elementwise"  # guards against cycles while recursing
            found = {category_of(name) for name in computations.get(computation, [])}
            order = [c for c in CATEGORIES if c in found]
            memo[computation] = order[0] if order else "elementwise"
        return memo[computation]

    def category_of(name: str) -> str:
        opcode, line, _ = lines[name]
        called = re.findall(r"calls=%?([\w.\-]+)", line) if opcode == "fusion" else []
        return _category(opcode, line, [fused_category(c) for c in called])

    return {name: HloOp(category_of(name), _phase(line)) for name, (_, line, _) in lines.items()}


def trace_events(trace_dir: Path, module: str) -> list[tuple[str, float]]:
    """(op name, seconds) of every op event of `module` in a perfetto trace. Device events (GPU
    kernels) are preferred where the trace has them: the host's launch events would count an op twice.
    An event names its HLO op in its args where the profiler records it, else by its own name."""
    path = next(trace_dir.rglob("perfetto_trace.json.gz"), None)
    if path is None:
        raise FileNotFoundError(f"no perfetto_trace.json.gz under {trace_dir}")
    events = json.loads(gzip.decompress(path.read_bytes()))["traceEvents"]
    processes = {e["pid"]: e["args"]["name"] for e in events if e.get("name") == "process_name"}
    timed = [
        e for e in events if e.get("ph") == "X" and module in e.get("args", {}).get("hlo_module", module)
    ]
    on_device = [e for e in timed if processes.get(e["pid"], "").startswith("/device:")]
    picked = on_device or [e for e in timed if "hlo_op" in e.get("args", {})]
    return [(e.get("args", {}).get("hlo_op", e["name"]), e["dur"] / 1e6) for e in picked]


@dataclass
class ChunkProfile:
    updates: int  # per seed
    seeds: int
    wall_s: float  # the traced chunk, end to end
    op_s: dict[tuple[str, str], float]  # (category, phase) -> seconds summed over op events
    op_count: int  # executed ops (kernel launches on a GPU), containers left out
    top: list[tuple[str, HloOp, float]]  # the costliest ops: (name, classification, seconds)
    unattributed_s: float = 0.0  # traced time of events that name no op of the program

    @property
    def total_op_s(self) -> float:
        return sum(self.op_s.values())

    def share(self, category: str | None = None, phase: str | None = None) -> float:
        picked = sum(
            s for (c, p), s in self.op_s.items() if category in (None, c) and phase in (None, p)
        )  # fmt: skip
        return picked / self.total_op_s if self.total_op_s else 0.0


def profile_chunk(
    config: AgentConfig, data: DeviceData, seeds: int, obs_dim: int, action_dim: int, length: int
) -> ChunkProfile:
    """Trace one `length`-update chunk of `seeds` vmapped seeds (after an untraced warm-up run)."""
    states = initial_states(config, range(seeds), obs_dim, action_dim)
    chunk = run_chunk.lower(states, data, config, length).compile()  # one compile: run and classified
    ops = classify_hlo(chunk.as_text())
    states, metrics = chunk(states, data)
    jax.block_until_ready(metrics)
    with tempfile.TemporaryDirectory() as trace_dir:
        with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
            tic = time.perf_counter()
            jax.block_until_ready(chunk(states, data))
            wall = time.perf_counter() - tic
        events = trace_events(Path(trace_dir), "run_chunk")
    return summarize(events, ops, length, seeds, wall)


def summarize(
    events: list[tuple[str, float]], ops: dict[str, HloOp], updates: int, seeds: int, wall_s: float
) -> ChunkProfile:
    """Op time by (category, pass) from traced (op name, seconds) events of a chunk's program."""
    kernel_names = {name.replace(".", "_"): name for name in ops}  # GPU kernels: fusion.3 -> fusion_3
    op_s: Counter = Counter()
    per_op: Counter = Counter()
    count, unattributed = 0, 0.0
    for event, seconds in events:
        name = event if event in ops else kernel_names.get(event, event)
        op = ops.get(name)
        if op is None:
            unattributed += seconds
            continue
        if op.category == "container":
            continue
        op_s[(op.category, op.phase)] += seconds
        per_op[name] += seconds
        count += 1
    top = [(name, ops[name], s) for name, s in per_op.most_common(5)]
    return ChunkProfile(updates, seeds, wall_s, dict(op_s), count, top, unattributed)


def format_profile(label: str, p: ChunkProfile) -> list[str]:
    """Markdown table rows: where the op time goes, by category and by pass."""
    by_category = ", ".join(f"{c} {p.share(category=c):.0%}" for c in CATEGORIES)
    by_phase = ", ".join(f"{ph} {p.share(phase=ph):.0%}" for ph in PASSES)
    top = "; ".join(f"{name} ({op.category}, {op.phase}) {s / p.total_op_s:.0%}" for name, op, s in p.top)
    missing = p.unattributed_s / (p.unattributed_s + p.total_op_s)
    if missing > 0.005:  # e.g. library kernels the trace does not tie to an HLO op
        top += f"; {missing:.0%} of traced op time is not attributed to an op of the program"
    return [
        f"| {label} | {p.wall_s / p.updates * 1e3:.2f} ms/update ({p.seeds} seed(s)); "
        f"{p.op_count / p.updates:.0f} ops/update; op time by kind: {by_category}; "
        f"by pass: {by_phase}; costliest ops: {top} |"
    ]

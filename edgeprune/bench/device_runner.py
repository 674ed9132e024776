#!/usr/bin/env python3
"""Device-side benchmark runner: time one model artifact and print one JSON object.

SELF-CONTAINED on purpose: standard library + numpy + whichever runtime is importable. It must not import
edgeprune, because it is copied to a device (e.g. a Raspberry Pi over SSH) and run there on its own.

    python device_runner.py ARTIFACT --threads N --warmup N --runs N [--warmup-seconds S] [--min-seconds S]
                                     [--cpus 0,1] [--inputs FILE.npy]
    python device_runner.py ARTIFACT... --cycle-seconds S [--chunk N] [--min-chunks N] [--threads N] [--cpus]

Runtime by suffix: ``.onnx`` -> onnxruntime; ``.tflite`` -> ai_edge_litert (or tflite_runtime).
Measured separately: start-up (session/interpreter creation + allocation), first inference, warm-up
(count only), then steady-state samples, one ``time.perf_counter_ns`` pair around each single inference.
On error prints ``{"error": "one line"}`` and exits 2.

Also recorded: ``device`` (machine facts before the run) and ``device_after`` (the same facts right after the
timed loop: temperature, clock, throttled flags), and ``rapl``: whole-package energy from Linux powercap
(``/sys/class/powercap/intel-rapl:N``, also used by AMD on recent kernels) read right before and right after
the timed loop, plus a 0.2 s idle baseline before the model is loaded; or ``{"unavailable": "reason"}``.
"""
from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time

EXIT_ERROR = 2


class RunnerError(Exception):
    """A one-line, user-facing failure (missing runtime, unreadable model, bad inputs)."""


# ----------------------------------------------------------------------------------------------------
# Facts about the machine
# ----------------------------------------------------------------------------------------------------

def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read().strip()
    except OSError:
        return None


def cpu_model() -> str:
    """CPU model from /proc/cpuinfo ("model name" on x86, "Model" on a Raspberry Pi), else platform."""
    text = _read_text("/proc/cpuinfo")
    if text:
        fields: dict[str, str] = {}
        for line in text.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields.setdefault(key.strip(), value.strip())
        for key in ("model name", "Model", "Hardware", "cpu model", "Processor"):
            if fields.get(key):
                return fields[key]
    return platform.processor() or platform.machine() or "unknown"


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB.

    Linux: VmHWM from /proc/self/status, which belongs to this program's own address space. ru_maxrss is
    not used there because the kernel carries the parent's peak across fork+exec (a runner started from a
    Python process holding torch would report the parent's 800 MB). Elsewhere ru_maxrss (KB, bytes on macOS).
    """
    import resource

    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def device_facts() -> dict:
    facts: dict = {
        "hostname": socket.gethostname(),
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    base = "/sys/devices/system/cpu/cpu0/cpufreq/"
    governor = _read_text(base + "scaling_governor")
    if governor is not None:
        facts["cpufreq_governor"] = governor
    cur = _read_text(base + "scaling_cur_freq")
    if cur is not None and cur.isdigit():
        facts["cpufreq_cur_mhz"] = int(cur) / 1000.0
    temp = _read_text("/sys/class/thermal/thermal_zone0/temp")
    if temp is not None:
        try:
            facts["temperature_c"] = int(temp) / 1000.0
        except ValueError:
            pass
    vcgencmd = shutil.which("vcgencmd")
    if vcgencmd:
        try:
            proc = subprocess.run([vcgencmd, "get_throttled"], capture_output=True, text=True, timeout=2)
            facts["throttled"] = (proc.stdout or proc.stderr).strip()
        except (OSError, subprocess.SubprocessError) as exc:
            facts["throttled"] = f"not read: {exc.__class__.__name__}"
    return facts


def _dist_version(*names: str) -> str:
    from importlib import metadata

    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


# ----------------------------------------------------------------------------------------------------
# Energy: RAPL package counters (Linux powercap), read around the timed loop when readable
# ----------------------------------------------------------------------------------------------------

RAPL_ROOT = "/sys/class/powercap"
RAPL_IDLE_SECONDS = 0.2


def rapl_delta_uj(before: int, after: int, max_range_uj: int) -> int | None:
    """Energy (uJ) between two reads of one counter, allowing one wrap-around at max_energy_range_uj.

    The counter restarts from 0 after max_energy_range_uj, so a smaller second read means it wrapped:
    (max - before) + after. None when it went backwards and the range is unknown (0).
    """
    if after >= before:
        return after - before
    if max_range_uj <= 0:
        return None
    return after - before + max_range_uj


def rapl_zones(root: str = RAPL_ROOT) -> tuple[list[dict], str | None]:
    """Readable package-level RAPL zones under root: ([{name, zone, path, max_range_uj}], None) or ([], reason).

    Only top-level ``intel-rapl:N`` zones named ``package-*`` are used: their ``intel-rapl:N:M`` sub-zones
    (core, uncore, dram) are parts of the package, and ``psys`` covers the whole platform (double counting).
    """
    if not os.path.isdir(root):
        return [], f"{root} does not exist (no powercap driver here; virtual machines usually expose none)"
    try:
        entries = sorted(os.listdir(root))
    except OSError as exc:
        return [], f"cannot list {root}: {_one_line(exc)}"
    zones: list[dict] = []
    unreadable = None
    for entry in entries:
        if not entry.startswith("intel-rapl:") or entry.count(":") != 1:
            continue
        path = os.path.join(root, entry)
        name = _read_text(os.path.join(path, "name")) or entry
        if not name.startswith("package"):
            continue
        energy_path = os.path.join(path, "energy_uj")
        try:
            with open(energy_path, encoding="ascii") as fh:
                int(fh.read().strip())
        except (OSError, ValueError) as exc:
            unreadable = (f"{energy_path} is not readable ({exc.__class__.__name__}); it is root-only on "
                          "kernels with the 2020 PLATYPUS fix (CVE-2020-8694)")
            continue
        max_text = _read_text(os.path.join(path, "max_energy_range_uj")) or ""
        zones.append({"name": name, "zone": entry, "path": energy_path,
                      "max_range_uj": int(max_text) if max_text.isdigit() else 0})
    if zones:
        return zones, None
    return [], unreadable or f"no readable intel-rapl package zone under {root}"


def rapl_read(zones: list[dict]) -> list[int] | None:
    """energy_uj of each zone now, or None if any read fails."""
    values = []
    for zone in zones:
        text = _read_text(zone["path"])
        if text is None or not text.isdigit():
            return None
        values.append(int(text))
    return values


def _rapl_deltas(zones: list[dict], before: list[int] | None, after: list[int] | None) -> list[int] | None:
    if before is None or after is None:
        return None
    deltas = [rapl_delta_uj(b, a, z["max_range_uj"]) for z, b, a in zip(zones, before, after)]
    return None if any(d is None for d in deltas) else deltas


def rapl_idle(zones: list[dict], seconds: float = RAPL_IDLE_SECONDS) -> tuple[int, float] | None:
    """(package energy uJ, seconds) while this process sleeps: the baseline of everything else running."""
    before, t0 = rapl_read(zones), time.perf_counter()
    time.sleep(seconds)
    after, t1 = rapl_read(zones), time.perf_counter()
    deltas = _rapl_deltas(zones, before, after)
    return None if deltas is None else (sum(deltas), t1 - t0)


def rapl_measurement(zones: list[dict], before: list[int] | None, after: list[int] | None, seconds: float,
                     runs: int, idle: tuple[int, float] | None = None) -> dict:
    """The runner's ``rapl`` entry: package energy over the timed loop (and the idle baseline if read)."""
    deltas = _rapl_deltas(zones, before, after)
    if deltas is None:
        return {"unavailable": "a RAPL counter could not be read during the run, or went backwards "
                               "with no max_energy_range_uj"}
    out: dict = {"energy_uj": sum(deltas), "seconds": round(seconds, 6), "runs": runs,
                 "domains": [{"name": z["name"], "zone": z["zone"], "energy_uj": d} for z, d in zip(zones, deltas)]}
    if idle is not None:
        out["idle_energy_uj"], out["idle_seconds"] = idle[0], round(idle[1], 6)
    return out


# ----------------------------------------------------------------------------------------------------
# Runtimes: each returns a Loaded with run_once(feed) and feeds prepared outside the timed region
# ----------------------------------------------------------------------------------------------------

class Loaded:
    """A ready model: ``run_once(feed)`` is exactly the work that one timed sample covers."""

    def __init__(self, runtime: str, version: str, run_once, make_feed, input_specs: list[dict], handle,
                 output_quantization: tuple = (0.0, 0)):
        self.runtime = runtime
        self.version = version
        self.run_once = run_once
        self.make_feed = make_feed  # (sample float32 C,H,W or None, rng) -> feed
        self.input_specs = input_specs
        self.handle = handle  # the session / interpreter (kept alive; used by measure_overhead)
        self.output_quantization = output_quantization  # (scale, zero point) of an int8 first output; scale 0: float


def import_runtime(suffix: str):
    """Import the runtime module for an artifact suffix; RunnerError naming the pip command if missing."""
    if suffix == ".onnx":
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise RunnerError(f"onnxruntime is not importable ({exc}); install it with: pip install onnxruntime")
        return "onnxruntime", ort.__version__, ort
    if suffix == ".tflite":
        try:
            from ai_edge_litert import interpreter as tfl

            return "ai-edge-litert", _dist_version("ai-edge-litert"), tfl
        except ImportError:
            pass
        try:
            from tflite_runtime import interpreter as tfl
        except ImportError as exc:
            raise RunnerError(
                f"no TFLite runtime is importable ({exc}); install one with: "
                "pip install ai-edge-litert (or pip install tflite-runtime)"
            )
        return "tflite-runtime", _dist_version("tflite-runtime", "tflite_runtime"), tfl
    raise RunnerError(f"unknown artifact type {suffix!r}: expected .onnx or .tflite")


_ORT_DTYPES = {
    "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
    "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(int16)": "int16", "tensor(uint16)": "uint16",
    "tensor(int32)": "int32", "tensor(int64)": "int64", "tensor(bool)": "bool",
}


def _fit_sample(sample, shape: tuple):
    """Give one float32 C,H,W sample the tensor's shape: add batch, transpose NCHW->NHWC if needed."""
    import numpy as np

    x = np.asarray(sample, dtype=np.float32)
    target = tuple(int(d) for d in shape)
    if x.ndim == len(target) - 1:
        x = x[None]
    if x.shape == target:
        return x
    if x.ndim == 4 and len(target) == 4 and (x.shape[0], x.shape[2], x.shape[3], x.shape[1]) == target:
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    if x.size == int(np.prod(target)):
        return x.reshape(target)
    raise RunnerError(f"input sample of shape {tuple(sample.shape)} does not fit the model input {target}")


def _to_dtype(x, dtype, quant: tuple[float, int] | None):
    """Quantize float32 to an int8/uint8 input with (scale, zero point); else cast."""
    import numpy as np

    dtype = np.dtype(dtype)
    if dtype.kind in "iu" and quant is not None and quant[0]:
        scale, zero = quant
        info = np.iinfo(dtype)
        q = np.round(x / scale + zero)
        return np.clip(q, info.min, info.max).astype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.clip(np.round(x), info.min, info.max).astype(dtype)
    return x.astype(dtype)


def load_onnx(path: str, threads: int) -> Loaded:
    name, version, ort = import_runtime(".onnx")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    try:
        sess = ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception types
        raise RunnerError(f"onnxruntime cannot load {path}: {_one_line(exc)}")
    specs = []
    for inp in sess.get_inputs():
        shape = tuple(d if isinstance(d, int) and d > 0 else 1 for d in inp.shape)
        specs.append({"name": inp.name, "shape": list(shape), "dtype": _ORT_DTYPES.get(inp.type, "float32")})

    def make_feed(sample, rng):
        import numpy as np

        feed = {}
        for i, spec in enumerate(specs):
            if i == 0 and sample is not None:
                x = _fit_sample(sample, tuple(spec["shape"]))
            else:
                x = rng.standard_normal(spec["shape"]).astype(np.float32)
            feed[spec["name"]] = _to_dtype(x, spec["dtype"], None)
        return feed

    run_once = functools.partial(sess.run, None)
    return Loaded(name, version, run_once, make_feed, specs, sess)


def load_tflite(path: str, threads: int) -> Loaded:
    name, version, tfl = import_runtime(".tflite")
    try:
        interp = tfl.Interpreter(model_path=path, num_threads=threads)
        interp.allocate_tensors()
    except Exception as exc:  # ValueError / RuntimeError from the interpreter
        raise RunnerError(f"{name} cannot load {path}: {_one_line(exc)}")
    in_details = interp.get_input_details()
    out_details = interp.get_output_details()
    out_idx = [d["index"] for d in out_details]
    out_quant = tuple(out_details[0].get("quantization") or (0.0, 0)) if out_details else (0.0, 0)
    specs = []
    for d in in_details:
        quant = d.get("quantization") or (0.0, 0)
        specs.append({
            "name": d["name"], "index": d["index"], "shape": [int(s) for s in d["shape"]],
            "dtype": str(d["dtype"].__name__ if hasattr(d["dtype"], "__name__") else d["dtype"]),
            "quantization": [float(quant[0]), int(quant[1])],
        })

    def make_feed(sample, rng):
        import numpy as np

        feed = []
        for i, spec in enumerate(specs):
            if i == 0 and sample is not None:
                x = _fit_sample(sample, tuple(spec["shape"]))
            else:
                x = rng.standard_normal(spec["shape"]).astype(np.float32)
            feed.append((spec["index"], _to_dtype(x, spec["dtype"], tuple(spec["quantization"]))))
        return feed

    set_tensor, invoke, get_tensor = interp.set_tensor, interp.invoke, interp.get_tensor

    def run_once(feed):
        for index, value in feed:
            set_tensor(index, value)
        invoke()
        return [get_tensor(i) for i in out_idx]

    return Loaded(name, version, run_once, make_feed, specs, interp,
                  (float(out_quant[0]), int(out_quant[1])))


# The runner registry: artifact suffix -> loader returning a Loaded. A new runtime is one loader + one entry.
LOADERS = {".onnx": load_onnx, ".tflite": load_tflite}


def load(path: str, threads: int) -> Loaded:
    suffix = os.path.splitext(path)[1].lower()
    loader = LOADERS.get(suffix)
    if loader is None:
        raise RunnerError(f"unknown artifact type {suffix!r} for {path}: expected {' or '.join(LOADERS)}")
    return loader(path, threads)


# ----------------------------------------------------------------------------------------------------
# Measurement
# ----------------------------------------------------------------------------------------------------

def timed_loop(run_once, feeds: list, runs: int, min_seconds: float = 0.0) -> list[float]:
    """One perf_counter_ns pair around each single inference, until `runs` samples AND `min_seconds`.

    Feeds are cycled in order. Kept lean on purpose (local names, no branches inside the timed pair):
    the loop's own cost per sample is what `measure_overhead` reports.
    """
    clock = time.perf_counter_ns
    ns: list[int] = []
    append = ns.append
    min_ns = int(min_seconds * 1e9)
    start = clock()
    count = runs
    order = feeds
    while count > 0:
        for feed in itertools.islice(itertools.cycle(order), count):
            t0 = clock()
            run_once(feed)
            t1 = clock()
            append(t1 - t0)
        remaining = min_ns - (clock() - start)
        if remaining <= 0:
            break
        # estimate the samples still needed from the mean so far (at least one more)
        mean = max(1, (clock() - start) // len(ns))
        count = max(1, int(remaining // mean) // 2 + 1)  # halve: converges without overshoot
        shift = len(ns) % len(feeds)
        order = feeds[shift:] + feeds[:shift]  # carry on the cycle where it stopped
    return [x / 1e6 for x in ns]


def load_inputs(path: str):
    import numpy as np

    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise RunnerError(f"cannot read inputs {path}: {_one_line(exc)}")
    if arr.ndim < 2 or arr.shape[0] == 0:
        raise RunnerError(f"inputs {path} must be N x C x H x W float32 samples, got shape {arr.shape}")
    return arr.astype(np.float32, copy=False)


def pin_cpus(cpus: list[int] | None) -> list[int] | None:
    """Restrict this process (and the runtime's threads, created later) to `cpus`; None leaves it alone."""
    if cpus is None:
        return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    if not hasattr(os, "sched_setaffinity"):
        raise RunnerError("--cpus needs Linux (os.sched_setaffinity)")
    try:
        os.sched_setaffinity(0, cpus)
    except (OSError, ValueError) as exc:
        raise RunnerError(f"cannot pin to CPUs {cpus}: {_one_line(exc)}")
    return sorted(os.sched_getaffinity(0))


def benchmark(artifact: str, *, threads: int, warmup: int, runs: int, min_seconds: float = 0.0,
              inputs_path: str | None = None, seed: int = 0, warmup_seconds: float = 0.0,
              cpus: list[int] | None = None) -> dict:
    import numpy as np

    if not os.path.isfile(artifact):
        raise RunnerError(f"artifact not found: {artifact}")
    try:
        size_bytes = os.path.getsize(artifact)
        with open(artifact, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise RunnerError(f"cannot read artifact {artifact}: {_one_line(exc)}")
    samples_in = load_inputs(inputs_path) if inputs_path else None
    affinity = pin_cpus(cpus)
    import_runtime(os.path.splitext(artifact)[1].lower())  # import before the RSS baseline
    device_before = device_facts()
    zones, rapl_reason = rapl_zones()
    idle = rapl_idle(zones) if zones else None

    rss_before = peak_rss_mb()
    t0 = time.perf_counter_ns()
    model = load(artifact, threads)
    startup_ms = (time.perf_counter_ns() - t0) / 1e6

    rng = np.random.default_rng(seed)
    if samples_in is not None:
        feeds = [model.make_feed(s, rng) for s in samples_in]
    else:
        feeds = [model.make_feed(None, rng)]

    try:
        t0 = time.perf_counter_ns()
        model.run_once(feeds[0])
        first_ms = (time.perf_counter_ns() - t0) / 1e6
        warmup_runs, warmup_start = 0, time.perf_counter()
        while warmup_runs < warmup or time.perf_counter() - warmup_start < warmup_seconds:
            model.run_once(feeds[warmup_runs % len(feeds)])
            warmup_runs += 1
        rapl_before = rapl_read(zones) if zones else None
        t_start = time.perf_counter()
        samples = timed_loop(model.run_once, feeds, runs, min_seconds)
        timed_seconds = time.perf_counter() - t_start
        rapl_after = rapl_read(zones) if zones else None
        device_after = device_facts()
    except RunnerError:
        raise
    except Exception as exc:
        raise RunnerError(f"{model.runtime} failed to run {artifact}: {_one_line(exc)}")
    rss_after = peak_rss_mb()

    return {
        "artifact": artifact,
        "size_bytes": size_bytes,
        "runtime": model.runtime,
        "runtime_version": model.version,
        "threads": threads,
        "warmup": warmup,
        "warmup_seconds": warmup_seconds,
        "warmup_runs": warmup_runs,
        "cpus": affinity,
        "runs": len(samples),
        "min_seconds": min_seconds,
        "timed_seconds": round(timed_seconds, 6),
        "inputs": f"{len(samples_in)} samples from {inputs_path}" if samples_in is not None else "random normal",
        "input_specs": model.input_specs,
        "startup_ms": startup_ms,
        "first_ms": first_ms,
        "samples_ms": samples,
        "peak_rss_mb": round(rss_after, 3),
        "rss_before_mb": round(rss_before, 3),
        "rss_growth_mb": round(rss_after - rss_before, 3),
        "device": device_before,
        "device_after": device_after,
        "rapl": (rapl_measurement(zones, rapl_before, rapl_after, timed_seconds, len(samples), idle)
                 if zones else {"unavailable": rapl_reason}),
    }


def cycle(artifacts: list[str], *, threads: int, warmup: int, chunk: int, seconds: float, min_chunks: int,
          seed: int = 0, cpus: list[int] | None = None) -> dict:
    """Time many artifacts in one process, in turns, for at least `seconds` and `min_chunks` turns each.

    Each turn runs an artifact twice untimed (its caches were evicted by the others), then `chunk` timed
    inferences, and keeps their median. On a shared machine speed drifts in phases of seconds that hit every
    artifact alike; taking turns for a minute spreads all artifacts over the same phases, so their medians of
    turn medians compare (and repeat across runs within a few %), where one process per artifact does not.
    """
    import numpy as np

    affinity = pin_cpus(cpus)
    rng = np.random.default_rng(seed)
    models = []
    for artifact in artifacts:
        if not os.path.isfile(artifact):
            raise RunnerError(f"artifact not found: {artifact}")
        model = load(artifact, threads)
        feed = model.make_feed(None, rng)
        models.append((artifact, model, feed, []))
    clock = time.perf_counter_ns
    try:
        for _, model, feed, _ in models:
            for _ in range(warmup):
                model.run_once(feed)
        start = time.perf_counter()
        turns = 0
        while turns < min_chunks or time.perf_counter() - start < seconds:
            for _, model, feed, medians in models:
                model.run_once(feed)
                model.run_once(feed)
                ns = []
                for _ in range(chunk):
                    t0 = clock()
                    model.run_once(feed)
                    ns.append(clock() - t0)
                medians.append(sorted(ns)[len(ns) // 2] / 1e6)
            turns += 1
    except Exception as exc:
        raise RunnerError(f"cycling {len(artifacts)} artifacts failed: {_one_line(exc)}")
    return {"cycled": [{"artifact": a, "runtime": m.runtime, "runtime_version": m.version, "chunk_p50_ms": medians}
                       for a, m, _, medians in models],
            "threads": threads, "warmup": warmup, "chunk": chunk, "turns": turns, "cpus": affinity,
            "timed_seconds": round(time.perf_counter() - start, 3), "pid": os.getpid(), "device": device_facts()}


def compute_outputs(artifact: str, inputs_path: str, outputs_path: str) -> dict:
    """Run every input once and save the first output (dequantized to float32) as N x ... .npy.

    Used to compare one artifact's results across machines (e.g. x86 vs aarch64 under qemu): same inputs,
    same feeding code, only the runtime's platform differs.
    """
    import numpy as np

    if not os.path.isfile(artifact):
        raise RunnerError(f"artifact not found: {artifact}")
    samples = load_inputs(inputs_path)
    model = load(artifact, 1)
    rng = np.random.default_rng(0)
    try:
        results = [model.run_once(model.make_feed(s, rng))[0] for s in samples]
    except Exception as exc:
        raise RunnerError(f"{model.runtime} failed to run {artifact}: {_one_line(exc)}")
    scale, zero = model.output_quantization
    out = np.stack([np.asarray(r) for r in results]).astype(np.float32)
    if scale:
        out = (out - zero) * scale
    np.save(outputs_path, out.reshape(len(samples), -1), allow_pickle=False)
    return {"artifact": artifact, "runtime": model.runtime, "runtime_version": model.version,
            "machine": platform.machine(), "samples": len(samples), "outputs": outputs_path}


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    return text[:400]


def parse_cpus(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        cpus = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        cpus = []
    if not cpus or min(cpus) < 0:
        raise RunnerError(f"--cpus must be comma-separated CPU ids like 0,1, got {text!r}")
    return cpus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark one .onnx or .tflite artifact (or several, taking "
                                                 "turns: --cycle-seconds); print JSON.")
    parser.add_argument("artifact", nargs="+")
    parser.add_argument("--cycle-seconds", type=float, default=0.0,
                        help="time all artifacts in this one process, in turns of --chunk runs, for this long")
    parser.add_argument("--chunk", type=int, default=15, help="timed runs per turn (--cycle-seconds)")
    parser.add_argument("--min-chunks", type=int, default=30, help="turns per artifact at least (--cycle-seconds)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--min-seconds", type=float, default=0.0)
    parser.add_argument("--warmup-seconds", type=float, default=0.0)
    parser.add_argument("--cpus", default=None, help="comma-separated CPU ids to pin to, e.g. 2,3")
    parser.add_argument("--inputs", default=None, help="float32 N x C x H x W .npy of real samples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--outputs", default=None,
                        help="instead of timing: run each --inputs sample once and save the outputs to this .npy")
    args = parser.parse_args(argv)
    try:
        if args.cycle_seconds > 0:
            if args.chunk < 1 or args.min_chunks < 1 or args.warmup < 0:
                raise RunnerError("need --chunk >= 1, --min-chunks >= 1, --warmup >= 0")
            result = cycle(args.artifact, threads=args.threads, warmup=args.warmup, chunk=args.chunk,
                           seconds=args.cycle_seconds, min_chunks=args.min_chunks, seed=args.seed,
                           cpus=parse_cpus(args.cpus))
            sys.stdout.write(json.dumps(result) + "\n")
            return 0
        if len(args.artifact) > 1:
            raise RunnerError("several artifacts are timed together only with --cycle-seconds")
        args.artifact = args.artifact[0]
        if args.outputs:
            if not args.inputs:
                raise RunnerError("--outputs needs --inputs")
            sys.stdout.write(json.dumps(compute_outputs(args.artifact, args.inputs, args.outputs)) + "\n")
            return 0
        if args.threads < 1 or args.runs < 1 or args.warmup < 0 or args.min_seconds < 0 or args.warmup_seconds < 0:
            raise RunnerError("need --threads >= 1, --runs >= 1, --warmup >= 0, --min-seconds >= 0, "
                              "--warmup-seconds >= 0")
        result = benchmark(args.artifact, threads=args.threads, warmup=args.warmup, runs=args.runs,
                           min_seconds=args.min_seconds, inputs_path=args.inputs, seed=args.seed,
                           warmup_seconds=args.warmup_seconds, cpus=parse_cpus(args.cpus))
    except RunnerError as exc:
        print(json.dumps({"error": str(exc)}))
        return EXIT_ERROR
    except ImportError as exc:  # numpy itself missing
        print(json.dumps({"error": f"{_one_line(exc)}; install it with: pip install numpy"}))
        return EXIT_ERROR
    except Exception as exc:  # last resort: still one JSON line, never a traceback on stdout
        print(json.dumps({"error": f"{exc.__class__.__name__}: {_one_line(exc)}"}))
        return EXIT_ERROR
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

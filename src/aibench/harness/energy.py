"""Energy meters. Each reading names its source; where no source exists the result is empty, never estimated.

Sources: Intel/AMD RAPL counters under /sys/class/powercap (package domains, microjoules, wrapping at
max_energy_range_uj) and NVIDIA NVML's total energy counter per GPU (millijoules since driver load).

An EnergyMeter samples its counters on a background thread while a window is open, often enough that every
RAPL wrap-around is seen (the longest safe interval is the counter's range over the domain's plausible
power), and sums the positive per-sample deltas. NVML is read only for the GPUs the run uses. An optional
idle baseline (`measure_idle`) gives the idle power and the energy above idle over a window. A reading
carries total joules, duration and mean power; dividing by samples or queries is left to the caller
(`per_sample`, `per_query`), so the result is named for what it was divided by.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol

POWERCAP_ROOT = Path("/sys/class/powercap")

# Upper bound of a package's power when the zone does not state one (constraint_*_max_power_uw): generous on
# purpose, since a higher bound only makes the sampling interval shorter.
PLAUSIBLE_RAPL_WATTS = 1000.0
# Sample at this fraction of the longest safe interval (a missed wrap is undetectable, so keep a margin).
SAFETY_FRACTION = 0.25
MIN_INTERVAL_S = 0.001


class EnergyCounter(Protocol):
    name: str

    def read_joules(self) -> dict[str, float]:
        """Cumulative energy per domain in joules (monotonic apart from hardware wrap-around).

        A domain that cannot be read any more is left out of the result."""

    def wrap_joules(self, domain: str) -> float | None:
        """The counter's range in joules, for wrap-around correction (None: does not wrap)."""


class RaplCounter:
    """Top-level RAPL package domains (intel-rapl:N / amd-rapl ...); sub-domains are already inside them."""

    name = "rapl"

    def __init__(self, root: Path | None = None) -> None:
        root = POWERCAP_ROOT if root is None else root
        self.domains: dict[str, Path] = {}
        for zone in sorted(root.glob("*-rapl:*")):
            if zone.name.count(":") != 1:  # intel-rapl:0:0 is a sub-zone of intel-rapl:0
                continue
            if (zone / "energy_uj").is_file() and _readable_int(zone / "energy_uj") is not None:
                label = (zone / "name").read_text().strip() if (zone / "name").is_file() else zone.name
                self.domains[f"{zone.name}/{label}"] = zone

    def available(self) -> bool:
        return bool(self.domains)

    def read_joules(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for domain, zone in self.domains.items():
            value = _readable_int(zone / "energy_uj")
            if value is not None:  # a zone that vanished (or became unreadable) is simply not in this sample
                out[domain] = value / 1e6
        return out

    def wrap_joules(self, domain: str) -> float | None:
        value = _readable_int(self.domains[domain] / "max_energy_range_uj")
        return value / 1e6 if value else None

    def max_watts(self, domain: str) -> float:
        """The domain's plausible peak power: the largest stated constraint, else PLAUSIBLE_RAPL_WATTS."""
        stated = [_readable_int(p) for p in sorted(self.domains[domain].glob("constraint_*_max_power_uw"))]
        stated_w = [v / 1e6 for v in stated if v]
        return max(stated_w) if stated_w else PLAUSIBLE_RAPL_WATTS


def cuda_to_nvml(cuda_index: int, environ: dict[str, str] | None = None) -> tuple[str, Any]:
    """How the CUDA device `cuda_index` of this process is found in NVML: ("index", n) or ("uuid", "GPU-...").

    CUDA_VISIBLE_DEVICES, where set, renumbers the devices: entry `cuda_index` of it names the GPU, by NVML
    index or by UUID. An integer entry equals the NVML index when CUDA_DEVICE_ORDER=PCI_BUS_ID (NVML's order).
    """
    env = os.environ if environ is None else environ
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is None or visible.strip() == "":
        if visible is not None:  # set but empty: CUDA sees no device at all
            raise LookupError("CUDA_VISIBLE_DEVICES is empty: no CUDA device is visible")
        return ("index", cuda_index)
    entries = [e.strip() for e in visible.split(",") if e.strip()]
    if cuda_index >= len(entries):
        raise LookupError(f"cuda:{cuda_index} is not among CUDA_VISIBLE_DEVICES={visible!r}")
    entry = entries[cuda_index]
    if entry.lstrip("-").isdigit():
        return ("index", int(entry))
    if entry.startswith("MIG-"):
        raise LookupError(f"{entry} is a MIG instance: NVML has no energy counter per instance")
    return ("uuid", entry if entry.startswith("GPU-") else f"GPU-{entry}")


def cuda_indices(device: Any) -> list[int] | None:
    """The CUDA device indices a run uses: [] for a non-CUDA device, None when not stated (device None)."""
    if device is None:
        return None
    if isinstance(device, int):
        return [device]
    if isinstance(device, (list, tuple, set)):
        return sorted({i for d in device for i in (cuda_indices(d) or [])})
    if isinstance(device, str):
        kind, _, index = device.partition(":")
        if kind != "cuda":
            return []
        return [int(index)] if index else [_current_cuda_device()]
    kind, index = getattr(device, "type", None), getattr(device, "index", None)  # torch.device
    if kind != "cuda":
        return []
    return [index if index is not None else _current_cuda_device()]


def _current_cuda_device() -> int:
    try:
        import torch

        return torch.cuda.current_device() if torch.cuda.is_available() else 0
    except Exception:
        return 0


class NvmlCounter:
    """NVML total energy (Volta and newer), per GPU; only the CUDA devices named in `devices` where given.

    `devices` are CUDA indices of this process (CUDA_VISIBLE_DEVICES honoured); None reads every GPU the
    process can see (all of CUDA_VISIBLE_DEVICES where set, else every GPU on the host). Domains are named
    `gpu<nvml index>` (or by UUID) so that a reading says which physical GPU it measured.
    """

    name = "nvml"

    def __init__(self, nvml: Any = None, devices: Iterable[int] | None = None,
                 environ: dict[str, str] | None = None) -> None:
        self.handles: dict[str, Any] = {}
        self.notes: list[str] = []
        self.nvml = nvml
        env = dict(os.environ) if environ is None else environ
        try:
            if self.nvml is None:
                import pynvml

                self.nvml = pynvml
            self.nvml.nvmlInit()
            count = self.nvml.nvmlDeviceGetCount()
        except Exception:  # no driver, no GPU: the source is simply absent
            return
        if devices is None:
            visible = env.get("CUDA_VISIBLE_DEVICES")
            n = count if visible is None else len([e for e in visible.split(",") if e.strip()])
            devices = range(n)
        if (count > 1 and env.get("CUDA_DEVICE_ORDER") != "PCI_BUS_ID"
                and any(e.strip().lstrip("-").isdigit() for e in (env.get("CUDA_VISIBLE_DEVICES") or "0").split(","))):
            self.notes.append("CUDA_DEVICE_ORDER is not PCI_BUS_ID: CUDA's numbering may differ from NVML's "
                              "on a host with different GPU models")
        for cuda_index in devices:
            try:
                kind, key = cuda_to_nvml(cuda_index, env)
                if kind == "index":
                    handle, domain = self.nvml.nvmlDeviceGetHandleByIndex(key), f"gpu{key}"
                else:
                    handle, domain = self.nvml.nvmlDeviceGetHandleByUUID(key), key
                self.nvml.nvmlDeviceGetTotalEnergyConsumption(handle)  # raises where unsupported
                self.handles[domain] = handle
            except Exception as err:  # that GPU has no counter (or is not there): it is not measured
                self.notes.append(f"cuda:{cuda_index} not measured: {err}")

    def available(self) -> bool:
        return bool(self.handles)

    def read_joules(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for domain, handle in self.handles.items():
            try:
                out[domain] = self.nvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1e3
            except Exception:  # GPU lost (Xid, reset): left out of this sample
                pass
        return out

    def wrap_joules(self, domain: str) -> float | None:
        return None  # 64-bit millijoules: a decrease is a reset, not a wrap


def _readable_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None  # missing, or root-only (recent kernels restrict energy_uj)


def per_sample(joules: float | None, samples: int | None) -> float | None:
    """Energy per sample processed (None where energy was not measured or no sample was processed)."""
    return joules / samples if joules is not None and samples else None


def per_query(joules: float | None, queries: int | None) -> float | None:
    """Energy per query issued (a LoadGen query may carry several samples)."""
    return joules / queries if joules is not None and queries else None


@dataclass
class EnergyReading:
    joules: float | None  # None when no source measured the whole window
    sources: list[str]  # e.g. ["rapl:intel-rapl:0/package-0", "nvml:gpu0"], or ["none"]
    by_domain: dict[str, float]  # joules per domain measured over the whole window (these make up `joules`)
    duration_s: float | None = None
    mean_watts: float | None = None
    idle_watts: float | None = None  # idle power of the domains in `sources`, from EnergyMeter.measure_idle
    joules_above_idle: float | None = None  # joules - idle_watts * duration_s
    samples: int = 0  # counter reads in the window
    lost: dict[str, float] = field(default_factory=dict)  # domains that vanished mid-window: joules until then
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"energy_j": self.joules, "energy_source": ",".join(self.sources), "energy_by_domain": self.by_domain,
                "energy_duration_s": self.duration_s, "energy_mean_w": self.mean_watts,
                "energy_idle_w": self.idle_watts, "energy_above_idle_j": self.joules_above_idle,
                "energy_samples": self.samples, "energy_lost_domains": self.lost,
                "energy_warnings": self.warnings}


class _Window:
    """Accumulates positive deltas per domain, sample by sample, with wrap correction."""

    def __init__(self, counters: list[Any], safe_s: dict[str, float], clock: Callable[[], float]) -> None:
        self.counters, self.safe_s, self.clock = counters, safe_s, clock
        self.last: dict[str, float] = {}
        self.total: dict[str, float] = {}
        self.lost: dict[str, float] = {}
        self.warnings: list[str] = []
        self.samples = 0
        self.t0 = self.t_last = clock()
        self.lock = threading.Lock()
        self._read(first=True)

    def _read(self, first: bool = False) -> None:
        now = self.clock()
        gap = now - self.t_last
        for counter in self.counters:
            try:
                values = counter.read_joules()
            except Exception:
                values = {}
            for domain, value in values.items():
                key = f"{counter.name}:{domain}"
                if first:
                    self.last[key], self.total[key] = value, 0.0
                    continue
                if key not in self.last:  # lost earlier, or not there at the start: not part of this window
                    continue
                delta = value - self.last[key]
                if delta < 0:
                    wrap = counter.wrap_joules(domain)
                    if not wrap:  # a non-wrapping counter went back: reset, the window is broken for it
                        self._lose(key, f"{key}: counter went back ({self.last[key]:.3f} -> {value:.3f} J)")
                        continue
                    delta += wrap
                safe = self.safe_s.get(key)
                if safe is not None and gap > safe:
                    self.warnings.append(f"{key}: {gap:.3f} s between samples exceeds the {safe:.3f} s in which "
                                         "the counter can wrap; a wrap may be missed")
                self.total[key] += delta
                self.last[key] = value
            if not first:
                prefix = f"{counter.name}:"
                for key in [k for k in self.last if k.startswith(prefix)]:
                    if key[len(prefix):] not in values:
                        self._lose(key, f"{key}: domain disappeared after {now - self.t0:.3f} s")
        self.samples += 1
        self.t_last = now

    def _lose(self, key: str, message: str) -> None:
        self.lost[key] = self.total.pop(key)
        del self.last[key]
        self.warnings.append(message)

    def sample(self) -> None:
        with self.lock:
            self._read()


class EnergyMeter:
    """Measures the energy of a window [start, stop] over every available counter, sampling in the background.

    `device`: the device(s) the run uses (torch.device, "cuda:1", an index or a list of indices); NVML is read
    for those GPUs only, and not at all for a CPU device. None reads every GPU visible to the process.
    `interval_s`: the longest time between samples; shortened to SAFETY_FRACTION of the longest safe interval
    of any wrapping counter.
    """

    def __init__(self, counters: list[EnergyCounter] | None = None, device: Any = None, interval_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 background: bool = True) -> None:
        if counters is None:
            gpus = cuda_indices(device)
            counters = [RaplCounter()]
            if gpus is None or gpus:
                counters.append(NvmlCounter(devices=gpus))
            counters = [c for c in counters if c.available()]
        self.counters = counters
        self.clock, self.sleep, self.background = clock, sleep, background
        self.safe_s = self._safe_intervals()
        longest = min(self.safe_s.values(), default=float("inf"))
        self.interval_s = max(MIN_INTERVAL_S, min(interval_s, SAFETY_FRACTION * longest))
        self.idle_by_domain: dict[str, float] | None = None  # watts per domain
        self._window: _Window | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def source(self) -> str:
        return ",".join(c.name for c in self.counters) or "none"

    def _safe_intervals(self) -> dict[str, float]:
        """Per wrapping domain: the counter's range over its plausible peak power, in seconds."""
        out: dict[str, float] = {}
        for counter in self.counters:
            try:
                domains = list(counter.read_joules())
            except Exception:
                continue
            for domain in domains:
                wrap = counter.wrap_joules(domain)
                if wrap:
                    watts = getattr(counter, "max_watts", lambda d: PLAUSIBLE_RAPL_WATTS)(domain)
                    out[f"{counter.name}:{domain}"] = wrap / watts
        return out

    def start(self) -> None:
        self._halt()
        self._window = _Window(self.counters, self.safe_s, self.clock)
        if self.background and self.counters:
            self._stopping = threading.Event()
            self._thread = threading.Thread(target=self._run, args=(self._window, self._stopping),
                                            name="aibench-energy", daemon=True)
            self._thread.start()

    def _run(self, window: _Window, stopping: threading.Event) -> None:
        while not stopping.wait(self.interval_s):
            window.sample()

    def _halt(self) -> None:
        if self._thread is not None:
            self._stopping.set()
            self._thread.join()
            self._thread = None

    def sample(self) -> None:
        """Takes one sample now (the background thread does this every interval_s)."""
        if self._window is not None:
            self._window.sample()

    def stop(self) -> EnergyReading:
        self._halt()
        window, self._window = self._window, None
        if window is None:
            return EnergyReading(joules=None, sources=["none"], by_domain={})
        window.sample()
        return self._reading(window)

    def measure_idle(self, seconds: float) -> EnergyReading:
        """Measures `seconds` of idle (the caller keeps the machine idle) and keeps its power as the baseline."""
        if self._thread is not None:
            raise RuntimeError("measure_idle during an open window")
        window = _Window(self.counters, self.safe_s, self.clock)
        while (left := seconds - (self.clock() - window.t0)) > 0:
            self.sleep(min(self.interval_s, left))
            window.sample()
        reading = self._reading(window, baseline=False)
        if reading.duration_s and reading.by_domain:
            self.idle_by_domain = {d: j / reading.duration_s for d, j in reading.by_domain.items()}
            reading.idle_watts = sum(self.idle_by_domain.values())
            reading.joules_above_idle = 0.0
        return reading

    def _reading(self, window: _Window, baseline: bool = True) -> EnergyReading:
        duration = window.t_last - window.t0
        by_domain = dict(window.total)
        notes = [n for c in self.counters for n in getattr(c, "notes", [])]  # e.g. a used GPU without a counter
        warnings = list(dict.fromkeys(notes + window.warnings))
        if not by_domain:
            return EnergyReading(joules=None, sources=["none"], by_domain={}, duration_s=duration,
                                 samples=window.samples, lost=dict(window.lost), warnings=warnings)
        joules = sum(by_domain.values())
        reading = EnergyReading(joules=joules, sources=sorted(by_domain), by_domain=by_domain, duration_s=duration,
                                mean_watts=joules / duration if duration > 0 else None, samples=window.samples,
                                lost=dict(window.lost), warnings=warnings)
        if baseline and self.idle_by_domain is not None:
            missing = [d for d in by_domain if d not in self.idle_by_domain]
            if missing:
                reading.warnings.append(f"no idle baseline for {', '.join(missing)}")
            else:
                reading.idle_watts = sum(self.idle_by_domain[d] for d in by_domain)
                reading.joules_above_idle = joules - reading.idle_watts * duration
        return reading

"""Energy meters. Each reading names its source; where no source exists the result is empty, never estimated.

Sources: Intel/AMD RAPL counters under /sys/class/powercap (package domains, microjoules, wrapping at
max_energy_range_uj) and NVIDIA NVML's total energy counter per GPU (millijoules since driver load).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

POWERCAP_ROOT = Path("/sys/class/powercap")


class EnergyCounter(Protocol):
    name: str

    def read_joules(self) -> dict[str, float]:
        """Cumulative energy per domain in joules (monotonic apart from hardware wrap-around)."""

    def wrap_joules(self, domain: str) -> float | None:
        """The counter's range in joules, for wrap-around correction (None: does not wrap)."""


class RaplCounter:
    """Top-level RAPL package domains (intel-rapl:N / amd-rapl ...); sub-domains are already inside them."""

    name = "rapl"

    def __init__(self, root: Path = POWERCAP_ROOT) -> None:
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
        return {d: int((z / "energy_uj").read_text()) / 1e6 for d, z in self.domains.items()}

    def wrap_joules(self, domain: str) -> float | None:
        value = _readable_int(self.domains[domain] / "max_energy_range_uj")
        return value / 1e6 if value else None


class NvmlCounter:
    """NVML total energy (Volta and newer), per GPU index."""

    name = "nvml"

    def __init__(self, nvml: Any = None) -> None:
        self.handles: dict[str, Any] = {}
        self.nvml = nvml
        try:
            if self.nvml is None:
                import pynvml

                self.nvml = pynvml
            self.nvml.nvmlInit()
            for i in range(self.nvml.nvmlDeviceGetCount()):
                handle = self.nvml.nvmlDeviceGetHandleByIndex(i)
                self.nvml.nvmlDeviceGetTotalEnergyConsumption(handle)  # raises where unsupported
                self.handles[f"gpu{i}"] = handle
        except Exception:  # no driver, no GPU, or no energy counter: the source is simply absent
            self.handles = {}

    def available(self) -> bool:
        return bool(self.handles)

    def read_joules(self) -> dict[str, float]:
        return {d: self.nvml.nvmlDeviceGetTotalEnergyConsumption(h) / 1e3 for d, h in self.handles.items()}

    def wrap_joules(self, domain: str) -> float | None:
        return None


def _readable_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None  # missing, or root-only (recent kernels restrict energy_uj)


@dataclass
class EnergyReading:
    joules: float | None  # None when no source measured this window
    sources: list[str]  # e.g. ["rapl:intel-rapl:0/package-0", "nvml:gpu0"], or ["none"]
    by_domain: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {"energy_j": self.joules, "energy_source": ",".join(self.sources), "energy_by_domain": self.by_domain}


class EnergyMeter:
    """Measures the energy of a window [start, stop] over every available counter."""

    def __init__(self, counters: list[EnergyCounter] | None = None) -> None:
        if counters is None:
            counters = [c for c in (RaplCounter(), NvmlCounter()) if c.available()]
        self.counters = counters
        self._start: dict[str, dict[str, float]] = {}

    @property
    def source(self) -> str:
        return ",".join(c.name for c in self.counters) or "none"

    def start(self) -> None:
        self._start = {c.name: c.read_joules() for c in self.counters}

    def stop(self) -> EnergyReading:
        by_domain: dict[str, float] = {}
        for counter in self.counters:
            end = counter.read_joules()
            for domain, begin in self._start.get(counter.name, {}).items():
                delta = end[domain] - begin
                if delta < 0:  # the counter wrapped once during the window
                    wrap = counter.wrap_joules(domain)
                    delta = delta + wrap if wrap else float("nan")
                by_domain[f"{counter.name}:{domain}"] = delta
        if not by_domain:
            return EnergyReading(joules=None, sources=["none"], by_domain={})
        return EnergyReading(joules=sum(by_domain.values()), sources=sorted(by_domain), by_domain=by_domain)

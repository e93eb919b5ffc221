"""Metadata about the machine and software every record carries (pyperf-style), so results can be compared."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

_LIBRARIES = ("torch", "torchvision", "torchmetrics", "numpy", "mlcommons-loadgen", "mlperf-logging", "aibench")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def physical_cores() -> int | None:
    """Distinct (physical id, core id) pairs; None where /proc/cpuinfo does not say."""
    try:
        pairs, phys = set(), "0"
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "physical id":
                phys = value.strip()
            elif key.strip() == "core id":
                pairs.add((phys, value.strip()))
        return len(pairs) or None
    except OSError:
        return None


def library_versions() -> dict[str, str]:
    versions = {}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def code_version() -> str:
    """The git commit of the aibench checkout (with -dirty), or the package version when not in git."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=here, capture_output=True, text=True,
            timeout=5,
        )
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    from aibench import __version__

    return __version__


def gpu_info() -> list[dict[str, Any]]:
    import torch

    if not torch.cuda.is_available():
        return []
    gpus = []
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        gpus.append({"name": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
                     "capability": f"{props.major}.{props.minor}"})
    return gpus


def load_average() -> float | None:
    """The host's 1-minute load average (None where the OS has none): other work competing for the CPUs."""
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return None


def runnable_others() -> int | None:
    """How many other threads are runnable at this instant (/proc/loadavg's running count, less this one); None
    where the OS does not say."""
    try:
        running = Path("/proc/loadavg").read_text().split()[3].split("/")[0]
        return max(0, int(running) - 1)
    except (OSError, IndexError, ValueError):
        return None


BUSY_MARGIN = 1.0  # a whole core's worth of oversubscription before a warning: less is noise of the average


def busy_host_warning(load: float | None, cpus: int, threads: int, runnable: int | None = None) -> str | None:
    """A warning when the host's other work plus torch's threads oversubscribe its CPUs by a clear margin.

    Torch's OpenMP threads spin while they wait for each other: on a 2-core machine a second busy process can make
    a 2-thread run 10-25x slower, which would be recorded as the machine's speed. The 1-minute load average lags:
    a minute after aibench's own previous command it still reads about 0.4 per core that command kept busy,
    though nothing runs. So the other work counted is the smaller of the load average and what is runnable now
    (`runnable`, when known), and the warning needs it plus the threads to exceed the CPUs by BUSY_MARGIN.
    """
    if load is None:
        return None
    other = load if runnable is None else min(load, float(runnable))
    if other + threads <= cpus + BUSY_MARGIN:
        return None
    fewer = max(1, int(cpus - other))  # never suggests fewer than one thread, nor the count already used
    advice = f"wait for an idle machine or pass --threads {fewer}" if fewer < threads else "wait for an idle machine"
    return (f"the host is busy (1-minute load average {load:.1f} on {cpus} logical CPUs) and torch uses {threads} "
            f"threads: timings will be slower and noisier than this machine's; {advice}")


def system_info() -> dict[str, Any]:
    import torch

    return {
        "hostname": platform.node(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "physical_cores": physical_cores(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1m": load_average(),  # at the start of the benchmark; includes aibench's own earlier work
        "gpus": gpu_info(),
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "driver": _nvidia_driver(),
        "libraries": library_versions(),
        "code_version": code_version(),
    }


def _nvidia_driver() -> str | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        version = pynvml.nvmlSystemGetDriverVersion()
        return version.decode() if isinstance(version, bytes) else version
    except Exception:  # no NVIDIA driver: nothing to report
        return None

from pathlib import Path

import pytest

from aibench.harness.energy import EnergyMeter, NvmlCounter, RaplCounter


def _zone(root: Path, name: str, label: str, uj: int, max_uj: int = 262_143_328_850) -> Path:
    z = root / name
    z.mkdir(parents=True)
    (z / "name").write_text(label + "\n")
    (z / "energy_uj").write_text(f"{uj}\n")
    (z / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return z


def test_rapl_reads_package_domains_only(tmp_path):
    _zone(tmp_path, "intel-rapl:0", "package-0", 1_000_000)
    _zone(tmp_path, "intel-rapl:0:0", "core", 500_000)  # a sub-zone: already inside package-0
    _zone(tmp_path, "intel-rapl:1", "package-1", 2_000_000)
    counter = RaplCounter(tmp_path)
    assert counter.available()
    assert counter.read_joules() == {"intel-rapl:0/package-0": 1.0, "intel-rapl:1/package-1": 2.0}


def test_rapl_window_energy_and_wraparound(tmp_path):
    p0 = _zone(tmp_path, "intel-rapl:0", "package-0", 9_000_000, max_uj=10_000_000)
    p1 = _zone(tmp_path, "intel-rapl:1", "package-1", 1_000_000, max_uj=10_000_000)
    meter = EnergyMeter([RaplCounter(tmp_path)])
    meter.start()
    (p0 / "energy_uj").write_text("2000000\n")  # wrapped: 9 J -> 10 J (wrap) -> 2 J = 3 J
    (p1 / "energy_uj").write_text("1500000\n")  # 0.5 J
    reading = meter.stop()
    assert reading.by_domain["rapl:intel-rapl:0/package-0"] == pytest.approx(3.0)
    assert reading.by_domain["rapl:intel-rapl:1/package-1"] == pytest.approx(0.5)
    assert reading.joules == pytest.approx(3.5)
    assert reading.sources == ["rapl:intel-rapl:0/package-0", "rapl:intel-rapl:1/package-1"]


def test_unreadable_rapl_counts_as_absent(tmp_path):
    z = _zone(tmp_path, "intel-rapl:0", "package-0", 0)
    (z / "energy_uj").write_text("permission denied?")
    assert not RaplCounter(tmp_path).available()


class FakeNvml:
    def __init__(self, energies_mj):
        self.energies = energies_mj

    def nvmlInit(self):
        pass

    def nvmlDeviceGetCount(self):
        return len(self.energies)

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        return self.energies[handle]


def test_nvml_energy_window():
    nvml = FakeNvml([1000, 5000])
    meter = EnergyMeter([NvmlCounter(nvml)])
    meter.start()
    nvml.energies = [4000, 5500]
    reading = meter.stop()
    assert reading.by_domain == {"nvml:gpu0": pytest.approx(3.0), "nvml:gpu1": pytest.approx(0.5)}
    assert reading.joules == pytest.approx(3.5)


def test_nvml_without_driver_is_absent():
    class NoDriver(FakeNvml):
        def nvmlInit(self):
            raise RuntimeError("NVML Shared Library Not Found")

    assert not NvmlCounter(NoDriver([])).available()


def test_no_source_gives_empty_energy_not_an_estimate():
    meter = EnergyMeter([])
    meter.start()
    reading = meter.stop()
    assert reading.joules is None and reading.sources == ["none"]
    assert meter.source == "none"

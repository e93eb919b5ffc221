import time
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
    _set(p0, 2_000_000)  # wrapped: 9 J -> 10 J (wrap) -> 2 J = 3 J
    _set(p1, 1_500_000)  # 0.5 J
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


# --- sampling, wraps, lost domains, device restriction, idle baseline, per-sample helpers (issue 11 item 8) ---

import sys
import threading
import types

import torch

from aibench.harness import energy as energy_mod
from aibench.harness.energy import cuda_indices, cuda_to_nvml, per_query, per_sample


def _set(zone: Path, uj: int) -> None:
    tmp = zone / "energy_uj.tmp"
    tmp.write_text(f"{uj}\n")
    tmp.replace(zone / "energy_uj")  # atomic, as a sysfs read is: a sampling thread never sees a half-written file


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t

    def sleep(self, seconds):
        self.t += seconds


def test_several_wraps_in_one_window_are_all_corrected(tmp_path):
    z = _zone(tmp_path, "intel-rapl:0", "package-0", 0, max_uj=10_000_000)  # wraps every 10 J
    clock = FakeClock()
    meter = EnergyMeter([RaplCounter(tmp_path)], clock=clock, background=False)
    meter.start()
    uj = 0
    for _ in range(7):  # 7 x 4 J = 28 J: the counter wraps twice; start/stop alone would see 8 J
        clock.sleep(0.001)
        uj += 4_000_000
        _set(z, uj % 10_000_000)
        meter.sample()
    clock.sleep(0.001)
    reading = meter.stop()
    assert reading.joules == pytest.approx(28.0)
    assert reading.by_domain == {"rapl:intel-rapl:0/package-0": pytest.approx(28.0)}
    assert reading.duration_s == pytest.approx(0.008)
    assert reading.mean_watts == pytest.approx(28.0 / 0.008)
    assert reading.samples == 9 and reading.warnings == [] and reading.lost == {}


class WrappingCounter:
    """Advances 3 J per read and wraps at 10 J: only a reader that samples every read gets the total right."""

    name = "fake"

    def __init__(self):
        self.value, self.reads, self.lock = 0.0, 0, threading.Lock()

    def read_joules(self):
        with self.lock:
            self.reads += 1
            out = {"pkg": self.value}
            self.value = (self.value + 3.0) % 10.0
            return out

    def wrap_joules(self, domain):
        return 10.0

    def max_watts(self, domain):
        return 100.0  # 10 J / 100 W = 0.1 s safe; sampling every 25 ms


def test_background_thread_samples_and_corrects_every_wrap():
    counter = WrappingCounter()
    meter = EnergyMeter([counter], interval_s=5.0)
    assert meter.interval_s == pytest.approx(0.025)  # a quarter of the longest safe interval, not 5 s
    reads_before = counter.reads  # the meter read the domains once to size its interval
    meter.start()
    deadline = time.monotonic() + 10
    while counter.reads < 12 and time.monotonic() < deadline:
        time.sleep(0.01)
    reading = meter.stop()
    assert meter._thread is None  # stopped and joined
    assert counter.reads >= 12  # several wraps (every 3-4 reads)
    assert reading.samples == counter.reads - reads_before
    assert reading.joules == pytest.approx(3.0 * (reading.samples - 1))


def test_interval_follows_rapl_range_and_stated_power(tmp_path):
    z = _zone(tmp_path, "intel-rapl:0", "package-0", 0, max_uj=2_000_000)  # 2 J
    meter = EnergyMeter([RaplCounter(tmp_path)], background=False)
    assert meter.safe_s == {"rapl:intel-rapl:0/package-0": pytest.approx(2.0 / energy_mod.PLAUSIBLE_RAPL_WATTS)}
    (z / "constraint_0_max_power_uw").write_text("250000000\n")  # 250 W
    meter = EnergyMeter([RaplCounter(tmp_path)], interval_s=0.5, background=False)
    assert meter.interval_s == pytest.approx(0.25 * 2.0 / 250)
    big = tmp_path / "big"
    _zone(big, "intel-rapl:0", "package-0", 0)  # 262 kJ: 1 s is far below a quarter of the safe interval
    assert EnergyMeter([RaplCounter(big)], background=False).interval_s == 1.0


def test_a_gap_longer_than_the_safe_interval_is_reported(tmp_path):
    z = _zone(tmp_path, "intel-rapl:0", "package-0", 0, max_uj=10_000_000)
    clock = FakeClock()
    meter = EnergyMeter([RaplCounter(tmp_path)], clock=clock, background=False)
    meter.start()
    clock.sleep(1.0)  # 10 J at 1000 W wraps in 10 ms: a wrap may have gone unseen
    _set(z, 1_000_000)
    reading = meter.stop()
    assert reading.joules == pytest.approx(1.0)
    assert any("may be missed" in w for w in reading.warnings)


def test_domain_that_disappears_mid_run(tmp_path):
    p0 = _zone(tmp_path, "intel-rapl:0", "package-0", 0)
    p1 = _zone(tmp_path, "intel-rapl:1", "package-1", 0)
    clock = FakeClock()
    meter = EnergyMeter([RaplCounter(tmp_path)], clock=clock, background=False)
    meter.start()
    clock.sleep(0.5)
    _set(p0, 2_000_000)
    _set(p1, 1_000_000)
    meter.sample()
    (p1 / "energy_uj").unlink()  # the zone is gone
    clock.sleep(0.5)
    _set(p0, 5_000_000)
    meter.sample()
    reading = meter.stop()
    # package-1 was measured for half the window only: it is not summed into a whole-window total
    assert reading.by_domain == {"rapl:intel-rapl:0/package-0": pytest.approx(5.0)}
    assert reading.joules == pytest.approx(5.0)
    assert reading.sources == ["rapl:intel-rapl:0/package-0"]
    assert reading.lost == {"rapl:intel-rapl:1/package-1": pytest.approx(1.0)}
    assert any("disappeared" in w for w in reading.warnings)
    (p1 / "energy_uj").write_text("9000000\n")  # coming back does not rejoin a window it missed part of
    meter.start()
    assert "rapl:intel-rapl:1/package-1" in meter._window.last  # a new window includes it again
    meter.stop()


def test_every_domain_lost_gives_no_total(tmp_path):
    p0 = _zone(tmp_path, "intel-rapl:0", "package-0", 0)
    meter = EnergyMeter([RaplCounter(tmp_path)], background=False)
    meter.start()
    _set(p0, 1_000_000)
    meter.sample()
    (p0 / "energy_uj").unlink()
    reading = meter.stop()
    assert reading.joules is None and reading.sources == ["none"]
    assert reading.lost == {"rapl:intel-rapl:0/package-0": pytest.approx(1.0)}


def test_nvml_counter_reset_is_not_read_as_negative_energy():
    nvml = FakeNvml([5000, 1000])
    meter = EnergyMeter([NvmlCounter(nvml, environ={})], background=False)
    meter.start()
    nvml.energies = [100, 2000]  # gpu0 reset (driver reload)
    reading = meter.stop()
    assert reading.by_domain == {"nvml:gpu1": pytest.approx(1.0)}
    assert reading.lost == {"nvml:gpu0": 0.0}


class FakeNvmlUuid(FakeNvml):
    uuids = ["GPU-aaaa", "GPU-bbbb"]

    def nvmlDeviceGetHandleByUUID(self, uuid):
        return self.uuids.index(uuid)


def test_nvml_reads_only_the_device_used():
    nvml = FakeNvmlUuid([1000, 5000])
    counter = NvmlCounter(nvml, devices=cuda_indices(torch.device("cuda:1")), environ={})
    assert list(counter.handles) == ["gpu1"]
    meter = EnergyMeter([counter], background=False)
    unsupported = NvmlCounter(FakeNvmlUuid([1000]), devices=[0, 1], environ={})  # cuda:1 is not there
    m2 = EnergyMeter([unsupported], background=False)
    m2.start()
    assert any("cuda:1 not measured" in w for w in m2.stop().warnings)
    meter.start()
    nvml.energies = [9000, 5500]  # gpu0 busy with someone else's job: not ours
    reading = meter.stop()
    assert reading.by_domain == {"nvml:gpu1": pytest.approx(0.5)}
    assert reading.sources == ["nvml:gpu1"]


def test_nvml_honours_cuda_visible_devices():
    nvml = FakeNvmlUuid([1000, 5000])
    # this process sees only physical GPU 1, as cuda:0
    counter = NvmlCounter(nvml, devices=[0], environ={"CUDA_VISIBLE_DEVICES": "1", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"})
    assert list(counter.handles) == ["gpu1"] and counter.notes == []
    counter = NvmlCounter(nvml, devices=[0], environ={"CUDA_VISIBLE_DEVICES": "GPU-aaaa"})
    assert list(counter.handles) == ["GPU-aaaa"]
    assert counter.read_joules() == {"GPU-aaaa": 1.0}
    # no device stated: every visible one, not every one on the host
    counter = NvmlCounter(nvml, environ={"CUDA_VISIBLE_DEVICES": "1"})
    assert list(counter.handles) == ["gpu1"]
    assert any("CUDA_DEVICE_ORDER" in n for n in counter.notes)
    counter = NvmlCounter(nvml, devices=[1], environ={"CUDA_VISIBLE_DEVICES": "1"})
    assert not counter.available() and any("not among" in n for n in counter.notes)


def test_cuda_mapping_helpers():
    assert cuda_to_nvml(0, {}) == ("index", 0)
    assert cuda_to_nvml(1, {"CUDA_VISIBLE_DEVICES": "3,2"}) == ("index", 2)
    assert cuda_to_nvml(0, {"CUDA_VISIBLE_DEVICES": "GPU-1234"}) == ("uuid", "GPU-1234")
    with pytest.raises(LookupError):
        cuda_to_nvml(0, {"CUDA_VISIBLE_DEVICES": "MIG-xyz"})
    with pytest.raises(LookupError):
        cuda_to_nvml(0, {"CUDA_VISIBLE_DEVICES": ""})
    assert cuda_indices(None) is None
    assert cuda_indices(torch.device("cpu")) == []
    assert cuda_indices("cuda:2") == [2]
    assert cuda_indices([torch.device("cuda:1"), 0]) == [0, 1]


def test_meter_for_a_device_builds_counters_for_that_device_only(tmp_path, monkeypatch):
    _zone(tmp_path, "intel-rapl:0", "package-0", 0)
    monkeypatch.setattr(energy_mod, "POWERCAP_ROOT", tmp_path)
    fake = FakeNvmlUuid([1000, 5000])
    module = types.ModuleType("pynvml")
    for attr in ("nvmlInit", "nvmlDeviceGetCount", "nvmlDeviceGetHandleByIndex",
                 "nvmlDeviceGetTotalEnergyConsumption", "nvmlDeviceGetHandleByUUID"):
        setattr(module, attr, getattr(fake, attr))
    monkeypatch.setitem(sys.modules, "pynvml", module)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    meter = EnergyMeter(device=torch.device("cuda:1"), background=False)
    assert [c.name for c in meter.counters] == ["rapl", "nvml"]
    assert list(meter.counters[1].handles) == ["gpu1"]
    meter = EnergyMeter(device=torch.device("cpu"), background=False)
    assert [c.name for c in meter.counters] == ["rapl"]  # a CPU run reads no GPU
    assert len(EnergyMeter(background=False).counters[1].handles) == 2  # not stated: every visible GPU


def test_idle_baseline_arithmetic(tmp_path):
    z = _zone(tmp_path, "intel-rapl:0", "package-0", 0)
    nvml = FakeNvml([0])
    clock = FakeClock()
    rapl = RaplCounter(tmp_path)

    class Ticking:
        """Advances the fake counters with the fake clock: 20 W package, 50 W GPU while idle."""

        def __init__(self, pkg_w, gpu_w):
            self.pkg_w, self.gpu_w = pkg_w, gpu_w

        def __call__(self, seconds):
            clock.sleep(seconds)
            _set(z, int(rapl.read_joules()["intel-rapl:0/package-0"] * 1e6 + self.pkg_w * seconds * 1e6))
            nvml.energies = [nvml.energies[0] + self.gpu_w * seconds * 1e3]

    meter = EnergyMeter([rapl, NvmlCounter(nvml, environ={})], clock=clock, sleep=Ticking(20, 50),
                        background=False)
    assert meter.stop().idle_watts is None  # nothing measured yet
    idle = meter.measure_idle(2.0)
    assert idle.duration_s == pytest.approx(2.0)
    assert idle.idle_watts == pytest.approx(70.0)
    assert meter.idle_by_domain == {"rapl:intel-rapl:0/package-0": pytest.approx(20.0),
                                    "nvml:gpu0": pytest.approx(50.0)}
    meter.start()
    Ticking(100, 250)(4.0)  # the run: 400 J + 1000 J in 4 s
    meter.sample()
    reading = meter.stop()
    assert reading.joules == pytest.approx(1400.0)
    assert reading.duration_s == pytest.approx(4.0)
    assert reading.mean_watts == pytest.approx(350.0)
    assert reading.idle_watts == pytest.approx(70.0)
    assert reading.joules_above_idle == pytest.approx(1400.0 - 70.0 * 4.0)
    d = reading.as_dict()
    assert d["energy_above_idle_j"] == pytest.approx(1120.0) and d["energy_idle_w"] == pytest.approx(70.0)


def test_idle_baseline_without_counters_is_none():
    meter = EnergyMeter([], background=False)
    idle = meter.measure_idle(0.0)
    assert idle.joules is None and idle.idle_watts is None
    meter.start()
    reading = meter.stop()
    assert reading.idle_watts is None and reading.joules_above_idle is None and reading.mean_watts is None


def test_no_counter_on_this_host_reports_none(tmp_path, monkeypatch):
    monkeypatch.setattr(energy_mod, "POWERCAP_ROOT", tmp_path)  # empty powercap
    broken = types.ModuleType("pynvml")

    def fail():
        raise RuntimeError("NVML Shared Library Not Found")

    broken.nvmlInit = fail
    monkeypatch.setitem(sys.modules, "pynvml", broken)
    meter = EnergyMeter()
    assert meter.counters == [] and meter.source == "none"
    meter.start()
    assert meter._thread is None  # nothing to sample: no thread
    reading = meter.stop()
    assert reading.joules is None and reading.sources == ["none"] and reading.by_domain == {}
    assert reading.as_dict()["energy_source"] == "none"


def test_per_sample_and_per_query_helpers():
    assert per_sample(12.0, 4) == 3.0
    assert per_query(12.0, 2) == 6.0
    assert per_sample(None, 4) is None and per_query(12.0, 0) is None

"""Compare two sets of runs: two labels of one store, or one label in two stores (`aibench compare A B`).

Public API (torch-free; for the HTML report: ``compare_labels(store.records(label=a), store.records(label=b), a, b)``):

- ``compare_labels(records_a, records_b, label_a="A", label_b="B") -> Comparison``: records as
  ``ResultStore.records()`` returns them (any labels, modes and statuses; what does not count is left out and
  counted). ``Comparison.rows``: plain dicts, one per benchmark, configuration fingerprint and metric, with keys
  benchmark, name, mode, scale, fingerprint, config (e.g. "tiny fp32 max 30 epochs"), metric, metric_name,
  short_name, unit, better ("lower"/"higher"), n_a, n_b, values_a, values_b (each run's value, for plots),
  median_a, median_b, mean_a, mean_b, ratio, ci_low, ci_high, test, p_value, tested, significant, direction,
  worse_pct, verdict. ``Comparison.geomeans``: one dict per metric (metric, metric_name, short_name, unit, better,
  benchmarks, benchmark_ids, ratio, ci_low, ci_high, direction, worse_pct). ``left_out_a`` / ``left_out_b``: the
  records not compared, counted by reason; ``notes``: what could not be compared and why.
  ``Comparison.as_dict()`` is the JSON form.
- ``load_labels(urls, labels)``: the records of A and B from one or two stores, with one-line errors.
- ``regressions(comparison, pct)``: the rows ``--fail-if-slower PCT`` fails on.
- ``render_text``, ``render_tsv``, ``render_csv``, ``render_markdown``, ``render_json``: the output formats.

Method, and why:
- The ratio is B/A of the **medians**. Timings on a shared machine are skewed by a busy neighbour (one slow run
  among five moves the mean by a fifth of its delay, the median not at all), and the test below compares
  locations without assuming a distribution, so a median ratio is the estimate that matches it.
- Its 95% confidence interval is a percentile bootstrap: A and B are resampled independently with replacement
  (10,000 times, numpy's generator seeded from a fixed seed, the configuration and the metric, so the same records
  give the same interval every time, whatever else is compared beside them) and
  the ratio of the resampled medians taken each time. With one run on a side there is no interval.
- Significance: SciPy's two-sided Mann–Whitney U test, only when both sides have at least 5 runs (with 3 against 3
  the smallest two-sided p is 0.10: such a test could never reject); p < 0.05 is significant. Otherwise the row
  says "n < 5: not tested", and a test that does not reject says "not significant".
- The geometric mean over benchmarks of each metric's ratio (a benchmark with several shared configurations
  counts once, by the geometric mean of its own), its interval from the same bootstrap resamples.
- Which way is better depends on the metric: times, epochs, latency and energy lower, throughput and QPS higher.
  ``worse_pct`` is how much worse B is than A, in percent of A (negative when B is better): ratio - 1 for a
  lower-is-better metric, 1 - ratio for a higher-is-better one.

What counts: training runs that ended `success` and were not resumed from another run's checkpoint (their time
joins two processes); inference runs that LoadGen judged valid (`completed`) and that were not shortened below
the scale's minimum duration. Everything else (missed targets, errors, crashes, invalid or short LoadGen runs,
smoke checks, profiles) is counted by reason and said.

Runs are pooled only within one configuration fingerprint (``fingerprint_parts``): benchmark, train or infer,
scale, the scale's whole configuration (batch size, hyperparameters, epochs budget, data synthesis), precision,
channels-last, compile, max epochs, world size and the pretrained weights' file name. The seed (repeats vary it),
the label, host, device, system and library versions (what a comparison compares), the data folder's path, the
thread count and the device index are left out. Server peak QPS is a metric per latency bound (``@25ms``), so
runs at different bounds are never compared on it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import zlib
import textwrap
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import numpy as np

from aibench.analysis.variation import short_hash
from aibench.errors import UserError

ALPHA = 0.05
MIN_TESTED = 5  # runs per side before a Mann-Whitney U test can reject at ALPHA (3 vs 3: smallest p is 0.10)
RESAMPLES = 10_000
SEED = 0
NOT_TESTED = "n < 5: not tested"
WIDTH = 80  # the text output's columns


@dataclass(frozen=True)
class Metric:
    key: str
    name: str
    unit: str
    higher_is_better: bool
    better: str  # the verdict's words when B is better ("B faster")
    worse: str
    short: str = ""  # name and unit in at most 24 characters, for the 80-column text


TRAIN_METRICS = (
    Metric("time_to_quality_s", "time to quality", "s", False, "B faster", "B slower", "time to quality s"),
    Metric("epochs_to_quality", "epochs to quality", "epochs", False, "B fewer epochs", "B more epochs",
           "epochs to quality"),
    Metric("throughput_samples_per_s", "train throughput", "samples/s", True, "B faster", "B slower",
           "train samples/s"),
    Metric("energy_to_quality_j", "energy to quality", "J", False, "B less energy", "B more energy",
           "energy to quality J"),
)
INFER_METRICS = (
    Metric("single_stream_ms", "SingleStream p90", "ms", False, "B faster", "B slower", "SingleStream p90 ms"),
    Metric("multi_stream_ms", "MultiStream p99", "ms", False, "B faster", "B slower", "MultiStream p99 ms"),
    Metric("server_peak_qps", "Server peak QPS", "queries/s", True, "B faster", "B slower", "Server peak QPS"),
    Metric("offline_qps", "Offline throughput", "samples/s", True, "B faster", "B slower", "Offline samples/s"),
    Metric("energy_per_query_j", "energy per query", "J", False, "B less energy", "B more energy",
           "energy per query J"),
)
METRICS = {m.key: m for m in TRAIN_METRICS + INFER_METRICS}


# --- which records count, and their configuration -------------------------------------------------------------

def left_out_reason(record: dict[str, Any]) -> str | None:
    """Why a record is not a result to compare, or None when it is one."""
    mode, status = record.get("mode"), record.get("status")
    metrics = record.get("metrics") or {}
    if mode == "train":
        if status != "success":
            return f"training {status}"
        if (record.get("config") or {}).get("resumed_from"):
            return "training resumed from a checkpoint"
        return None
    if mode == "infer":
        if status != "completed":
            return f"inference {status}"
        if metrics.get("short"):
            return "inference run shorter than its scale's minimum"
        return None
    return f"{mode or status} record (not a timed run)"


def fingerprint_parts(record: dict[str, Any]) -> dict[str, Any]:
    """The configuration two runs must share to be pooled (see the module docstring for what is left out)."""
    config = record.get("config") or {}
    pretrained = config.get("pretrained")
    return {
        "benchmark": record.get("benchmark"), "mode": record.get("mode"), "scale": record.get("scale"),
        "scale_config": config.get("scale_config"), "precision": config.get("precision", "fp32"),
        "channels_last": bool(config.get("channels_last")), "compile": bool(config.get("compile")),
        "max_epochs": config.get("max_epochs"),
        "world_size": (config.get("distributed") or {}).get("world_size", 1),
        "pretrained": PurePath(str(pretrained)).name if pretrained else None,
    }


def fingerprint(record: dict[str, Any]) -> str:
    """A short hash of fingerprint_parts (10 hex digits)."""
    return short_hash(fingerprint_parts(record))


def config_text(parts: dict[str, Any]) -> str:
    """The few configuration facts a reader checks first: `tiny fp32 30 epochs`, plus what is not the default."""
    words = [str(parts["scale"]), str(parts["precision"])]
    if parts["mode"] == "train" and parts.get("max_epochs"):
        words.append(f"max {parts['max_epochs']} epochs")
    words += [w for w, on in (("channels-last", parts["channels_last"]), ("compiled", parts["compile"])) if on]
    if parts["world_size"] != 1:
        words.append(f"{parts['world_size']} processes")
    if parts["pretrained"]:
        words.append(f"from {parts['pretrained']}")
    return " ".join(words)


def metric_values(record: dict[str, Any]) -> dict[str, float]:
    """The compared metrics one counted record gives (absent where it did not measure them)."""
    m = record.get("metrics") or {}
    if record.get("mode") == "train":
        values = {k.key: m.get(k.key) for k in TRAIN_METRICS}
    else:
        values = _inference_values(m)
    return {k: float(v) for k, v in values.items() if isinstance(v, (int, float)) and math.isfinite(v)}


def _inference_values(m: dict[str, Any]) -> dict[str, Any]:
    """Each scenario's MLPerf headline (report.tables.inference_headlines); Server's keyed by its latency bound."""
    from aibench.report.tables import inference_headlines

    heads = inference_headlines(m)
    values = {"single_stream_ms": heads.get("SingleStream"), "multi_stream_ms": heads.get("MultiStream"),
              "offline_qps": heads.get("Offline"), "energy_per_query_j": m.get("energy_per_query_j")}
    if heads.get("Server") is not None:
        values[server_key(heads.get("bound_ms"))] = heads["Server"]
    return values


def server_key(bound_ms: Any) -> str:
    return f"server_peak_qps@{bound_ms:g}ms" if isinstance(bound_ms, (int, float)) else "server_peak_qps"


def metric_info(key: str) -> Metric:
    """The metric of a key, a Server key carrying its latency bound in the name."""
    base, _, bound = key.partition("@")
    m = METRICS[base]
    suffix = f" @{bound}" if bound else ""
    return Metric(key, m.name + suffix, m.unit, m.higher_is_better, m.better, m.worse, m.short + suffix)


def metric_order(key: str) -> int:
    return list(METRICS).index(key.partition("@")[0])


# --- statistics -----------------------------------------------------------------------------------------------

def bootstrap_ratios(a: list[float], b: list[float], rng: np.random.Generator,
                     resamples: int = RESAMPLES) -> np.ndarray:
    """median(B*) / median(A*) over `resamples` independent resamples of A and B with replacement."""
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    med_a = np.median(xa[rng.integers(0, len(xa), (resamples, len(xa)))], axis=1)
    med_b = np.median(xb[rng.integers(0, len(xb), (resamples, len(xb)))], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return med_b / med_a


def interval(samples: np.ndarray) -> tuple[float | None, float | None]:
    """The 2.5th and 97.5th percentiles of finite bootstrap ratios (None when there are none)."""
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return None, None
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)


def mann_whitney(a: list[float], b: list[float]) -> float | None:
    """Two-sided Mann-Whitney U p-value, or None when a side has fewer than MIN_TESTED runs."""
    if min(len(a), len(b)) < MIN_TESTED:
        return None
    from scipy.stats import mannwhitneyu

    p_value = float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
    return p_value if math.isfinite(p_value) else None


def worse_pct(ratio: float, metric: Metric) -> float:
    """How much worse B is than A, in percent of A (negative: B is better)."""
    return 100.0 * ((1.0 - ratio) if metric.higher_is_better else (ratio - 1.0))


def direction(ratio: float | None, metric: Metric) -> str:
    if ratio is None:
        return "no ratio"
    if ratio == 1.0:
        return "no change"
    b_higher = ratio > 1.0
    return metric.better if b_higher == metric.higher_is_better else metric.worse


def verdict(direction_: str, p_value: float | None, n_a: int, n_b: int) -> str:
    """The direction, then whether it is significant, or why it was not tested; never left blank."""
    if n_a == 0 or n_b == 0:
        return f"{'A' if n_a == 0 else 'B'} has no runs with this metric: not compared"
    if p_value is None:
        return f"{direction_}, {NOT_TESTED}"
    if p_value < ALPHA:
        return f"{direction_}, significant (p = {p_value:.3g})"
    return f"{direction_}, not significant (p = {p_value:.3g})"


def row_rng(seed: int, fingerprint_: str, metric: str) -> np.random.Generator:
    """A generator of its own per row, so a row's interval is the same whatever else is compared beside it."""
    return np.random.default_rng([seed, zlib.crc32(f"{fingerprint_} {metric}".encode())])


def compare_values(a: list[float], b: list[float], metric: Metric, rng: np.random.Generator
                   ) -> tuple[dict[str, Any], np.ndarray | None]:
    """One metric's statistics for A's and B's values; also the bootstrap ratios (for the geometric means)."""
    row: dict[str, Any] = {"metric": metric.key, "metric_name": metric.name, "short_name": metric.short,
                           "unit": metric.unit,
                           "better": "higher" if metric.higher_is_better else "lower", "n_a": len(a), "n_b": len(b),
                           "median_a": _median(a), "median_b": _median(b), "mean_a": _mean(a), "mean_b": _mean(b),
                           "ratio": None, "ci_low": None, "ci_high": None, "p_value": None, "tested": False,
                           "significant": None, "test": None, "values_a": list(a), "values_b": list(b)}
    samples = None
    if a and b and row["median_a"] not in (0.0, None):
        row["ratio"] = row["median_b"] / row["median_a"]
        if min(len(a), len(b)) >= 2:  # a side with one run has no spread to resample: no interval
            samples = bootstrap_ratios(a, b, rng)
            row["ci_low"], row["ci_high"] = interval(samples)
    p_value = mann_whitney(a, b) if a and b else None
    if p_value is not None:
        row.update(p_value=p_value, tested=True, significant=p_value < ALPHA, test="Mann-Whitney U, two-sided")
    row["direction"] = direction(row["ratio"], metric)
    row["worse_pct"] = None if row["ratio"] is None else worse_pct(row["ratio"], metric)
    row["verdict"] = verdict(row["direction"], p_value, len(a), len(b))
    return row, samples


def _median(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def geometric_mean(values: Iterable[float]) -> float:
    logs = [math.log(v) for v in values]
    return math.exp(sum(logs) / len(logs))


# --- the comparison -------------------------------------------------------------------------------------------

@dataclass
class Comparison:
    label_a: str
    label_b: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    geomeans: list[dict[str, Any]] = field(default_factory=list)
    left_out_a: dict[str, int] = field(default_factory=dict)
    left_out_b: dict[str, int] = field(default_factory=dict)
    counted_a: int = 0
    counted_b: int = 0
    notes: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # where A and B were read (store URLs), when known

    def method(self) -> dict[str, Any]:
        return {"ratio": "B/A of medians", "why_medians": "timings on a shared machine are skewed by a busy "
                "neighbour; the median ignores one outlier and matches the rank test's notion of location",
                "interval": f"95% percentile bootstrap, {RESAMPLES} resamples of A and B "
                f"independently, numpy seed {SEED}", "test": f"Mann-Whitney U, two-sided, when both sides have "
                f">= {MIN_TESTED} runs", "alpha": ALPHA}

    def as_dict(self) -> dict[str, Any]:
        return {"a": {"label": self.label_a, "runs_compared": self.counted_a, "left_out": self.left_out_a,
                      "store": self.sources.get("a")},
                "b": {"label": self.label_b, "runs_compared": self.counted_b, "left_out": self.left_out_b,
                      "store": self.sources.get("b")},
                "method": self.method(), "rows": self.rows, "geomeans": self.geomeans, "notes": self.notes}


def _groups(records: list[dict[str, Any]]) -> tuple[dict[tuple[str, str, str], list[dict]], dict[str, int]]:
    """Counted records by (benchmark, mode, fingerprint), and the rest counted by reason."""
    groups: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    left_out: Counter[str] = Counter()
    for r in records:
        reason = left_out_reason(r)
        if reason:
            left_out[reason] += 1
        else:
            groups[(r["benchmark"], r["mode"], fingerprint(r))].append(r)
    return groups, dict(sorted(left_out.items()))


def compare_labels(records_a: list[dict[str, Any]], records_b: list[dict[str, Any]], label_a: str = "A",
                   label_b: str = "B", seed: int = SEED) -> Comparison:
    """Compare B's runs with A's: per benchmark, configuration fingerprint and metric (see the module docstring)."""
    groups_a, left_a = _groups(records_a)
    groups_b, left_b = _groups(records_b)
    result = Comparison(label_a, label_b, left_out_a=left_a, left_out_b=left_b,
                        counted_a=sum(map(len, groups_a.values())), counted_b=sum(map(len, groups_b.values())))
    samples: dict[tuple[str, str], list[np.ndarray]] = defaultdict(list)  # (metric, benchmark) -> bootstrap ratios
    for key in sorted(set(groups_a) & set(groups_b), key=_group_order):
        for row, boot in _compare_group(groups_a[key], groups_b[key], seed):
            result.rows.append(row)
            if boot is not None:
                samples[(row["metric"], row["benchmark"])].append(boot)
    result.notes += unmatched_notes(groups_a, groups_b, label_a, label_b)
    result.geomeans = geometric_means(result.rows, samples)
    if not result.rows and not result.notes:
        result.notes.append(f"neither {label_a} nor {label_b} has a run to compare")
    return result


def _bench_order(bench: str) -> tuple[int, str]:
    """DC-AI-C2 before DC-AI-C10."""
    number = bench.rsplit("C", 1)[-1]
    return (int(number) if number.isdigit() else 0, bench)


def _group_order(key: tuple[str, str, str]) -> tuple[tuple[int, str], int, str]:
    """By benchmark number, training before inference."""
    bench, mode, fp = key
    return (_bench_order(bench), 0 if mode == "train" else 1, fp)


def _compare_group(a: list[dict], b: list[dict], seed: int
                   ) -> Iterable[tuple[dict[str, Any], np.ndarray | None]]:
    """The rows of one shared (benchmark, mode, fingerprint) group, in the metrics' fixed order."""
    values_a, values_b = [metric_values(r) for r in a], [metric_values(r) for r in b]
    keys = sorted({k for v in values_a + values_b for k in v}, key=lambda k: (metric_order(k), k))
    parts = fingerprint_parts(a[0])
    head = {"benchmark": a[0]["benchmark"], "name": a[0].get("name"), "mode": a[0]["mode"], "scale": parts["scale"],
            "fingerprint": fingerprint(a[0]), "config": config_text(parts)}
    for key in keys:
        row, boot = compare_values([v[key] for v in values_a if key in v], [v[key] for v in values_b if key in v],
                                   metric_info(key), row_rng(seed, head["fingerprint"], key))
        yield {**head, **row}, boot


def unmatched_notes(groups_a: dict, groups_b: dict, label_a: str, label_b: str) -> list[str]:
    """Per benchmark and mode: configurations only one side ran, and what differs when none is shared."""
    notes = []
    by_bench: dict[tuple[str, str], tuple[set, set]] = defaultdict(lambda: (set(), set()))
    for side, groups in ((0, groups_a), (1, groups_b)):
        for bench, mode, fp in groups:
            by_bench[(bench, mode)][side].add(fp)
    for (bench, mode), (fa, fb) in sorted(by_bench.items(), key=lambda kv: _group_order((*kv[0], ''))):
        where = f"{bench} {mode}"
        if not fa or not fb:
            missing, have = (label_a, label_b) if not fa else (label_b, label_a)
            notes.append(f"{where}: only {have} has counted runs ({missing} has none): not compared")
        elif not fa & fb:
            diff = _differences(groups_a[(bench, mode, sorted(fa)[0])][0], groups_b[(bench, mode, sorted(fb)[0])][0])
            notes.append(f"{where}: {label_a} and {label_b} share no configuration fingerprint ({label_a}: "
                         f"{', '.join(sorted(fa))}; {label_b}: {', '.join(sorted(fb))}; differ in {diff}): "
                         "not compared, never pooled")
        else:
            for side_label, only, groups in ((label_a, fa - fb, groups_a), (label_b, fb - fa, groups_b)):
                for fp in sorted(only):
                    notes.append(f"{where}: configuration {fp} only in {side_label} "
                                 f"({_runs(len(groups[(bench, mode, fp)]))}): not compared")
    return notes


def _differences(record_a: dict[str, Any], record_b: dict[str, Any]) -> str:
    """The fingerprint fields two records differ in, scale_config's keys named one by one."""
    pa, pb = fingerprint_parts(record_a), fingerprint_parts(record_b)
    names = []
    for k in pa:
        if pa[k] == pb[k]:
            continue
        if k == "scale_config" and isinstance(pa[k], dict) and isinstance(pb[k], dict):
            names += [f"scale_config.{s}" for s in sorted(set(pa[k]) | set(pb[k])) if pa[k].get(s) != pb[k].get(s)]
        else:
            names.append(f"{k} ({pa[k]} vs {pb[k]})")
    return ", ".join(names) or "nothing visible"


def _runs(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


def geometric_means(rows: list[dict[str, Any]], samples: dict[tuple[str, str], list[np.ndarray]]
                    ) -> list[dict[str, Any]]:
    """Per metric: the geometric mean over benchmarks of B/A, its interval from the rows' bootstrap resamples."""
    by_metric: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r["ratio"] is not None and r["ratio"] > 0:
            by_metric[r["metric"]][r["benchmark"]].append(r["ratio"])
    out = []
    for key in sorted(by_metric, key=lambda k: (metric_order(k), k)):
        benches = by_metric[key]
        ratio = geometric_mean(geometric_mean(v) for v in benches.values())
        boots = [samples.get((key, b)) for b in benches]
        low = high = None
        if all(boots):  # every benchmark has resamples (two or more runs a side)
            with np.errstate(divide="ignore", invalid="ignore"):  # a resampled median of 0: dropped by interval()
                per_bench = [np.exp(np.mean(np.log(np.stack(s)), axis=0)) for s in boots]
                low, high = interval(np.exp(np.mean(np.log(np.stack(per_bench)), axis=0)))
        m = metric_info(key)
        out.append({"metric": key, "metric_name": m.name, "short_name": m.short, "unit": m.unit,
                    "better": "higher" if m.higher_is_better else "lower", "benchmarks": len(benches),
                    "benchmark_ids": sorted(benches, key=_bench_order), "ratio": ratio, "ci_low": low, "ci_high": high,
                    "direction": direction(ratio, m), "worse_pct": worse_pct(ratio, m)})
    return out


def regressions(comparison: Comparison, pct: float) -> list[dict[str, Any]]:
    """Rows where B is significantly (p < 0.05) worse than A by more than `pct` percent of A."""
    return [r for r in comparison.rows
            if r["significant"] and r["worse_pct"] is not None and r["worse_pct"] > pct]


def gate_lines(comparison: Comparison, pct: float) -> list[str]:
    """What `--fail-if-slower PCT` says: each regression, or that nothing could be tested."""
    if not any(r["tested"] for r in comparison.rows):
        return [f"--fail-if-slower: no metric had {MIN_TESTED} runs on both sides, so none was tested"]
    return [f"regression: {r['benchmark']} {r['mode']} {r['metric_name']}: B is {r['worse_pct']:.1f}% worse than A "
            f"(p = {r['p_value']:.3g}; the limit is {pct:g}%)" for r in regressions(comparison, pct)]


# --- reading the stores ---------------------------------------------------------------------------------------

def load_labels(urls: list[str], labels: list[str], benchmark: str | None = None
                ) -> tuple[list[dict], list[dict], str, str, dict[str, str]]:
    """A's and B's records: two labels of one store, or one or two labels of two stores (A from the first)."""
    from aibench.results.store import ResultStore

    if len(urls) > 2:
        raise UserError(f"--db given {len(urls)} times: compare reads one store (labels A B) or two (A from the "
                        "first, B from the second)")
    if len(labels) > 2:
        raise UserError(f"compare takes two labels (A B), got {len(labels)}: {' '.join(labels)}")
    if len(urls) < 2 and len(labels) != 2:
        raise UserError("compare needs two labels (A B) in one store, or one label and --db twice (the same label "
                        "in two stores)")
    label_a, label_b = (labels[0], labels[-1])
    url_a, url_b = urls[0], urls[-1]
    if url_a == url_b and label_a == label_b:
        raise UserError(f"A and B are the same records (label {label_a!r} of one store): give two labels")
    records = {url: ResultStore(url, create=False).records() for url in dict.fromkeys([url_a, url_b])}
    chosen = []
    for label, url in ((label_a, url_a), (label_b, url_b)):
        mine = [r for r in records[url] if r["label"] == label]
        if not mine:
            have = sorted({r["label"] for r in records[url]})
            raise UserError(f"unknown label {label!r} in {url}; its labels: {', '.join(have) or 'none'}")
        if benchmark:
            mine = [r for r in mine if r["benchmark"] == benchmark]
            if not mine:
                raise UserError(f"label {label!r} has no {benchmark} records in {url}")
        chosen.append(mine)
    return chosen[0], chosen[1], label_a, label_b, {"a": url_a, "b": url_b}


# --- output ---------------------------------------------------------------------------------------------------

def _num(value: float | None, digits: int = 4) -> str:
    """Four significant digits, no exponent below a million: 24.14, 0.8412, 2502."""
    if value is None:
        return "-"
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
        return f"{value:.{digits - 1}e}"
    return f"{value:.{max(digits - 1 - int(math.floor(math.log10(abs(value)))), 0) if value else 0}f}"


def _ci(row: dict[str, Any]) -> str:
    return "-" if row["ci_low"] is None else f"{_num(row['ci_low'], 3)}-{_num(row['ci_high'], 3)}"


def _left_out_text(left_out: dict[str, int]) -> str:
    if not left_out:
        return "none"
    return f"{sum(left_out.values())} ({', '.join(f'{n} {why}' for why, n in left_out.items())})"


def summary_lines(c: Comparison) -> list[str]:
    """Who is A and B, how many runs each side counted and left out, and the method in two lines."""
    def side(name: str, label: str, counted: int, left: dict[str, int], key: str) -> str:
        store = f" in {c.sources[key]}" if c.sources.get(key) else ""
        return f"{name} = {label}{store}: {_runs(counted)} compared, left out {_left_out_text(left)}"

    return [side("A", c.label_a, c.counted_a, c.left_out_a, "a"), side("B", c.label_b, c.counted_b, c.left_out_b, "b"),
            f"B/A = ratio of medians; 95% CI: bootstrap ({RESAMPLES} resamples, seed {SEED})",
            f"test: Mann-Whitney U, two-sided, when both sides have >= {MIN_TESTED} runs; significant at p < {ALPHA}"]


def render_text(c: Comparison) -> str:
    """Readable at 80 columns: a block per benchmark and configuration, each metric on two lines."""
    lines = [w for line in summary_lines(c) for w in _wrap(line)]
    row_fmt = "  {:<24} {:>5} {:>9} {:>9} {:>7}  {}"
    current = None
    for r in c.rows:
        group = (r["benchmark"], r["mode"], r["fingerprint"])
        if group != current:
            current = group
            lines += ["", *_wrap(f"{r['benchmark']} {r['name'] or ''} | {r['mode']} | {r['config']} | "
                                 f"{r['fingerprint']}"),
                      row_fmt.format("metric", "n A/B", "A median", "B median", "B/A", "95% CI")]
        lines.append(row_fmt.format(r["short_name"], f"{r['n_a']}/{r['n_b']}", _num(r["median_a"]),
                                    _num(r["median_b"]), _num(r["ratio"], 3), _ci(r)))
        lines.append(f"    -> {r['verdict']}")
    if c.geomeans:
        lines += ["", "geometric mean of B/A over benchmarks",
                  "  {:<24} {:>10} {:>7}  {}".format("metric", "benchmarks", "B/A", "95% CI")]
        for g in c.geomeans:
            lines.append("  {:<24} {:>10} {:>7}  {:<17} {}".format(
                g["short_name"], g["benchmarks"], _num(g["ratio"], 3), _ci(g), g["direction"]).rstrip())
    if c.notes:
        lines += ["", "not compared:"] + [w for n in c.notes for w in _wrap(n, "  ")]
    return "\n".join(lines)


def _wrap(text: str, indent: str = "") -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent + "    ",
                         break_long_words=False, break_on_hyphens=False)


ROW_FIELDS = ("benchmark", "name", "mode", "scale", "fingerprint", "config", "metric", "metric_name", "unit", "better",
              "n_a", "n_b", "median_a", "median_b", "mean_a", "mean_b", "ratio", "ci_low", "ci_high", "worse_pct",
              "test", "p_value", "significant", "direction", "verdict")


def _flat_rows(c: Comparison) -> list[dict[str, Any]]:
    """The rows, then one per geometric mean (benchmark `geomean`), in ROW_FIELDS' columns."""
    geo = [{"benchmark": "geomean", "name": f"over {' '.join(g['benchmark_ids'])}",
            "metric": g["metric"], "metric_name": g["metric_name"], "unit": g["unit"], "better": g["better"],
            "ratio": g["ratio"], "ci_low": g["ci_low"], "ci_high": g["ci_high"], "worse_pct": g["worse_pct"],
            "direction": g["direction"]} for g in c.geomeans]
    return [{k: r.get(k) for k in ROW_FIELDS} for r in c.rows + geo]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value).replace("\t", " ").replace("\n", " ")


def render_tsv(c: Comparison) -> str:
    """Tab-separated, for pipes and files: a header, the rows, the geometric means; `#` lines say the rest."""
    lines = ["\t".join(ROW_FIELDS)] + ["\t".join(_cell(r[k]) for k in ROW_FIELDS) for r in _flat_rows(c)]
    return "\n".join(lines + [f"# {s}" for s in summary_lines(c)] + [f"# not compared: {n}" for n in c.notes])


def render_csv(c: Comparison) -> str:
    """CSV of the rows and geometric means (what was left out goes to stderr with the command's notes)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=ROW_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _cell(v) for k, v in r.items()} for r in _flat_rows(c))
    return out.getvalue().rstrip("\n")


def render_markdown(c: Comparison) -> str:
    """GitHub-flavoured Markdown: the summary, one table of the rows, one of the geometric means, the notes."""
    lines = [f"## aibench compare: {c.label_a} (A) vs {c.label_b} (B)", ""] + [f"- {s}" for s in summary_lines(c)]
    lines += ["", "| benchmark | mode | config | metric | n A/B | A median | B median | B/A | 95% CI | verdict |",
              "|---|---|---|---|--:|--:|--:|--:|---|---|"]
    for r in c.rows:
        lines.append(f"| {r['benchmark']} | {r['mode']} | {r['config']} ({r['fingerprint']}) | {r['metric_name']} "
                     f"({r['unit']}) | {r['n_a']}/{r['n_b']} | {_num(r['median_a'])} | {_num(r['median_b'])} | "
                     f"{_num(r['ratio'], 3)} | {_ci(r)} | {r['verdict']} |")
    if c.geomeans:
        lines += ["", "Geometric mean of B/A over benchmarks:", "",
                  "| metric | benchmarks | B/A | 95% CI | direction |", "|---|--:|--:|---|---|"]
        lines += [f"| {g['metric_name']} ({g['unit']}) | {g['benchmarks']} | {_num(g['ratio'], 3)} | {_ci(g)} | "
                  f"{g['direction']} |" for g in c.geomeans]
    if c.notes:
        lines += ["", "Not compared:", ""] + [f"- {n}" for n in c.notes]
    return "\n".join(lines)


def render_json(c: Comparison, fail_if_slower: float | None = None) -> str:
    data = c.as_dict()
    if fail_if_slower is not None:
        data["fail_if_slower_pct"] = fail_if_slower
        data["regressions"] = regressions(c, fail_if_slower)
    return json.dumps(data, indent=2)


RENDERERS: dict[str, Callable[[Comparison], str]] = {"text": render_text, "tsv": render_tsv, "csv": render_csv,
                                                      "markdown": render_markdown}

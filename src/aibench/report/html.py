"""An HTML report of the stored results: the paper's tables and figures for the user's own machines.

One self-contained file: figures are PNG data URIs, the style sheet is inline, nothing is fetched. Every row says
which label (machine or software stack) it speaks for, when it ran and on which system; a store shared by several
machines shows each of them.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import re
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from aibench import registry
from aibench.analysis.variation import summarize_repeats
from aibench.report.numbers import DASH, count, percent, sig
from aibench.report.tables import inference_headlines, status_label, validity_text

Record = dict[str, Any]

RESULT_STATUS = {"train": "success", "infer": "completed", "profile": "completed"}
SCENARIOS = ("SingleStream", "MultiStream", "Server", "Offline")
PERCENTILES = ("50.00", "90.00", "95.00", "97.00", "99.00", "99.90")
CLUSTER_MIN_BENCHMARKS = 3  # below this a t-SNE picture and a "subset" say nothing


class Raw(str):
    """Table cell text that is already HTML (a link); every other cell is escaped."""


_NUMERIC = re.compile(r"^[-+]?[\d,]*\.?\d+(e[-+]?\d+)?%?$")


def _cell(value: str) -> str:
    """Numbers (and the dash standing for a missing one) are right-aligned so digits line up."""
    text = value if isinstance(value, Raw) else html.escape(value)
    plain = re.sub(r"<[^>]+>", "", value)
    if plain == DASH or _NUMERIC.match(plain):
        return f'<td class="num">{text}</td>'
    return f'<td class="long">{text}</td>' if len(plain) > 30 else f"<td>{text}</td>"  # short text never wraps


def _table(headers: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return "<p class='none'>No records.</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _p(text: str, cls: str = "") -> str:
    return f"<p class='{cls}'>{html.escape(text)}</p>" if cls else f"<p>{html.escape(text)}</p>"


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def label_of(record: Record) -> str:
    return record.get("label") or "unlabelled"


def labels(records: list[Record]) -> list[str]:
    return sorted({label_of(r) for r in records})


def _number(bench: str) -> int:
    try:
        return registry.card(bench).number
    except Exception:  # a benchmark this version does not know still gets a row, last
        return 10_000


def _short(bench: str) -> str:
    return bench.removeprefix("DC-AI-")


def _when(record: Record) -> str:
    """The run's start in UTC, to the minute."""
    created = record.get("created_at") or ""
    return created[:16].replace("T", " ") if created else DASH


# --- which run is shown --------------------------------------------------------------------------------------------

def _latest(records: list[Record], mode: str) -> dict[tuple[str, str], Record]:
    """Per benchmark and label, the run shown as its result: the latest successful one (a later Ctrl-C'd or failed
    run never replaces it); the latest of any status only where none succeeded, its status shown beside it."""
    out: dict[tuple[str, str], Record] = {}
    for r in records:
        if r["mode"] != mode:
            continue
        key = (r["benchmark"], label_of(r))
        shown = out.get(key)
        if shown is None or r["status"] == RESULT_STATUS[mode] or shown["status"] != RESULT_STATUS[mode]:
            out[key] = r
    return out


def _in_order(shown: dict[tuple[str, str], Record]) -> list[Record]:
    """Benchmark order (C1..C17), then label: a benchmark's rows from different machines sit together."""
    return [shown[k] for k in sorted(shown, key=lambda k: (_number(k[0]), k[1]))]


def other_run_rows(records: list[Record], mode: str) -> list[list[str]]:
    """The runs not shown as results, counted by benchmark, label, scale and status."""
    shown = {id(r) for r in _latest(records, mode).values()}
    counts: dict[tuple[str, str, str, str], int] = defaultdict(int)
    for r in records:
        if r["mode"] == mode and id(r) not in shown:
            counts[(r["benchmark"], label_of(r), r["scale"], r["status"])] += 1
    return [[_short(b), label, scale, status, str(n)]
            for (b, label, scale, status), n in sorted(counts.items(), key=lambda kv: (_number(kv[0][0]), kv[0][1:]))]


# --- systems -------------------------------------------------------------------------------------------------------

def _system_summary(system: dict[str, Any]) -> dict[str, str]:
    gpus = [g.get("name", "?") if isinstance(g, dict) else str(g) for g in system.get("gpus") or []]
    libs = system.get("libraries") or {}
    return {"host": str(system.get("hostname") or DASH),
            "cpu": f"{system.get('cpu_model') or '?'} ({system.get('logical_cpus') or '?'} logical CPUs)",
            "gpus": ", ".join(gpus) or "none",
            "os": str(system.get("os") or DASH), "python": str(system.get("python") or DASH),
            "cuda": " / ".join(str(x) for x in (system.get("cuda"), system.get("driver")) if x) or DASH,
            "libraries": ", ".join(f"{k} {v}" for k, v in sorted(libs.items())) or DASH,
            "code": str(system.get("code_version") or DASH)}


class Systems:
    """The distinct (label, machine, software) combinations in the store, numbered S1, S2, ... in order of first
    appearance, so each row can name its own system instead of the report guessing one for all."""

    def __init__(self, records: list[Record]) -> None:
        self.ids: dict[str, str] = {}
        self.info: dict[str, dict[str, Any]] = {}
        for r in records:
            key = self._key(r)
            if key not in self.ids:
                sid = f"S{len(self.ids) + 1}"
                self.ids[key] = sid
                self.info[sid] = {"label": label_of(r), **_system_summary(r.get("system") or {}), "runs": 0,
                                  "first": r.get("created_at") or "", "last": r.get("created_at") or ""}
            entry = self.info[self.ids[key]]
            entry["runs"] += 1
            created = r.get("created_at") or ""
            entry["first"], entry["last"] = min(entry["first"], created), max(entry["last"], created)

    @staticmethod
    def _key(r: Record) -> str:
        return json.dumps([label_of(r), _system_summary(r.get("system") or {})], sort_keys=True)

    def ref(self, record: Record) -> Raw:
        """A link to the record's system, its details in the tooltip."""
        sid = self.ids[self._key(record)]
        e = self.info[sid]
        tip = f"{e['host']}: {e['cpu']}; GPUs {e['gpus']}; {e['libraries']}; code {e['code']}"
        return Raw(f'<a href="#{sid}" title="{html.escape(tip)}">{sid}</a>')

    def rows(self) -> list[list[str]]:
        return [[Raw(f'<span id="{sid}">{sid}</span>'), e["label"], e["host"], e["cpu"], e["gpus"], e["cuda"],
                 e["os"], e["python"], e["libraries"], e["code"], str(e["runs"]),
                 f"{e['first'][:16].replace('T', ' ')} – {e['last'][:16].replace('T', ' ')}"]
                for sid, e in self.info.items()]


def systems_section(systems: Systems) -> str:
    return ("<h2 id='systems'>Systems</h2>"
            + _p("Each distinct label, machine and software stack in the store (a new library or code version is a "
                 "new system); every table row names its system, whose details are here and in the link's tooltip.")
            + _table(["system", "label", "host", "CPU", "GPUs", "CUDA / driver", "OS", "Python", "libraries",
                      "code version", "runs", "runs from – to (UTC)"], systems.rows()))


# --- comparison hook -----------------------------------------------------------------------------------------------

def comparison_section(records: list[Record]) -> str:
    """Each label against the first (alphabetically), as `aibench compare A B` computes it: per benchmark and
    metric the ratio of medians B/A with its bootstrap interval and the Mann-Whitney verdict, then the geometric
    mean per metric. Nothing with one label."""
    from aibench.analysis.compare import compare_labels

    names = labels(records)
    if len(names) < 2:
        return ""
    base = names[0]
    parts = ["<h2 id='compare'>Comparison of labels</h2>",
             _p(f"{len(names)} labels in this store; each is compared with {base} (A) as `aibench compare {base} B` "
                "would: B/A is the ratio of medians, the interval a 95% bootstrap, the test Mann-Whitney U (only "
                "with at least 5 runs a side). Only successful training runs and valid, full-length inference runs "
                "count, and only runs of one configuration are pooled.")]
    by_label = {name: [r for r in records if label_of(r) == name] for name in names}
    for name in names[1:]:
        result = compare_labels(by_label[base], by_label[name], base, name)
        parts.append(f"<h3>{html.escape(name)} (B) against {html.escape(base)} (A)</h3>")
        if not result.rows:
            parts.append(_p("Nothing to compare: " + ("; ".join(result.notes) or "no counted runs on both sides")))
            continue
        rows = [[_short(r["benchmark"]), r["mode"], r["scale"], r["metric_name"], f"{r['n_a']}/{r['n_b']}",
                 sig(r["median_a"]), sig(r["median_b"]), sig(r["ratio"]),
                 f"{sig(r['ci_low'])}–{sig(r['ci_high'])}" if r.get("ci_low") is not None else DASH, r["verdict"]]
                for r in result.rows]
        parts.append(_table(["benchmark", "mode", "scale", "metric", "runs A/B", "median A", "median B", "B/A",
                             "95% CI", "verdict"], rows))
        geo = [[g["metric_name"], count(g["benchmarks"]), sig(g["ratio"]),
                f"{sig(g['ci_low'])}–{sig(g['ci_high'])}" if g.get("ci_low") is not None else DASH, g["direction"]]
               for g in result.geomeans]
        if geo:
            parts.append(_table(["metric", "benchmarks", "geometric mean B/A", "95% CI", "direction"], geo))
        if result.notes:
            parts.append(_p("Not compared: " + "; ".join(result.notes)))
    return "".join(parts)


# --- training ------------------------------------------------------------------------------------------------------

def quality_rows(records: list[Record], systems: Systems | None = None) -> list[list[str]]:
    """Table 3 with this store's numbers: the shown training run of each benchmark and label."""
    systems = systems or Systems(records)
    rows = []
    for r in _in_order(_latest(records, "train")):
        c, m = registry.card(r["benchmark"]), r.get("metrics") or {}
        energy = sig(m.get("energy_to_quality_j")) if m.get("energy_j") is not None else "unavailable"
        rows.append([Raw(f'<span title="{html.escape(c.task + ": " + c.algorithm)}">{_short(c.id)}</span>'),
                     label_of(r), _when(r), systems.ref(r), r["scale"], c.metric, c.paper_target_text,
                     sig(r["target"]), sig(r["quality"]), status_label(r), sig(m.get("time_to_quality_s")),
                     count(m.get("epochs_to_quality")), sig(m.get("throughput_samples_per_s")),
                     percent((m.get("utilization") or {}).get("mfu")), energy])
    return rows


def _scale_notes(records: list[Record]) -> str:
    """What each reduced scale changed, as the benchmark's configuration says (a caveat for every number)."""
    notes = {}
    for r in records:
        shrink = ((r.get("config") or {}).get("scale_config") or {}).get("shrink")
        if r.get("scale") != "full" and shrink:
            notes[(r["benchmark"], r["scale"])] = shrink
    if not notes:
        return ""
    items = "".join(f"<li><b>{html.escape(_short(b))} {html.escape(s)}</b>: {html.escape(t)}</li>"
                    for (b, s), t in sorted(notes.items(), key=lambda kv: (_number(kv[0][0]), kv[0][1])))
    return ("<details><summary>What each reduced scale changes (data, model, target)</summary>"
            f"<ul>{items}</ul></details>")


def training_section(records: list[Record], systems: Systems) -> str:
    parts = ["<h2 id='quality'>Quality and time to quality (paper Table 3)</h2>",
             _table(["id", "label", "run (UTC)", "system", "scale", "metric", "paper target", "target here",
                     "quality", "status", "time to quality (s)", "epochs", "samples/s", "MFU",
                     "energy to quality (J)"], quality_rows(records, systems)),
             _p("Not comparable with the paper where the scale is not full: tiny and small runs train reduced "
                "(at tiny, often synthetic or shrunk) data to a lower target of their own (\"target here\"), so "
                "their quality and time to quality say whether the method learns, not how fast it trains the "
                "paper's task.", "caveat"),
             _scale_notes(records),
             _p("MFU: model FLOPs per sample (FlopCounterMode) x measured samples/s, over the float32 peak a matmul "
                "probe measured on the same machine (each record names its probe).")]
    others = other_run_rows(records, "train")
    if others:
        parts += ["<h3>Other training runs (not shown as results)</h3>",
                  _table(["benchmark", "label", "scale", "status", "runs"], others)]
    variation = summarize_repeats(records)
    group_labels = _labels_by_group(records)
    parts += ["<h2 id='variation'>Run-to-run variation (paper Table 5)</h2>",
              _table(["benchmark", "label", "scale", "fingerprint", "runs", "successes", "epochs mean",
                      "CV of epochs", "olympic TTQ (s)"],
                     [[_short(v["benchmark"]),
                       ", ".join(group_labels.get((v["benchmark"], v["scale"], v.get("fingerprint")), [])) or DASH,
                       v["scale"], v.get("fingerprint", DASH), str(v["runs"]), str(v["successes"]),
                       sig(v.get("epochs_mean")), _spread(v), _olympic(v)] for v in variation])]
    return "".join(parts)


def _labels_by_group(records: list[Record]) -> dict[tuple[str, str, str], list[str]]:
    """The labels whose training runs make each group of repeats (benchmark, scale, configuration fingerprint)."""
    from aibench.analysis.variation import fingerprint

    out: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for r in records:
        if r["mode"] == "train":
            out[(r["benchmark"], r["scale"], fingerprint(r))].add(label_of(r))
    return {k: sorted(v) for k, v in out.items()}


def _spread(v: dict[str, Any]) -> str:
    if v.get("epochs_cv") is not None:
        return percent(v["epochs_cv"])
    return v.get("epochs_spread_reason") or DASH


def _olympic(v: dict[str, Any]) -> str:
    if v.get("valid") is False:
        return f"invalid: {v.get('reason', '')}"
    return sig(v.get("ttq_olympic_mean_s"))


def _control_quality(record: Record) -> float | None:
    """The ablation control's quality (issue 16), where the record has one."""
    control = (record.get("metrics") or {}).get("control")
    quality = control.get("quality") if isinstance(control, dict) else None
    return float(quality) if isinstance(quality, (int, float)) and not isinstance(quality, bool) else None


def _curve_points(record: Record) -> list[tuple[float, float, bool]]:
    return [(p["epoch"], p["quality"], p.get("counts", True) is not False) for p in record.get("curve") or []
            if isinstance(p, dict) and isinstance(p.get("quality"), (int, float)) and p.get("epoch") is not None]


def curves_section(records: list[Record], colours: dict[str, str]) -> str:
    """Per benchmark and scale, every stored training run's quality per epoch, the target and the controls."""
    from aibench.report import figures

    groups: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for r in records:
        if r["mode"] == "train" and _curve_points(r) and not (r.get("config") or {}).get("smoke"):
            groups[(r["benchmark"], r["scale"])].append(r)
    if not groups:
        return ""
    imgs = []
    for bench, scale in sorted(groups, key=lambda k: (_number(k[0]), k[1])):
        runs = groups[(bench, scale)]
        controls = {}
        for r in runs:  # each label's latest control
            if _control_quality(r) is not None:
                controls[label_of(r)] = _control_quality(r)
        png = figures.quality_curve_figure(
            f"{_short(bench)} ({scale}): {len(runs)} run{'s' * (len(runs) > 1)}", runs[-1]["metric"],
            [{"label": label_of(r), "points": _curve_points(r)} for r in runs], runs[-1].get("target"),
            sorted(controls.items()), colours)
        imgs.append(_img(png, f"quality per epoch, {_short(bench)} {scale}"))
    return ("<h2 id='curves'>Quality per epoch</h2>"
            + _p("Each training run's evaluated quality per epoch, one colour per label; solid grey: the target at "
                 "that scale; dashed: the control's quality (the model without the paper's key part), where run. "
                 "Hollow points may not meet the target (a teacher phase, an evaluation past the time budget).")
            + f"<div class='grid'>{''.join(imgs)}</div>")


def cost_rows(records: list[Record]) -> list[list[str]]:
    """Table 6: epoch time and total training time, the paper's beside the store's, and whether they compare."""
    rows = []
    for r in _in_order(_latest(records, "train")):
        c, m = registry.card(r["benchmark"]), r.get("metrics") or {}
        epoch = statistics.median(m["epoch_times_s"]) if m.get("epoch_times_s") else None
        comparable = ("same data set; hardware differs" if r["scale"] == "full"
                      else f"no: {r['scale']} data, not the paper's")
        rows.append([_short(c.id), label_of(r), r["scale"], sig(c.epoch_time_s), sig(c.total_time_h), sig(epoch),
                     sig(m.get("run_time_s")), comparable])
    return rows


def cost_section(records: list[Record]) -> str:
    return ("<h2 id='cost'>Training cost (paper Table 6)</h2>"
            + _p("Caveat: the paper's columns are one epoch and a whole training of the full data set on a TITAN RTX "
                 "GPU; the local columns time the stored run at its own scale. At tiny scale an epoch is a few "
                 "hundred to a few thousand synthetic or shrunk samples, so a tiny epoch beside the paper's "
                 "ImageNet epoch says nothing about relative speed. Only full-scale rows are the same work.",
                 "caveat")
            + _table(["id", "label", "scale", "paper epoch (s)", "paper total (h)", "epoch here (s)",
                      "run here (s)", "comparable with the paper?"], cost_rows(records)))


# --- inference -----------------------------------------------------------------------------------------------------

def _shown_inference(records: list[Record]) -> dict[tuple[str, str], Record]:
    """Inference records shown as results: never a short one (runs shortened below the scale's minimums)."""
    return _latest([r for r in records if not (r.get("metrics") or {}).get("short")], "infer")


def inference_rows(records: list[Record], systems: Systems | None = None) -> list[list[str]]:
    """Each scenario's MLPerf metric and LoadGen's verdict, per benchmark and label."""
    systems = systems or Systems(records)
    rows = []
    for r in _in_order(_shown_inference(records)):
        m = r.get("metrics") or {}
        h = inference_headlines(m)
        energy = m.get("energy_per_sample_j")
        rows.append([_short(r["benchmark"]), label_of(r), _when(r), systems.ref(r), r["scale"],
                     m.get("model_state", ""), sig(r["quality"]), status_label(r), sig(h["SingleStream"]),
                     sig(h["MultiStream"]), sig(h["Server"]), sig(h["bound_ms"]), sig(h["Offline"]),
                     sig(energy) if energy is not None else "unavailable", validity_text(m)])
    return rows


def _scenario_validity(s: dict[str, Any]) -> str:
    if s.get("skipped"):
        return f"skipped: {s['skipped']}" if isinstance(s["skipped"], str) else "skipped"
    if s.get("valid") is False:
        return f"INVALID: {s.get('invalid_reason') or 'no reason given'}"
    return "VALID" if s.get("valid") else DASH


def scenario_rows(records: list[Record]) -> list[list[str]]:
    """Latency percentiles of every LoadGen scenario of each shown inference run, with its verdict."""
    rows = []
    for r in _in_order(_shown_inference(records)):
        scenarios = (r.get("metrics") or {}).get("scenarios") or {}
        for name in [s for s in SCENARIOS if s in scenarios] + [s for s in scenarios if s not in SCENARIOS]:
            s = scenarios[name] or {}
            lat = s.get("latency_ms") or {}
            rows.append([_short(r["benchmark"]), label_of(r), name, *[sig(lat.get(p)) for p in PERCENTILES],
                         sig(s.get("mean_latency_ms")), count(s.get("queries")), count(s.get("samples")),
                         _scenario_validity(s)])
    return rows


def server_curves(records: list[Record]) -> dict[str, dict[str, Any]]:
    """Per benchmark and label, its shown record's peak-QPS search steps (target QPS, p99, validity), p99 bound."""
    many = len(labels(records)) > 1
    out = {}
    for (bench, label), r in _shown_inference(records).items():
        server = ((r.get("metrics") or {}).get("scenarios") or {}).get("Server") or {}
        if server.get("search"):
            name = f"{_short(bench)} ({label})" if many else _short(bench)
            out[name] = {"search": server["search"], "bound_ms": server.get("latency_bound_ms")}
    return out


def inference_section(records: list[Record], systems: Systems) -> str:
    from aibench.report import figures

    parts = ["<h2 id='inference'>Inference (MLPerf LoadGen)</h2>",
             _table(["benchmark", "label", "run (UTC)", "system", "scale", "model", "quality", "status",
                     "SingleStream p90 ms", "MultiStream p99 ms", "Server peak QPS", "Server p99 bound ms",
                     "Offline samples/s", "energy/sample (J)", "LoadGen validity"],
                    inference_rows(records, systems)),
             _p("Headline metrics are MLPerf's: SingleStream p90 and MultiStream p99 are LoadGen's early-stopping "
                "estimates; Server is the highest target QPS whose run was VALID (p99 under the bound); Offline is "
                "samples per second. Runs shortened with --infer-duration-ms are not shown."),
             "<h3 id='latency'>Latency percentiles and validity per scenario</h3>",
             _table(["benchmark", "label", "scenario", "p50 ms", "p90 ms", "p95 ms", "p97 ms", "p99 ms",
                     "p99.9 ms", "mean ms", "queries", "samples", "LoadGen validity"], scenario_rows(records))]
    curves = server_curves(records)
    if curves:
        parts += ["<h3 id='server'>Server: p99 latency vs offered QPS (each step of the peak-QPS search)</h3>",
                  _img(figures.server_figure(curves), "Server p99 latency against offered QPS")]
    return "".join(parts)


# --- characterization ----------------------------------------------------------------------------------------------

def _named(shown: dict[tuple[str, str], Record], many: bool) -> dict[str, Record]:
    """Figure names: C10, or C10 (label) when the store holds several labels."""
    return {f"{_short(b)} ({label})" if many else _short(b): shown[(b, label)]
            for b, label in sorted(shown, key=lambda k: (_number(k[0]), k[1]))}


def hotspot_rows(profiles: dict[str, dict[str, Any]]) -> list[list[str]]:
    """Table 7: for each kernel category, the functions taking the largest share in some benchmark."""
    best: dict[str, list[tuple[float, str, str]]] = {}
    for bench, ch in profiles.items():
        for h in ch["breakdown"]["hotspots"]:
            best.setdefault(h["category"], []).append((h["share"], h["name"], bench))
    rows = []
    for cat, items in sorted(best.items()):
        for share, name, bench in sorted(items, reverse=True)[:3]:
            rows.append([cat, name, bench, percent(share)])
    return rows


COUNTER_EVENTS = ("cycles", "instructions", "cache-references", "cache-misses", "branches", "branch-misses")


def counter_rows(records: list[Record]) -> list[list[str]]:
    """Each shown profile's hardware counters (Linux perf), or why there are none."""
    rows = []
    for r in _in_order(_latest(records, "profile")):
        counters = (r.get("characterization") or {}).get("counters")
        if not isinstance(counters, dict):
            state, events, derived = "unavailable: not recorded by this profile", {}, {}
        elif counters.get("status") != "measured":
            state, events, derived = f"unavailable: {counters.get('reason') or 'no reason recorded'}", {}, {}
        else:
            state, events, derived = "measured", counters.get("events") or {}, counters
        rows.append([_short(r["benchmark"]), label_of(r), _when(r), state,
                     *[sig(events.get(e)) for e in COUNTER_EVENTS], sig(derived.get("ipc")),
                     percent(derived.get("cache_miss_rate")), percent(derived.get("branch_miss_rate"))])
    return rows


def counters_section(records: list[Record]) -> str:
    rows = counter_rows(records)
    if not rows:
        return ""
    return ("<h2 id='counters'>Hardware counters (Linux perf, during profiling)</h2>"
            + _p("Virtual machines and containers often expose no counters: those rows say why, with no number.")
            + _table(["benchmark", "label", "run (UTC)", "counters", *COUNTER_EVENTS, "IPC", "cache miss rate",
                      "branch miss rate"], rows))


def model_points(records: list[Record]) -> dict[str, dict[str, Any]]:
    """Fig. 2's points, one per benchmark (parameters and FLOPs belong to the model, not the machine), from its
    latest successful training run; the epochs to quality are the median over the labels' shown runs."""
    per_bench: dict[str, list[Record]] = defaultdict(list)
    for r in _in_order(_latest(records, "train")):
        ch = r.get("characterization") or {}
        if (ch.get("params") or {}).get("total") and ch.get("flops_train_per_sample"):
            per_bench[r["benchmark"]].append(r)
    points = {}
    for bench, runs in per_bench.items():
        ch = max(runs, key=lambda r: r.get("created_at") or "")["characterization"]
        epochs = [e for r in runs if (e := (r.get("metrics") or {}).get("epochs_to_quality")) is not None]
        points[_short(bench)] = {"params": ch["params"]["total"], "flops": ch["flops_train_per_sample"],
                                 "epochs": statistics.median(epochs) if epochs else None}
    return points


def characterization_section(records: list[Record]) -> str:
    from aibench.report import figures

    many = len(labels(records)) > 1
    parts = []
    points = model_points(records)
    if points:
        parts += ["<h2 id='models'>Model characteristics (paper Fig. 2)</h2>",
                  _img(figures.model_figure(points), "parameters against FLOPs per sample")]
    profiles = {name: r["characterization"] for name, r in _named(_latest(records, "profile"), many).items()
                if (r.get("characterization") or {}).get("breakdown")}
    if profiles:
        parts += ["<h2 id='breakdown'>Runtime breakdown (paper Fig. 5)</h2>",
                  _img(figures.breakdown_figure(profiles), "runtime share per kernel category"),
                  "<h2 id='hotspots'>Hotspot functions (paper Table 7)</h2>",
                  _table(["category", "function", "benchmark", "share"], hotspot_rows(profiles))]
    parts.append(counters_section(records))
    parts.append(clustering_section(records))
    return "".join(parts)


def clustering_section(records: list[Record]) -> str:
    """Fig. 4 per label and the subset chosen by the paper's criteria (`aibench subset`): drawn only from profiles
    of at least CLUSTER_MIN_BENCHMARKS benchmarks, else a sentence; the selection needs MIN_PROFILED."""
    from aibench.analysis.cluster import cluster
    from aibench.report import figures

    profiled = [r for r in records if r["mode"] == "profile" and r["status"] == "completed"
                and (r.get("characterization") or {}).get("breakdown")]
    if not profiled:
        return ""
    parts = ["<h2 id='clusters'>Clustering and subset (paper Fig. 4, §5.4)</h2>"]
    for label in labels(profiled):
        mine = [r for r in profiled if label_of(r) == label]
        benches = sorted({r["benchmark"] for r in mine}, key=_number)
        if len(benches) < CLUSTER_MIN_BENCHMARKS:
            parts.append(_p(f"{label}: not drawn: clustering needs profiles of at least {CLUSTER_MIN_BENCHMARKS} "
                            f"benchmarks and this label has {len(benches)} ({', '.join(map(_short, benches))}); "
                            "run `aibench profile all`."))
            continue
        selection, refusal = _selection(records, label)
        clustering = selection.clustering if selection else cluster(mine)
        parts.append(_p(f"{label}: {len(benches)} benchmarks profiled, {len(set(clustering.labels))} clusters "
                        f"({clustering.k_reason})."))
        parts.append(_subset_text(selection) if selection else _p(f"No subset chosen: {refusal}."))
        parts.append(_img(figures.cluster_figure(clustering), f"t-SNE clustering, {label}"))
    return "".join(parts)


def _selection(records: list[Record], label: str) -> tuple[Any, str]:
    """`aibench subset` for one label (its newest scale's profiles), or why it refused."""
    from aibench.analysis.subset import select_subset
    from aibench.errors import UserError

    mine = [r for r in records if label_of(r) == label]
    scales = [r["scale"] for r in mine if r["mode"] == "profile"]
    try:
        return select_subset(mine, label=label, scale=scales[-1] if scales else None), ""
    except UserError as refused:
        return None, str(refused)


def _subset_text(selection: Any) -> str:
    """The picks with the criterion that decided each, the cost reduction and the agreement with the paper."""
    rows = [[str(p.cluster), _short(p.benchmark), " ".join(map(_short, p.members)), p.decided_by, p.detail]
            for p in selection.picks]
    here = selection.cost["this_machine"]
    reduction = percent(here["reduction"]) if here.get("reduction") is not None else DASH
    agree = selection.agreement
    verdict = ("the same as the paper's (C1, C9, C16)" if agree["same"] else
               f"different from the paper's (C1, C9, C16): in both {', '.join(map(_short, agree['both'])) or 'none'}"
               f"; only here {', '.join(map(_short, agree['only_this_machine'])) or 'none'}")
    return (_p(f"Subset by the paper's criteria (accepted metric, run-to-run variation, diversity of model "
               f"complexity, cost): {', '.join(map(_short, selection.subset))}; {verdict}. Its time to quality is "
               f"{reduction} less than the whole suite's on this machine (Table 6's measure).")
            + _table(["cluster", "pick", "members", "decided by", "numbers"], rows))


# --- the page ------------------------------------------------------------------------------------------------------

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}
th{background:#f2f2f2;text-align:left;vertical-align:bottom}
td,th{border:1px solid #ccc;padding:3px 7px}
td{white-space:nowrap}
td.long{white-space:normal;min-width:14em}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
p.caveat{border-left:4px solid #d98c00;background:#fff7e6;padding:.4em .8em;max-width:70em}
p{max-width:75em}
img{max-width:100%}
.grid{display:flex;flex-wrap:wrap;gap:8px}
.grid img{width:420px}
nav a{margin-right:1em}
"""


def _header(records: list[Record]) -> str:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if not records:
        return "<h1>AIBench results</h1>" + _p(f"Generated {now}. The store holds no runs yet.")
    dates = sorted(r.get("created_at") or "" for r in records)
    nav = "".join(f"<a href='#{a}'>{t}</a>" for a, t in (
        ("systems", "systems"), ("compare", "comparison"), ("quality", "Table 3"), ("curves", "curves"),
        ("variation", "Table 5"), ("cost", "Table 6"), ("inference", "inference"), ("counters", "counters"),
        ("clusters", "clustering")))
    return ("<h1>AIBench results</h1>"
            + _p(f"Generated {now} from {len(records)} stored runs, {dates[0][:10]} to {dates[-1][:10]}; labels: "
                 f"{', '.join(labels(records))}. Times are UTC.")
            + f"<nav>{nav}</nav>")


def render(records: list[Record]) -> str:
    """The whole report as one HTML document."""
    from aibench.report import figures

    systems = Systems(records)
    colours = figures.label_colours(labels(records))
    body = [_header(records)]
    if records:
        body += [systems_section(systems), comparison_section(records), training_section(records, systems),
                 curves_section(records, colours), cost_section(records), inference_section(records, systems),
                 characterization_section(records)]
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>AIBench results</title>"
            f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>")


def write_report(records: list[Record], out: Path) -> Path:
    """Write the report to `out` (one file; its folder is created)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(records), encoding="utf-8")
    return out

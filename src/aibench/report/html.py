"""An HTML report of the stored results: the paper's tables and figures for the user's own machine."""

from __future__ import annotations

import base64
import html
import statistics
from pathlib import Path
from typing import Any

from aibench import registry
from aibench.report.tables import inference_headlines, status_label, validity_text
from aibench.analysis.variation import summarize_repeats


def _fmt(value: Any, spec: str = "{:.4g}") -> str:
    return "–" if value is None else spec.format(value)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


RESULT_STATUS = {"train": "success", "infer": "completed", "profile": "completed"}


def _latest(records: list[dict[str, Any]], mode: str) -> dict[str, dict[str, Any]]:
    """Per benchmark, the run shown as its result: the latest successful one (a later Ctrl-C'd or failed run
    never replaces it); the latest of any status only where none succeeded, its status shown beside it."""
    out: dict[str, dict[str, Any]] = {}
    for r in records:
        if r["mode"] != mode:
            continue
        shown = out.get(r["benchmark"])
        if shown is None or r["status"] == RESULT_STATUS[mode] or shown["status"] != RESULT_STATUS[mode]:
            out[r["benchmark"]] = r
    return out


def other_run_rows(records: list[dict[str, Any]], mode: str) -> list[list[str]]:
    """The runs not shown as results, counted by benchmark, scale and status."""
    shown = {id(r) for r in _latest(records, mode).values()}
    counts: dict[tuple[str, str, str], int] = {}
    for r in records:
        if r["mode"] == mode and id(r) not in shown:
            key = (r["benchmark"], r["scale"], r["status"])
            counts[key] = counts.get(key, 0) + 1
    return [[b, scale, status, str(n)] for (b, scale, status), n in sorted(counts.items())]


def _spread(v: dict[str, Any]) -> str:
    if v.get("epochs_cv") is not None:
        return _fmt(100 * v["epochs_cv"], "{:.2f}%")
    return v.get("epochs_spread_reason") or "–"


def _olympic(v: dict[str, Any]) -> str:
    if v.get("valid") is False:
        return f"invalid: {v.get('reason', '')}"
    return _fmt(v.get("ttq_olympic_mean_s"), "{:.1f}")


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def quality_rows(records: list[dict[str, Any]]) -> list[list[str]]:
    """Table 3 with this machine's numbers: the latest training run of each benchmark."""
    rows = []
    for bench, r in sorted(_latest(records, "train").items(), key=lambda kv: registry.card(kv[0]).number):
        c, m = registry.card(bench), r["metrics"]
        rows.append([c.id, c.task, c.algorithm, c.metric, c.paper_target_text, r["scale"], _fmt(r["target"]),
                     _fmt(r["quality"]), status_label(r), _fmt(m.get("time_to_quality_s"), "{:.1f}"),
                     _fmt(m.get("epochs_to_quality")), _fmt(m.get("throughput_samples_per_s"), "{:.1f}"),
                     _fmt((m.get("utilization") or {}).get("mfu"), "{:.1%}"),
                     _fmt(m.get("energy_to_quality_j"), "{:.1f}") if m.get("energy_j") is not None else "unavailable"])
    return rows


def cost_rows(records: list[dict[str, Any]]) -> list[list[str]]:
    """Table 6: epoch time and total training time, the paper's beside this machine's."""
    rows = []
    for bench, r in sorted(_latest(records, "train").items(), key=lambda kv: registry.card(kv[0]).number):
        c, m = registry.card(bench), r["metrics"]
        epoch = statistics.median(m["epoch_times_s"]) if m.get("epoch_times_s") else None
        rows.append([c.id, r["scale"], _fmt(c.epoch_time_s, "{:.2f}"), _fmt(c.total_time_h), _fmt(epoch, "{:.2f}"),
                     _fmt(m.get("run_time_s"), "{:.1f}")])
    return rows


def _shown_inference(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Inference records shown as results: never a short one (runs shortened below the scale's minimums)."""
    return _latest([r for r in records if not (r.get("metrics") or {}).get("short")], "infer")


def inference_rows(records: list[dict[str, Any]]) -> list[list[str]]:
    """Each scenario's MLPerf metric, LoadGen's verdict, and the raw SingleStream percentiles beside them."""
    rows = []
    for bench, r in sorted(_shown_inference(records).items(), key=lambda kv: registry.card(kv[0]).number):
        m, lat = r["metrics"], r["metrics"].get("latency_ms", {})
        h = inference_headlines(m)
        rows.append([bench, r["scale"], m.get("model_state", ""), _fmt(r["quality"]), status_label(r),
                     _fmt(h["SingleStream"], "{:.2f}"), _fmt(lat.get("50.00"), "{:.2f}"),
                     _fmt(lat.get("90.00"), "{:.2f}"), _fmt(lat.get("99.00"), "{:.2f}"),
                     _fmt(h["MultiStream"], "{:.2f}"), _fmt(h["Server"], "{:.1f}"), _fmt(h["bound_ms"], "{:g}"),
                     _fmt(h["Offline"], "{:.1f}"),
                     _fmt(m.get("energy_per_sample_j"), "{:.3g}") if m.get("energy_per_sample_j") is not None
                     else "unavailable", validity_text(m)])
    return rows


def server_curves(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per benchmark, its shown record's peak-QPS search steps (target QPS, p99, validity) and p99 bound."""
    out = {}
    for bench, r in _shown_inference(records).items():
        server = ((r.get("metrics") or {}).get("scenarios") or {}).get("Server") or {}
        if server.get("search"):
            out[bench.removeprefix("DC-AI-")] = {"search": server["search"], "bound_ms": server.get("latency_bound_ms")}
    return out


def hotspot_rows(profiles: dict[str, dict[str, Any]]) -> list[list[str]]:
    """Table 7: for each kernel category, the functions taking the largest share in some benchmark."""
    best: dict[str, list[tuple[float, str, str]]] = {}
    for bench, ch in profiles.items():
        for h in ch["breakdown"]["hotspots"]:
            best.setdefault(h["category"], []).append((h["share"], h["name"], bench))
    rows = []
    for cat, items in sorted(best.items()):
        for share, name, bench in sorted(items, reverse=True)[:3]:
            rows.append([cat, name, bench.removeprefix("DC-AI-"), f"{100 * share:.1f}%"])
    return rows


def write_report(records: list[dict[str, Any]], out: Path) -> Path:
    from aibench.report import figures

    out.parent.mkdir(parents=True, exist_ok=True)
    fig_dir = out.parent / (out.stem + "-figures")
    parts = ["<h1>AIBench results</h1>"]
    if records:
        sysinfo = records[-1]["system"]
        parts.append(f"<p>System: {html.escape(str(sysinfo.get('cpu_model')))}, {sysinfo.get('logical_cpus')} CPUs, "
                     f"GPUs: {html.escape(str([g['name'] for g in sysinfo.get('gpus', [])] or 'none'))}, "
                     f"code {html.escape(str(sysinfo.get('code_version')))}</p>")
    parts.append("<h2>Quality and time to quality (paper Table 3, this machine)</h2>")
    parts.append(_table(["id", "task", "algorithm", "metric", "paper target", "scale", "target", "quality", "status",
                         "time to quality (s)", "epochs", "samples/s", "MFU", "energy to quality (J)"],
                        quality_rows(records)))
    parts.append("<p>MFU: model FLOPs per sample (FlopCounterMode) x measured samples/s, over the float32 peak a "
                 "matmul probe measured on this machine (each record names its probe).</p>")
    others = other_run_rows(records, "train")
    if others:
        parts.append("<h3>Other training runs (not shown as results)</h3>")
        parts.append(_table(["benchmark", "scale", "status", "runs"], others))
    variation = summarize_repeats(records)
    parts.append("<h2>Run-to-run variation (paper Table 5)</h2>")
    parts.append(_table(["benchmark", "scale", "runs", "successes", "epochs mean", "CV", "olympic TTQ (s)"],
                        [[v["benchmark"], v["scale"], str(v["runs"]), str(v["successes"]), _fmt(v.get("epochs_mean")),
                          _spread(v), _olympic(v)] for v in variation]))
    parts.append("<h2>Training cost (paper Table 6: paper's TITAN RTX beside this machine)</h2>")
    parts.append(_table(["benchmark", "scale", "paper epoch (s)", "paper total (h)", "epoch here (s)",
                         "run here (s)"], cost_rows(records)))
    parts.append("<h2>Inference (MLPerf LoadGen)</h2>")
    parts.append(_table(["benchmark", "scale", "model", "quality", "status", "SingleStream p90 ms (early stop.)",
                         "SS p50 ms", "SS p90 ms", "SS p99 ms", "MultiStream p99 ms (early stop.)",
                         "Server peak QPS", "Server p99 bound ms", "Offline samples/s", "energy/sample (J)",
                         "LoadGen validity"], inference_rows(records)))
    parts.append("<p>Headline metrics are MLPerf's: SingleStream p90 and MultiStream p99 are LoadGen's early-stopping "
                 "estimates (the raw SingleStream percentiles beside them); Server is the highest target QPS whose run "
                 "was VALID (p99 under the bound); Offline is samples per second. Runs shortened with "
                 "--infer-duration-ms are not shown.</p>")
    curves = server_curves(records)
    if curves:
        parts.append("<h3>Server: p99 latency vs offered QPS (each peak-QPS search step)</h3>")
        parts.append(_img(figures.server_figure(curves, fig_dir / "server.png")))
    profiles = {b.removeprefix("DC-AI-"): r["characterization"] for b, r in _latest(records, "profile").items()}
    train = _latest(records, "train")
    points = {b.removeprefix("DC-AI-"): {"params": r["characterization"]["params"]["total"],
                                         "flops": r["characterization"]["flops_train_per_sample"],
                                         "epochs": r["metrics"].get("epochs")} for b, r in train.items()
              if r.get("characterization", {}).get("params")}
    if points:
        parts.append("<h2>Model characteristics (paper Fig. 2)</h2>")
        parts.append(_img(figures.model_figure(points, fig_dir / "models.png")))
    if profiles:
        parts.append("<h2>Runtime breakdown (paper Fig. 5)</h2>")
        parts.append(_img(figures.breakdown_figure(profiles, fig_dir / "breakdown.png")))
        parts.append("<h2>Hotspot functions (paper Table 7)</h2>")
        parts.append(_table(["category", "function", "benchmark", "share"], hotspot_rows(profiles)))
    if len(profiles) >= 2:
        from aibench.analysis.cluster import cluster

        clustering = cluster(records)
        parts.append("<h2>Clustering and subset (paper Fig. 4)</h2>")
        parts.append(f"<p>Representative subset: {html.escape(', '.join(clustering.subset))}</p>")
        parts.append(_img(figures.cluster_figure(clustering, fig_dir / "clusters.png")))
    style = ("<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}img{max-width:900px}</style>")
    out.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>AIBench results</title>{style}</head>"
                   f"<body>{''.join(parts)}</body></html>")
    return out

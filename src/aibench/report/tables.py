"""Terminal tables (rich) for benchmark cards and stored results. Torch-free."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.table import Table

from aibench import registry
from aibench.spec import PaperCard


def _num(value: Any, fmt: str = "{:.4g}") -> str:
    return "-" if value is None else fmt.format(value)


def benchmark_table(cards: Iterable[PaperCard]) -> Table:
    table = Table(title="AIBench component benchmarks (paper Tables 3, 5, 6)")
    for col in ("id", "name", "algorithm", "data set", "metric", "paper target", "variation", "epoch (s)",
                "total (h)", "subset", "implemented", "Server p99\nms t/s/f"):
        table.add_column(col)
    for c in cards:
        bounds = registry.spec(c).server_latency_ms if registry.implemented(c) else {}
        table.add_row(c.id, c.name, c.algorithm, c.dataset, c.metric + (" ↑" if c.higher_is_better else " ↓"),
                      c.paper_target_text, _num(c.variation_pct, "{:.2f}%"), _num(c.epoch_time_s, "{:.2f}"),
                      _num(c.total_time_h), "✓" if c.in_subset else "", "✓" if registry.implemented(c) else "",
                      "/".join(_num(bounds.get(s), "{:g}") for s in ("tiny", "small", "full")) if bounds else "-")
    return table


def status_label(record: dict[str, Any]) -> str:
    """A run's status, marked when it was resumed from another run's checkpoint (its time to quality joins two
    processes' training time: not a time-to-train result MLPerf would accept)."""
    resumed = (record.get("config") or {}).get("resumed_from")
    label = f"{record['status']} (resumed #{resumed})" if resumed else record["status"]
    if (record.get("metrics") or {}).get("short"):  # LoadGen runs shortened below the scale's minimums
        label += " (short)"
    return label


def inference_headlines(metrics: dict[str, Any]) -> dict[str, Any]:
    """Each LoadGen scenario's MLPerf metric: SingleStream p90 and MultiStream p99 (early-stopping estimates,
    ms), Server peak QPS at its p99 bound, Offline samples/s; None where the scenario did not run."""
    scen = metrics.get("scenarios") or {}

    def head(name: str) -> Any:
        r = scen.get(name) or {}
        return None if r.get("skipped") else r.get("headline")

    return {"SingleStream": head("SingleStream"), "MultiStream": head("MultiStream"), "Server": head("Server"),
            "Offline": head("Offline") if "headline" in (scen.get("Offline") or {}) else metrics.get("offline_qps"),
            "bound_ms": (scen.get("Server") or {}).get("latency_bound_ms")}


def validity_text(metrics: dict[str, Any]) -> str:
    """LoadGen's verdict per scenario that ran: VALID, or INVALID with its reason; skipped ones say so."""
    parts = []
    for name, r in (metrics.get("scenarios") or {}).items():
        if r.get("skipped"):
            parts.append(f"{name}: skipped")
        elif r.get("valid") is False:
            parts.append(f"{name}: INVALID ({r.get('invalid_reason')})")
        elif r.get("valid"):
            parts.append(f"{name}: VALID")
    return "; ".join(parts) or "-"


def results_table(rows: list[dict[str, Any]], title: str) -> Table:
    """One line per stored run; short headers so it fits an 80-column terminal."""
    table = Table(title=title)
    for col in ("#", "bench", "mode", "scale", "status", "quality/target", "TTQ s", "epochs", "train/s",
                "SS p90/MS p99 ms", "Server/Offline QPS", "MFU", "J"):
        table.add_column(col, overflow="fold")
    for r in rows:
        m = r.get("metrics") or {}
        energy = m.get("energy_j") if r["mode"] == "train" else m.get("energy_per_sample_j")
        h = inference_headlines(m) if r["mode"] == "infer" else {}
        table.add_row(
            str(r["id"]), r["benchmark"].removeprefix("DC-AI-"), r["mode"], r["scale"], status_label(r),
            f"{_num(r.get('quality'))}/{_num(r.get('target'))}", _num(m.get("time_to_quality_s"), "{:.1f}"),
            _num(m.get("epochs")), _num(m.get("throughput_samples_per_s"), "{:.0f}"),
            f"{_num(h.get('SingleStream'), '{:.2f}')}/{_num(h.get('MultiStream'), '{:.2f}')}" if h else "-",
            f"{_num(h.get('Server'), '{:.0f}')}/{_num(h.get('Offline'), '{:.0f}')}" if h else "-", _mfu(m),
            _num(energy, "{:.3g}") if energy is not None else "n/a",
        )
    invalid = [r for r in rows if r["status"] == "invalid"]
    if invalid:
        table.caption = "\n".join(f"#{r['id']} {r['benchmark'].removeprefix('DC-AI-')}: {r.get('message') or ''}"
                                  for r in invalid)
    return table


def _mfu(metrics: dict[str, Any]) -> str:
    """Model FLOPs utilization: measured FLOP/s over the machine's matmul-probe peak (the record says which)."""
    mfu = (metrics.get("utilization") or {}).get("mfu")
    return "-" if mfu is None else f"{100 * mfu:.1f}%"


def variation_table(summary: list[dict[str, Any]]) -> Table:
    """One line per group of repeats (benchmark, scale, fingerprint); a statistic one run cannot give says so."""
    table = Table(title="run-to-run variation (paper Table 5: CV of epochs to quality)")
    for col in ("benchmark", "scale", "fingerprint", "differs by", "runs", "successes", "epochs mean", "epochs std",
                "CV", "olympic TTQ (s)", "notes"):
        table.add_column(col, overflow="fold")
    for s in summary:
        na = s.get("epochs_spread_reason")
        std, cv = s.get("epochs_std"), s.get("epochs_cv")
        differs = "; ".join(f"{k}={v}" for k, v in (s.get("distinguished_by") or {}).items())
        olympic = _num(s.get("ttq_olympic_mean_s"), "{:.1f}") if s.get("valid", True) else "invalid"
        notes = [s["reason"]] if s.get("reason") else []
        table.add_row(s["benchmark"], s["scale"], s.get("fingerprint", "-"), differs or "-", str(s["runs"]),
                      str(s["successes"]), _num(s.get("epochs_mean")),
                      na if std is None and na else _num(std),
                      na if cv is None and na else ("-" if cv is None else f"{100 * cv:.2f}%"),
                      olympic, "; ".join(notes + list(s.get("notes") or [])) or "-")
    return table


def profile_table(rows: list[dict[str, Any]]) -> Table:
    """Params, FLOPs, the runtime breakdown (paper Fig. 5), the top hotspot and IPC where counted."""
    from aibench.characterize.breakdown import CATEGORIES

    table = Table(title="workload characterization (paper Fig. 5 categories, share of profiled time)")
    extra = ("recurrent", "attention", "communication")  # ops whose kernels the profiler does not show apart
    for col in ("benchmark", "params", "GFLOPs/sample (train)", *CATEGORIES, "rnn/attn/comm", "data loading",
                "top hotspot", "IPC"):
        table.add_column(col)
    for r in rows:
        ch = r["characterization"]
        breakdown = ch["breakdown"]
        shares = breakdown["category_share"]
        hot = breakdown["hotspots"][:1]
        counters = ch.get("counters", {})
        loading = breakdown.get("data_loading_share")
        table.add_row(r["benchmark"], _num(ch["params"]["total"], "{:,}"), _num(ch["flops_train_per_sample"] / 1e9),
                      *[f"{100 * shares[c]:.1f}%" for c in CATEGORIES],
                      f"{100 * sum(shares.get(c, 0.0) for c in extra):.1f}%",
                      "-" if loading is None else f"{100 * loading:.1f}% of host",
                      f"{hot[0]['name']} ({100 * hot[0]['share']:.0f}%)" if hot else "-",
                      _num(counters.get("ipc"), "{:.2f}") if counters.get("status") == "measured" else "unavailable")
    return table


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


def _short(value: float | None) -> str:
    """Three significant digits without an exponent: 0.169, 41.3, 1200."""
    if value is None:
        return "-"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def smoke_table(rows: list[dict[str, Any]], title: str) -> Table:
    """Smoke runs of small/full configurations: whether each built, stepped and served, and its real size. Short
    headers and numbers so it fits an 80-column terminal (the scale is in the title, setup time in the record)."""
    table = Table(title=title)
    for col in ("bench", "status", "params\n(M)", "GFLOP\n/sample", "step\ns", "last\nloss", "eval\nn",
                "p50\nms", "warn-\nings"):
        table.add_column(col, no_wrap=True)
    for r in rows:
        m = r.get("metrics") or {}
        smoke = m.get("smoke") or {}
        ch = r.get("characterization") or {}
        steps = smoke.get("step_times_s") or []
        losses = smoke.get("losses") or []
        single = (m.get("scenarios") or {}).get("SingleStream") or {}
        table.add_row(
            r["benchmark"].removeprefix("DC-AI-"), r["status"],
            _num(_scaled((ch.get("params") or {}).get("total"), 1e-6), "{:.3g}"),
            _num(_scaled(ch.get("flops_inference_per_sample"), 1e-9), "{:.3g}"),
            _num(max(steps) if steps else None, "{:.2f}"),
            _num(losses[-1] if losses else None, "{:.3g}"), _num(smoke.get("eval_samples")),
            _short((single.get("latency_ms") or {}).get("50.00")), str(len(m.get("warnings") or [])),
        )
    return table

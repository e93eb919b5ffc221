"""Terminal tables for benchmark cards and stored results, through one mechanism. Torch-free.

Every table is a `TableSpec`: its columns (a header, how to get a row's cell, a priority) and its rows. It renders
three ways: as a rich table fitted to the terminal's width (the columns that fit, by priority, each cell whole:
never cut or folded), as plain tab-separated text when stdout is not a terminal (every column, a header line and
one line per row, for `cut`, `sort`, spreadsheets and logs), and as JSON rows. `--wide` shows every column at a
terminal too, at the table's natural width.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import chain
from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segments
from rich.table import Table

from aibench import registry
from aibench.spec import PaperCard


@dataclass(frozen=True)
class Column:
    """One column: `value(row)` gives the cell's text. Priority 0 is always shown; at a narrow terminal the columns
    with the largest priority are left out first. A `hoist` column whose cell is the same in every row is said
    once under the table instead (the label or scale of a store that holds one)."""

    name: str
    value: Callable[[Any], str]
    priority: int = 0
    numeric: bool = False  # right-aligned
    hoist: bool = False


@dataclass
class TableSpec:
    title: str
    columns: Sequence[Column]
    rows: Sequence[Any]
    notes: list[str] = field(default_factory=list)  # lines under the table at a terminal (not in TSV)
    wide: bool = False  # every column at its natural width, even past the terminal's

    def cells(self) -> list[list[str]]:
        return [[_one_line(col.value(row)) for col in self.columns] for row in self.rows]

    def tsv(self) -> str:
        """A header line and one tab-separated line per row, every column."""
        lines = ["\t".join(_tsv_cell(c.name) for c in self.columns)]
        lines += ["\t".join(_tsv_cell(cell) for cell in row) for row in self.cells()]
        return "\n".join(lines)

    def json_rows(self) -> list[dict[str, str]]:
        return [dict(zip((c.name for c in self.columns), row)) for row in self.cells()]

    def rich_table(self, console: Console, width: int) -> Table:
        """The columns that fit `width` whole, by priority (all of them when wide), in their own order.

        A hoist column (the label) says its one value under the table; when values differ it must show, and
        where its values would not fit whole they are replaced by short keys (L1, L2) explained under the table."""
        cells = self.cells()
        shown = list(range(len(self.columns)))
        notes = list(self.notes)
        if not self.wide:
            hoist = [i for i, c in enumerate(self.columns) if c.hoist and cells]
            same = [i for i in hoist if len({r[i] for r in cells}) == 1]
            varying = [i for i in hoist if i not in same]
            notes = [f"{self.columns[i].name}: {cells[0][i]}" for i in same] + notes
            shown = [i for i in shown if i not in same and (self.columns[i].priority == 0 or _filled(cells, i))]
            must = {i for i in shown if self.columns[i].priority == 0} | set(varying)
            if _natural_width(console, self, cells, sorted(must)) > width:
                for i in varying:
                    cells, legend = _keyed(cells, i, self.columns[i].name[:1].upper())
                    notes = legend + notes
            shown = _fit(console, self, cells, shown, must, width)
        table = _table(self, cells, shown)
        if notes:
            table.caption = "\n".join(notes)
        return table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.rich_table(console, options.max_width)


def _one_line(text: Any) -> str:
    return " ".join(str(text).split()) if text is not None else "-"


def _tsv_cell(text: str) -> str:
    return text.replace("\t", " ").replace("\n", " ")


def _table(spec: TableSpec, cells: list[list[str]], shown: list[int]) -> Table:
    table = Table(title=spec.title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True,
                  title_justify="left",
                  caption_justify="left")
    for i in shown:
        col = spec.columns[i]
        table.add_column(col.name, justify="right" if col.numeric else "left", no_wrap=True)
    for row in cells:
        table.add_row(*(row[i] for i in shown))
    return table


def _natural_width(console: Console, spec: TableSpec, cells: list[list[str]], shown: list[int]) -> int:
    return _width(console, _table(spec, cells, shown))


def _filled(cells: list[list[str]], column: int) -> bool:
    """Whether any row has something in this column (a column of dashes says nothing at a terminal)."""
    return any(row[column] not in ("-", "") for row in cells)


def _keyed(cells: list[list[str]], column: int, prefix: str) -> tuple[list[list[str]], list[str]]:
    """Column `column`'s values replaced by short keys in order of appearance (L1, L2, ...), and their legend."""
    keys: dict[str, str] = {}
    for row in cells:
        keys.setdefault(row[column], f"{prefix}{len(keys) + 1}")
    keyed = [[keys[cell] if n == column else cell for n, cell in enumerate(row)] for row in cells]
    return keyed, [f"{key}: {value}" for value, key in keys.items()]


def _fit(console: Console, spec: TableSpec, cells: list[list[str]], candidates: list[int], must: set[int],
         width: int) -> list[int]:
    """Always the `must` columns; then each other column, by priority, that still lets every cell fit."""
    shown = [i for i in candidates if i in must]
    for i in sorted((i for i in candidates if i not in must), key=lambda i: spec.columns[i].priority):
        trial = sorted(shown + [i])
        if _natural_width(console, spec, cells, trial) <= width:
            shown = trial
    return shown


def _width(console: Console, table: Table) -> int:
    """The width a table needs to show every cell whole (its title may wrap)."""
    title, table.title = table.title, None
    try:
        return Measurement.get(console, console.options.update_width(10_000), table).maximum
    finally:
        table.title = title


def show(console: Console, *specs: TableSpec) -> None:
    """Each table as a fitted rich table at a terminal, as tab-separated text when stdout is not one."""
    for n, spec in enumerate(specs):
        if not console.is_terminal:
            console.file.write(("\n" if n else "") + spec.tsv() + "\n")
            console.file.flush()
            continue
        table = spec.rich_table(console, console.width)
        natural = _width(console, table)
        if natural <= console.width:
            console.print(table)
        else:  # --wide, or columns that must show: never cut, the terminal wraps the lines (or `less -S` pans)
            lines = console.render_lines(table, console.options.update_width(natural), pad=False, new_lines=True)
            console.print(Segments(chain.from_iterable(lines)), crop=False)


def _num(value: Any, fmt: str = "{:.4g}") -> str:
    return "-" if value is None else fmt.format(value)


def _bench(row: dict[str, Any]) -> str:
    """A benchmark's short id (C1): whole in any width, unlike DC-AI-C1 in a squeezed column."""
    return str(row.get("benchmark") or "-").removeprefix("DC-AI-")


def benchmark_table(cards: Iterable[PaperCard], wide: bool = False) -> TableSpec:
    def bounds(c: PaperCard) -> str:
        b = registry.spec(c).server_latency_ms if registry.implemented(c) else {}
        return "/".join(_num(b.get(s), "{:g}") for s in ("tiny", "small", "full")) if b else "-"

    def tiny_control(c: PaperCard) -> str:
        """The control's measured quality at tiny against the tiny target (`aibench run --controls`)."""
        if not registry.implemented(c):
            return "-"
        cfg = registry.spec(c).scales.get("tiny")
        if cfg is None or cfg.control is None:
            return "-"
        return f"{cfg.control:.3g} vs {cfg.target:g}"

    columns = [
        Column("bench", lambda c: c.alias),
        Column("name", lambda c: c.name),
        Column("data set", lambda c: c.dataset, 1),
        Column("subset", lambda c: "yes" if c.in_subset else "", 1),
        Column("paper target", lambda c: c.paper_target_text, 2),
        Column("impl.", lambda c: "yes" if registry.implemented(c) else "no", 3),
        Column("algorithm", lambda c: c.algorithm, 4),
        Column("metric", lambda c: c.metric + (" ↑" if c.higher_is_better else " ↓"), 5),
        Column("variation", lambda c: _num(c.variation_pct, "{:.2f}%"), 6, numeric=True),
        Column("epoch s", lambda c: _num(c.epoch_time_s, "{:.2f}"), 6, numeric=True),
        Column("total h", lambda c: _num(c.total_time_h), 6, numeric=True),
        Column("Server p99 ms t/s/f", bounds, 7),
        Column("tiny control vs target", tiny_control, 7),
        Column("id", lambda c: c.id, 8),
    ]
    return TableSpec("AIBench component benchmarks (paper Tables 3, 5, 6)", columns, list(cards), wide=wide)


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


def _metric(key: str, fmt: str, mode: str | None = None) -> Callable[[dict[str, Any]], str]:
    def cell(r: dict[str, Any]) -> str:
        if mode and r.get("mode") != mode:
            return "-"
        return _num((r.get("metrics") or {}).get(key), fmt)
    return cell


def _headline(scenario: str, fmt: str) -> Callable[[dict[str, Any]], str]:
    def cell(r: dict[str, Any]) -> str:
        return _num(inference_headlines(r.get("metrics") or {}).get(scenario), fmt) if r.get("mode") == "infer" \
            else "-"
    return cell


def _energy(r: dict[str, Any]) -> str:
    if r.get("mode") not in ("train", "infer"):
        return "-"
    m = r.get("metrics") or {}
    energy = m.get("energy_j") if r.get("mode") == "train" else m.get("energy_per_sample_j")
    return _num(energy, "{:.3g}") if energy is not None else "n/a"


def results_table(rows: list[dict[str, Any]], title: str, wide: bool = False) -> TableSpec:
    """One line per stored run. At 80 columns: the run, its status and quality; wider terminals add the rest."""
    columns = [
        Column("#", lambda r: str(r["id"]), numeric=True),
        Column("bench", _bench),
        Column("mode", lambda r: r["mode"]),
        Column("status", status_label),
        Column("quality", lambda r: _num(r.get("quality")), 1, numeric=True),
        Column("target", lambda r: _num(r.get("target")), 1, numeric=True),
        Column("label", lambda r: r.get("label") or "-", 2, hoist=True),
        Column("TTQ s", _metric("time_to_quality_s", "{:.1f}", "train"), 2, numeric=True),
        Column("scale", lambda r: r["scale"], 3, hoist=True),
        Column("epochs", _metric("epochs", "{:.4g}", "train"), 3, numeric=True),
        Column("train/s", _metric("throughput_samples_per_s", "{:.0f}", "train"), 4, numeric=True),
        Column("SS p90 ms", _headline("SingleStream", "{:.2f}"), 2, numeric=True),
        Column("Offline QPS", _headline("Offline", "{:.0f}"), 3, numeric=True),
        Column("Server QPS", _headline("Server", "{:.0f}"), 5, numeric=True),
        Column("MS p99 ms", _headline("MultiStream", "{:.2f}"), 5, numeric=True),
        Column("MFU", lambda r: _mfu(r.get("metrics") or {}), 6, numeric=True),
        Column("J", _energy, 6, numeric=True),
        Column("started", lambda r: str(r.get("created_at") or "-").replace("T", " ")[:16], 7),
        Column("message", lambda r: r.get("message") or "-", 9),
    ]
    notes = [f"#{r['id']} {_bench(r)}: {r.get('message') or ''}" for r in rows if r["status"] == "invalid"]
    return TableSpec(title, columns, rows, notes=notes, wide=wide)


def _mfu(metrics: dict[str, Any]) -> str:
    """Model FLOPs utilization: measured FLOP/s over the machine's matmul-probe peak (the record says which)."""
    mfu = (metrics.get("utilization") or {}).get("mfu")
    return "-" if mfu is None else f"{100 * mfu:.1f}%"


def variation_table(summary: list[dict[str, Any]], wide: bool = False) -> TableSpec:
    """One line per group of repeats (benchmark, scale, fingerprint); a statistic one run cannot give says so."""
    def spread(key: str, fmt: Callable[[Any], str]) -> Callable[[dict[str, Any]], str]:
        def cell(s: dict[str, Any]) -> str:
            na = s.get("epochs_spread_reason")
            return na if s.get(key) is None and na else ("-" if s.get(key) is None else fmt(s[key]))
        return cell

    columns = [
        Column("bench", _bench),
        Column("runs", lambda s: str(s["runs"]), numeric=True),
        Column("successes", lambda s: str(s["successes"]), numeric=True),
        Column("epochs mean", lambda s: _num(s.get("epochs_mean")), 1, numeric=True),
        Column("epochs std", spread("epochs_std", _num), 1, numeric=True),
        Column("CV", spread("epochs_cv", lambda v: f"{100 * v:.2f}%"), 1, numeric=True),
        Column("olympic TTQ s", lambda s: _num(s.get("ttq_olympic_mean_s"), "{:.1f}") if s.get("valid", True)
               else "invalid", 2, numeric=True),
        Column("scale", lambda s: s["scale"], 3, hoist=True),
        Column("fingerprint", lambda s: s.get("fingerprint", "-"), 4),
        Column("differs by", lambda s: "; ".join(f"{k}={v}" for k, v in (s.get("distinguished_by") or {}).items())
               or "-", 5),
        Column("notes", lambda s: "; ".join(([s["reason"]] if s.get("reason") else [])
                                            + list(s.get("notes") or [])) or "-", 6),
    ]
    return TableSpec("run-to-run variation (paper Table 5: CV of epochs to quality)", columns, summary, wide=wide)


def profile_table(rows: list[dict[str, Any]], wide: bool = False) -> TableSpec:
    """Params, FLOPs, the runtime breakdown (paper Fig. 5), the top hotspot and IPC where counted."""
    from aibench.characterize.breakdown import CATEGORIES

    extra = ("recurrent", "attention", "communication")  # ops whose kernels the profiler does not show apart

    def ch(r: dict[str, Any]) -> dict[str, Any]:
        return r.get("characterization") or {}

    def share(category: str) -> Callable[[dict[str, Any]], str]:
        return lambda r: f"{100 * ch(r)['breakdown']['category_share'][category]:.1f}%"

    def hotspot(r: dict[str, Any]) -> str:
        hot = ch(r)["breakdown"]["hotspots"][:1]
        return f"{hot[0]['name']} ({100 * hot[0]['share']:.0f}%)" if hot else "-"

    def ipc(r: dict[str, Any]) -> str:
        counters = ch(r).get("counters", {})
        return _num(counters.get("ipc"), "{:.2f}") if counters.get("status") == "measured" else "unavailable"

    def loading(r: dict[str, Any]) -> str:
        value = ch(r)["breakdown"].get("data_loading_share")
        return "-" if value is None else f"{100 * value:.1f}% of host"

    def other_share(r: dict[str, Any]) -> str:
        shares = ch(r)["breakdown"]["category_share"]
        return f"{100 * sum(shares.get(c, 0.0) for c in extra):.1f}%"

    short = {"data_arrangement": "data arr.", "convolution": "conv", "batch_norm": "batch norm",
             "elementwise": "elemwise", "memory_copy": "mem copy"}
    main = ("convolution", "gemm", "elementwise")  # the categories that dominate most benchmarks
    columns = [
        Column("bench", _bench),
        Column("#", lambda r: str(r["id"]), 6, numeric=True),
        Column("params", lambda r: _num(ch(r)["params"]["total"], "{:,}"), 1, numeric=True),
        Column("GFLOP/sample", lambda r: _num(ch(r)["flops_train_per_sample"] / 1e9), 1, numeric=True),
        *[Column(short.get(c, c), share(c), 2 if c in main else 4, numeric=True) for c in CATEGORIES],
        Column("rnn/attn/comm", other_share, 4, numeric=True),
        Column("label", lambda r: r.get("label") or "-", 3, hoist=True),
        # a breakdown under autocast is another machine's workload: never read as fp32's
        Column("precision", lambda r: (r.get("config") or {}).get("precision") or "fp32", 3, hoist=True),
        Column("top hotspot", hotspot, 5),
        Column("data loading", loading, 5),
        Column("IPC", ipc, 5, numeric=True),
    ]
    return TableSpec("workload characterization (paper Fig. 5 categories, share of profiled time; GFLOP: training)",
                     columns, rows, wide=wide)


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


def _short(value: float | None) -> str:
    """Three significant digits without an exponent: 0.169, 41.3, 1200."""
    if value is None:
        return "-"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def smoke_table(rows: list[dict[str, Any]], title: str, wide: bool = False) -> TableSpec:
    """Smoke runs of small/full configurations: whether each built, stepped and served, and its real size."""
    def m(r: dict[str, Any]) -> dict[str, Any]:
        return r.get("metrics") or {}

    def smoke(r: dict[str, Any]) -> dict[str, Any]:
        return m(r).get("smoke") or {}

    def p50(r: dict[str, Any]) -> str:
        single = (m(r).get("scenarios") or {}).get("SingleStream") or {}
        return _short((single.get("latency_ms") or {}).get("50.00"))

    def last(values: list[Any]) -> Any:
        return values[-1] if values else None

    columns = [
        Column("bench", _bench),
        Column("status", lambda r: r["status"]),
        Column("params M", lambda r: _num(_scaled(((r.get("characterization") or {}).get("params") or {})
                                                  .get("total"), 1e-6), "{:.3g}"), 1, numeric=True),
        Column("GFLOP/sample", lambda r: _num(_scaled((r.get("characterization") or {})
                                                      .get("flops_inference_per_sample"), 1e-9), "{:.3g}"),
               1, numeric=True),
        Column("step s", lambda r: _num(max(smoke(r).get("step_times_s") or [None], key=lambda v: v or 0),
                                        "{:.2f}"), 2, numeric=True),
        Column("last loss", lambda r: _num(last(smoke(r).get("losses") or []), "{:.3g}"), 2, numeric=True),
        Column("eval n", lambda r: _num(smoke(r).get("eval_samples")), 3, numeric=True),
        Column("p50 ms", p50, 3, numeric=True),
        Column("warnings", lambda r: str(len(m(r).get("warnings") or [])), 2, numeric=True),
        Column("label", lambda r: r.get("label") or "-", 4, hoist=True),
        Column("#", lambda r: str(r["id"]), 5, numeric=True),
    ]
    return TableSpec(title, columns, rows, wide=wide)

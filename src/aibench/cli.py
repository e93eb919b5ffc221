"""The `aibench` command: parses arguments, calls the library, prints. No logic of its own.

Heavy modules (torch, the harness) are imported inside the commands that need them, so `aibench list` is fast.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from aibench import registry
from aibench.errors import UserError
from aibench.spec import SCALES


class _Help(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Descriptions as written (one line per mode or scale), and each option's default after its help, except
    where there is none to show (None, a flag's False) or the help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line on stderr and exit code 2, like every other user error."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message}")


RUN_DESCRIPTION = """\
Train and/or serve benchmarks and store each run's record (`aibench results`, `aibench report`).

modes:
  train   train to the scale's quality target (or its epoch/time budget): time and epochs to quality, throughput
  infer   serve the newest trained checkpoint through MLPerf LoadGen: latency percentiles, QPS, accuracy
  all     train, then serve the model just trained

scales:
  tiny    shrunk models on synthesized data in the real layouts (no --data-dir needed): a laptop CPU, CI
  small   the reference architecture at full width on a modest subset of the real data sets (one GPU)
  full    the paper's configuration: real data sets, reference hyperparameters, Table 3's targets

selectors: an id (DC-AI-C1), alias (C1) or name (image_classification); `subset` (C1, C9, C16); `all`."""

REPORT_DESCRIPTION = """\
Write one self-contained HTML file from the stored records, each section beside the paper's figures:
quality and time to quality (Table 3), run-to-run variation (Table 5), training cost (Table 6), inference
through MLPerf LoadGen, model characteristics (Fig. 2), runtime breakdown (Fig. 5), hotspot functions
(Table 7), clustering and the subset (Fig. 4). It reads the store (--db, or results.sqlite under --out)
and writes the file named by --html; open it in a browser."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _scenarios(text: str) -> tuple[str, ...]:
    known = ("SingleStream", "MultiStream", "Server", "Offline")
    names = tuple(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown scenario(s) {', '.join(bad) or repr(text)}; choose from "
                                         f"{','.join(known)}")
    return names


def _existing_dir(text: str) -> Path:
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: no such directory")
    return path


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="aibench", description="AIBench component benchmarks: training and inference.")
    parser.add_argument("--version", action="version", version=version_text())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("list", help="list the 17 component benchmarks",
                       description="The 17 component benchmarks with the paper's data set, target and costs.")
    p.add_argument("--subset", action="store_true", help="only the AIBench subset (C1, C9, C16)")
    _add_output_args(p)

    p = sub.add_parser("run", help="train and/or serve benchmarks and store the measured results",
                       description=RUN_DESCRIPTION)
    p.add_argument("selectors", nargs="+", metavar="SELECTOR", help="DC-AI-C1, C1, image_classification, subset, all")
    p.add_argument("--mode", choices=("train", "infer", "all"), default="train", help="what to measure (above)")
    p.add_argument("--scale", choices=SCALES, default="tiny", help="model and data size (above)")
    p.add_argument("--data-dir", type=_existing_dir, help="root of the real data sets (default at tiny: synthesize)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the first run")
    p.add_argument("--repeats", type=_positive_int, default=1, help="runs with seeds seed, seed+1, ...")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1")
    p.add_argument("--max-epochs", type=_positive_int, help="override the scale's epoch budget")
    _add_compute_args(p, "training steps, evaluation and inference", "kept in the record and the MLPerf log's "
                      "precision keys")
    _add_threads_arg(p)
    p.add_argument("--infer-duration-ms", type=_positive_int,
                   help="LoadGen minimum duration per scenario; below the scale's own (MLPerf's 600 s above tiny) "
                        "the record is flagged short and never shown as a result")
    p.add_argument("--scenarios", type=_scenarios, metavar="LIST",
                   help="LoadGen scenarios, comma-separated: SingleStream,MultiStream,Server,Offline (default: all "
                        "four; at tiny a default scenario whose LoadGen minimum query count would take over "
                        "20 s on this machine is skipped and says so)")
    p.add_argument("--audit", choices=("TEST01",),
                   help="MLPerf compliance audit: TEST01 logs a tenth of a performance run's responses and checks "
                        "them against the accuracy run's")
    p.add_argument("--smoke", action="store_true",
                   help="check the scale's real configuration: a few optimizer steps at a small batch, one evaluation "
                        "on a few samples, a short LoadGen pass; stores a record with status smoke, never a result "
                        "(run it on `aibench data synth --scale small|full` data before renting GPUs)")
    p.add_argument("--resume", action="store_true",
                   help="continue the newest interrupted (aborted, crashed or error) training run of each benchmark, "
                        "scale and seed from its last training checkpoint; the new record is marked resumed")
    p.add_argument("--nproc", type=_positive_int, default=1,
                   help="train on N processes of this machine (torchrun; gloo on the CPU, NCCL on CUDA, one GPU "
                        "each); across machines start `torchrun ... -m aibench run ...` yourself")
    p.add_argument("--untrained", action="store_true",
                   help="with --mode infer: serve a freshly initialised model when no checkpoint exists (else refused)")
    p.add_argument("--pretrained", action="append", default=[], metavar="CN=PATH",
                   help="state-dict file a benchmark starts from (torchvision's format or a checkpoint of this "
                        "suite); needed by C4 and C9 at small/full; repeatable")
    p.add_argument("--controls", action="store_true",
                   help="after each training run, train its control (the same model without the paper's key part, "
                        "same data, seed and budget, outside the timed run) and store its quality beside the method's")
    _add_label_arg(p)
    _add_store_args(p)
    _add_output_args(p, what="the stored records of this run")

    p = sub.add_parser("profile", help="characterize benchmarks: FLOPs, runtime breakdown, hotspots, counters",
                       description="Characterize benchmarks as the paper's section 5 does: parameters, FLOPs per "
                                   "sample, the runtime\nbreakdown by kernel category (Fig. 5), hotspot "
                                   "functions and hardware counters (IPC) where readable.")
    p.add_argument("selectors", nargs="+", metavar="SELECTOR", help="DC-AI-C1, C1, image_classification, subset, all")
    p.add_argument("--scale", choices=SCALES, default="tiny", help="model and data size (see `run --help`)")
    p.add_argument("--data-dir", type=_existing_dir, help="root of the real data sets (default at tiny: synthesize)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1")
    p.add_argument("--steps", type=_positive_int, default=3, help="training steps profiled")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    _add_compute_args(p, "the profiled training steps", "kept in the profile record, so a breakdown under "
                      "autocast is never read as fp32's")
    _add_threads_arg(p)
    _add_label_arg(p)
    _add_store_args(p)
    _add_output_args(p, what="the stored profile records")

    p = sub.add_parser("results", help="list stored results",
                       description="The stored runs, one line each (tab-separated when stdout is not a terminal).")
    p.add_argument("--benchmark", help="only this benchmark")
    p.add_argument("--mode", choices=("train", "infer", "profile", "smoke"), help="only the records of this mode")
    p.add_argument("--label", help="only the records of this label")
    p.add_argument("--csv", action="store_true",
                   help="the records as CSV, one column per field, nested metrics flattened to dotted names "
                        "(metrics.throughput_samples_per_s); deeper structures as JSON text")
    _add_store_args(p)
    _add_output_args(p, what="the stored records")

    p = sub.add_parser("compare", help="compare two labels' runs: ratio B/A per benchmark and metric, with a "
                                       "95%% bootstrap interval and a Mann-Whitney U test")
    p.add_argument("labels", nargs="+", metavar="LABEL",
                   help="A B: two labels of one store; with --db twice, one label (in both) or A B (A from the first)")
    p.add_argument("--db", action="append", default=[], metavar="URL",
                   help="SQLAlchemy URL of a results store; give it twice to compare two stores (default: "
                        "sqlite:///aibench-results/results.sqlite)")
    p.add_argument("--benchmark", help="only this benchmark")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="rows, geometric means and notes as JSON")
    fmt.add_argument("--csv", action="store_true", help="rows and geometric means as CSV (notes on stderr)")
    fmt.add_argument("--markdown", action="store_true", help="tables for a pull request or a wiki page")
    p.add_argument("--fail-if-slower", type=_percent, metavar="PCT",
                   help="exit 1 when any metric of B is significantly (p < 0.05) worse than A's by more than PCT "
                        "percent, for CI gates")

    p = sub.add_parser("subset", help="choose the benchmark subset by the paper's criteria from stored profiles and "
                                      "repeated runs (needs `profile all` and `run all --repeats 3`)")
    p.add_argument("--json", action="store_true", help="the selection, every criterion's numbers and the costs as JSON")
    p.add_argument("--label", help="the label whose records to use (needed when the store holds several)")
    p.add_argument("--scale", choices=SCALES,
                   help="the scale whose records to use (needed when the store holds several)")
    p.add_argument("--seed", type=int, default=0, help="k-means and t-SNE seed (default: 0)")
    _add_store_args(p)

    p = sub.add_parser("report", help="write an HTML report of the stored results (paper tables and figures)",
                       description=REPORT_DESCRIPTION)
    p.add_argument("--html", type=Path, default=Path("aibench-results/report.html"),
                   help="the HTML file to write (its folder is created)")
    _add_store_args(p)

    p = sub.add_parser("data", help="write or validate data sets")
    data = p.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    for name, text in (("synth", "write a data set in the real on-disk layout: at tiny a small learnable one, at "
                                 "small/full a small one shaped like the real set (for `run --smoke`)"),
                       ("check", "validate a data set's on-disk layout"),
                       ("prepare", "build the data set's artefacts (subword model, vocabularies) before a run, "
                                   "so the run's untimed initialization only loads them")):
        q = data.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        q.add_argument("selectors", nargs="+", metavar="SELECTOR", help="DC-AI-C1, C1, image_classification, "
                                                                         "subset, all")
        q.add_argument("--dir", type=Path, required=True,
                       help="the data set's folder (with several benchmarks: one subfolder each, by name)")
        q.add_argument("--scale", choices=SCALES, default="tiny", help="which configuration's data")
        q.add_argument("--seed", type=int, default=1234, help="random seed of a synthesized set")
    return parser


def version_text() -> str:
    """aibench's version and the installed torch's, read from package metadata (torch is not imported)."""
    from importlib import metadata

    def installed(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    return f"aibench {installed('aibench')} (torch {installed('torch')}, Python {sys.version.split()[0]})"


def _add_output_args(p: argparse.ArgumentParser, what: str = "the rows") -> None:
    p.add_argument("--json", action="store_true",
                   help=f"print {what} as JSON on stdout, nothing else there (progress goes to stderr)")
    p.add_argument("--wide", action="store_true",
                   help="every column, even past the terminal's width (by default the columns that fit whole)")


def _add_compute_args(p: argparse.ArgumentParser, what: str, kept: str) -> None:
    """--precision, --channels-last and --compile: the same options, and meaning, for `run` and `profile`."""
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32",
                   help=f"autocast {what} to bf16, or fp16 with gradient scaling (CUDA only); {kept}")
    p.add_argument("--channels-last", action="store_true",
                   help="models with 2-D convolutions in the channels-last memory format")
    p.add_argument("--compile", action="store_true", help="torch.compile the models (on the CPU: needs a C++ compiler)")


def _add_threads_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=_positive_int, help="torch CPU threads (default: torch's choice)")


def _set_threads(threads: int | None, console: Any) -> None:
    """Apply --threads, then warn if the host's other work and these threads oversubscribe its CPUs."""
    import torch

    from aibench.characterize.system import busy_host_warning, load_average, runnable_others

    if threads:
        torch.set_num_threads(threads)
    warning = busy_host_warning(load_average(), os.cpu_count() or 1, torch.get_num_threads(), runnable_others())
    if warning:
        console.print(f"[yellow]warning:[/yellow] {warning}")


def _add_label_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--label", type=_label,
                   help="name of the machine or software stack these runs speak for, stored in each record and "
                        "compared by `aibench compare` (default: host name and device, e.g. myhost-cpu)")


def _label(text: str) -> str:
    text = text.strip()
    if not text or len(text) > 128 or any(ch in text for ch in "\t\n\r"):
        raise argparse.ArgumentTypeError(f"expected a label of 1 to 128 characters on one line, got {text!r}")
    return text


def _add_store_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", help="SQLAlchemy URL of the results store (default: results.sqlite under --out)")
    p.add_argument("--out", type=Path, default=Path("aibench-results"),
                   help="folder for the store, logs and checkpoints")


def cmd_list(args: argparse.Namespace) -> int:
    cards = [c for c in registry.CARDS if c.in_subset or not args.subset]
    if args.json:
        rows = [{"id": c.id, "alias": c.alias, "name": c.name, "task": c.task, "algorithm": c.algorithm,
                 "dataset": c.dataset, "metric": c.metric, "higher_is_better": c.higher_is_better,
                 "paper_target": c.paper_target, "paper_target_text": c.paper_target_text,
                 "variation_pct": c.variation_pct, "repeat_times": c.repeat_times,
                 "epoch_time_s": c.epoch_time_s, "total_time_h": c.total_time_h, "in_subset": c.in_subset,
                 "implemented": registry.implemented(c), **_spec_facts(c)} for c in cards]
        print(json.dumps(rows, indent=2))
        return 0
    from aibench.report.tables import benchmark_table, show

    show(_console(), benchmark_table(cards, wide=args.wide))
    return 0


def _spec_facts(c: Any) -> dict[str, Any]:
    """The full-scale model size and the documented choices of an implemented benchmark (no torch import)."""
    if not registry.implemented(c):
        return {}
    spec = registry.spec(c)
    size = spec.full_size
    return {"full_params": size.params if size else None,
            "full_flops_per_sample": size.flops_per_sample if size else None,
            "full_size_source": size.source if size else None,
            "full_size_note": size.note if size else None,
            "pretrained": {scale: cfg.pretrained for scale, cfg in spec.scales.items() if cfg.pretrained},
            "server_latency_ms": dict(spec.server_latency_ms), "server_latency_basis": spec.server_latency_basis,
            "control": spec.control or None, "no_control": None if spec.control else spec.no_control,
            "control_quality": {scale: {"control": cfg.control, "target": cfg.target, "margin": cfg.control_margin,
                                        "source": cfg.control_source}
                                for scale, cfg in spec.scales.items() if cfg.control is not None},
            "choices": dict(spec.choices)}


def cmd_run(args: argparse.Namespace) -> int:
    cards = registry.select(args.selectors)
    missing = [c.alias for c in cards if not registry.implemented(c)]
    if missing:
        raise UserError(f"not implemented yet: {', '.join(missing)} (see `aibench list`)")
    for c in cards:
        registry.spec(c).scale(args.scale)
    from aibench.harness.pretrained import parse_pretrained
    from aibench.harness.runner import RunOptions, run_benchmark, pick_device
    from aibench.results.store import ResultStore

    pick_device(args.device)  # a bad device is a user error before any work starts
    if args.smoke and args.scale == "tiny":
        raise UserError("--smoke checks a small or full configuration: add --scale small or --scale full")
    if args.controls and (args.mode == "infer" or args.smoke or args.nproc > 1):
        raise UserError("--controls trains each benchmark's control beside a training run on one process: use it "
                        "with --mode train or all, without --smoke or --nproc")
    pretrained = parse_pretrained(args.pretrained)
    from aibench.harness.infer import inference_settings

    infer = inference_settings(args.scale, args.scenarios, args.infer_duration_ms, args.audit)
    opts = RunOptions(scale=args.scale, mode=args.mode, data_dir=args.data_dir, seed=args.seed,
                      repeats=args.repeats, device=args.device, out_dir=args.out, max_epochs=args.max_epochs,
                      infer=infer, smoke=args.smoke, pretrained=pretrained,
                      untrained=args.untrained, resume=args.resume, precision=args.precision,
                      channels_last=args.channels_last, compile=args.compile, label=args.label,
                      controls=args.controls)
    from aibench.harness.precision import check_cards

    check_cards(cards, opts)  # an option this device or benchmark cannot honour: one line, before any work
    from aibench.harness.distributed import world_from_env
    from aibench.harness.runner import check_data_parallel

    world = world_from_env()  # set by torchrun or srun in each training process
    for c in cards:
        check_data_parallel(c, opts, world.world_size if world.distributed else args.nproc)
    if args.nproc > 1 and not world.distributed:
        return _launch(args, cards, opts)
    if world.distributed:
        _join_world(world, opts, args.device)
    _check_out_dir(args.out)
    store = ResultStore(_db_url(args))
    console = _talk(args.json, quiet=not world.is_main)  # one process speaks: rank 0
    for record_id in store.mark_crashed() if world.is_main else []:  # runs whose process died without finishing them
        console.print(f"[yellow]note:[/yellow] record #{record_id} was left `running` by a process that is gone: "
                      "stored as crashed")
    _set_threads(args.threads, console)
    records: list[dict[str, Any]] = []
    for c in cards:
        records += run_benchmark(c, opts, store, console)
    if world.is_main:
        _print_run_tables(args, records)
    bad = [r for r in records if r["status"] not in ("success", "completed", "smoke")]
    if world.distributed:
        from aibench.harness.distributed import shutdown

        shutdown(world)
        return 0  # every rank's runs ended and are stored: a missed target is not a failed process for torchrun
    return 1 if bad else 0


def _print_run_tables(args: argparse.Namespace, records: list[dict[str, Any]]) -> None:
    """The records of this run: JSON, or the results (smoke) table and, with repeats, the variation table."""
    if args.json:
        from aibench.results.store import dumps

        print(dumps(records), flush=True)
        return
    from aibench.report.tables import results_table, show, smoke_table

    tables = [smoke_table(records, title=f"smoke runs of the {args.scale} configurations (not results)",
                          wide=args.wide) if args.smoke
              else results_table(records, title="aibench results of this run", wide=args.wide)]
    if args.repeats > 1 and args.mode != "infer" and not args.smoke:
        from aibench.analysis.variation import summarize_repeats
        from aibench.report.tables import variation_table

        tables.append(variation_table(summarize_repeats(records), wide=args.wide))
    show(_console(), *tables)


def _join_world(world: Any, opts: Any, device: str) -> None:
    """A training process started by torchrun or srun: join the process group, and let a launch by
    `aibench run --nproc` finalize the record when torchrun stops this rank because another one failed."""
    from aibench.harness.distributed import init_process_group
    from aibench.harness.launch import StoppedByLauncher, launched_id
    from aibench.harness.runner import pick_device

    opts.world, opts.launch_id = world, launched_id()
    init_process_group(world, pick_device(device))
    if opts.launch_id:
        def stopped(signum: int, frame: Any) -> None:
            raise StoppedByLauncher

        signal.signal(signal.SIGTERM, stopped)


def _launch(args: argparse.Namespace, cards: list[Any], opts: Any) -> int:
    """`aibench run --nproc N` on one machine: prepare each data set once, start N processes with torchrun,
    and end the records of a rank that failed as `error` naming it."""
    from aibench.harness.launch import finalize_launch, launch
    from aibench.harness.runner import prepare_data
    from aibench.results.store import ResultStore

    _check_out_dir(args.out)
    store = ResultStore(_db_url(args))  # created here, before N processes open it at once
    console = _talk(args.json)
    for c in cards:
        prepare_data(c, opts, console)
    from aibench.harness.runner import pick_device

    backend = "NCCL, one GPU each" if pick_device(opts.device).type == "cuda" else "gloo on the CPU"
    console.print(f"[dim]training on {args.nproc} processes (torchrun, {backend})[/dim]")
    launch_id, failure = launch(args.nproc, args.argv)
    records = finalize_launch(store, launch_id, failure)
    if failure:
        print(f"aibench: error: {failure}; its run is stored as error (`aibench results`)", file=sys.stderr)
    return 1 if failure or any(r["status"] != "success" for r in records) else 0


def cmd_profile(args: argparse.Namespace) -> int:
    cards = registry.select(args.selectors)
    missing = [c.alias for c in cards if not registry.implemented(c)]
    if missing:
        raise UserError(f"not implemented yet: {', '.join(missing)} (see `aibench list`)")
    from aibench.harness.runner import RunOptions, pick_device, run_profile
    from aibench.report.tables import profile_table, show
    from aibench.results.store import ResultStore, dumps

    pick_device(args.device)
    opts = RunOptions(scale=args.scale, data_dir=args.data_dir, seed=args.seed, device=args.device, out_dir=args.out,
                      label=args.label, precision=args.precision, channels_last=args.channels_last,
                      compile=args.compile)
    from aibench.harness.precision import check_cards

    check_cards(cards, opts)  # an option this device or benchmark cannot honour: one line, before any work
    _check_out_dir(args.out)
    store = ResultStore(_db_url(args))
    _set_threads(args.threads, _talk(args.json))
    rows = [run_profile(c, opts, store, steps=args.steps) for c in cards]
    if args.json:
        print(dumps(rows))
    else:
        show(_console(), profile_table(rows, wide=args.wide))
    return 0


def cmd_results(args: argparse.Namespace) -> int:
    from aibench.results.store import NoResults, ResultStore, dumps

    bench = registry.card(args.benchmark).id if args.benchmark else None
    try:
        rows = ResultStore(_db_url(args), create=False).records(benchmark=bench, mode=args.mode,
                                                                    label=args.label)
    except NoResults as nothing:  # an empty answer, not a failure: scripts get [] and people the next step
        print(f"aibench: {nothing}", file=sys.stderr)
        if args.json:
            print("[]")
        return 0
    if args.json:
        print(dumps(rows))
        return 0
    if args.csv:
        from aibench.report.export import records_csv

        sys.stdout.write(records_csv(rows))
        return 0
    from aibench.report.tables import results_table, show

    show(_console(), results_table(rows, title="stored aibench results", wide=args.wide))
    return 0


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percentage, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a percentage of 0 or more, got {text!r}")
    return value


def cmd_compare(args: argparse.Namespace) -> int:
    from aibench.analysis import compare
    from aibench.results.store import DEFAULT_URL

    bench = registry.card(args.benchmark).id if args.benchmark else None
    a, b, label_a, label_b, sources = compare.load_labels(args.db or [DEFAULT_URL], args.labels, bench)
    result = compare.compare_labels(a, b, label_a, label_b)
    result.sources = sources
    if args.json:
        print(compare.render_json(result, args.fail_if_slower))
    else:
        kind = "csv" if args.csv else "markdown" if args.markdown else "text" if sys.stdout.isatty() else "tsv"
        print(compare.RENDERERS[kind](result))
        if args.csv:  # the CSV holds rows only: what was left out and not compared is said here
            for line in compare.summary_lines(result)[:2] + [f"not compared: {n}" for n in result.notes]:
                print(f"aibench: {line}", file=sys.stderr)
    if args.fail_if_slower is None:
        return 0
    for line in compare.gate_lines(result, args.fail_if_slower):
        print(f"aibench: {line}", file=sys.stderr)
    return 1 if compare.regressions(result, args.fail_if_slower) else 0


def cmd_subset(args: argparse.Namespace) -> int:
    from aibench.analysis.subset import render_text, select_subset
    from aibench.results.store import NoResults, ResultStore

    try:
        rows = ResultStore(_db_url(args), create=False).records()
    except NoResults:  # no store is no profiled benchmark: the selection's own refusal says what to run
        rows = []
    selection = select_subset(rows, label=args.label, scale=args.scale, seed=args.seed)
    print(json.dumps(selection.to_json(), indent=2) if args.json else render_text(selection))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from aibench.report.html import write_report
    from aibench.results.store import ResultStore

    rows = ResultStore(_db_url(args), create=False).records()
    try:
        path = write_report(rows, args.html)
    except OSError as err:
        raise UserError(f"cannot write the report {args.html}: {err.strerror or err}") from None
    print(f"wrote {path}")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from aibench.harness.runner import synthesize

    cards = registry.select(args.selectors)
    for c in cards:
        cls = registry.benchmark_class(c)
        cfg = registry.spec(c).scale(args.scale)
        path = args.dir if len(cards) == 1 else args.dir / c.name
        if args.data_command == "synth":
            synthesize(c, path, args.scale, args.seed)
            print(f"{c.alias}: wrote {path}")
        elif args.data_command == "prepare":
            from aibench.harness.runner import RunOptions, prepare_artefacts

            for a in prepare_artefacts(c, RunOptions(scale=args.scale, data_dir=args.dir, device="cpu")) or [{}]:
                if not a:
                    print(f"{c.alias}: no artefacts (its data is prepared inside the timed run)")
                else:
                    how = f"built in {a['build_s']:.1f} s" if a["built_in_run"] else "already cached"
                    print(f"{c.alias}: {a['name']} {how}: {a['path']}")
        else:
            from aibench.harness.runner import benchmark_data_dir

            if not args.dir.is_dir():
                raise UserError(f"{args.dir}: no such directory")
            path = benchmark_data_dir(args.dir, c)
            summary = cls.check_data(path, cfg)
            print(f"{c.alias}: {path} ok " + json.dumps(summary, default=str))
    return 0


def _check_out_dir(out: Path) -> None:
    """`--out` must be a folder this user can write, before any work starts."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".aibench-write-check-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise UserError(f"--out {out}: cannot write there ({err.strerror or err})") from None


def _db_url(args: argparse.Namespace) -> str:
    return args.db or f"sqlite:///{args.out / 'results.sqlite'}"


def _console(quiet: bool = False) -> Any:
    """stdout: tables (rich at a terminal, tab-separated text elsewhere) and nothing else."""
    from rich.console import Console

    return Console(quiet=quiet)


def _talk(json_out: bool, quiet: bool = False) -> Any:
    """Progress, notes and warnings (live bars at a terminal, one plain line per event elsewhere): on stdout
    beside the tables, as a log reads them, except with --json, where stdout holds the JSON alone. (Errors
    are on stderr, one line each.)"""
    from rich.console import Console

    console = Console(stderr=json_out, quiet=quiet)
    console.soft_wrap = not console.is_terminal  # a log keeps each line whole, unfolded at 80 columns
    return console


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


COMMANDS = {"list": cmd_list, "run": cmd_run, "profile": cmd_profile, "results": cmd_results, "report": cmd_report,
            "data": cmd_data, "compare": cmd_compare, "subset": cmd_subset}


def main(argv: list[str] | None = None) -> int:
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)  # a kill is recorded as aborted, like Ctrl-C
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:  # a bare `aibench`: what it can do, then where to start
            parser.print_help()
            print("aibench: choose a command; start with `aibench list`, then `aibench run C15` (see "
                  "`aibench run --help`)", file=sys.stderr)
            return 2
        args.argv = list(sys.argv[1:] if argv is None else argv)  # what `--nproc` hands to the processes it starts
        return COMMANDS[args.command](args)
    except UserError as err:
        print(f"aibench: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("aibench: aborted (runs finished so far are stored)", file=sys.stderr)
        return 130
    finally:  # a caller that runs main() in its own process (a test session) keeps its own SIGTERM handling
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())

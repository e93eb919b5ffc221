"""--precision, --channels-last and --compile: autocast in the harness, fp16 gradient scaling, refusals, the record
and the MLPerf log's precision keys."""

import math
import shutil
import subprocess
import sys

import pytest
import torch
from torch import nn

from aibench import registry
from aibench.cli import main
from aibench.errors import UserError
from aibench.harness.precision import apply_compute_options, check_compute, compute_context, train_step
from aibench.harness.runner import RunOptions
from aibench.harness.train import evaluate_untracked, train
from aibench.results.mllog import RunLog, read_events
from toy import make_toy

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PRECISION_KEYS = ("lowest_numerical_precision_in_linear", "lowest_numerical_precision_in_attn",
                  "lowest_numerical_precision_in_comm")


def test_a_matmul_inside_the_harness_context_is_bf16(tmp_path):
    bench = make_toy(tmp_path)
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with compute_context(bench):  # fp32: nothing changes
        assert (a @ b).dtype == torch.float32
    bench.ctx.precision = "bf16"
    with compute_context(bench):
        assert (a @ b).dtype == torch.bfloat16
    assert (a @ b).dtype == torch.float32  # only inside


def test_train_steps_and_evaluation_run_under_the_runs_autocast(tmp_path):
    bench = make_toy(tmp_path)
    bench.ctx.precision = "bf16"
    bench.setup()
    seen = []
    bench.model.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    out = train_step(bench, next(iter(bench.train_batches(0))))
    evaluate_untracked(bench)
    assert seen == [torch.bfloat16, torch.bfloat16]
    assert bench.model.weight.dtype == torch.float32  # the weights stay float32; only the math is bf16
    assert math.isfinite(out.loss) and out.samples == 32


def test_loadgen_inference_runs_under_the_runs_autocast(tmp_path):
    """Warm-up and every LoadGen query (issued from LoadGen's side, so the autocast is taken inside each query)."""
    from aibench.harness.infer import InferSettings, run_inference

    bench = make_toy(tmp_path, inference_samples=8)
    bench.ctx.precision = "bf16"
    bench.setup()
    seen = []
    bench.model.register_forward_hook(lambda m, i, output: seen.append(output.dtype))
    run_inference(bench, bench.device, InferSettings(scenarios=("SingleStream",), min_duration_ms=0,
                                                     min_query_count=4, log_dir=tmp_path / "lg", calibrate=False))
    assert len(seen) > 4 and set(seen) == {torch.bfloat16}


def test_fp16_gradients_are_scaled_then_unscaled_before_the_step(tmp_path):
    ref, scaled = make_toy(tmp_path), make_toy(tmp_path)
    scaled.ctx.precision = "fp16"
    ref.setup()
    scaled.setup()
    scaled.load_state_dict(ref.state_dict())  # the same weights
    batch = next(iter(ref.train_batches(0)))
    for bench in (ref, scaled):
        loss, _ = bench.compute_loss(batch)
        bench.backward(loss)
    scale = scaled.grad_scaler().get_scale()
    assert scale > 1
    assert torch.allclose(scaled.model.weight.grad, ref.model.weight.grad * scale)
    ref.step(ref.optimizer)
    scaled.step(scaled.optimizer)
    assert torch.allclose(scaled.model.weight, ref.model.weight)  # stepped with the true gradients


def test_fp16_is_refused_for_a_benchmark_whose_own_train_step_does_not_scale(tmp_path):
    cuda = torch.device("cuda")  # the check needs no GPU: fp16 passes the device test only there
    opts = RunOptions(precision="fp16")
    c2 = registry.card("C2")  # a GAN: two optimizers in its own train_step
    with pytest.raises(UserError, match="refused for C2"):
        check_compute(c2, opts, cuda)
    check_compute(c2, RunOptions(precision="fp16", mode="infer"), cuda)  # no steps
    c15 = registry.card("C15")  # the default train_step scales
    check_compute(c15, opts, cuda)

    class OptedIn(registry.benchmark_class(c2)):
        SCALES_GRADIENTS = True

    check_compute(c2, opts, cuda, OptedIn)
    with pytest.raises(UserError, match="cpu"):
        check_compute(c15, opts, torch.device("cpu"))


def test_fp16_on_the_cpu_is_one_line_exit_2_before_any_work(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "aibench.cli", "run", "C15", "--precision", "fp16", "--device",
                           "cpu", "--threads", "1", "--out", str(tmp_path / "out")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "--precision fp16" in lines[0] and "cpu" in lines[0]
    assert not (tmp_path / "out" / "results.sqlite").exists()  # refused before a store was made


def test_channels_last_converts_conv_models_and_records_where_it_did_not_apply(tmp_path):
    bench = make_toy(tmp_path)
    bench.ctx.channels_last = True
    bench.setup()
    conv = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
    bench.models = lambda: {"model": bench.model, "encoder": conv}
    applied = apply_compute_options(bench)
    assert applied["channels_last"] == {"applied_to": ["encoder"]}  # the linear model has no 4-D convolution
    assert conv[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not conv[0].weight.is_contiguous()

    plain = make_toy(tmp_path)
    plain.ctx.channels_last = True
    plain.setup()
    applied = apply_compute_options(plain)
    assert applied["channels_last"]["applied_to"] == [] and "no 4-D convolution" in applied["channels_last"][
        "not_applied"]


@pytest.fixture(scope="module")
def bf16_c15_run(tmp_path_factory):
    """`aibench run C15 --scale tiny --precision bf16 --channels-last --max-epochs 1`, once for the module."""
    out = tmp_path_factory.mktemp("bf16")
    code = main(["run", "C15", "--scale", "tiny", "--precision", "bf16", "--channels-last", "--max-epochs", "1",
                 "--threads", "1", "--device", "cpu", "--out", str(out)])
    assert code in (0, 1)  # one epoch: the target is not expected
    from aibench.results.store import ResultStore

    (record,) = ResultStore(f"sqlite:///{out / 'results.sqlite'}").records()
    return record


def test_bf16_c15_is_recorded_and_logged_as_bf16(bf16_c15_run):
    record = bf16_c15_run
    assert record["status"] in ("success", "target_missed"), record["message"]
    assert record["config"]["precision"] == "bf16" and record["config"]["compile"] is False
    compute = record["metrics"]["compute"]
    assert compute["autocast"] == "bfloat16" and compute["grad_scaling"] is False
    events = read_events(record["log_path"])
    values = {e["key"]: e["value"] for e in events if e["key"] in PRECISION_KEYS}
    assert values == dict.fromkeys(PRECISION_KEYS, "bfloat16")  # MLPerf's name for it (was always fp32)


def test_channels_last_is_recorded(bf16_c15_run):
    assert bf16_c15_run["config"]["channels_last"] is True
    assert bf16_c15_run["metrics"]["compute"]["channels_last"] == {"applied_to": ["model"]}


def test_an_fp32_run_logs_fp32(tmp_path):
    log = RunLog(tmp_path / "run.mllog")
    from aibench.results.mllog import lowest_precision

    log.submission("toy", "cpu", "toy:tiny", 32, precision=lowest_precision("cpu", "fp32"))
    log.close()
    assert {e["value"] for e in read_events(log.path) if e["key"] in PRECISION_KEYS} == {"fp32"}


@pytest.mark.skipif(not (shutil.which("g++") or shutil.which("c++")), reason="torch.compile on the CPU needs a C++ "
                                                                            "compiler")
def test_compile_is_recorded_and_a_compiled_toy_run_trains(tmp_path):
    """A compiled run of the toy benchmark (~30 s with a cold inductor cache on 2 busy cores); C15 --compile takes
    minutes there (each batch shape compiles forward and backward), too slow for a test."""
    import torch._dynamo

    torch._dynamo.reset()
    bench = make_toy(tmp_path, max_epochs=2)
    bench.ctx.compile = True
    log = RunLog(tmp_path / "run.mllog")
    result = train(bench, log)
    log.close()
    assert result.status == "success", result.message
    assert bench.ctx.compute_applied["compile"] == {"backend": "inductor", "dynamic": False, "compiled": ["model"]}
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1  # the model really ran compiled
    assert list(bench.state_dict()["model"]) == ["weight", "bias"]  # checkpoints keep their keys
    torch._dynamo.reset()


def test_cli_accepts_the_options():
    from aibench.cli import build_parser

    args = build_parser().parse_args(["run", "C15", "--precision", "bf16", "--channels-last", "--compile"])
    assert (args.precision, args.channels_last, args.compile) == ("bf16", True, True)
    assert build_parser().parse_args(["run", "C15"]).precision == "fp32"
    with pytest.raises(UserError):
        build_parser().parse_args(["run", "C15", "--precision", "fp8"])

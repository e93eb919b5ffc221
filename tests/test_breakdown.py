"""Runtime breakdown (paper §5.5.1-5.5.2, Fig. 5, Table 7): kernel categories from explicit tables, overheads
apart, hotspots covering 80% of the kernel time."""

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from aibench.characterize.breakdown import (ALL_CATEGORIES, CATEGORIES, OpTime, categorize, lookup,
                                            ops_from_events, overhead_kind, profile_training, summarize)
from toy import make_toy

DATA = Path(__file__).parent / "data"


def _cuda_names() -> list[tuple[str, str]]:
    lines = (DATA / "cuda_kernel_names.txt").read_text().splitlines()
    return [tuple(line.split("\t", 1)) for line in lines if line and not line.startswith("#")]


def _cpu_names() -> list[str]:
    lines = (DATA / "cpu_profiler_event_names.txt").read_text().splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def test_paper_axes_unchanged():
    assert CATEGORIES == ("data_arrangement", "convolution", "gemm", "batch_norm", "elementwise", "relu", "pooling",
                          "memory_copy", "other")
    assert set(ALL_CATEGORIES) - set(CATEGORIES) == {"recurrent", "attention", "communication"}


@pytest.mark.parametrize("expected, name", _cuda_names())
def test_cuda_kernel_names_from_public_traces(expected, name):
    assert categorize(name) == expected


def test_cuda_kernel_list_is_almost_all_mapped():
    names = [n for _, n in _cuda_names()]
    unmapped = [n for n in names if not lookup(n)[1]]
    assert len(names) >= 100
    assert len(unmapped) / len(names) < 0.05, unmapped


def test_cpu_profiler_names_from_this_machine_are_almost_all_mapped():
    names = _cpu_names()
    kernels = [n for n in names if overhead_kind(n) is None]
    unmapped = [n for n in kernels if not lookup(n)[1]]
    assert len(kernels) > 150
    assert len(unmapped) / len(kernels) < 0.05, unmapped
    assert overhead_kind("enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__") == "data_loading"
    assert overhead_kind("Optimizer.step#SGD.step") == "python_overhead"
    assert overhead_kind("autograd::engine::evaluate_function: AddBackward0") == "autograd_overhead"


@pytest.mark.parametrize("name, category", [
    # the bugs of the old regex rules
    ("aten::is_nonzero", "other"),                      # not elementwise because it contains "ne"
    ("some_unknown_kernel", "other"),                   # no "ne|le|ge..." substring rule
    ("cudnn::bn_fw_tr_1C11_kernel_NCHW", "batch_norm"),  # was convolution ("cudnn::detail"/"conv")
    ("cudnn::detail::pooling_fw_4d_kernel", "pooling"),  # was convolution
    ("volta_scudnn_128x64_relu_interior_nn_v1", "convolution"),  # was relu
    ("at::native::unrolled_elementwise_kernel", "elementwise"),  # was data arrangement ("roll")
    ("aten::lstm", "recurrent"), ("aten::mkldnn_rnn_layer_backward", "recurrent"), ("aten::gru_cell", "recurrent"),
    ("aten::scaled_dot_product_attention", "attention"), ("aten::_flash_attention_forward", "attention"),
    # ATen operators on this CPU
    ("aten::mkldnn_convolution", "convolution"), ("aten::convolution_backward", "convolution"),
    ("aten::addmm", "gemm"), ("aten::mm", "gemm"), ("aten::native_batch_norm_backward", "batch_norm"),
    ("aten::native_layer_norm", "batch_norm"), ("aten::threshold_backward", "relu"),
    ("aten::hardtanh_backward", "relu"), ("aten::max_pool2d_with_indices_backward", "pooling"),
    ("aten::add_", "elementwise"), ("aten::_foreach_mul_", "elementwise"),
    ("aten::_softmax_backward_data", "elementwise"),
    ("aten::bernoulli_", "elementwise"), ("aten::cat", "data_arrangement"), ("aten::embedding_dense_backward",
                                                                          "data_arrangement"),
    ("aten::copy_", "memory_copy"), ("aten::_to_copy", "memory_copy"), ("aten::empty", "other"),
    ("Memcpy HtoD (Pageable -> Device)", "memory_copy"),
])
def test_categories(name, category):
    assert categorize(name) == category


def test_linked_kernel_takes_its_launching_ops_category_unless_composite():
    gemm_in_lstm = "ampere_sgemm_128x64_tn"
    assert categorize("void at::native::vectorized_elementwise_kernel<4, at::native::FillFunctor<float> >",
                      launched_by="aten::zero_") == "elementwise"
    # an op's own category wins over a misleading kernel name
    assert categorize("void at::native::vectorized_elementwise_kernel<4, CUDAFunctor_add<float> >",
                      launched_by="aten::native_batch_norm_backward") == "batch_norm"
    # recurrent/attention ops are split into the categories of the kernels they run
    assert categorize(gemm_in_lstm, launched_by="aten::_cudnn_rnn") == "gemm"
    assert categorize("elemWiseRNNcell", launched_by="aten::_cudnn_rnn") == "elementwise"
    assert categorize("RNN_blockPersist_fp_LSTM", launched_by="aten::_cudnn_rnn") == "recurrent"
    # unknown kernel of a composite op: the op's own name, never "other"
    assert categorize("mystery_kernel_v9", launched_by="aten::_efficient_attention_forward") == "attention"
    assert categorize("Memcpy DtoD (Device -> Device)", launched_by="aten::copy_") == "memory_copy"


def test_summary_keeps_overheads_apart_and_hotspots_cover_80_percent():
    ops = [OpTime("aten::mkldnn_convolution", 60, 3), OpTime("aten::mm", 30, 2), OpTime("aten::add_", 10, 5),
           OpTime("autograd::engine::evaluate_function: AddBackward0", 50, 5),
           OpTime("enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__", 40, 3),
           OpTime("aten::_upsample_bilinear2d_aa", 20, 3,
                  scope="enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__"),
           OpTime("Optimizer.step#SGD.step", 30, 3), OpTime("aten::_foreach_add_", 0, 3)]
    s = summarize(ops)
    assert s["total_time_us"] == 100
    assert s["category_share"]["convolution"] == pytest.approx(0.6)
    assert s["category_share"]["gemm"] == pytest.approx(0.3)
    assert s["category_share"]["elementwise"] == pytest.approx(0.1)
    assert s["category_share"]["data_arrangement"] == 0  # the upsample ran inside the DataLoader
    assert sum(s["category_share"].values()) == pytest.approx(1.0)
    assert s["host_time_us"] == 240
    assert s["data_loading_share"] == pytest.approx(60 / 240)
    assert s["python_overhead_share"] == pytest.approx(30 / 240)
    assert s["autograd_overhead_share"] == pytest.approx(50 / 240)
    assert s["unmapped_share"] == 0
    assert [h["name"] for h in s["hotspots"]] == ["aten::mkldnn_convolution", "aten::mm"]  # 90% >= 80%
    assert s["hotspot_coverage"] == pytest.approx(0.9)
    assert {"name", "share", "category", "calls"} <= set(s["hotspots"][0])


def test_unmapped_names_are_reported():
    s = summarize([OpTime("aten::mm", 90), OpTime("weird_kernel", 10)])
    assert s["unmapped_share"] == pytest.approx(0.1)
    assert s["unmapped"] == ["weird_kernel"]
    assert s["category_share"]["other"] == pytest.approx(0.1)


def _event(name, self_us=0.0, parent=None, kernels=(), device="DeviceType.CPU", eid=0, linked=0, dur=0.0):
    return SimpleNamespace(name=name, self_cpu_time_total=self_us, cpu_parent=parent, kernels=list(kernels),
                           device_type=device, id=eid, linked_correlation_id=linked,
                           time_range=SimpleNamespace(elapsed_us=lambda: dur))


def test_events_on_gpu_use_the_profilers_link_to_the_launching_op():
    k = SimpleNamespace
    step = _event("Optimizer.step#Adam.step", 5)
    loader = _event("enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__", 50)
    rnn = _event("aten::_cudnn_rnn", 3, eid=7, kernels=[k(name="ampere_sgemm_128x64_tn", device=0, duration=40),
                                                        k(name="elemWiseRNNcell", device=0, duration=20)])
    adam = _event("aten::_fused_adam_", 1, parent=step, eid=8, kernels=[k(name="fused_kernel_x", device=0,
                                                                          duration=10)])
    pin = _event("aten::copy_", 1, parent=loader, eid=9, kernels=[k(name="Memcpy HtoD (Pinned -> Device)",
                                                                    device=0, duration=30)])
    linked_dev = _event("ampere_sgemm_128x64_tn", device="DeviceType.CUDA", linked=7, dur=40)
    orphan = _event("ncclDevKernel_AllReduce_Sum_f32_RING_LL", device="DeviceType.CUDA", linked=0, dur=30)
    kernels, host = ops_from_events([step, loader, rnn, adam, pin, linked_dev, orphan], on_gpu=True)
    s = summarize(kernels, host=host)
    assert s["total_time_us"] == 100  # 40 + 20 + 10 + 30 (nccl); the DataLoader's copy is data loading
    assert s["category_share"]["gemm"] == pytest.approx(0.4)
    assert s["category_share"]["elementwise"] == pytest.approx(0.3)
    assert s["category_share"]["communication"] == pytest.approx(0.3)
    assert s["category_share"]["memory_copy"] == 0
    assert s["data_loading_share"] == pytest.approx(51 / 60)


def test_events_on_cpu_attribute_dataloader_children_to_data_loading():
    loader = _event("enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__", 50)
    resize = _event("aten::_upsample_bilinear2d_aa", 30, parent=loader)
    conv = _event("aten::mkldnn_convolution", 100)
    kernels, host = ops_from_events([loader, resize, conv], on_gpu=False)
    s = summarize(kernels)
    assert s["category_share"]["convolution"] == 1.0
    assert s["data_loading_share"] == pytest.approx(80 / 180)


def test_profile_training_on_a_real_model(tmp_path):
    bench = make_toy(tmp_path)
    bench.setup()
    result = profile_training(bench, steps=2)
    assert result["total_time_us"] > 0
    assert result["category_share"]["gemm"] > 0  # a linear model spends time in its matmul
    assert result["timed_on"].startswith("CPU")
    assert result["unmapped_share"] < 0.05, result["unmapped"]
    assert result["hotspot_coverage"] >= 0.8
    assert 0 <= result["data_loading_share"] < 1 and "python_overhead_share" in result


def test_profile_training_runs_the_steps_under_the_runs_autocast(tmp_path, monkeypatch):
    """`aibench profile --precision bf16`: the profiled steps run as a bf16 training run's do, so the breakdown
    shows the autocast's own casts; at fp32 there are none."""
    seen = []

    def breakdown(precision: str) -> dict:
        (tmp_path / precision).mkdir()
        bench = make_toy(tmp_path / precision)
        bench.ctx.precision = precision
        bench.setup()
        real_step = bench.train_step
        monkeypatch.setattr(bench, "train_step", lambda batch: seen.append(torch.is_autocast_enabled("cpu"))
                            or real_step(batch))
        return profile_training(bench, steps=2)

    fp32 = breakdown("fp32")
    assert seen == [False] * 3  # the warm-up step and the two profiled ones
    seen.clear()
    bf16 = breakdown("bf16")
    assert seen == [True] * 3
    assert bf16["total_time_us"] > 0 and fp32["total_time_us"] > 0

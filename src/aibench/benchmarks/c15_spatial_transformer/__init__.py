"""DC-AI-C15 spatial transformer: a spatial transformer network classifying MNIST digits (top-1 accuracy).

Torch-free: the spec only. The model is in model.py, the data plumbing in data.py, the benchmark in bench.py.
"""

from aibench.datasets.mnist_idx import LAYOUT
from aibench.registry import card
from aibench.spec import BenchmarkSpec, ModelSize, ScaleConfig, SmokeConfig

# The PyTorch STN example on MNIST (which AIBench's C15 builds on): plain SGD, lr 0.01, batch 64, constant
# learning rate, dropout 0.5 in the classifier, about 20 epochs; Table 6 (6.38 s/epoch, 0.06 h) implies about
# 34 epochs to the 99% target, so 40 epochs is the cap.
_REFERENCE = {"optimizer": "sgd", "lr": 0.01, "momentum": 0.0, "weight_decay": 0.0, "lr_schedule": "constant",
              "dropout": 0.5}
# `aibench data synth C15 --scale small|full`: one distorted copy of each sklearn digit, as MNIST's 28x28 IDX files
_SMOKE = SmokeConfig(batch_size=8, synth={"train_copies": 1, "test_copies": 1})

SPEC = BenchmarkSpec(
    server_latency_ms={"tiny": 25, "small": 15, "full": 15},
    server_latency_basis=("small/full: MLPerf's image-classification bound (15 ms), an STN classifier on MNIST-sized digits being far lighter; tiny: derived from its latency on 2 cores (1.5 ms loaded); a tiny bound is never under 25 ms: below that, on a shared 2-core machine, the p99 measures the OS scheduler's wake-up delays (10-15 ms seen at 50 QPS for a 0.5 ms model under load), not the model"),
    card=card("C15"),
    scales={
        "tiny": ScaleConfig(
            target=0.90, max_epochs=30, batch_size=64, baseline=0.10, baseline_kind="chance (10 balanced classes)",
            time_budget_s=170, inference_samples=64,
            control=0.854, control_margin=0.10,
            control_source=("median of seeds 0, 1, 2 (0.896, 0.854, 0.844: best of 30 epochs, target missed), "
                            "`python -m aibench run C15 --scale tiny --controls --threads 1 --seed S`, 2026-12-02, "
                            "load average 4-6 on 2 cores; the STN reached 0.926, 0.911, 0.911 at epochs 10, 14, 14: "
                            "it wins by 0.03-0.07, short of the margin (issue 16 open)"),
            hparams={**_REFERENCE, "momentum": 0.9, "train_copies": 4, "test_copies": 2},
            shrink=("data: scikit-learn's 1,797 real 8x8 handwritten digits enlarged to MNIST's 28x28 and randomly "
                    "rotated (+-45 deg), scaled (0.75-1.25) and shifted (+-4 px); 4 distorted copies of 1,437 train "
                    "digits, 2 of 360 held-out digits, instead of 60,000/10,000 MNIST images; SGD momentum 0.9 "
                    "(reference: none) so the small set converges within the CPU budget"),
        ),
        "small": ScaleConfig(
            target=0.98, max_epochs=40, batch_size=64, inference_samples=1024,
            hparams={**_REFERENCE, "train_limit": 10_000}, smoke=_SMOKE,
        ),
        "full": ScaleConfig(
            target=0.99, max_epochs=40, batch_size=64, inference_samples=1024, hparams=dict(_REFERENCE),
            smoke=_SMOKE,
        ),
    },
    data_layout=LAYOUT,
    control="the same classifier without the localisation network and sampler (it reads the image through the "
            "identity transform)",
    full_size=ModelSize(params=27_360, flops_per_sample=1.549e6,
                        source="PyTorch spatial transformer tutorial network (STN paper's MNIST CNN + localisation "
                               "net), 28x28 input, 10 classes"),
)

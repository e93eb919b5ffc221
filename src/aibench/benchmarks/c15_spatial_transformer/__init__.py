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
# the STN paper's RTS distortion of MNIST (rotation +-45 deg, scale 0.7-1.2, placed at random on a wider canvas),
# on a 32x32 canvas: a plain classifier of the same size cannot learn it from 5,748 digits, the transformer can
_RTS = {"canvas": 32, "max_rotation_deg": 45.0, "scale_range": [0.7, 1.2], "max_shift_px": 6.0}
# `aibench data synth C15 --scale small|full`: one distorted copy of each sklearn digit, as MNIST's 28x28 IDX files
_SMOKE = SmokeConfig(batch_size=8, synth={"train_copies": 1, "test_copies": 1})

SPEC = BenchmarkSpec(
    server_latency_ms={"tiny": 25, "small": 15, "full": 15},
    server_latency_basis=("small/full: MLPerf's image-classification bound (15 ms), an STN classifier on MNIST-sized digits being far lighter; tiny: derived from its latency on 2 cores (1.5 ms loaded); a tiny bound is never under 25 ms: below that, on a shared 2-core machine, the p99 measures the OS scheduler's wake-up delays (10-15 ms seen at 50 QPS for a 0.5 ms model under load), not the model"),
    card=card("C15"),
    scales={
        "tiny": ScaleConfig(
            target=0.90, max_epochs=15, batch_size=64, baseline=0.10, baseline_kind="chance (10 balanced classes)",
            time_budget_s=170, inference_samples=64,
            control=0.664, control_margin=0.10,
            control_source=("median of seeds 0, 1, 2 (0.664, 0.679, 0.625: best of 15 epochs, target missed), "
                            "`python -m aibench run C15 --scale tiny --controls --threads 1 --seed S`, 2026-12-02, "
                            "load average 5-8.5 on 2 cores (seeds 0 and 1 run side by side); the STN reached "
                            "0.904, 0.915, 0.933 at epochs 9, 9, 10 (time to target 58, 64, 91 s): it wins by "
                            "0.24, 0.24, 0.31. With a constant rate the control "
                            "had reached 0.73-0.74 (seeds 0, 2: earlier runs on the same RTS set, 15 epochs)"),
            hparams={**_REFERENCE, "momentum": 0.9, "lr_schedule": "cosine", "train_copies": 4, "test_copies": 2,
                     "distortion": _RTS},
            shrink=("data: scikit-learn's 1,797 real 8x8 handwritten digits enlarged to 16x16 and distorted as in the "
                    "STN paper's RTS MNIST: rotated (+-45 deg), scaled (0.7-1.2) and placed at random (+-6 px) on a "
                    "32x32 canvas; 4 distorted copies of 1,437 train digits, 2 of 360 held-out digits, instead of "
                    "60,000/10,000 MNIST images; SGD momentum 0.9 (reference: none) so the small set converges "
                    "within the CPU budget, and a cosine learning-rate decay over the 15 epochs (reference: "
                    "constant, the PyTorch STN tutorial's schedule) without which the localisation network can "
                    "throw a trained model off (seed 1: 0.82 at epoch 12, 0.60 at epoch 13)"),
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

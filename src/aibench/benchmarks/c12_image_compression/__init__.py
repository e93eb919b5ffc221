"""DC-AI-C12 image compression: full-resolution compression with recurrent networks (Toderici et al. 2017) on
ImageNet images; quality is MS-SSIM of the reconstruction at the code's bit rate (bits per pixel also stored)."""

from aibench.datasets.imagefolder import LAYOUT
from aibench.registry import card
from aibench.spec import BenchmarkSpec, ModelSize, ScaleConfig, SmokeConfig

_STANDARD_BETAS = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]  # Wang et al. 2003's five MS-SSIM scale weights

# The paper trains the LSTM variant on 32x32 patches with Adam for 16 iterations (32 bits per 16x16 block each:
# 0.125 bpp per iteration, 2 bpp in all). Its recipe beyond that follows the widely used PyTorch reimplementation:
# batch 32, lr 5e-4 halved at epochs 3, 10, 20, 50 and 100, 200 epochs. Evaluation on 224x224 centre crops
# (resize 256) with the standard 5-scale MS-SSIM (11x11 Gaussian window), on 2,048 val images spread over the
# classes (all 50,000 would not fit in memory; the paper's own test set was Kodak's 24 images).
_REFERENCE = {
    "encoder_widths": [64, 256, 512, 512], "bits": 32, "decoder_widths": [512, 512, 256, 128],
    "decoder_hidden_kernels": [1, 1, 3, 3], "iterations": 16,
    "lr": 5e-4, "lr_milestones": [3, 10, 20, 50, 100], "lr_gamma": 0.5, "patch_size": 32, "eval_resize": 256,
    "eval_size": 224, "eval_images": 2048, "msssim_kernel": 11, "msssim_betas": _STANDARD_BETAS, "num_workers": 8,
    "max_train_images": None,
}
# `aibench data synth C12 --scale small|full` writes an ImageNet-layout set of ImageNet-sized smooth scenes (the
# model's sizes do not depend on the data: no class count, no vocabulary). The smoke run codes 32x32 crops (the
# reference's training patch size) instead of 224x224 ones with a 2-scale MS-SSIM (5 scales need over 160 px):
# 16 iterations of the full codec cost about 1.2 TFLOPs per 224x224 image, about a minute on one CPU core, while
# the crop size leaves the model and its parameters unchanged.
_SMOKE = SmokeConfig(
    batch_size=1, steps=2, eval_samples=1, queries=1,
    synth={"synth_folders": 4, "synth_train_per_folder": 2, "synth_val_per_folder": 1,
           "synth_size_range": [256, 320]},
    hparams={"eval_resize": 32, "eval_size": 32, "num_workers": 0,
             "msssim_betas": [0.0448 / 0.3304, 0.2856 / 0.3304]},
)

SPEC = BenchmarkSpec(
    server_latency_ms={"tiny": 400, "small": 100, "full": 100},
    server_latency_basis=("no MLPerf compression model: derived; small/full: 100 ms like MLPerf's detection bound for a full image; tiny: about 12x the tiny codec's latency on 2 cores (33 ms loaded)"),
    card=card("C12"),
    no_control='the recurrence over coding iterations is what sets the bit rate: without it the codec is a one-shot autoencoder at another rate, and MS-SSIM at different bit rates is not a comparison',
    data_layout=f"ImageNet (ILSVRC2012) folders, shared with C1: {LAYOUT}; the class labels are not used",
    scales={
        # Measured on the harness's tiny val set (synthesize seed 1234) with the tiny MS-SSIM (3 scales, 5x5
        # Gaussian window, sigma 1.5 * 5 / 11): baseline, every image coded as its mean colour (24 bits an image),
        # 0.577. A classical code at a lower rate than the learned one, 8x8 block means upsampled bilinearly
        # (0.375 bpp raw against the codec's 0.5), scores 0.887 (16x16 blocks, 0.094 bpp: 0.722). The learned
        # codec does NOT beat it in a tiny budget: one thread reaches 0.60 after 2 epochs and 0.64-0.65 after
        # 4-6 (about 0.44 bpp entropy-coded), so the target only asks that it learn well beyond the constant
        # code; every record's details carry the block-means score beside it. The paper's millions of steps at
        # 2 bpp on real photographs are what beat classical codes.

        "tiny": ScaleConfig(
            target=0.62, max_epochs=40, batch_size=16, baseline=0.58,
            baseline_kind="constant (each image's mean colour)", time_budget_s=170, eval_every=2,
            inference_samples=64,
            hparams={**_REFERENCE, "encoder_widths": [16, 32, 64, 64], "decoder_widths": [64, 64, 32, 16],
                     "iterations": 4, "lr": 3e-3, "lr_milestones": [30], "eval_resize": 48, "eval_size": 48,
                     "eval_images": None,
                     "msssim_kernel": 5, "msssim_betas": [0.0448 / 0.6305, 0.2856 / 0.6305, 0.3001 / 0.6305],
                     "num_workers": 0, "synth_folders": 10, "synth_train_per_folder": 80, "synth_val_per_folder": 8,
                     "synth_size_range": [54, 72]},
            shrink="synthetic ImageNet-layout set of smooth scenes (gradients with soft-edged discs and boxes: "
                   "800 train / 80 val JPEGs of 54-72 px); 4 iterations (0.5 bpp) instead of 16 (2 bpp); widths "
                   "at an eighth (encoder 16/32/64/64, decoder 64/64/32/16) with the same 32 bits per block; "
                   "batch 16, lr 3e-3 halved at epoch 30; the entropy coder at the release's width (hidden 64) for the "
                   "4 iterations; evaluation on 48x48 centre crops with a 3-scale MS-SSIM (5x5 Gaussian window of "
                   "sigma 1.5 * 5 / 11, the first three standard weights renormalised), as 5 scales need images over "
                   "160 px",
        ),
        "small": ScaleConfig(
            target=0.99, max_epochs=200, batch_size=32, eval_every=5, inference_samples=256,
            hparams={**_REFERENCE, "max_train_images": 100_000}, smoke=_SMOKE,
        ),
        "full": ScaleConfig(
            target=0.99, max_epochs=200, batch_size=32, eval_every=5, inference_samples=1024,
            hparams=dict(_REFERENCE), smoke=_SMOKE,
        ),
    },
    default_data_subdir="imagenet",
    full_size=ModelSize(
        params=40_455_811, flops_per_sample=2.3684e10,
        source="Toderici et al. 2017 LSTM codec (Fig. 1) with the layer sizes and hidden kernels of AIBench's C12 "
               "code (1zb/pytorch-image-comp-rnn network.py: 35,456,800 bias-free weights) + 10,755 gate and "
               "output biases, and the paper's entropy coder as Google released it (tensorflow/models "
               "research/compression/entropy_coder, progressive model, 16 layers of 32 bits: 4,988,256)",
        note="FLOPs per 32x32 crop (the smoke run's, the reference's training patch) through 16 iterations and the "
             "entropy coder; a 224x224 evaluation crop costs 49 times as much, 1,160,657 M-FLOPs (FlopCounterMode, "
             "2 per multiply-add), above the paper's 157,802 M-FLOPs envelope: full-resolution coding at 2 bpp is "
             "that costly, whatever the paper's OpCounter count measured",
    ),
)

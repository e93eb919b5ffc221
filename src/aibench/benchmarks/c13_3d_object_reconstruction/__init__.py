"""DC-AI-C13 3D object reconstruction: Perspective Transformer Nets on ShapeNet views (spec only; torch-free).

Reference configuration (Yan et al., NeurIPS 2016, and its TensorFlow reimplementation, tensorflow/models
research/ptn): 64x64 input views, a 32^3 occupancy volume, encoder convolutions 64/128/256 with fully connected
1024/1024/512, decoder 512 -> 256 -> 96 -> 1 channels; Adam at learning rate 1e-4, mini-batches of 6 objects
with the projections of all 24 views of each object as supervision. Table 6 of the AIBench paper gives
28.41 s per epoch and 0.38 h in all, about 48 epochs, which `full` rounds to 50.
"""

from aibench.registry import card
from aibench.spec import BenchmarkSpec, ModelSize, ScaleConfig, SmokeConfig

DATA_LAYOUT = ("ShapeNet rendered views: <root>/splits/{train,test}.txt listing <synset>/<model_id>; per model "
               "<root>/<synset>/<model_id>/views/<k>.png (RGB render, k = 00, 01, ...), masks/<k>.png (8-bit "
               "silhouette), cameras.json ({focal_length, views: [{azimuth, elevation, distance}]}) and "
               "model.binvox (voxel grid)")

# Sizes of the reference model; tiny shrinks widths and resolutions
_REFERENCE_MODEL = {
    "image_size": 64, "vox_size": 32, "mask_size": 32, "depth_samples": 64,
    "encoder_channels": [64, 128, 256], "fc_dim": 1024, "z_dim": 512, "decoder_channels": [512, 256, 96],
}
# How synthesize() renders: the ring of ShapeNet renders for PTN (24 azimuths at elevation 30)
_REFERENCE_RENDER = {"views": 24, "elevation": 30.0, "distance": 3.0, "focal": 1.4}

# `aibench data synth C13 --scale small|full`: a few solids at the reference sizes (24 views of 64x64 px, 32^3
# binvox grids); small's under the chairs synset it reads, full's spread over the 13 ShapeNet synsets of
# 3D-R2N2's subset, which PTN's multi-class experiment uses
_SYNSETS_13 = ["02691156", "02828884", "02933112", "02958343", "03001627", "03211117", "03636649", "03691459",
               "04090263", "04256520", "04379243", "04401088", "04530566"]
_SMOKE_SMALL = SmokeConfig(batch_size=2, steps=2, eval_samples=4, queries=4, hparams={"workers": 0},
                           synth={"objects_train": 4, "objects_test": 2, "synth_synsets": ["03001627"]})
_SMOKE_FULL = SmokeConfig(batch_size=2, steps=2, eval_samples=4, queries=4, hparams={"workers": 0},
                          synth={"objects_train": 4, "objects_test": 2, "synth_synsets": _SYNSETS_13})

SPEC = BenchmarkSpec(
    server_latency_ms={"tiny": 50, "small": 100, "full": 100},
    server_latency_basis=("no MLPerf 3D-reconstruction model: derived; small/full: 100 ms (MLPerf's bound for its heavier vision models); tiny: about 12x the tiny model's latency on 2 cores (4 ms loaded)"),
    card=card("C13"),
    no_control="PTN's key part, the perspective projection of the volume onto the views' silhouettes, is its only "
               "training signal (no 3D labels), so without it nothing is learned; a decoder that ignores the image "
               "is the mean-shape baseline already recorded",
    data_layout=DATA_LAYOUT,
    default_data_subdir="shapenet_views",
    scales={
        "tiny": ScaleConfig(
            target=0.48, max_epochs=60, batch_size=8, baseline=0.33,
            # measured on the harness's tiny set (seed 1234) with data.constant_predictor_iou: the mean training
            # grid thresholded at 0.5 scores 0.28, at the threshold best on the training grids (0.3) 0.3295. The
            # solids are scaled as a whole by a factor in [0.7, 1.3] (synth_scale), which the views show and the
            # mean shape cannot follow: without it the baseline was 0.40 and the method's plateau ~0.51 (seed 0,
            # 40 epochs), too close for a target 0.15 above it; with it the method reaches 0.48 at epoch ~18 and
            # levels off near 0.50 (seed 0)
            baseline_kind="mean training shape, threshold tuned on the training grids",
            time_budget_s=170, eval_every=2, inference_samples=64,
            hparams={
                "optimizer": "adam", "lr": 2e-3, "betas": [0.9, 0.999], "weight_decay": 0.0,
                "occupancy_prior": 0.12,
                "image_size": 32, "vox_size": 16, "mask_size": 16, "depth_samples": 32,
                "encoder_channels": [16, 32, 64], "fc_dim": 256, "z_dim": 128, "decoder_channels": [64, 32, 16],
                "views": 8, "elevation": 30.0, "distance": 3.0, "focal": 1.4,
                "objects_train": 480, "objects_test": 64, "eval_views": 4, "preload": True, "workers": 0,
                "synth_scale": [0.7, 1.3],
            },
            shrink="images 32x32 (ref 64), volume 16^3 (ref 32^3), masks 16x16, encoder 16/32/64 conv + 256/256/128 "
                   "fc (ref 64/128/256 + 1024/1024/512), decoder 64/32/16 (ref 512/256/96), 8 views (ref 24), "
                   "batch 8 objects, Adam lr 2e-3 (ref 1e-4); 480 train / 64 test synthetic solids (scaled by 0.7-1.3) "
                   "instead of ShapeNet",
        ),
        "small": ScaleConfig(
            target=0.4583, max_epochs=50, batch_size=6, time_budget_s=4 * 3600, eval_every=5,
            inference_samples=256,
            hparams={"optimizer": "adam", "lr": 1e-4, "betas": [0.9, 0.999], "weight_decay": 1e-3,
                     "occupancy_prior": 0.5, **_REFERENCE_MODEL,
                     **_REFERENCE_RENDER, "synsets": ["03001627"], "eval_views": 4, "preload": False, "workers": 8,
                     "objects_train": 64, "objects_test": 16,
                     "note": "single class (ShapeNet chairs, the paper's single-class experiment)"},
            smoke=_SMOKE_SMALL,
        ),
        "full": ScaleConfig(
            target=0.4583, max_epochs=50, batch_size=6, eval_every=5, inference_samples=1024,
            hparams={"optimizer": "adam", "lr": 1e-4, "betas": [0.9, 0.999], "weight_decay": 1e-3,
                     "occupancy_prior": 0.5, **_REFERENCE_MODEL,
                     **_REFERENCE_RENDER, "synsets": [], "eval_views": 24, "preload": False, "workers": 8,
                     "objects_train": 64, "objects_test": 16,
                     "note": "all synsets of the split files (the paper's multi-class experiment); "
                             "objects_train/objects_test only size a synthesized set"},
            smoke=_SMOKE_FULL,
        ),
    },
    full_size=ModelSize(params=47_673_569, flops_per_sample=4_679_139_328,
                        source="PTN of Yan et al. 2016 as in tensorflow/models research/ptn (ptn_encoder: 5x5 convs "
                               "64/128/256 + fc 1024/1024/512 on 64x64 views; ptn_vox_decoder: fc to 4^3x512, "
                               "deconv3d 256/96/1 to 32^3): encoder 19,381,888 + decoder 28,291,681; the "
                               "projector has no weights"),
)

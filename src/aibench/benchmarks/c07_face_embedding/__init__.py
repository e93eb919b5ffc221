"""DC-AI-C7 face embedding: FaceNet (Schroff et al. 2015), an Inception-ResNet-v1 network (the public FaceNet
implementations' body) producing an L2-normalised 128-d embedding, trained with the triplet loss and online
semi-hard negative mining on VGGFace2 identity folders; quality is LFW's 10-fold verification accuracy (threshold fitted on 9 folds, accuracy on the
10th, mean over folds).
"""

from aibench.registry import card
from aibench.spec import BenchmarkSpec, ModelSize, ScaleConfig, SmokeConfig

# FaceNet paper: 128-d embedding, margin alpha = 0.2, mini-batches of about 1,800 exemplars with around 40 faces
# per identity (§3.2), AdaGrad at learning rate 0.05 (§3.3). The network is the public re-implementations'
# Inception-ResNet-v1 at their 160x160 input (davidsandberg/facenet train_tripletloss.py: image_size 160,
# embedding_size 128, people_per_batch 45, images_per_person 40; facenet-pytorch's InceptionResnetV1). An epoch
# is 1,000 mini-batches, the epoch size of davidsandberg/facenet, whose epoch length AIBench's Table 6 matches;
# 500 epochs is that code's triplet-training default. Training faces are VGGFace2's published loose boxes
# (squared, see data.face_crop) where bb_landmark/loose_bb_train.csv is present; LFW faces are the centre 150x150
# of its 250x250 photos (LFW frames the detector's box, enlarged 2.2x, at the centre: 150 px is about 1.3x that
# box, a loose crop like VGGFace2's).
_REFERENCE = {
    "embedding_dim": 128, "margin": 0.2, "identities_per_batch": 45, "faces_per_identity": 40,
    "optimizer": "adagrad", "lr": 0.05, "image_size": 160, "batches_per_epoch": 1000, "dropout": 0.0,
    "width": 1.0, "blocks": [5, 10, 5], "flip": True, "max_identities": None, "preload": False, "workers": 8,
    "loose_bb": True, "lfw_center_crop": 0.6,
}
# `aibench run C7 --scale small|full --smoke`: 3 identities x 2 faces per step (FaceNet's batch structure), the
# real 160 px network; `data synth` writes 6 identities x 4 photos with a loose_bb_train.csv and a 10-fold LFW
# pairs.txt on 250 px photos (the model's shape depends on no data set count, only on the input size)
_SMOKE = SmokeConfig(
    batch_size=6, steps=2, eval_samples=8, queries=4,
    synth={"synth_train_identities": 6, "synth_train_images": 4, "synth_test_identities": 20,
           "synth_test_images": 2, "synth_folds": 10, "synth_pairs_per_fold": 1, "synth_size": 150,
           "synth_loose_bb": True},
    hparams={"identities_per_batch": 3, "faces_per_identity": 2, "workers": 0})

SPEC = BenchmarkSpec(
    server_latency_ms={"tiny": 300, "small": 15, "full": 15},
    server_latency_basis=("small/full: MLPerf's image-classification bound (ResNet-50, 15 ms), FaceNet being an ImageNet-class CNN per face crop; tiny: derived, about 10x the tiny embedder's latency on 2 cores (26 ms loaded)"),
    card=card("C7"),
    no_control="the triplet loss is the only training signal (removing it leaves nothing trained), and the paper's semi-hard mining changes how fast training converges rather than what the model can reach",
    data_layout="VGGFace2 training identities train/<n000002>/*.jpg, and LFW beside them: lfw/<Name>/<Name>_0001.jpg "
                "with pairs.txt (header '<folds> <pairs per fold>', then per fold the matched lines 'name i j' and "
                "the mismatched lines 'name1 i name2 j') in the data folder or in lfw/",
    scales={
        # chance: half of LFW's pairs are matched, so a constant answer scores 0.5. On the synthetic set the raw-pixel
        # distance scores about 0.55 (describe() records it) and the network after one epoch 0.55-0.64
        "tiny": ScaleConfig(
            target=0.85, max_epochs=40, batch_size=96, baseline=0.5, baseline_kind="chance (half the pairs match)",
            time_budget_s=170, eval_every=1, inference_samples=64,
            hparams={**_REFERENCE, "identities_per_batch": 12, "faces_per_identity": 8, "image_size": 75,
                     "width": 0.125, "batches_per_epoch": 10, "preload": True, "workers": 0,
                     "loose_bb": False, "lfw_center_crop": 1.0,
                     "synth_train_identities": 120, "synth_train_images": 16, "synth_test_identities": 60,
                     "synth_test_images": 8, "synth_folds": 10, "synth_pairs_per_fold": 20, "synth_size": 75},
            shrink="synthetic faces (parametric drawings: identity geometry and colours, random pose, expression, "
                   "lighting, background, noise) drawn and read at 75x75, the smallest input Inception-ResNet-v1 "
                   "takes, instead of 160x160; no face boxes (the drawings are already face crops); 120 training "
                   "identities x 16 images and 60 disjoint LFW-layout test identities (10 folds x 20 matched + 20 "
                   "mismatched pairs); mini-batches of 12 identities x 8 faces (96) instead of 45 x 40 (1,800); "
                   "epochs of 10 batches; Inception-ResNet-v1 at 1/8 of every channel count (width 0.125: 387,008 "
                   "parameters) with all its blocks (5 A, 10 B, 5 + 1 C); the 128-d bottleneck, triplet loss, "
                   "semi-hard mining and AdaGrad at the paper's lr 0.05 are unchanged",
        ),
        # small: the reference recipe on 1,000 of VGGFace2's 8,631 training identities, evenly spread
        "small": ScaleConfig(
            target=0.9897, max_epochs=100, batch_size=1800, eval_every=1, inference_samples=1000,
            hparams={**_REFERENCE, "max_identities": 1000}, smoke=_SMOKE,
        ),
        "full": ScaleConfig(
            target=0.9897, max_epochs=500, batch_size=1800, eval_every=1, inference_samples=6000,
            hparams=dict(_REFERENCE), smoke=_SMOKE,
        ),
    },
    default_data_subdir="faces",
    full_size=ModelSize(
        # an inference sample is one LFW pair: two 160 px faces of 2,833.9 M-FLOPs each
        params=22_793_728, flops_per_sample=5.668e9,
        source="Inception-ResNet-v1 with FaceNet's 128-d bottleneck at 160x160 (davidsandberg/facenet "
               "models/inception_resnet_v1.py, facenet-pytorch InceptionResnetV1: its 512-d model has 23,482,624 "
               "= 27,910,327 with the 8,631-way VGGFace2 logits less those logits; 128-d drops 1792 x 384 + "
               "2 x 384)"),
)

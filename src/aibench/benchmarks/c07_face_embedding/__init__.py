"""DC-AI-C7 face embedding: FaceNet (Schroff et al. 2015), a GoogLeNet-style Inception network producing an
L2-normalised 128-d embedding, trained with the triplet loss and online semi-hard negative mining on VGGFace2
identity folders; quality is LFW's 10-fold verification accuracy (threshold fitted on 9 folds, accuracy on the
10th, mean over folds).
"""

from aibench.registry import card
from aibench.spec import BenchmarkSpec, ScaleConfig

# FaceNet paper: 128-d embedding, margin alpha = 0.2, mini-batches of about 1,800 exemplars with around 40 faces
# per identity (§3.2), AdaGrad at learning rate 0.05 (§3.3), NN2 input 224x224 (Table 2). An epoch is 1,000
# mini-batches, the epoch size of the public FaceNet re-implementation (davidsandberg/facenet) whose epoch
# length AIBench's Table 6 matches; 500 epochs is that code's triplet-training default.
_REFERENCE = {
    "embedding_dim": 128, "margin": 0.2, "identities_per_batch": 45, "faces_per_identity": 40,
    "optimizer": "adagrad", "lr": 0.05, "image_size": 224, "batches_per_epoch": 1000, "dropout": 0.0,
    "flip": True, "max_identities": None, "preload": False, "workers": 8,
}

SPEC = BenchmarkSpec(
    card=card("C7"),
    data_layout="VGGFace2 training identities train/<n000002>/*.jpg, and LFW beside them: lfw/<Name>/<Name>_0001.jpg "
                "with pairs.txt (header '<folds> <pairs per fold>', then per fold the matched lines 'name i j' and "
                "the mismatched lines 'name1 i name2 j') in the data folder or in lfw/",
    scales={
        # chance: half of LFW's pairs are matched, so a constant answer scores 0.5. On the synthetic set the raw-pixel
        # distance scores about 0.55 (describe() records it) and the network after one epoch 0.55-0.64
        "tiny": ScaleConfig(
            target=0.85, max_epochs=40, batch_size=96, baseline=0.5, baseline_kind="chance (half the pairs match)",
            time_budget_s=170, eval_every=1, inference_samples=64,
            hparams={**_REFERENCE, "identities_per_batch": 12, "faces_per_identity": 8, "image_size": 32,
                     "lr": 0.5, "batches_per_epoch": 10, "preload": True, "workers": 0,
                     "synth_train_identities": 120, "synth_train_images": 16, "synth_test_identities": 60,
                     "synth_test_images": 8, "synth_folds": 10, "synth_pairs_per_fold": 20, "synth_size": 48},
            shrink="synthetic faces (parametric drawings: identity geometry and colours, random pose, expression, "
                   "lighting, background, noise) of 48 px read at 32x32 instead of 224x224; 120 training "
                   "identities x 16 images and 60 disjoint LFW-layout test identities (10 folds x 20 matched + 20 "
                   "mismatched pairs); mini-batches of 12 identities x 8 faces (96) instead of 45 x 40 (1,800); "
                   "epochs of 10 batches; AdaGrad at lr 0.5 instead of 0.05 (measured: 0.05 stays below 0.85 for "
                   "170 s); "
                   "the GoogLeNet body (full width), 128-d head, triplet loss and semi-hard mining are unchanged",
        ),
        # small: the reference recipe on 1,000 of VGGFace2's 8,631 training identities, evenly spread
        "small": ScaleConfig(
            target=0.9897, max_epochs=100, batch_size=1800, eval_every=1, inference_samples=1000,
            hparams={**_REFERENCE, "max_identities": 1000},
        ),
        "full": ScaleConfig(
            target=0.9897, max_epochs=500, batch_size=1800, eval_every=1, inference_samples=6000,
            hparams=dict(_REFERENCE),
        ),
    },
    default_data_subdir="faces",
)

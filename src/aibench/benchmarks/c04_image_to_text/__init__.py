"""DC-AI-C4 Image-to-text: Neural Image Caption / Show and Tell (Vinyals et al. 2015) on MSCOCO 2014, scored by
the per-word perplexity of the reference captions of held-out val2014 images (and BLEU-4 of greedy captions).

Torch-free: the spec only. The benchmark is in `bench.py`, the model in `model.py`.
"""

from aibench.registry import card
from aibench.spec import BenchmarkSpec, ScaleConfig

# Vinyals et al. 2015 §3-4 and the authors' im2txt release: an Inception CNN (here torchvision's GoogLeNet) at
# 224 x 224, word embeddings and LSTM memory of 512, dropout on the LSTM output (keep 0.7), words seen at least
# 5 times, SGD without momentum at a fixed lr 2.0 halved every 8 epochs, gradient norm clipped at 5, batch 32,
# weights initialized uniformly in [-0.08, 0.08] (LSTM, embeddings, softmax), the LSTM's forget bias at 1.
# Evaluation on 4,000 held-out val2014 images. AIBench's Table 6 (845 s an epoch, 10.21 h) implies about 43
# epochs. The paper's CNN is ImageNet-trained: `encoder_checkpoint` may name a file of torchvision GoogLeNet
# weights; without one the CNN trains from scratch with the rest. `encoder_lr` (None: `lr`) is the CNN's and
# W_I's learning rate. Decoding is greedy (the paper's beam of 20 is left out).
_REFERENCE = {
    "image_size": 224, "embedding": 512, "hidden": 512, "dropout": 0.3, "min_word_count": 5,
    "optimizer": "sgd", "lr": 2.0, "encoder_lr": None, "lr_decay": 0.5, "lr_decay_epochs": 8, "clip_norm": 5.0,
    "init_scale": 0.08, "encoder_checkpoint": None, "eval_split": "val", "eval_images": 4000, "max_caption": 20,
    "eval_batch": 100, "loader_workers": 8, "preload": False, "max_train_images": None,
    "synth_images": None, "synth_one_shape": None,
}

_TINY_SHRINK = (
    "synthetic coloured-shape images with grammar captions in the COCO 2014 layout (1,200 train and 150 val "
    "images of 32 x 32, three captions each, three in four showing one shape) instead of 82,783 images of about "
    "640 x 480 with five; images 32 x 32 (224), embedding and LSTM 256 (512), words seen at least once (5), no "
    "dropout (0.3); Adam at lr 3e-3 with the CNN and W_I at 3e-5 instead of SGD at 2.0: from scratch, with "
    "no ImageNet weights, a CNN learning as fast as the LSTM drifts faster than the LSTM learns to read it; "
    "images preloaded in memory")

SPEC = BenchmarkSpec(
    card=card("C4"),
    scales={
        # baseline: the unigram distribution of the training words (add-one smoothed), measured on the
        # harness's tiny set (synthesize seed 1234). The same captioner shown all-zero images (blind) plateaus at
        # 2.20 (seed 0, epochs 5-7); the grammar's own floor, where only the choice among an image's references
        # is left, works out at about 1.16. Three seeds reached 1.61, 1.58 and 1.58 after 7 epochs (about 110 s
        # on one CPU thread) and passed 1.8 at epoch 2 or 3 (30-50 s), so the target needs the image.
        "tiny": ScaleConfig(
            target=1.8, max_epochs=10, batch_size=32, baseline=15.8, baseline_kind="unigram word distribution",
            time_budget_s=170, inference_samples=64,
            hparams={**_REFERENCE, "image_size": 32, "embedding": 256, "hidden": 256, "min_word_count": 1,
                     "dropout": 0.0, "optimizer": "adam", "lr": 3e-3, "encoder_lr": 3e-5, "eval_images": None,
                     "loader_workers": 0, "preload": True, "synth_images": {"train": 1200, "val": 150},
                     "synth_one_shape": 0.75},
            shrink=_TINY_SHRINK),
        # the paper's model and optimizer on the first 20,000 training images
        "small": ScaleConfig(
            target=4.2, max_epochs=45, batch_size=32, inference_samples=1000,
            hparams={**_REFERENCE, "max_train_images": 20_000}),
        "full": ScaleConfig(
            target=4.2, max_epochs=45, batch_size=32, inference_samples=1000,
            hparams=dict(_REFERENCE)),
    },
    data_layout="MSCOCO 2014: train2014/ and val2014/ image folders (COCO_<split>2014_<12-digit id>.jpg) and "
                "annotations/captions_train2014.json, annotations/captions_val2014.json",
    default_data_subdir="coco2014",
)

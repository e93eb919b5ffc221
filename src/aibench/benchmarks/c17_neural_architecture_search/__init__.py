"""DC-AI-C17 Neural architecture search: ENAS (Pham et al. 2018) recurrent-cell search on Penn Treebank.

Torch-free: the spec only. The benchmark is in `bench.py`, the model in `model.py`.
"""

from aibench.registry import card
from aibench.spec import BenchmarkSpec, ScaleConfig

# ENAS §3.1 (PTB): shared weights by SGD, lr 20 decayed x0.96 per epoch from epoch 15, gradient norm clipped at
# 0.25, l2 1e-7, 150 epochs; controller (LSTM, 100 units) by Adam lr 3.5e-4, tanh constant 2.5, temperature 5.0,
# entropy weight 1e-4, moving-average baseline; 12-node cell with highway connections; variational dropout and
# tied embeddings; batch 64, BPTT 35. Not in the paper: from the authors' code (github.com/melodyguan/enas,
# scripts/ptb_search.sh, ptb_final.sh, src/ptb): batch norm (epsilon 1, decay 0.999) in the shared cell during
# the search, weights uniform in +-0.1, the final training's lr decay (x0.9991 per epoch from epoch 14), l2 5e-7
# and dropouts (input 0.75, state 0.25, output 0.75). From the public PyTorch ENAS (carpedm20/ENAS-pytorch,
# config.py): hidden/embedding 1000, reward c = 80, 2000 controller steps per epoch (the paper's "typically
# 2000") and 100 derive samples. Baseline decay 0.95 (the paper gives no value).
_REFERENCE = {
    "num_nodes": 12, "hidden_size": 1000, "bptt": 35,
    "shared_lr": 20.0, "shared_lr_decay": 0.96, "shared_lr_decay_start": 15, "shared_grad_clip": 0.25,
    "shared_l2": 1e-7, "search_norm_momentum": 0.001,
    "dropout_x": 0.75, "dropout_h": 0.25, "dropout_o": 0.75, "init_range": 0.1,
    "controller_hidden": 100, "controller_lr": 3.5e-4, "controller_steps": 2000, "tanh_constant": 2.5,
    "temperature": 5.0, "entropy_weight": 1e-4, "baseline_decay": 0.95, "reward_c": 80.0,
    "search_epochs": 150, "derive_samples": 100,
    "final_lr": 20.0, "final_lr_decay": 0.9991, "final_lr_decay_start": 14,
    "final_grad_clip": 0.25, "final_l2": 5e-7,
}
_FINAL_EPOCHS = 150  # training of the derived cell; the run stops as soon as test perplexity reaches 100

_TINY_SHRINK = (
    "synthetic corpus in the PTB layout from a templated grammar with agreement (vocabulary 100 with <unk> and "
    "<eos>, 21k train tokens; real PTB: 10k words, 929k tokens); 6-node cell (12), hidden/embedding 64 (1000), "
    "batch 32 (64), no dropout; weights uniform in +-0.4 (+-0.1), about 0.1 * sqrt(1000 / 64), so signals keep "
    "the reference width's scale; SGD lr 5 (20), since with the 0.25 clip lr 20 steps are too large for a "
    "64-wide model; batch-norm momentum 0.01 (0.001) for the fewer steps; controller Adam lr 3.5e-3 (3.5e-4) "
    "with 40 steps per epoch (2000); 4 search epochs (150); best of 10 sampled cells (100)")
_SMALL_SEARCH_EPOCHS = 25

SPEC = BenchmarkSpec(
    card=card("C17"),
    scales={
        "tiny": ScaleConfig(
            target=12.0, max_epochs=4 + 12, batch_size=32, baseline=44.96, baseline_kind="unigram",
            time_budget_s=170, inference_samples=64,
            hparams={**_REFERENCE, "num_nodes": 6, "hidden_size": 64, "dropout_x": 0.0, "dropout_h": 0.0,
                     "dropout_o": 0.0, "init_range": 0.4, "search_norm_momentum": 0.01, "shared_lr": 5.0,
                     "final_lr": 5.0, "controller_lr": 3.5e-3, "controller_steps": 40, "search_epochs": 4,
                     "derive_samples": 10},
            shrink=_TINY_SHRINK),
        # the whole real PTB (5 MB) at the reference width and optimizers, with a shorter search
        "small": ScaleConfig(
            target=100.0, max_epochs=_SMALL_SEARCH_EPOCHS + _FINAL_EPOCHS, batch_size=64,
            hparams={**_REFERENCE, "search_epochs": _SMALL_SEARCH_EPOCHS, "controller_steps": 500}),
        "full": ScaleConfig(
            target=100.0, max_epochs=_REFERENCE["search_epochs"] + _FINAL_EPOCHS, batch_size=64,
            hparams=dict(_REFERENCE)),
    },
    data_layout="ptb.train.txt, ptb.valid.txt, ptb.test.txt (Mikolov's preprocessed PTB: one sentence a line, "
                "<unk> for rare words; in the given folder, its data/ or simple-examples/data/)",
    default_data_subdir="ptb",
)

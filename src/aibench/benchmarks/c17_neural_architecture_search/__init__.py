"""DC-AI-C17 Neural architecture search: ENAS (Pham et al. 2018) recurrent-cell search on Penn Treebank.

Torch-free: the spec only. The benchmark is in `bench.py`, the model in `model.py`.
"""

from aibench.registry import card
from aibench.spec import BenchmarkSpec, ModelSize, ScaleConfig, SmokeConfig

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
    "vocab_size": 10_000,  # Mikolov's PTB: 9,999 words (<unk> among them) plus <eos>; the model takes the data's
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
# `aibench data synth C17 --scale small|full`: a few hundred grammar sentences plus lines of distinct pseudo-words
# bringing the train vocabulary to PTB's 10,000, so the smoke run builds the reference embedding and softmax.
# batch_size is the number of parallel BPTT streams; the smoke steps are shared-weight steps of the search.
_SMOKE = SmokeConfig(batch_size=4, steps=2, eval_samples=8, queries=4,
                     synth={"synth_sentences": {"train": 300, "valid": 400, "test": 100},
                            "synth_vocab_size": 10_000})
_FINAL_EPOCHS = 150  # training of the derived cell; the run stops as soon as test perplexity reaches 100

_TINY_SHRINK = (
    "synthetic corpus in the PTB layout from a templated grammar with agreement (vocabulary 100 with <unk> and "
    "<eos>, 21k train tokens; real PTB: 10k words, 929k tokens); 6-node cell (12), hidden/embedding 64 (1000), "
    "batch 32 (64), no dropout; weights uniform in +-0.4 (+-0.1), about 0.1 * sqrt(1000 / 64), so signals keep "
    "the reference width's scale; SGD lr 5 (20), since with the 0.25 clip lr 20 steps are too large for a "
    "64-wide model; no batch norm in the shared cell during the search (the authors' code: momentum 0.001), so "
    "the search scores cells as the derived cell is trained, without it; controller Adam lr 3.5e-3 (3.5e-4) "
    "with 40 steps per epoch (2000); 4 search epochs (150); 4 post-search epochs to a target of 11.5 (150 to "
    "100), a target on the speed to quality, since every cell that trains ends near the grammar's floor (~10)")
_SMALL_SEARCH_EPOCHS = 25

SPEC = BenchmarkSpec(
    server_latency_ms={"tiny": 300, "small": 250, "full": 250},
    server_latency_basis=("no MLPerf language model of this kind: derived; small/full: 250 ms (MLPerf's sequence-model bound, GNMT); tiny: about 10x the tiny searched RNN's latency on 2 cores (30 ms loaded)"),
    card=card("C17"),
    scales={
        "tiny": ScaleConfig(
            target=11.5, max_epochs=4 + 4, batch_size=32, baseline=44.96, baseline_kind="unigram",
            time_budget_s=170, inference_samples=64,
            # The search pays at tiny in speed to quality, not in final quality: every cell that trains ends near
            # the grammar's floor (~10) after 12 post-search epochs (derived 9.87 / 10.20 / 9.83, random 10.00 /
            # diverged / 10.20 at the old settings), so the target (11.5) is one the derived cell reaches in its
            # 4th post-search epoch and the budget ends there. Two fidelity fixes made the search reliable: the
            # reference's 100 derive samples (10 before) and no batch norm in the shared cell during the search
            # (the paper's §2.1 cell has none; the authors' code has it; carpedm20's has none per node). With
            # it, seed 1's search favoured ReLU cells (fine under batch norm) whose derived cell, trained without
            # it, missed 11.5 (14.26 after 4 post-search epochs, 100 derive samples); without it all three
            # searches pick tanh-led cells. control: the median over seeds 0-2, the diverged control counted worst.
            control=12.05, control_margin=0.3,
            control_source="PYTHONPATH=src python scripts/controls.py C17 --seeds 0 1 2 (python -m aibench run C17 "
                           "--scale tiny --controls --threads 1 --seed S), 2026-12-02, load average 3.3-3.9 on 2 "
                           "cores: random cell 12.05 / diverged (NaN loss in its first post-search epoch) / 11.79 "
                           "against the derived cell's 10.97 / 10.53 / 10.83 (seeds 0, 1, 2; margins 1.07 / - / "
                           "0.95; the method reaches the target in its 4th post-search epoch on every seed, after "
                           "12.03 / 12.19 / 11.61 in the 3rd; method and control together 29 / 30 / 31 s). Not a "
                           "margin for every draw: seeds 3, 4, 5 gave random 11.45 / 12.41 / 11.31 against 11.08 / "
                           "10.71 / 10.97, so on seeds 3 and 5 the random cell reaches the target too (margins "
                           "0.37, 0.34); seeds 6, 7, 8, 9 (same command, load about 2): random 11.17 / 11.05 / 11.84 / "
                           "12.13 against 10.97 / 11.02 / 11.38 / 10.89, so the random cell reaches the target on 4 "
                           "of 10 seeds (3, 5, 6, 7) and on seed 7 is as good (a margin of 0.04); a target of 11.2 "
                           "would pass 7 of 10 but the method misses it on seed 8 (11.38). Random search with one draw is often about as good (Li & Talwalkar 2019), "
                           "and of 10 other draws (an experiment script training as the harness does, 6 post-search "
                           "epochs) one diverged and two trailed (12.57, 13.40; the rest 10.26-11.16), the search's "
                           "gain being to avoid those. A looser budget loses the margin: in that script a 5th "
                           "post-search epoch brings seed 2's random cell to 10.80",
            hparams={**_REFERENCE, "num_nodes": 6, "hidden_size": 64, "dropout_x": 0.0, "dropout_h": 0.0,
                     "dropout_o": 0.0, "init_range": 0.4, "search_norm_momentum": None, "shared_lr": 5.0,
                     "final_lr": 5.0, "controller_lr": 3.5e-3, "controller_steps": 40, "search_epochs": 4},
            shrink=_TINY_SHRINK),
        # the whole real PTB (5 MB) at the reference width and optimizers, with a shorter search
        "small": ScaleConfig(
            target=100.0, max_epochs=_SMALL_SEARCH_EPOCHS + _FINAL_EPOCHS, batch_size=64,
            hparams={**_REFERENCE, "search_epochs": _SMALL_SEARCH_EPOCHS, "controller_steps": 500}, smoke=_SMOKE),
        "full": ScaleConfig(
            target=100.0, max_epochs=_REFERENCE["search_epochs"] + _FINAL_EPOCHS, batch_size=64,
            hparams=dict(_REFERENCE), smoke=_SMOKE),
    },
    data_layout="ptb.train.txt, ptb.valid.txt, ptb.test.txt (Mikolov's preprocessed PTB: one sentence a line, "
                "<unk> for rare words; in the given folder, its data/ or simple-examples/data/)",
    default_data_subdir="ptb",
    full_size=ModelSize(
        params=146_149_570, flops_per_sample=2.52e9,
        source="ENAS PTB search as in carpedm20/ENAS-pytorch (config.py: 12 nodes, shared_hid = shared_embed = "
               "1000, 100-unit controller; models/shared_rnn.py: one 1000 x 1000 gate and value matrix per node "
               "pair, 66 pairs = 132 M) over PTB's 10,000 words with tied embeddings: shared model 146,060,000 "
               "(carpedm20's: 146,014,000; our 12 node batch norms add 48,000, its w_x biases 2,000 we lack) plus "
               "controller 89,570",
        note="2.1x the paper's largest model (68.4 M), and not comparable with it: the paper reports no size for "
             "NAS (§5.1: 'we do not report the numbers of the reinforcement learning model ... because the FLOPs "
             "and learnable parameters vary significantly from different epochs'). The derived cell trained "
             "after the search holds 11 of the 66 pairs: 36,010,000 parameters. The authors' TensorFlow search "
             "(per-function weights, hidden 720) is larger still, about 289 M. FLOPs per query: the shared model "
             "under the controller's most likely cell, 35 tokens"),
    choices={
        "target": "the paper's '100 (perplexity)' is read as word-level test perplexity on PTB (exp of the mean "
                  "negative log-likelihood over every ptb.test.txt token, <eos> included) of the derived cell "
                  "trained from scratch after the search; ENAS reports 55.8 for its cell (about 24 M parameters), "
                  "so 100 is a loose target; search epochs count toward the epochs to quality",
        "vocabulary": "Mikolov's preprocessed PTB: 10,000 words with <unk> and <eos>; another vocabulary size is "
                      "used as found, with a warning, and changes the embedding and softmax",
    },
    control="the search: a cell drawn uniformly from the same search space (each node's activation and input, "
            "from the run's seed) trained from scratch as the derived cell is, in the same post-search epochs, "
            "data and optimizer",
)

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
    "64-wide model; batch-norm momentum 0.01 (0.001) for the fewer steps; controller Adam lr 3.5e-3 (3.5e-4) "
    "with 40 steps per epoch (2000); 4 search epochs (150); best of 10 sampled cells (100)")
_SMALL_SEARCH_EPOCHS = 25

SPEC = BenchmarkSpec(
    server_latency_ms={"tiny": 300, "small": 250, "full": 250},
    server_latency_basis=("no MLPerf language model of this kind: derived; small/full: 250 ms (MLPerf's sequence-model bound, GNMT); tiny: about 10x the tiny searched RNN's latency on 2 cores (30 ms loaded)"),
    card=card("C17"),
    scales={
        "tiny": ScaleConfig(
            target=12.0, max_epochs=4 + 12, batch_size=32, baseline=44.96, baseline_kind="unigram",
            time_budget_s=170, inference_samples=64,
            # the random cell reaches the target too (2 of 3 seeds; the third diverges, which counts as the method
            # winning): no margin holds, so none is required; control = the best test perplexity a random cell
            # reached over the 3 seeds. Levers measured without opening one (harness runs, hparams overridden,
            # target 1.0 so both train the whole budget, 2026-12-02, load 2-11): no target separates them, since
            # over the 12 post-search epochs the derived cells' best is 9.87 / 10.20 / 9.83 and the random cells'
            # 10.00 / diverged / 10.20 (seeds 0, 1, 2): a target the method reaches on seed 1 (>= 10.20) seed 0's
            # random cell reaches too. Best over 10 post-search epochs, derived vs random: 12 nodes (ENAS's)
            # 9.97 vs 9.95 and 9.96 vs 10.13 (seeds 0, 2);
            # a longer search (8 epochs, 100 controller steps, 30 derive samples): seed 1's derived cell is worse
            # (13.57 after 6 post-search epochs; seed 0: 10.41 vs 10.52); a grammar with selectional
            # restrictions (animate/inanimate subjects select their verbs) and more relative clauses and
            # prepositional phrases between subject and verb: 9.99 vs 9.37 (the random cell better) and 9.47 vs
            # 9.44 (seeds 0, 2). As with random-search baselines for ENAS on PTB (Li & Talwalkar 2019), one
            # random draw is as good as the searched cell here unless the draw cannot train: seed 1's has an
            # identity node 0 (a quarter of draws) and no tanh or sigmoid anywhere, so its state is never squashed
            control=11.21, control_margin=None,
            control_source="PYTHONPATH=src python scripts/controls.py C17 --seeds 0 1 2 (python -m aibench run C17 "
                           "--scale tiny --controls --threads 1 --seed S), 2026-12-02, load average 8-12 on 2 cores, "
                           "rerun the same day at load 7.5 with the same values: "
                           "random cell 11.21 / diverged (NaN loss at step 11) / 11.79 against the derived cell's "
                           "11.75 / 11.65 / 11.40 (seeds 0, 1, 2; the method stops at the target 12.0, the control "
                           "reaches it in 5 and 4 post-search epochs against the method's 3; verdicts FAIL / control "
                           "diverged / FAIL; method and control together 61 / 48 / 41 s)",
            hparams={**_REFERENCE, "num_nodes": 6, "hidden_size": 64, "dropout_x": 0.0, "dropout_h": 0.0,
                     "dropout_o": 0.0, "init_range": 0.4, "search_norm_momentum": 0.01, "shared_lr": 5.0,
                     "final_lr": 5.0, "controller_lr": 3.5e-3, "controller_steps": 40, "search_epochs": 4,
                     "derive_samples": 10},
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

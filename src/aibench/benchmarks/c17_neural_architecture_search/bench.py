"""DC-AI-C17: ENAS recurrent-cell search on PTB, then the derived cell trained and scored by test perplexity.

Epochs `0 .. search_epochs-1` are the search phase: each is one pass of the shared child weights over the train
split (SGD, one sampled architecture per minibatch), followed by `controller_steps` REINFORCE updates of the
controller, each rewarded with c / perplexity of a sampled architecture on a validation minibatch. The first
epoch after the search starts with the derivation step (the best of `derive_samples` sampled architectures on
one validation minibatch), then trains that architecture from scratch, as the paper does, and is the first
epoch whose evaluation (the test perplexity of the derived model) counts.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torchmetrics.text import Perplexity

from aibench.benchmarks.base import Benchmark, Quality, StepOutput
from aibench.benchmarks.c17_neural_architecture_search import SPEC
from aibench.benchmarks.c17_neural_architecture_search.data import (
    Window, batchify, query_windows, synthesize_ptb, window_count, windows)
from aibench.benchmarks.c17_neural_architecture_search.model import (
    ACTIVATIONS, Architecture, Controller, RecurrentLM, Sample, derived_model, random_architecture, shared_model)
from aibench.datasets.ptb import (
    EOS, LAYOUT, PTBCorpus, Vocabulary, find_ptb_dir, read_ptb, read_tokens, split_file, unigram_perplexity)
from aibench.errors import DataError
from aibench.spec import ScaleConfig

MAX_NLL = 10.0  # nats per token: the authors' cap on a sampled cell's validation log-perplexity


@dataclass(frozen=True)
class Step:
    """One item of an epoch: a shared-weights, controller, derivation or derived-model step."""

    kind: str  # "shared" | "controller" | "derive" | "final"
    window: Window | None = None
    first: bool = False  # first window of an epoch: the recurrent state starts from zero


def child_options(hp: dict[str, Any]) -> dict[str, float]:
    return {k: hp[k] for k in ("dropout_x", "dropout_h", "dropout_o", "init_range")}


def build_shared(vocab_size: int, hp: dict[str, Any]) -> RecurrentLM:
    return shared_model(vocab_size, hp["hidden_size"], hp["num_nodes"], hp["search_norm_momentum"],
                        **child_options(hp))


def build_controller(hp: dict[str, Any]) -> Controller:
    return Controller(hp["num_nodes"], hp["controller_hidden"], hp["tanh_constant"], hp["temperature"])


class ENASSearch(Benchmark):
    SPEC = SPEC
    DATA_PARALLEL_UNSUPPORTED = (
        "ENAS alternates the shared model's steps with the controller's policy-gradient steps on sampled "
        "architectures; keeping the samples identical on every rank is not written yet")

    # ----- data -------------------------------------------------------------------------------------
    @classmethod
    def synthesize(cls, data_dir: Path, config: ScaleConfig, seed: int) -> None:
        hp = config.hparams
        synthesize_ptb(Path(data_dir), seed, hp.get("synth_sentences"), hp.get("synth_vocab_size"))

    @classmethod
    def check_data(cls, data_dir: Path, config: ScaleConfig) -> dict[str, Any]:
        corpus = read_ptb(data_dir)
        root = find_ptb_dir(data_dir)
        bptt = config.hparams["bptt"]
        for split in ("train", "valid"):  # each needs one full minibatch of BPTT windows
            need = config.batch_size * (bptt + 1)
            if len(corpus.split(split)) < need:
                raise DataError(root / split_file(split), f"{len(corpus.split(split))} tokens; need at least "
                                                          f"{need} for batch {config.batch_size} x BPTT {bptt}")
        if len(corpus.test) < bptt + 1:
            raise DataError(root / split_file("test"), f"{len(corpus.test)} tokens; need at least {bptt + 1}")
        return {"vocab_size": len(corpus.vocab), "train_tokens": len(corpus.train),
                "valid_tokens": len(corpus.valid), "test_tokens": len(corpus.test),
                "unigram_test_perplexity": unigram_perplexity(corpus.train, corpus.test, len(corpus.vocab))}

    @classmethod
    def reference_models(cls, config: ScaleConfig) -> dict[str, nn.Module]:
        """What a search trains: the controller and the shared child model over PTB's 10,000 words. (The
        derived model, built after the search, holds only its architecture's 11 edges of the shared 66.)"""
        hp = config.hparams
        return {"controller": build_controller(hp),
                "shared": build_shared(hp["vocab_size"], hp)}

    # ----- setup ------------------------------------------------------------------------------------
    VOCAB_FILE = "vocab.txt"

    def prepare_artefacts(self) -> None:
        """The vocabulary of PTB's train file (it fixes the embedding's and the softmax's rows): built once per
        train file, then loaded."""
        train_file = find_ptb_dir(self.ctx.data_dir) / split_file("train")
        if not train_file.is_file():
            raise DataError(train_file, f"missing: expected {LAYOUT}")

        def build(folder: Path) -> None:
            Vocabulary.from_tokens(read_tokens(train_file)).save(folder / self.VOCAB_FILE)

        folder = self.artefact("vocab", {"order": "first appearance", "eos": EOS}, [train_file], build)
        self.vocab = Vocabulary.load(folder / self.VOCAB_FILE)

    def initialize(self) -> None:
        """Untimed: load (or build) the vocabulary artefact, build the shared child model at its size, the
        controller and their optimizers. The token streams are read in prepare_data()."""
        hp = self.hp
        self.prepare_artefacts()
        self.vocab_size = len(self.vocab)
        if self.vocab_size != hp["vocab_size"] and self.ctx.scale != "tiny":  # tiny's 100 words: its shrink
            self.warn(f"PTB's train file has {self.vocab_size:,} distinct words (<eos> included), not the "
                      f"{hp['vocab_size']:,} of Mikolov's PTB: the embedding and softmax differ from the reference")
        self.child_options = child_options(hp)
        self.shared = build_shared(self.vocab_size, hp).to(self.device)
        self.controller = build_controller(hp).to(self.device)
        self.shared_optimizer = torch.optim.SGD(self.shared.parameters(), lr=hp["shared_lr"],
                                                weight_decay=hp["shared_l2"])
        self.controller_optimizer = torch.optim.Adam(self.controller.parameters(), lr=hp["controller_lr"])
        self.sampler = torch.Generator(device=self.device).manual_seed(self.ctx.seed)
        self.rng = np.random.default_rng(self.ctx.seed)
        self.baseline: float | None = None
        self.final: RecurrentLM | None = None
        self.final_optimizer: torch.optim.Optimizer | None = None
        self.derivation: dict[str, Any] = {}
        self.state: torch.Tensor | None = None

    def prepare_data(self) -> None:
        """Timed: read the three token streams, encode them with the vocabulary (a word outside it is an
        error: PTB's vocabulary is closed) and cut them into batch-parallel streams on the device."""
        self.corpus: PTBCorpus = read_ptb(self.ctx.data_dir, self.vocab)
        bs = self.config.batch_size
        self.train_data = batchify(self.corpus.train, bs, self.device)
        self.valid_windows = list(windows(batchify(self.corpus.valid, bs, self.device), self.hp["bptt"]))
        self.test_data = batchify(self._test_ids(), bs, self.device)

    def _test_ids(self) -> np.ndarray:
        """The test token stream; in a smoke run only `eval_limit` BPTT windows of it (spread over the streams)."""
        test = self.corpus.test
        if self.ctx.eval_limit is None:
            return test
        return test[:self.ctx.eval_limit * self.hp["bptt"] + self.config.batch_size]

    def models(self) -> dict[str, nn.Module]:
        roles: dict[str, nn.Module] = {"controller": self.controller, "shared": self.shared}
        if self.final is not None:
            roles["final"] = self.final
        return roles

    # ----- epochs -----------------------------------------------------------------------------------
    def phase(self, epoch: int) -> str:
        return "search" if epoch < self.hp["search_epochs"] else "train"

    def eval_due(self, epoch: int) -> bool:
        return self.phase(epoch) == "train"  # only the derived architecture has a test perplexity

    def train_samples(self) -> int:
        return window_count(self.train_data, self.hp["bptt"]) * self.config.batch_size

    def train_batches(self, epoch: int) -> Iterator[Step]:
        if self.phase(epoch) == "search" and self.ctx.control:
            return  # the control does not search: its random cell trains in the same epochs the derived one does
        if self.phase(epoch) == "search":
            self._set_lr(self.shared_optimizer, "shared", epoch)
            yield from self._lm_steps("shared")
            for _ in range(self.hp["controller_steps"]):
                yield Step("controller", self.valid_windows[self.rng.integers(len(self.valid_windows))])
            return
        if self.final is None and self.ctx.control:
            self._derive_random()  # no step: nothing is evaluated to choose it
        elif self.final is None:
            yield Step("derive", self.valid_windows[self.rng.integers(len(self.valid_windows))])
        # the final optimizer exists once the derive step above has run (this generator resumes after it)
        self._set_lr(self.final_optimizer, "final", epoch - self.hp["search_epochs"])
        yield from self._lm_steps("final")

    def _lm_steps(self, kind: str) -> Iterator[Step]:
        for i, window in enumerate(windows(self.train_data, self.hp["bptt"])):
            yield Step(kind, window, first=i == 0)

    def _set_lr(self, optimizer: torch.optim.Optimizer, prefix: str, epoch: int) -> None:
        """Constant, then decayed by a factor every epoch from the decay start (the paper's schedule)."""
        hp = self.hp
        decays = max(0, epoch - hp[f"{prefix}_lr_decay_start"] + 1)
        for group in optimizer.param_groups:
            group["lr"] = hp[f"{prefix}_lr"] * hp[f"{prefix}_lr_decay"] ** decays

    # ----- steps ------------------------------------------------------------------------------------
    def train_step(self, batch: Step) -> StepOutput:
        if batch.kind == "shared":
            arch = self.controller_sample(greedy=False).arch
            return self._lm_step(self.shared, self.shared_optimizer, batch, arch, self.hp["shared_grad_clip"])
        if batch.kind == "controller":
            return self._controller_step(batch.window)
        if batch.kind == "derive":
            return self._derive(batch.window)
        return self._lm_step(self.final, self.final_optimizer, batch, None, self.hp["final_grad_clip"])

    def _lm_step(self, model: RecurrentLM, optimizer: torch.optim.Optimizer, batch: Step,
                 arch: Architecture | None, clip: float) -> StepOutput:
        """Truncated BPTT: the state carries over between consecutive windows, detached."""
        window = batch.window
        if batch.first or self.state is None:
            self.state = model.initial_state(window.inputs.size(1))
        optimizer.zero_grad(set_to_none=True)
        logits, state = model(window.inputs, self.state.detach(), arch)
        loss = F.cross_entropy(logits.flatten(0, 1), window.targets.flatten())
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        self.state = state.detach()
        return StepOutput(loss=float(loss.detach()), samples=window.inputs.size(1))

    def controller_sample(self, greedy: bool) -> Sample:
        """An architecture from the controller, drawn with this run's seeded generator."""
        return self.controller.sample(self.sampler, greedy=greedy)

    def _validation_nll(self, model: RecurrentLM, window: Window, arch: Architecture | None) -> float:
        """Mean NLL of one validation minibatch, dropout off, from a zero state, capped at MAX_NLL.

        With the moving-average batch-norm statistics, a sampled cell of identity/ReLU chains can still blow
        the state up; like the authors' code (which clips log-perplexity at 10), it then just gets the worst
        reward instead of an infinite or NaN one.
        """
        was_training = model.training
        model.eval()
        with torch.no_grad():
            logits, _ = model(window.inputs, model.initial_state(window.inputs.size(1)), arch)
            nll = float(F.cross_entropy(logits.flatten(0, 1), window.targets.flatten()))
        model.train(was_training)
        return min(nll, MAX_NLL) if math.isfinite(nll) else MAX_NLL

    def _controller_step(self, window: Window) -> StepOutput:
        """REINFORCE with a moving-average baseline; reward c / valid perplexity plus an entropy bonus."""
        hp = self.hp
        sample = self.controller_sample(greedy=False)
        nll = self._validation_nll(self.shared, window, sample.arch)
        reward = hp["reward_c"] / math.exp(nll) + hp["entropy_weight"] * float(sample.entropy.detach())
        # the first reward seeds the baseline, so the first update is not a jump from an arbitrary zero
        self.baseline = reward if self.baseline is None else (
            hp["baseline_decay"] * self.baseline + (1 - hp["baseline_decay"]) * reward)
        loss = -sample.log_prob * (reward - self.baseline)
        self.controller_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.controller_optimizer.step()
        # the step's loss is the sampled cell's validation NLL: comparable with the shared steps' training NLL
        return StepOutput(loss=nll, samples=0, losses={"controller": float(loss.detach()), "reward": reward,
                                                       "baseline": self.baseline})

    def _derive(self, window: Window) -> StepOutput:
        """The best of several sampled architectures on one validation minibatch becomes the final model."""
        candidates = []
        with torch.no_grad():
            for _ in range(self.hp["derive_samples"]):
                arch = self.controller_sample(greedy=False).arch
                candidates.append((self._validation_nll(self.shared, window, arch), arch))
        nll, arch = min(candidates, key=lambda c: c[0])
        self._build_final(arch)
        self.derivation = {"candidates": len(candidates), "valid_batch_perplexity": math.exp(nll),
                           "candidate_perplexities": sorted(math.exp(c[0]) for c in candidates)}
        self.state = None
        return StepOutput(loss=nll, samples=0)

    def _derive_random(self) -> None:
        """The control (random search's one draw): every node's activation and input uniformly from the search
        space, from a generator seeded with the run's seed, so each seed has its own cell and repeats it."""
        arch = random_architecture(self.hp["num_nodes"], np.random.default_rng([self.ctx.seed, 17]))
        self._build_final(arch)
        self.derivation = {"candidates": 1, "random": True}
        self.state = None

    def _build_final(self, arch: Architecture) -> None:
        hp = self.hp
        self.final = derived_model(self.vocab_size, hp["hidden_size"], arch, **self.child_options).to(self.device)
        self.final_optimizer = torch.optim.SGD(self.final.parameters(), lr=hp["final_lr"],
                                               weight_decay=hp["final_l2"])

    # ----- evaluation -------------------------------------------------------------------------------
    def _current_model(self) -> tuple[RecurrentLM, Architecture | None]:
        """The derived model once it exists; before that, the shared weights under the controller's most
        likely architecture (so inference and FLOP counts work at any point of the run)."""
        if self.final is not None:
            return self.final, None
        with torch.no_grad():
            return self.shared, self.controller_sample(greedy=True).arch

    def architecture(self) -> Architecture | None:
        return self.final.arch if self.final is not None else None

    def evaluate(self) -> Quality:
        """Test perplexity (torchmetrics) of the current model over the whole test split, state carried."""
        model, arch = self._current_model()
        metric = Perplexity().to(self.device)
        state = model.initial_state(self.test_data.size(1))
        with torch.no_grad():
            for window in windows(self.test_data, self.hp["bptt"]):
                logits, state = model(window.inputs, state, arch)
                metric.update(logits.transpose(0, 1), window.targets.t())
        return Quality(float(metric.compute()), extra=self._arch_extra(arch or model.arch),
                       samples=self.test_data.numel())

    def _arch_extra(self, arch: Architecture) -> dict[str, float]:
        """The architecture as floats (Quality.extra holds numbers only); node 0 reads x_t and h_{t-1} (-1)."""
        extra = {"derived": float(self.final is not None)}
        for node, act in enumerate(arch.activations):
            extra[f"arch_node{node}_prev"] = float(arch.previous[node - 1]) if node else -1.0
            extra[f"arch_node{node}_act"] = float(act)
        return extra

    def describe(self) -> dict[str, Any]:
        arch = self.architecture()
        return {"architecture": arch.describe() if arch else None, "derivation": self.derivation,
                "search_space": {"nodes": self.hp["num_nodes"],
                                 "activations": list(ACTIVATIONS)}}

    # ----- inference --------------------------------------------------------------------------------
    def inference_samples(self) -> Sequence[torch.Tensor]:
        """Token windows of the test split: BPTT tokens of context-and-targets plus one (the last target)."""
        return query_windows(self.corpus.test, self.config.inference_samples, self.hp["bptt"] + 1)

    def query_count(self) -> int:
        return len(self._query_starts())

    def load_query(self, index: int) -> torch.Tensor:
        start = self._query_starts()[index]
        return torch.from_numpy(self.corpus.test[start:start + self.hp["bptt"] + 1].copy())

    def _query_starts(self) -> list[int]:
        """Where each query's window starts in the test split: the inference samples' evenly spaced windows
        first, then windows filling the gaps between them, so every test token after the first is predicted (each
        window from a fresh state), once but where a gap shorter than a window overlaps its neighbour."""
        if getattr(self, "_queries", None) is None:
            bptt, tokens = self.hp["bptt"], len(self.corpus.test)
            spread = np.linspace(0, tokens - bptt - 1, num=self.config.inference_samples).astype(np.int64).tolist()
            fill, pos = [], 1  # pos: the first token no window predicts yet (a window at s predicts s+1..s+bptt)
            for start in sorted(set(spread)) + [tokens - 1]:  # the split's end closes the last gap
                fill += _gap_windows(pos, start, bptt)
                pos = max(pos, start + bptt + 1)
            self._queries = list(dict.fromkeys(spread)) + fill
        return self._queries

    def infer(self, samples: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Per-token negative log-likelihood of each window's tokens 1.., each given the ones before it."""
        return self._token_nll(*self._current_model(), samples)

    def _token_nll(self, model: RecurrentLM, arch: Architecture | None, samples: Sequence[torch.Tensor]
                   ) -> list[torch.Tensor]:
        tokens = torch.stack(list(samples)).t().to(self.device)  # (time, batch)
        with torch.no_grad():
            logits, _ = model(tokens[:-1], model.initial_state(tokens.size(1)), arch)
            nll = F.cross_entropy(logits.flatten(0, 1), tokens[1:].flatten(), reduction="none")
        return list(nll.view(tokens.size(0) - 1, tokens.size(1)).t().cpu())

    def score(self, indices: Sequence[int], outputs: Sequence[torch.Tensor]) -> Quality:
        """Perplexity over all scored tokens: exp of their mean negative log-likelihood."""
        nll = torch.cat([torch.as_tensor(o, dtype=torch.float64).flatten() for o in outputs])
        # infinite past exp's range: the shared model without batch norm (tiny's search), untrained, under an
        # unbounded cell's state, can score a mean NLL in the thousands
        mean = float(nll.mean())
        perplexity = math.exp(mean) if mean < math.log(sys.float_info.max) else math.inf
        return Quality(perplexity, extra={"tokens": float(nll.numel())}, samples=len(outputs))

    # ----- characterization -------------------------------------------------------------------------
    def example_batch(self) -> Window:
        return next(windows(self.train_data, self.hp["bptt"]))

    # The model (and, before derivation, the controller's architecture) is chosen before the counted call:
    # FLOPs are the language model's, as the paper counts none for the controller.
    def forward_example(self) -> tuple[Callable[[], Any], int]:
        model, arch = self._current_model()
        samples = list(self.inference_samples())[:8]
        return (lambda: self._token_nll(model, arch, samples)), len(samples)

    def training_example(self) -> Callable[[], Any]:
        model, arch = self._current_model()
        batch = self.example_batch()

        def run() -> None:
            logits, _ = model(batch.inputs, model.initial_state(batch.inputs.size(1)), arch)
            F.cross_entropy(logits.flatten(0, 1), batch.targets.flatten()).backward()

        return run

    # ----- state ------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = {"controller": self.controller.state_dict(), "shared": self.shared.state_dict()}
        if self.final is not None:
            state["final"] = self.final.state_dict()
            state["architecture"] = torch.tensor(self.final.arch.encode())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores the derived model too: its architecture travels with the weights."""
        self.controller.load_state_dict(state["controller"])
        self.shared.load_state_dict(state["shared"])
        if "architecture" in state:
            self._build_final(Architecture.decode(state["architecture"].tolist()))
            self.final.load_state_dict(state["final"])
        else:
            self.final = self.final_optimizer = None


def _gap_windows(first: int, end: int, bptt: int) -> list[int]:
    """Starts of windows predicting tokens first..end (a window at s predicts s+1..s+bptt): back to back, the last
    moved back to end at `end` (never before the split's start)."""
    starts, pos = [], first
    while pos <= end:
        start = max(0, min(pos - 1, end - bptt))
        starts.append(start)
        pos = start + bptt + 1
    return starts


BENCHMARK = ENASSearch

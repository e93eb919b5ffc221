"""DC-AI-C16: ranking distillation with Caser on Gowalla.

Training is two phases inside one timed run: the teacher (large d) learns with Caser's ranking loss; then the
student (small d) learns with the same loss plus the distillation loss on the teacher's top-K items for each
training window (position-importance weights, times ranking-discrepancy weights once the student has
warmed up: the paper's hybrid). Evaluation ranks all locations a user has not visited in training for the
user's last L training check-ins and scores the student's top 10 against the held-out check-ins.

Before the clock, the id map (the user and location ids past Caser's cold-start filter, a cached data-set artefact)
sizes both models; the timed data preparation parses the check-ins, indexes the kept ones into sequences and
builds the training windows and masks.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aibench.benchmarks.base import Benchmark, Quality, StepOutput, selected_rows_first
from aibench.benchmarks.c16_learning_to_rank import SPEC
from aibench.benchmarks.c16_learning_to_rank.data import (
    PAD, RankingMetrics, SequenceData, build_sequences, index_sequences, item_mask, kept_ids, last_items,
    popularity_scores, ranking_preds, sample_unseen, sliding_windows, top_k_preds, write_shaped, write_synthetic,
)
from aibench.benchmarks.c16_learning_to_rank.model import (
    Caser, discrepancy_weights, distillation_loss, position_weights, ranking_loss,
)
from aibench.datasets.gowalla import find_checkins_file, read_checkins
from aibench.spec import ScaleConfig

TOP_N = 10  # the metric's cut-off: precision@10 etc.
EVAL_USERS_PER_BATCH = 512
# Gowalla after the reference's preprocessing (Caser's cold-start filter, 15 check-ins per user and location):
# the rank_distill data files AIBench's C16 trains on (datasets/gowalla/test/test.txt holds user ids
# 1..13,149 and location ids 1..14,009; Caser's paper: 13.1k users, 14.0k items). The reference models are
# built at these sizes; item index 0 is the padding item, so the item tables have 14,010 rows.
GOWALLA_USERS, GOWALLA_LOCATIONS = 13_149, 14_009
ID_MAP_FILE = "ids.npz"


@dataclass
class WindowBatch:
    """Training windows of one step: who, the last L items, the next T items, and sampled unseen items."""

    phase: str  # "teacher" or "student"
    users: torch.Tensor
    sequences: torch.Tensor
    targets: torch.Tensor
    negatives: torch.Tensor
    rank_samples: torch.Tensor | None = None  # for the ranking-discrepancy weights (student, after warm-up)


@dataclass(frozen=True)
class RankQuery:
    """An inference query: a user and the user's most recent L check-ins (item indices)."""

    user: int
    recent: torch.Tensor


def _preprocess(data_dir: Path, config: ScaleConfig) -> SequenceData:
    hp = config.hparams
    return build_sequences(read_checkins(data_dir), hp["min_user_checkins"], hp["min_item_checkins"],
                           hp["test_fraction"], hp.get("max_users"), source=find_checkins_file(data_dir))


def build_id_map(checkins_path: Path, config: ScaleConfig, folder: Path) -> None:
    """The id-map artefact: the user and location ids past the cold-start filter (their counts size Caser)."""
    hp = config.hparams
    users, locations = kept_ids(read_checkins(checkins_path), hp["min_user_checkins"], hp["min_item_checkins"],
                                hp.get("max_users"), source=checkins_path)
    np.savez(folder / ID_MAP_FILE, user_ids=users, location_ids=locations)


class LearningToRank(Benchmark):
    SPEC = SPEC
    DATA_PARALLEL_UNSUPPORTED = (
        "ranking distillation trains a teacher and then a student, two phases with two models; wrapping each "
        "in DDP for its own phase is not written yet")

    # ----- data -------------------------------------------------------------------------------------
    @classmethod
    def synthesize(cls, data_dir: Path, config: ScaleConfig, seed: int) -> None:
        """tiny: walkers in a few cities (structure to learn); small/full (smoke sizes synth_users and
        synth_locations): every user and location the preprocessed Gowalla has, all past the cold-start filter."""
        if "synth_users" in config.hparams:
            write_shaped(data_dir, seed, config.hparams["synth_users"], config.hparams["synth_locations"])
            return
        sizes = ("regions", "users_per_region", "loop_locations")  # tiny's hparams set them; else the defaults
        write_synthetic(data_dir, seed, **{k: config.hparams[f"synth_{k}"] for k in sizes
                                           if f"synth_{k}" in config.hparams})

    @classmethod
    def reference_models(cls, config: ScaleConfig) -> dict[str, torch.nn.Module]:
        """Teacher and student Caser at the preprocessed Gowalla's users and locations (+1 padding item)."""
        hp = config.hparams
        return {role: Caser(GOWALLA_USERS, GOWALLA_LOCATIONS + 1, hp[f"{role}_d"], hp["L"], hp["nv"], hp["nh"],
                            hp["dropout"]) for role in ("teacher", "student")}

    @classmethod
    def check_data(cls, data_dir: Path, config: ScaleConfig) -> dict[str, Any]:
        checkins = read_checkins(data_dir)
        data = _preprocess(data_dir, config)
        return {"checkins": len(checkins), "users": len(np.unique(checkins.user)),
                "locations": len(np.unique(checkins.location)), "kept_users": data.n_users,
                "kept_locations": data.n_items - 1, "train_checkins": data.train_checkins(),
                "test_checkins": sum(len(s) for s in data.test)}

    # ----- setup ------------------------------------------------------------------------------------
    def prepare_artefacts(self) -> None:
        """The id map (user and location ids past the cold-start filter), built once per check-ins file and
        filter setting: its counts fix the models' embedding tables before the data is prepared."""
        hp = self.hp
        self.checkins_path = find_checkins_file(self.ctx.data_dir)
        settings = {k: hp.get(k) for k in ("min_user_checkins", "min_item_checkins", "max_users")}
        folder = self.artefact("id-map", {**settings, "format": 1}, [self.checkins_path],
                               lambda out: build_id_map(self.checkins_path, self.config, out))
        with np.load(folder / ID_MAP_FILE) as ids:
            self.id_map = ids["user_ids"], ids["location_ids"]  # index -> Gowalla id (items: index + 1)

    def initialize(self) -> None:
        """Untimed: the id map (an artefact) and the teacher and student it sizes; the check-ins are read, made
        into sequences and windows in prepare_data()."""
        hp, device = self.hp, self.device
        self.prepare_artefacts()
        users, locations = self.id_map
        self.n_users, self.n_items = len(users), len(locations) + 1  # item 0 pads
        self._warn_if_not_the_reference_counts()
        self.item_of_location = {int(loc): i + 1 for i, loc in enumerate(locations)}
        self.teacher = self._caser(hp["teacher_d"])
        self.student = self._caser(hp["student_d"])
        self.teacher_optimizer = self._adam(self.teacher)
        self.student_optimizer = self._adam(self.student)
        self.generator = torch.Generator(device=device).manual_seed(self.ctx.seed)
        self.position_w = position_weights(hp["K"], hp["lambda"], device)
        self.teacher_precision: float | None = None  # measured once, at the first student evaluation

    def prepare_data(self) -> None:
        """Timed: parse the check-ins (anew: not the copy the untimed data check parsed), index the kept ones into
        per-user sequences, split them, build the sliding windows, seen/held-out masks and query sequences, and
        score the popularity ranker."""
        hp, device = self.hp, self.device
        checkins = read_checkins(self.checkins_path, fresh=True)
        self.data = index_sequences(checkins, *self.id_map, hp["test_fraction"])
        self.eval_users = len(self.limit_eval(range(self.data.n_users)))  # the first users, all but in a smoke run
        users, sequences, targets = sliding_windows(self.data.train, hp["L"], hp["T"])
        self.windows = (users.to(device), sequences.to(device), targets.to(device))
        self.seen = item_mask(self.data.train, self.data.n_items).to(device)
        self.heldout = item_mask(self.data.test, self.data.n_items).to(device)
        self.recent = last_items(self.data.train, hp["L"]).to(device)
        popularity = popularity_scores(self.data.train, self.data.n_items).to(device)
        self.popularity_precision = self._quality(lambda seqs, u: popularity.expand(len(u), -1))[
            f"precision_at_{TOP_N}"]

    def _warn_if_not_the_reference_counts(self) -> None:
        """At full, a check-ins file whose filtered users or locations differ from the reference's builds
        other embedding tables: kept in the record."""
        counts = (self.n_users, self.n_items - 1)
        if self.ctx.scale == "full" and counts != (GOWALLA_USERS, GOWALLA_LOCATIONS):
            self.warn(f"Gowalla after the cold-start filter has {counts[0]:,} users and {counts[1]:,} locations; "
                      f"the reference's preprocessed files have {GOWALLA_USERS:,} and {GOWALLA_LOCATIONS:,}: "
                      "the models' tables follow the file")

    def _caser(self, d: int) -> Caser:
        hp = self.hp
        return Caser(self.n_users, self.n_items, d, hp["L"], hp["nv"], hp["nh"],
                     hp["dropout"]).to(self.device)

    def _adam(self, model: Caser) -> torch.optim.Adam:
        return torch.optim.Adam(model.parameters(), lr=self.hp["lr"], weight_decay=self.hp["weight_decay"])

    def models(self) -> dict[str, torch.nn.Module]:
        return {"teacher": self.teacher, "student": self.student}

    # ----- training ---------------------------------------------------------------------------------
    HYBRID = "student-hybrid"  # the student's epochs with the ranking-discrepancy weights: more work a step

    def phase(self, epoch: int) -> str:
        """The method: teacher epochs, then student epochs on position weights, then student epochs on the paper's
        hybrid weights (from dynamic_start_epoch; named apart, as each step also ranks sampled items, so the
        harness times them as their own phase). The control (`--controls`) has no teacher: it is the student
        alone, every epoch of its budget a student epoch (control_max_epochs)."""
        if self.ctx.control:
            return "student"
        student_epoch = epoch - self.hp["teacher_epochs"]
        if student_epoch < 0:
            return "teacher"
        return self.HYBRID if student_epoch >= self.hp["dynamic_start_epoch"] else "student"

    def control_max_epochs(self, max_epochs: int) -> int:
        """The student alone gets the epochs the method's student gets (the budget less the teacher's): the
        paper's comparison, students of one size trained for as many epochs, with and without the teacher."""
        return max(1, max_epochs - self.hp["teacher_epochs"])

    def eval_due(self, epoch: int) -> bool:
        return self.phase(epoch) != "teacher"

    def train_samples(self) -> int:
        return len(self.windows[0])

    def train_batches(self, epoch: int) -> Iterator[WindowBatch]:
        if self.ctx.smoke:
            yield from self._smoke_batches()
            return
        phase = self.phase(epoch)
        order = torch.randperm(self.train_samples(), generator=self.generator, device=self.device)
        for start in range(0, len(order), self.config.batch_size):
            yield self._batch(order[start:start + self.config.batch_size], "teacher" if phase == "teacher" else
                              "student", dynamic=phase == self.HYBRID)

    def _smoke_batches(self) -> Iterator[WindowBatch]:
        """A smoke run's few steps visit every phase in turn: teacher, student on position weights, student
        with the ranking-discrepancy weights (the paper's hybrid), and again."""
        order = torch.randperm(self.train_samples(), generator=self.generator, device=self.device)
        phases = (("teacher", False), ("student", False), ("student", True))
        for step, start in enumerate(range(0, len(order), self.config.batch_size)):
            yield self._batch(order[start:start + self.config.batch_size], *phases[step % len(phases)])

    def _batch(self, index: torch.Tensor, phase: str, dynamic: bool) -> WindowBatch:
        users, sequences, targets = (t[index] for t in self.windows)
        negatives = sample_unseen(self.seen, users, self.hp["neg_samples"], self.generator)
        samples = sample_unseen(self.seen, users, self.hp["dynamic_samples"], self.generator) if dynamic else None
        return WindowBatch(phase, users, sequences, targets, negatives, samples)

    def train_step(self, batch: WindowBatch) -> StepOutput:
        optimizer = self.teacher_optimizer if batch.phase == "teacher" else self.student_optimizer
        optimizer.zero_grad(set_to_none=True)
        loss, parts = self._losses(batch)
        loss.backward()
        optimizer.step()
        return StepOutput(loss=float(loss.detach()), samples=len(batch.users), losses=parts)

    def compute_loss(self, batch: WindowBatch) -> tuple[torch.Tensor, int]:
        return self._losses(batch)[0], len(batch.users)

    def _losses(self, batch: WindowBatch) -> tuple[torch.Tensor, dict[str, float]]:
        if batch.phase == "teacher":
            scores = self.teacher(batch.sequences, batch.users, torch.cat([batch.targets, batch.negatives], 1))
            loss = ranking_loss(*scores.split([batch.targets.shape[1], batch.negatives.shape[1]], 1))
            return loss, {"ranking": float(loss.detach())}
        if self.ctx.control:  # the control: the student on the observed next items only, no teacher
            scores = self.student(batch.sequences, batch.users, torch.cat([batch.targets, batch.negatives], 1))
            loss = ranking_loss(*scores.split([batch.targets.shape[1], batch.negatives.shape[1]], 1))
            return loss, {"ranking": float(loss.detach())}
        candidates = self._teacher_top_k(batch)
        groups = [batch.targets, batch.negatives, candidates]
        if batch.rank_samples is not None:
            groups.append(batch.rank_samples)
        scores = self.student(batch.sequences, batch.users, torch.cat(groups, 1)).split([g.shape[1] for g in groups], 1)
        weights = self.position_w.expand_as(candidates)
        if batch.rank_samples is not None:  # the hybrid: position importance x ranking discrepancy
            weights = weights * discrepancy_weights(scores[2], scores[3], self.data.n_items - 1, self.hp["mu"])
        rank = ranking_loss(scores[0], scores[1])
        distill = self.hp["teach_alpha"] * distillation_loss(scores[2], weights.detach())
        return rank + distill, {"ranking": float(rank.detach()), "distillation": float(distill.detach())}

    @torch.no_grad()
    def _teacher_top_k(self, batch: WindowBatch) -> torch.Tensor:
        """The teacher's K best items for each window, leaving out the window's own targets (its labels)."""
        self.teacher.eval()  # the teacher is fixed while the student learns: no dropout
        scores = self.teacher.score_all(batch.sequences, batch.users)
        scores[:, PAD] = float("-inf")
        scores.scatter_(1, batch.targets, float("-inf"))
        return scores.topk(self.hp["K"], dim=1).indices

    # ----- evaluation -------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self) -> Quality:
        self.student.eval()
        metrics = self._quality(self.student.score_all)
        if self.teacher_precision is None and not self.ctx.control:  # the control's teacher is never trained
            self.teacher.eval()
            self.teacher_precision = self._quality(self.teacher.score_all)[f"precision_at_{TOP_N}"]
        value = metrics.pop(f"precision_at_{TOP_N}")
        extra = {**metrics, f"popularity_precision_at_{TOP_N}": self.popularity_precision}
        if self.teacher_precision is not None:
            extra[f"teacher_precision_at_{TOP_N}"] = self.teacher_precision
        return Quality(value=value, extra=extra, samples=self.eval_users)

    def _quality(self, score_all: Any) -> dict[str, float]:
        """Metrics of a ranker (a callable: recent items, users -> scores of all items) over the evaluated
        users (all of them, or the first few in a smoke run)."""
        metrics = RankingMetrics(TOP_N)
        for start in range(0, self.eval_users, EVAL_USERS_PER_BATCH):
            users = torch.arange(start, min(start + EVAL_USERS_PER_BATCH, self.eval_users), device=self.device)
            scores = score_all(self.recent[users], users)
            metrics.update(ranking_preds(scores, self.seen[users]), self.heldout[users][:, 1:])
        return metrics.result()

    # ----- inference --------------------------------------------------------------------------------
    def inference_samples(self) -> Sequence[RankQuery]:
        count, n_users = self.config.inference_samples, self.data.n_users
        users = (np.arange(count) * n_users) // count  # spread over all users; repeats only if count > users
        return [RankQuery(int(u), self.recent[int(u)]) for u in users]

    def query_count(self) -> int:
        return len(self._query_users())

    def load_query(self, index: int) -> RankQuery:
        user = self._query_users()[index]
        return RankQuery(user, self.recent[user])

    def _query_users(self) -> list[int]:
        """The user of every query LoadGen serves: the inference samples' users first, then every other evaluated
        user, each once."""
        if getattr(self, "_queries", None) is None:
            spread = [s.user for s in self.inference_samples() if s.user < self.eval_users]
            self._queries = selected_rows_first(spread, self.eval_users)
        return self._queries

    @torch.no_grad()
    def infer(self, samples: Sequence[RankQuery]) -> list[list[int]]:
        """The student's top-10 unvisited locations (Gowalla location ids) for each query."""
        users = torch.tensor([s.user for s in samples], device=self.device)
        scores = self.student.score_all(torch.stack([s.recent for s in samples]).to(self.device), users)
        scores = scores.masked_fill(self.seen[users], float("-inf"))
        scores[:, PAD] = float("-inf")
        top = scores.topk(TOP_N, dim=1).indices.cpu().numpy()
        return [self.data.location_ids[row].tolist() for row in top]

    def score(self, indices: Sequence[int], outputs: Sequence[list[int]]) -> Quality:
        users = torch.tensor([self._query_users()[i] for i in indices], device=self.device)
        top = torch.tensor([[self.item_of_location[loc] for loc in out] for out in outputs], device=self.device)
        metrics = RankingMetrics(TOP_N, full_map=False)
        metrics.update(top_k_preds(top, self.data.n_items), self.heldout[users][:, 1:])
        result = metrics.result()
        return Quality(value=result.pop(f"precision_at_{TOP_N}"), extra=result, samples=len(outputs))

    # ----- characterization -------------------------------------------------------------------------
    def example_batch(self) -> WindowBatch:
        """A distillation step's batch (teacher top-K computed in the step, discrepancy weights on)."""
        index = torch.arange(min(self.config.batch_size, self.train_samples()), device=self.device)
        return self._batch(index, "student", dynamic=True)

    def example_samples(self) -> int:
        return min(self.config.batch_size, self.train_samples())


BENCHMARK = LearningToRank

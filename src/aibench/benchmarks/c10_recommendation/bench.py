"""DC-AI-C10: NeuMF on MovieLens implicit feedback, leave-one-out HR@10 over 100 candidates.

Each epoch pairs every training positive with `negatives` freshly sampled items outside the user's training
interactions, shuffles, and minimises binary cross-entropy. Evaluation scores each test user's 100 candidates (the
held-out item and 99 fixed never-interacted items, drawn once from the run's seed) and ranks them.

Before the clock, the id map (the ratings file's sorted user and item ids, a cached data-set artefact) sizes the
embedding tables; the timed data preparation parses the ratings, splits them and draws the candidates.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from aibench.benchmarks.base import Benchmark, Quality, selected_rows_first
from aibench.benchmarks.c10_recommendation import SPEC
from aibench.benchmarks.c10_recommendation.data import (
    LeaveOneOut, evaluation_candidates, id_maps, leave_one_out, list_quality, popularity_scores, ranking_quality,
    sample_negatives, synthesize_ratings, top_k_items,
)
from aibench.benchmarks.c10_recommendation.model import NeuMF
from aibench.datasets.movielens import DATASET_FILES, find_ratings_file, read_ratings, write_ratings
from aibench.errors import DataError
from aibench.spec import ScaleConfig

ID_MAP_FILE = "ids.npz"
EVAL_USERS_PER_CHUNK = 1024  # 102,400 (user, item) pairs per forward pass at evaluation
# users and items of each release (every rating is an interaction): GroupLens' README files for ml-100k
# (943 users, 1,682 movies) and ml-1m (6,040 users, 3,706 rated movies); MLPerf's NCF reference for ml-20m
# (138,493 users, 26,744 rated movies). The reference models are built at these sizes, without reading data.
RELEASE_SIZES = {"ml-100k": (943, 1682), "ml-1m": (6040, 3706), "ml-20m": (138_493, 26_744)}


@dataclass(frozen=True)
class RankingQuery:
    """An inference query: a user index and the 100 candidate item indices to rank."""

    user: int
    candidates: torch.Tensor


def ratings_file(data_dir: Path, config: ScaleConfig) -> Path:
    """The scale's release's ratings file (hparam "dataset"): in data_dir or in its subfolder named after the
    release (DATA/ml-1m/ratings.dat); a one-line DataError when it is absent."""
    return find_ratings_file(Path(data_dir), config.hparams["dataset"])


def _check_protocol(split: LeaveOneOut, config: ScaleConfig) -> LeaveOneOut:
    need = config.hparams["eval_negatives"] + 1
    if len(split.test_user) == 0 or split.n_items < need + 1:
        raise DataError(split.source, f"too small for the protocol: {len(split.test_user)} users with 2+ rated "
                                      f"items and {split.n_items} items (need some users and over {need} items)")
    return split


def _split(data_dir: Path, config: ScaleConfig) -> LeaveOneOut:
    return _check_protocol(leave_one_out(read_ratings(ratings_file(data_dir, config))), config)


def build_id_map(ratings_path: Path, folder: Path) -> None:
    """The id-map artefact: the file's sorted user and item ids (their counts size the embedding tables)."""
    users, items = id_maps(read_ratings(ratings_path))
    np.savez(folder / ID_MAP_FILE, user_ids=users, item_ids=items)


class Recommendation(Benchmark):
    SPEC = SPEC
    DATA_PARALLEL_UNSUPPORTED = None  # the harness splits each (users, items, labels) batch; no BatchNorm

    # ----- data -------------------------------------------------------------------------------------
    @classmethod
    def synthesize(cls, data_dir: Path, config: ScaleConfig, seed: int) -> None:
        """Ratings in the scale's release's file; at small and full every user and item of the release (the
        smoke sizes), so the real embedding tables are built."""
        hp = config.hparams
        per_user = tuple(hp.get("synth_ratings_per_user", (20, 40)))
        ratings = synthesize_ratings(seed, n_users=hp["synth_users"], n_items=hp["synth_items"],
                                     n_genres=hp["synth_genres"], ratings_per_user=per_user,
                                     every_item=hp.get("synth_every_item", False))
        write_ratings(data_dir, ratings, DATASET_FILES[hp["dataset"]])

    @classmethod
    def reference_models(cls, config: ScaleConfig) -> dict[str, nn.Module]:
        hp = config.hparams
        users, items = RELEASE_SIZES[hp["dataset"]]
        return {"model": NeuMF(users, items, hp["factors"], hp["mlp_layers"])}

    @classmethod
    def check_data(cls, data_dir: Path, config: ScaleConfig) -> dict[str, Any]:
        split = _split(data_dir, config)
        return {"file": str(ratings_file(data_dir, config)), "users": split.n_users,
                "items": split.n_items, "train_interactions": len(split.train_user),
                "test_users": len(split.test_user)}

    # ----- setup ------------------------------------------------------------------------------------
    def prepare_artefacts(self) -> None:
        """The id map (sorted MovieLens user and item ids), built from the ratings file once per file and
        release: the user and item counts fix the model's embedding tables before the data is prepared."""
        self.ratings_path = ratings_file(self.ctx.data_dir, self.config)
        folder = self.artefact("id-map", {"dataset": self.hp["dataset"], "format": 1}, [self.ratings_path],
                               lambda out: build_id_map(self.ratings_path, out))
        with np.load(folder / ID_MAP_FILE) as ids:
            self.id_map = ids["user_ids"], ids["item_ids"]  # index -> MovieLens id

    def initialize(self) -> None:
        """Untimed: the id map (an artefact) and the model it sizes; the ratings are read in prepare_data()."""
        hp, device = self.hp, self.device
        self.prepare_artefacts()
        self._warn_if_not_the_release()
        users, items = self.id_map
        self.item_ids = torch.from_numpy(items).to(device)
        self.model = NeuMF(len(users), len(items), hp["factors"], hp["mlp_layers"]).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=hp["lr"])
        self.loss_fn = nn.BCEWithLogitsLoss()  # sigmoid + binary cross-entropy, numerically stable

    def prepare_data(self) -> None:
        """Timed: parse the ratings (anew: not the copy the untimed data check parsed), index them by the id map,
        hold out each user's latest item, draw the evaluation candidates and score the popularity ranker."""
        hp, device = self.hp, self.device
        ratings = read_ratings(self.ratings_path, fresh=True)
        self.split = _check_protocol(leave_one_out(ratings, self.id_map), self.config)
        rng = np.random.default_rng([self.ctx.seed, 0])  # the evaluation candidates are fixed per seed
        candidates = evaluation_candidates(self.split, hp["eval_negatives"], rng, limit=self.ctx.eval_limit)
        test_users, test_items = (self.limit_eval(a) for a in (self.split.test_user, self.split.test_item))
        self.eval_users = torch.from_numpy(test_users).to(device)
        self.eval_candidates = torch.from_numpy(candidates).to(device)
        self.eval_relevant = self.eval_candidates == torch.from_numpy(test_items).to(device)[:, None]
        self.query_rows = np.sort(rng.choice(len(candidates), min(self.config.inference_samples, len(candidates)),
                                             replace=False))
        self.query_order = np.array(selected_rows_first(self.query_rows, len(candidates)))  # LoadGen's whole split
        popularity = torch.from_numpy(popularity_scores(self.split)).to(device)
        self.popularity_quality = ranking_quality(popularity[self.eval_candidates], self.eval_relevant, hp["top_k"])

    def _warn_if_not_the_release(self) -> None:
        """Files smaller or larger than the release the configuration names build other embedding tables (tiny's
        synthetic set is small by design: its spec says so)."""
        dataset = self.hp["dataset"]
        expected = RELEASE_SIZES[dataset]
        counts = tuple(len(ids) for ids in self.id_map)
        if self.ctx.scale != "tiny" and counts != expected:
            self.warn(f"MovieLens {dataset} has {expected[0]:,} users and {expected[1]:,} rated items; "
                      f"{self.ratings_path} has {counts[0]:,} and {counts[1]:,}: the model's "
                      "embedding tables follow the file")

    def models(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    # ----- training ---------------------------------------------------------------------------------
    def train_samples(self) -> int:
        return len(self.split.train_user) * (1 + self.hp["negatives"])

    def train_batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        users, items, labels = self._epoch_pairs(epoch)
        for start in range(0, len(users), self.config.batch_size):
            end = start + self.config.batch_size
            yield users[start:end], items[start:end], labels[start:end]

    def _epoch_pairs(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every positive plus `negatives` new negatives per positive, shuffled; drawn from (seed, epoch)."""
        rng = np.random.default_rng([self.ctx.seed, 1, epoch])
        split, n_neg = self.split, self.hp["negatives"]
        negatives = sample_negatives(split, split.train_user, n_neg, rng)
        users = np.concatenate([split.train_user, np.repeat(split.train_user, n_neg)])
        items = np.concatenate([split.train_item, negatives.reshape(-1)])
        labels = np.concatenate([np.ones(len(split.train_user)), np.zeros(negatives.size)]).astype(np.float32)
        order = rng.permutation(len(users))
        return tuple(torch.from_numpy(a[order]).to(self.device) for a in (users, items, labels))

    def compute_loss(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, int]:
        users, items, labels = batch
        return self.loss_fn(self.model(users, items), labels), len(users)

    # ----- evaluation -------------------------------------------------------------------------------
    def _candidate_scores(self, users: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """The model's probability for every (user, candidate) pair, shape (users, candidates)."""
        scores = []
        with torch.no_grad():
            for start in range(0, len(users), EVAL_USERS_PER_CHUNK):
                chunk = candidates[start:start + EVAL_USERS_PER_CHUNK]
                owners = users[start:start + EVAL_USERS_PER_CHUNK, None].expand_as(chunk)
                scores.append(self.model.probability(owners.reshape(-1), chunk.reshape(-1)).view_as(chunk))
        return torch.cat(scores)

    def evaluate(self) -> Quality:
        k = self.hp["top_k"]
        result = ranking_quality(self._candidate_scores(self.eval_users, self.eval_candidates), self.eval_relevant, k)
        return Quality(result.pop(f"hr_at_{k}"), result, samples=len(self.eval_users))

    # ----- inference --------------------------------------------------------------------------------
    def inference_samples(self) -> Sequence[RankingQuery]:
        return [RankingQuery(int(self.eval_users[row]), self.eval_candidates[row]) for row in self.query_rows]

    def query_count(self) -> int:
        return len(self.query_order)

    def load_query(self, index: int) -> RankingQuery:
        row = self.query_order[index]
        return RankingQuery(int(self.eval_users[row]), self.eval_candidates[row])

    def infer(self, samples: Sequence[RankingQuery]) -> list[list[int]]:
        """The ranked top-k MovieLens item ids for each query."""
        users = torch.tensor([s.user for s in samples], device=self.device)
        candidates = torch.stack([s.candidates for s in samples])
        ranked = top_k_items(self._candidate_scores(users, candidates), candidates, self.hp["top_k"])
        return self.item_ids[ranked].tolist()

    def score(self, indices: Sequence[int], outputs: Sequence[list[int]]) -> Quality:
        k = self.hp["top_k"]
        rows = self.query_order[list(indices)]
        held_out = torch.from_numpy(self.split.item_ids[self.split.test_item[rows]])
        result = list_quality(torch.tensor([list(out) for out in outputs], dtype=torch.long), held_out, k)
        return Quality(result.pop(f"hr_at_{k}"), result, samples=len(rows))

    # ----- characterization -------------------------------------------------------------------------
    def example_batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return next(iter(self.train_batches(0)))

    def describe(self) -> dict[str, Any]:
        k = self.hp["top_k"]
        return {"ratings_file": str(self.split.source), "users": self.split.n_users, "items": self.split.n_items,
                "train_interactions": len(self.split.train_user), "test_users": len(self.split.test_user),
                f"popularity_hr_at_{k}": self.popularity_quality[f"hr_at_{k}"],
                f"popularity_ndcg_at_{k}": self.popularity_quality[f"ndcg_at_{k}"],
                f"random_hr_at_{k}": k / (self.hp["eval_negatives"] + 1)}


BENCHMARK = Recommendation

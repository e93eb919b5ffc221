"""MovieLens ratings as implicit feedback for NCF: leave-one-out split, sampled negatives, the 100-candidate
ranking protocol, HR@10 / NDCG@10, the popularity ranker, and the synthetic tiny data set.

Protocol (He et al. 2017, §4.1): every rating is a positive interaction; each user's latest interaction (by
timestamp) is held out; at evaluation the held-out item is ranked among 99 items the user never interacted
with. Training pairs each positive with `negatives` items outside the user's training interactions, drawn anew
each epoch.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torchmetrics.retrieval import RetrievalHitRate, RetrievalNormalizedDCG

from aibench.datasets.movielens import Ratings
from aibench.errors import DataError


@dataclass(frozen=True)
class LeaveOneOut:
    """Interactions as 0-based user and item indices: training pairs and one held-out item per user."""

    train_user: np.ndarray
    train_item: np.ndarray
    test_user: np.ndarray  # users with a held-out item (those with 2+ distinct items)
    test_item: np.ndarray
    user_ids: np.ndarray  # user index -> MovieLens user id
    item_ids: np.ndarray  # item index -> MovieLens item id
    interacted: np.ndarray  # sorted keys user * n_items + item of every interaction, train and held out
    trained: np.ndarray  # sorted keys of the training interactions only
    source: Path  # the ratings file, for error messages

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)


# ----- split -------------------------------------------------------------------------------------------
def id_maps(ratings: Ratings) -> tuple[np.ndarray, np.ndarray]:
    """The sorted user ids and item ids of a ratings file: index -> MovieLens id. Their lengths size NeuMF's
    embedding tables, so they are the data set's artefact, built before the run (see Recommendation)."""
    return np.unique(ratings.user), np.unique(ratings.item)


def _index(ids: np.ndarray, values: np.ndarray, what: str, source: Path) -> np.ndarray:
    """Each value's position in the sorted `ids`; a DataError when one is not there (an id map of other data)."""
    at = np.minimum(np.searchsorted(ids, values), len(ids) - 1)
    unknown = ids[at] != values
    if unknown.any():
        raise DataError(source, f"{what} id {int(values[unknown][0])} is not in the id map built from this file; "
                                "the map belongs to other data")
    return at


def leave_one_out(ratings: Ratings, ids: tuple[np.ndarray, np.ndarray] | None = None) -> LeaveOneOut:
    """Index users and items (by `ids`, the file's id maps, when given) and hold out each user's latest
    interaction. A pair rated twice counts once, at its latest time; equal timestamps keep file order, so the
    later line is the held-out one."""
    user_ids, item_ids = id_maps(ratings) if ids is None else ids
    user = _index(user_ids, ratings.user, "user", ratings.source)
    item = _index(item_ids, ratings.item, "item", ratings.source)
    n_items = len(item_ids)
    keys = user * n_items + item
    order = np.lexsort((np.arange(len(keys)), ratings.timestamp, keys))
    last_of_pair = np.r_[keys[order][1:] != keys[order][:-1], True]
    kept = order[last_of_pair]
    by_time = kept[np.lexsort((kept, ratings.timestamp[kept], user[kept]))]
    user, item = user[by_time], item[by_time]
    last_of_user = np.r_[user[1:] != user[:-1], True]
    counts = np.bincount(user, minlength=len(user_ids))
    held_out = last_of_user & (counts[user] >= 2)  # a one-item user has nothing left to learn from
    return LeaveOneOut(train_user=user[~held_out], train_item=item[~held_out], test_user=user[held_out],
                       test_item=item[held_out], user_ids=user_ids, item_ids=item_ids,
                       interacted=np.sort(user * n_items + item),
                       trained=np.sort(user[~held_out] * n_items + item[~held_out]), source=ratings.source)


# ----- negatives ---------------------------------------------------------------------------------------
def has_interacted(split: LeaveOneOut, users: np.ndarray, items: np.ndarray, held_out: bool = True) -> np.ndarray:
    """Whether each (user, item) pair is an interaction (binary search in sorted keys); with held_out=False
    only training interactions count."""
    sorted_keys = split.interacted if held_out else split.trained
    keys = users * split.n_items + items
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[at] == keys


def sample_negatives(split: LeaveOneOut, users: np.ndarray, per_user: int, rng: np.random.Generator) -> np.ndarray:
    """`per_user` items for each entry of `users`, uniform over the items outside that user's training
    interactions, with replacement (as NCF's sampler; the held-out item may be drawn: training must not know
    it). Returns shape (len(users), per_user)."""
    users = np.repeat(users, per_user)
    items = rng.integers(0, split.n_items, len(users))
    bad = np.flatnonzero(has_interacted(split, users, items, held_out=False))
    while len(bad):  # redraw the few that hit a training interaction
        items[bad] = rng.integers(0, split.n_items, len(bad))
        bad = bad[has_interacted(split, users[bad], items[bad], held_out=False)]
    return items.reshape(-1, per_user)


def evaluation_candidates(split: LeaveOneOut, negatives: int, rng: np.random.Generator,
                          limit: int | None = None) -> np.ndarray:
    """Per test user (the first `limit` when given), the held-out item and `negatives` distinct never-interacted
    items, in shuffled order (so ties in scores cannot favour the held-out item's position).
    Shape (test users, negatives + 1)."""
    user_keys = np.split(split.interacted, np.searchsorted(split.interacted, np.arange(1, split.n_users) *
                                                          split.n_items))
    rows = []
    for user, item in zip(split.test_user[:limit], split.test_item[:limit]):
        unseen = np.setdiff1d(np.arange(split.n_items), user_keys[user] - user * split.n_items, assume_unique=True)
        if len(unseen) < negatives:
            raise DataError(split.source, f"user id {split.user_ids[user]} has rated all but {len(unseen)} of the "
                                       f"{split.n_items} items; the protocol needs {negatives} unrated ones")
        rows.append(np.concatenate([[item], rng.choice(unseen, negatives, replace=False)]))
    return rng.permuted(np.stack(rows), axis=1)


# ----- metrics -----------------------------------------------------------------------------------------
def ranking_quality(scores: torch.Tensor, relevant: torch.Tensor, k: int = 10) -> dict[str, float]:
    """HR@k and NDCG@k (torchmetrics) averaged over rows; scores and relevant are (queries, candidates)."""
    indexes = torch.arange(scores.shape[0], device=scores.device)[:, None].expand_as(scores).reshape(-1)
    result = {}
    metrics = {f"hr_at_{k}": RetrievalHitRate(top_k=k), f"ndcg_at_{k}": RetrievalNormalizedDCG(top_k=k)}
    for name, metric in metrics.items():
        metric = metric.to(scores.device)
        metric.update(scores.reshape(-1), relevant.reshape(-1), indexes=indexes)
        result[name] = float(metric.compute())
    return result


def top_k_items(scores: torch.Tensor, candidates: torch.Tensor, k: int = 10) -> torch.Tensor:
    """The k candidates with the highest scores, best first, per row."""
    return candidates.gather(1, scores.topk(k, dim=1).indices)


def list_quality(ranked: torch.Tensor, held_out: torch.Tensor, k: int = 10) -> dict[str, float]:
    """HR@k and NDCG@k of ranked top-k lists (rows) against one held-out item per row: a hit when the item is
    listed, gain 1 / log2(position + 2) at its 0-based position (the ideal DCG of one relevant item is 1)."""
    match = (ranked[:, :k] == held_out[:, None]).float()
    discount = 1.0 / torch.log2(torch.arange(2, match.shape[1] + 2, dtype=torch.float32, device=ranked.device))
    hits = match.sum(1).clamp(max=1)  # a list that repeats the item still scores one hit
    return {f"hr_at_{k}": float(hits.mean()), f"ndcg_at_{k}": float((match * discount).sum(1).clamp(max=1).mean())}


def popularity_scores(split: LeaveOneOut) -> np.ndarray:
    """The popularity ranker: each item's number of training interactions."""
    return np.bincount(split.train_item, minlength=split.n_items).astype(np.float32)


# ----- synthesis ---------------------------------------------------------------------------------------
_START = int(dt.datetime(1997, 9, 20, tzinfo=dt.UTC).timestamp())  # ml-100k's collection period
_DAYS = 210


def synthesize_ratings(seed: int, n_users: int = 300, n_items: int = 400, n_genres: int = 10,
                       ratings_per_user: tuple[int, int] = (20, 40), on_taste: float = 0.9,
                       every_item: bool = False) -> Ratings:
    """Ratings with latent structure: every item belongs to one genre and has a popularity (Zipf-like within
    its genre); every user likes two genres, one more than the other. A user rates `on_taste` of the time
    items of the liked genres (by popularity) and otherwise any item, at random times; liked items get
    4-5 stars, others 1-3. The latest rating therefore follows the user's taste, which NeuMF learns from
    the others and a global popularity ranker cannot see. With `every_item`, each item nobody chose gets one
    early rating from a random user (a training interaction), so the file holds exactly n_items items."""
    rng = np.random.default_rng(seed)
    genre = rng.permutation(np.arange(n_items) % n_genres)
    popularity = 1.0 / (1.0 + rng.permutation(n_items) % (n_items // n_genres)) ** 0.8
    users, items, stars, times = [], [], [], []
    tastes: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # per liked pair, computed once
    for user in range(n_users):
        liked = rng.choice(n_genres, 2, replace=False)
        if (key := (int(liked[0]), int(liked[1]))) not in tastes:
            w = popularity * np.where(genre == liked[0], 0.65, np.where(genre == liked[1], 0.35, 0.0))
            off = popularity * (w == 0)
            tastes[key] = (w, w / w.sum(), off / off.sum())
        weight, p_liked, p_other = tastes[key]
        count = int(rng.integers(ratings_per_user[0], ratings_per_user[1] + 1))
        n_liked = rng.binomial(count, on_taste)
        chosen = np.concatenate([rng.choice(n_items, n_liked, replace=False, p=p_liked),
                                 rng.choice(n_items, count - n_liked, replace=False, p=p_other)])
        chosen = rng.permutation(chosen)
        users.append(np.full(count, user + 1))
        items.append(chosen + 1)
        stars.append(np.where(weight[chosen] > 0, rng.integers(4, 6, count), rng.integers(1, 4, count)))
        times.append(_START + np.sort(rng.integers(0, _DAYS * 86400, count)))
    if every_item:
        unrated = np.setdiff1d(np.arange(n_items), np.concatenate(items) - 1)
        users.append(rng.integers(1, n_users + 1, len(unrated)))
        items.append(unrated + 1)
        stars.append(rng.integers(1, 4, len(unrated)))
        times.append(np.full(len(unrated), _START - 86400))  # before every other rating: never held out
    columns = (np.concatenate(c).astype(np.int64) for c in (users, items, stars, times))
    user, item, rating, timestamp = columns
    order = rng.permutation(len(user))  # u.data lists ratings in no particular order
    return Ratings(user=user[order], item=item[order], rating=rating[order], timestamp=timestamp[order])

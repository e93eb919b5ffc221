"""Gowalla check-ins as per-user location sequences (Caser's preprocessing), training windows, negative
sampling, the ranking metrics, and the synthetic tiny data set.

Preprocessing follows Caser / ranking distillation: drop users and locations with few check-ins (repeated
until every remaining user and location has enough), order each user's check-ins by time, and hold out the
last `test_fraction` of every user's sequence as the test items. Item index 0 is the padding item.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torchmetrics.retrieval import RetrievalMAP, RetrievalNormalizedDCG, RetrievalPrecision, RetrievalRecall

from aibench.datasets.gowalla import CHECKINS_FILE, CheckIns, write_checkins
from aibench.errors import DataError

PAD = 0


@dataclass(frozen=True)
class SequenceData:
    """Each kept user's training and held-out item sequences (item indices from 1; 0 pads)."""

    train: list[np.ndarray]
    test: list[np.ndarray]
    location_ids: np.ndarray  # item index -> Gowalla location id (index 0, the padding item, is -1)
    user_ids: np.ndarray  # user index -> Gowalla user id

    @property
    def n_users(self) -> int:
        return len(self.train)

    @property
    def n_items(self) -> int:
        return len(self.location_ids)

    def train_checkins(self) -> int:
        return sum(len(s) for s in self.train)


# ----- preprocessing -----------------------------------------------------------------------------------
def keep_frequent(users: np.ndarray, items: np.ndarray, min_user: int, min_item: int) -> np.ndarray:
    """Mask of check-ins kept once users and items with too few check-ins are dropped, repeated to a fixpoint
    (dropping a location can push a user below the threshold and back)."""
    keep = np.ones(len(users), dtype=bool)
    while True:
        _, item_inv, item_counts = np.unique(items[keep], return_inverse=True, return_counts=True)
        _, user_inv, user_counts = np.unique(users[keep], return_inverse=True, return_counts=True)
        ok = (item_counts[item_inv] >= min_item) & (user_counts[user_inv] >= min_user)
        if ok.all():
            return keep
        keep[np.flatnonzero(keep)[~ok]] = False


def kept_ids(checkins: CheckIns, min_user: int, min_item: int, max_users: int | None = None,
             source: Path | str = "check-ins") -> tuple[np.ndarray, np.ndarray]:
    """The sorted user ids and location ids that pass the cold-start filter (among the `max_users` users with the
    lowest ids when given). Their counts size Caser's embedding tables: the data set's id map."""
    users, items = checkins.user, checkins.location
    if max_users is not None:  # a subset for `small`: the users with the lowest ids
        chosen = np.isin(users, np.unique(users)[:max_users])
        users, items = users[chosen], items[chosen]
    keep = keep_frequent(users, items, min_user, min_item)
    if not keep.any():
        raise DataError(source, f"no user has {min_user}+ check-ins at locations with {min_item}+ check-ins; "
                                "the file is too small or too sparse for this scale")
    return np.unique(users[keep]), np.unique(items[keep])


def index_sequences(checkins: CheckIns, user_ids: np.ndarray, location_ids: np.ndarray,
                    test_fraction: float) -> SequenceData:
    """Index the check-ins of the kept users at the kept locations (an id map from kept_ids: the cold-start
    filter drops whole users and locations, so these are exactly the check-ins it keeps) and split each user's
    chronological sequence into train and test."""
    keep = np.isin(checkins.user, user_ids) & np.isin(checkins.location, location_ids)
    user_index = np.searchsorted(user_ids, checkins.user[keep])
    item_index = np.searchsorted(location_ids, checkins.location[keep])
    order = np.lexsort((checkins.time[keep], user_index))  # by user, then time (stable for equal times)
    sequences = np.split(item_index[order] + 1, np.cumsum(np.bincount(user_index, minlength=len(user_ids)))[:-1])
    splits = [_split_chronologically(s, test_fraction) for s in sequences]
    return SequenceData(train=[tr for tr, _ in splits], test=[te for _, te in splits],
                        location_ids=np.concatenate([[-1], location_ids]), user_ids=user_ids)


def build_sequences(checkins: CheckIns, min_user: int, min_item: int, test_fraction: float,
                    max_users: int | None = None, source: Path | str = "check-ins") -> SequenceData:
    """Filter, index and split the check-ins into per-user chronological train/test sequences."""
    user_ids, location_ids = kept_ids(checkins, min_user, min_item, max_users, source)
    return index_sequences(checkins, user_ids, location_ids, test_fraction)


def _split_chronologically(sequence: np.ndarray, test_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    n_test = min(len(sequence) - 1, max(1, round(len(sequence) * test_fraction)))
    return sequence[:-n_test], sequence[-n_test:]


# ----- training tensors --------------------------------------------------------------------------------
def _left_pad(sequence: np.ndarray, length: int) -> np.ndarray:
    return np.concatenate([np.full(max(0, length - len(sequence)), PAD, dtype=np.int64), sequence])


def sliding_windows(train: list[np.ndarray], L: int, T: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Caser's training instances: every window of L consecutive items and the T items after it.
    Users with fewer than L+T training items get one left-padded window. Returns users, sequences, targets."""
    users, windows = [], []
    for user, sequence in enumerate(train):
        view = np.lib.stride_tricks.sliding_window_view(_left_pad(sequence, L + T), L + T)
        windows.append(view)
        users.append(np.full(len(view), user, dtype=np.int64))
    stacked = torch.from_numpy(np.concatenate(windows).astype(np.int64))
    return torch.from_numpy(np.concatenate(users)), stacked[:, :L].contiguous(), stacked[:, L:].contiguous()


def last_items(train: list[np.ndarray], L: int) -> torch.Tensor:
    """Each user's most recent L training items (left-padded): the query sequence for ranking."""
    return torch.from_numpy(np.stack([_left_pad(s[-L:], L) for s in train]).astype(np.int64))


def item_mask(sequences: list[np.ndarray], n_items: int) -> torch.Tensor:
    """Dense users x items boolean mask of the items in each user's sequence."""
    mask = torch.zeros(len(sequences), n_items, dtype=torch.bool)
    rows = np.concatenate([np.full(len(s), u) for u, s in enumerate(sequences)])
    mask[torch.from_numpy(rows), torch.from_numpy(np.concatenate(sequences).astype(np.int64))] = True
    return mask


def sample_unseen(seen: torch.Tensor, users: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """n items per row drawn uniformly from the items the user has not interacted with in training
    (as Caser's negative sampling); redraws the few that hit a seen item or the padding item."""
    n_items = seen.shape[1]
    samples = torch.randint(1, n_items, (len(users), n), generator=generator, device=seen.device)
    bad = seen[users[:, None], samples]
    while bad.any():
        redraw = torch.randint(1, n_items, (int(bad.sum()),), generator=generator, device=seen.device)
        samples[bad] = redraw
        bad = seen[users[:, None], samples]
    return samples


# ----- metrics -----------------------------------------------------------------------------------------
def ranking_preds(scores: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    """Positive rank-based scores (n_items-1 for the best ... 1 for the worst) with the user's training items
    and the padding item ranked last; torchmetrics' retrieval metrics ignore non-positive scores, so raw
    model scores (which may be negative) cannot be passed to them directly."""
    masked = scores.masked_fill(seen, float("-inf"))[:, 1:]
    order = masked.argsort(dim=1, descending=True)
    preds = torch.empty_like(masked)
    ranks_desc = torch.arange(masked.shape[1], 0, -1, dtype=masked.dtype, device=masked.device)
    return preds.scatter_(1, order, ranks_desc.expand_as(order).contiguous())


def top_k_preds(top_items: torch.Tensor, n_items: int) -> torch.Tensor:
    """Scores over items 1..n_items-1 from top-k lists: k, k-1, ..., 1 for the listed items, 0 elsewhere."""
    k = top_items.shape[1]
    preds = torch.zeros(top_items.shape[0], n_items, device=top_items.device)
    preds.scatter_(1, top_items, torch.arange(k, 0, -1, dtype=preds.dtype, device=preds.device).expand(
        top_items.shape[0], k).contiguous())
    return preds[:, 1:]


def average_precision(preds: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
    """Each row's average precision over its full ranking (preds descending): the mean, over the relevant
    items, of the precision at each one's rank; 0 without relevant items. It equals torchmetrics'
    RetrievalMAP without top_k (see the tests) but ranks a whole users x items batch in one sort, where
    torchmetrics loops over users in Python: too slow for Gowalla's 13k users x 14k locations."""
    ranked = relevant.gather(1, preds.argsort(dim=1, descending=True)).float()
    positions = torch.arange(1, ranked.shape[1] + 1, device=ranked.device)
    return (ranked.cumsum(1) / positions * ranked).sum(1) / ranked.sum(1).clamp(min=1)


class RankingMetrics:
    """Precision, recall and nDCG at k (torchmetrics' retrieval metrics) and MAP, averaged over users and
    accumulated batch by batch. MAP is over the full ranking (`full_map`, as the reference evaluates it) or,
    for top-k lists, torchmetrics' RetrievalMAP at k.

    The metrics at k depend only on the top k items and the relevant ones, so only those are handed to
    torchmetrics: the same values as the whole catalogue, at a small fraction of the cost."""

    def __init__(self, k: int = 10, full_map: bool = True) -> None:
        self.k, self.full_map = k, full_map
        self.metrics = {f"precision_at_{k}": RetrievalPrecision(top_k=k), f"recall_at_{k}": RetrievalRecall(top_k=k),
                        f"ndcg_at_{k}": RetrievalNormalizedDCG(top_k=k)}
        if not full_map:
            self.metrics[f"map_at_{k}"] = RetrievalMAP(top_k=k)
        self.sums = dict.fromkeys([*self.metrics, *(["map"] if full_map else [])], 0.0)
        self.users = 0

    def update(self, preds: torch.Tensor, relevant: torch.Tensor) -> None:
        """preds: users x items positive scores (higher ranks first); relevant: users x items held-out mask."""
        rows = preds.shape[0]
        top = torch.zeros_like(relevant).scatter_(1, preds.topk(self.k, dim=1).indices, True)
        keep = top | relevant
        indexes = torch.arange(rows, device=preds.device)[:, None].expand_as(preds)[keep].cpu()
        kept_preds, kept_relevant = preds[keep].cpu(), relevant[keep].cpu()
        for name, metric in self.metrics.items():
            metric.update(kept_preds, kept_relevant, indexes=indexes)
            self.sums[name] += float(metric.compute()) * rows
            metric.reset()
        if self.full_map:
            self.sums["map"] += float(average_precision(preds, relevant).sum())
        self.users += rows

    def result(self) -> dict[str, float]:
        return {name: total / max(1, self.users) for name, total in self.sums.items()}


def popularity_scores(train: list[np.ndarray], n_items: int) -> torch.Tensor:
    """Training check-in count of every item: the popularity ranker's score."""
    return torch.from_numpy(np.bincount(np.concatenate(train), minlength=n_items).astype(np.float32))


# ----- synthesis ---------------------------------------------------------------------------------------
CITIES = ((30.2672, -97.7431), (59.3293, 18.0686), (37.7749, -122.4194), (40.7128, -74.0060),
          (51.5074, -0.1278), (41.8781, -87.6298), (47.6062, -122.3321), (52.5200, 13.4050))
_START = int(dt.datetime(2009, 2, 4, tzinfo=dt.UTC).timestamp())  # Gowalla's first check-ins
_END = int(dt.datetime(2010, 6, 1, tzinfo=dt.UTC).timestamp())


def synthesize_checkins(seed: int, regions: int = 6, users_per_region: int = 50, loop_locations: int = 50,
                        hubs: int = 3, length: tuple[int, int] = (24, 36), casual_users: int = 15) -> CheckIns:
    """Check-ins with sequential structure: each city has a loop of locations (consecutive ones a few hundred
    metres apart) and a few busy hubs. A user walks along the loop in a fixed direction from a random start,
    one stop (80%) or two (20%) at a time, dropping into a hub now and then (10%). So the next locations
    follow from the last few and the direction they reveal, which a sequence model learns and popularity
    cannot. A few casual users with 2-4 check-ins at one-off places exercise the frequency filter."""
    rng = np.random.default_rng(seed)
    n_loops, n_hubs = regions * loop_locations, regions * hubs
    location_ids = rng.choice(np.arange(10_000, 6_000_000), size=n_loops + n_hubs + casual_users * 4, replace=False)
    lat, lon = _location_coordinates(rng, regions, loop_locations, hubs, len(location_ids))
    rows: list[tuple[int, int, int]] = []  # (user id, time, location index)
    user_ids = rng.choice(np.arange(200_000), size=regions * users_per_region + casual_users, replace=False)
    for u in range(regions * users_per_region):
        region = u % regions
        path = _walk(rng, rng.integers(length[0], length[1] + 1), loop_locations, hubs)
        loop_index = region * loop_locations + path
        hub_index = n_loops + region * hubs + (-path - 1)
        locations = np.where(path >= 0, loop_index, hub_index)
        rows += [(user_ids[u], t, loc) for t, loc in zip(_timestamps(rng, len(locations)), locations)]
    for c in range(casual_users):
        places = rng.choice(np.arange(n_loops + n_hubs + 4 * c, n_loops + n_hubs + 4 * c + 4), rng.integers(2, 5))
        user = user_ids[regions * users_per_region + c]
        rows += [(user, t, loc) for t, loc in zip(_timestamps(rng, len(places)), places)]
    user, time, loc = (np.asarray(column, dtype=np.int64) for column in zip(*rows))
    return CheckIns(user=user, time=time, latitude=lat[loc], longitude=lon[loc], location=location_ids[loc])


def _walk(rng: np.random.Generator, length: int, loop: int, hubs: int) -> np.ndarray:
    """Loop positions visited (0..loop-1), with hub visits encoded as -1-hub."""
    position, direction = int(rng.integers(loop)), int(rng.choice([-1, 1]))
    path = []
    for _ in range(length):
        if rng.random() < 0.1:
            path.append(-1 - int(rng.integers(hubs)))
            continue
        position = (position + direction * (1 if rng.random() < 0.8 else 2)) % loop
        path.append(position)
    return np.asarray(path, dtype=np.int64)


def _location_coordinates(rng: np.random.Generator, regions: int, loop: int, hubs: int,
                          total: int) -> tuple[np.ndarray, np.ndarray]:
    """Loop locations on a ~4 km ring around each city centre, hubs near the centre, one-off places anywhere."""
    lat, lon = rng.uniform(-60, 70, total), rng.uniform(-180, 180, total)
    angles = 2 * np.pi * np.arange(loop) / loop
    for r in range(regions):
        c_lat, c_lon = CITIES[r % len(CITIES)]
        ring = slice(r * loop, (r + 1) * loop)
        lat[ring] = c_lat + 0.035 * np.sin(angles) + rng.normal(0, 0.002, loop)
        lon[ring] = c_lon + 0.045 * np.cos(angles) + rng.normal(0, 0.002, loop)
        centre = slice(regions * loop + r * hubs, regions * loop + (r + 1) * hubs)
        lat[centre] = c_lat + rng.normal(0, 0.005, hubs)
        lon[centre] = c_lon + rng.normal(0, 0.005, hubs)
    return lat, lon


def _timestamps(rng: np.random.Generator, n: int) -> np.ndarray:
    """Increasing check-in times: a start within Gowalla's early years, gaps of minutes to days."""
    gaps = 600 + rng.exponential(10 * 3600, n).astype(np.int64)
    return rng.integers(_START, _END) + np.cumsum(gaps)


def synthesize_shaped_checkins(seed: int, users: int, locations: int, per_user: int = 18,
                               regions: int = 8) -> CheckIns:
    """A set shaped like the preprocessed Gowalla: exactly `users` users and `locations` locations, every one
    with at least 15 check-ins, so Caser's cold-start filter keeps them all. Each city's locations lie on a
    loop; its users start at evenly spaced stops and walk forward one stop per check-in, so every location is
    visited by the same number of walks (users x per_user / locations, at least 16 here)."""
    rng = np.random.default_rng(seed)
    location_ids = np.sort(rng.choice(np.arange(1, 6_000_000), size=locations, replace=False))
    user_ids = np.sort(rng.choice(np.arange(200_000), size=users, replace=False))
    loops = np.array_split(np.arange(locations), regions)
    lat, lon = np.empty(locations), np.empty(locations)
    user_rows, loc_rows = [], []
    for region, (loop, members) in enumerate(zip(loops, np.array_split(np.arange(users), regions))):
        c_lat, c_lon = CITIES[region % len(CITIES)]
        angles = 2 * np.pi * np.arange(len(loop)) / len(loop)
        lat[loop], lon[loop] = c_lat + 0.035 * np.sin(angles), c_lon + 0.045 * np.cos(angles)
        starts = (np.arange(len(members)) * len(loop)) // len(members)
        steps = (starts[:, None] + np.arange(per_user)[None, :]) % len(loop)
        user_rows.append(np.repeat(members, per_user))
        loc_rows.append(loop[steps.reshape(-1)])
    user, loc = np.concatenate(user_rows), np.concatenate(loc_rows)
    gaps = 600 + rng.exponential(10 * 3600, (users, per_user)).astype(np.int64)
    time = (rng.integers(_START, _END, users)[:, None] + np.cumsum(gaps, 1))[user, np.tile(np.arange(per_user), users)]
    return CheckIns(user=user_ids[user], time=time, latitude=lat[loc], longitude=lon[loc],
                    location=location_ids[loc])


def write_synthetic(data_dir: Path, seed: int, **sizes: int) -> Path:
    """Write synthesize_checkins(seed, **sizes) as DATA_DIR/loc-gowalla_totalCheckins.txt."""
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    return write_checkins(Path(data_dir) / CHECKINS_FILE, synthesize_checkins(seed, **sizes))


def write_shaped(data_dir: Path, seed: int, users: int, locations: int) -> Path:
    """Write synthesize_shaped_checkins(...) as DATA_DIR/loc-gowalla_totalCheckins.txt."""
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    return write_checkins(Path(data_dir) / CHECKINS_FILE, synthesize_shaped_checkins(seed, users, locations))

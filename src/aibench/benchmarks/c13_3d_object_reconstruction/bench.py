"""DC-AI-C13 as a Benchmark: Perspective Transformer Nets trained by the projection loss alone.

A training step encodes one random view of each model, decodes a volume, projects it into every view of that
model and takes the squared error against the silhouettes. Quality is the mean voxel IoU (threshold 0.5) of
the reconstructions from the test models' views against their ground-truth grids (torchmetrics MeanIoU, one IoU
per reconstruction, averaged). An inference query is one view image; its output is the occupancy grid.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from aibench.benchmarks.base import Benchmark, Quality
from aibench.benchmarks.c13_3d_object_reconstruction import SPEC
from aibench.benchmarks.c13_3d_object_reconstruction.data import (
    ObjectDataset, collate_objects, synthesize_views, training_batch, voxel_iou)
from aibench.benchmarks.c13_3d_object_reconstruction.model import PTN
from aibench.datasets.shapenet_views import (
    SPLITS, check_object, object_dir, read_cameras, read_split, split_path)
from aibench.errors import DataError
from aibench.spec import ScaleConfig

EVAL_CHUNK = 16  # test models per evaluation forward pass


def split_keys(data_dir: Path, split: str, synsets: Sequence[str]) -> list[str]:
    """A split's models, restricted to `synsets` when any are given."""
    keys = read_split(data_dir, split)
    if synsets:
        keys = [k for k in keys if k.split("/")[0] in synsets]
        if not keys:
            raise DataError(split_path(data_dir, split), f"lists no models of synsets {', '.join(synsets)}")
    return keys


def build_ptn(hp: dict[str, Any]) -> PTN:
    """The scale's network; its size depends on the configuration alone (a volume has no classes)."""
    return PTN(image_size=int(hp["image_size"]), vox_size=int(hp["vox_size"]),
               encoder_channels=hp["encoder_channels"], fc_dim=hp["fc_dim"], z_dim=hp["z_dim"],
               decoder_channels=hp["decoder_channels"], mask_size=int(hp["mask_size"]),
               depth_samples=int(hp["depth_samples"]), occupancy_prior=float(hp["occupancy_prior"]))


class PerspectiveTransformerNets(Benchmark):
    SPEC = SPEC

    # ----- data ---------------------------------------------------------------------------------------------
    @classmethod
    def synthesize(cls, data_dir: Path, config: ScaleConfig, seed: int) -> None:
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        synthesize_views(Path(data_dir), config.hparams, seed)

    @classmethod
    def check_data(cls, data_dir: Path, config: ScaleConfig) -> dict[str, Any]:
        summary: dict[str, Any] = {}
        views: int | None = None
        for split in SPLITS:
            keys = split_keys(data_dir, split, config.hparams.get("synsets", []))
            for key in keys:
                n = check_object(data_dir, key)
                views = views or n
                if n != views:  # models are batched with all their views, so the counts must agree
                    raise DataError(object_dir(data_dir, key) / "cameras.json",
                                    f"lists {n} views where other models have {views}")
            summary[f"{split}_objects"] = len(keys)
        summary["views"] = views
        return summary

    # ----- training -----------------------------------------------------------------------------------------
    def initialize(self) -> None:
        """Untimed: list the splits' models, count the views from one model's cameras.json and build the network;
        with `preload`, the views and voxels are read in prepare_data()."""
        hp, root = self.hp, Path(self.ctx.data_dir)
        sizes = (int(hp["image_size"]), int(hp["mask_size"]), int(hp["vox_size"]))
        self.train_set = ObjectDataset(root, split_keys(root, "train", hp.get("synsets", [])), *sizes)
        test_keys = list(self.limit_eval(split_keys(root, "test", hp.get("synsets", []))))
        self.test_set = ObjectDataset(root, test_keys, *sizes)
        self.model = build_ptn(hp).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=hp["lr"], betas=tuple(hp["betas"]),
                                          weight_decay=float(hp["weight_decay"]))
        self.view_generator = torch.Generator().manual_seed(self.ctx.seed)
        self.n_views = len(read_cameras(object_dir(root, test_keys[0]) / "cameras.json"))
        self.eval_views = np.linspace(0, self.n_views, self._eval_view_count(), endpoint=False).astype(int).tolist()
        self.query_pairs = self._query_pairs(self.config.inference_samples)

    def prepare_data(self) -> None:
        """Timed: with `preload` (tiny), decode every model's views, masks and voxels into memory; otherwise the
        loader reads them as training and evaluation go."""
        if self.hp["preload"]:
            self.train_set.load()
            self.test_set.load()

    def _eval_view_count(self) -> int:
        """Views reconstructed per test model: `eval_views` of them, fewer where the data or a smoke run's
        evaluation limit (objects x views <= ctx.eval_limit) allows fewer."""
        views = min(int(self.hp["eval_views"]), self.n_views)
        if int(self.hp["eval_views"]) > self.n_views:
            self.warn(f"ShapeNet views: models have {self.n_views} views, fewer than the {self.hp['eval_views']} "
                      "evaluated per test model; evaluating all of them")
        if self.ctx.eval_limit is not None:
            views = max(1, min(views, self.ctx.eval_limit // len(self.test_set)))
        return views

    @classmethod
    def reference_models(cls, config: ScaleConfig) -> dict[str, nn.Module]:
        return {"model": build_ptn(config.hparams)}

    def _query_pairs(self, count: int) -> list[tuple[int, int]]:
        """(test model, view) of each inference sample: models in turn, each pass over them one view further on
        (distinct pairs while count <= models x views)."""
        n = len(self.test_set)
        return [(i % n, (i // n + i % n) % self.n_views) for i in range(count)]

    def models(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    def _loader(self, epoch: int) -> DataLoader:
        order = torch.Generator().manual_seed(self.ctx.seed * 100_003 + epoch)
        return DataLoader(self.train_set, batch_size=self.config.batch_size, shuffle=True, generator=order,
                          drop_last=True, collate_fn=collate_objects, num_workers=int(self.hp["workers"]))

    def train_batches(self, epoch: int) -> Iterator[dict[str, torch.Tensor]]:
        for objs in self._loader(epoch):
            yield training_batch(objs, self.view_generator, self.device)

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        volume = self.model(batch["images"])
        silhouettes = self.model.project(volume, batch["cameras"])
        return F.mse_loss(silhouettes, batch["masks"]), len(batch["images"])

    def train_samples(self) -> int:
        return len(self.train_set) // self.config.batch_size * self.config.batch_size

    # ----- evaluation ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self) -> Quality:
        preds, targets = [], []
        for start in range(0, len(self.test_set), EVAL_CHUNK):
            objs = collate_objects([self.test_set[i] for i in range(start, min(start + EVAL_CHUNK,
                                                                             len(self.test_set)))])
            images = objs.images[:, self.eval_views].flatten(0, 1).float() / 255
            preds.append(self._reconstruct(images))
            targets.append(objs.voxels.repeat_interleave(len(self.eval_views), dim=0))
        mean_iou, pooled_iou = voxel_iou(torch.cat(preds), torch.cat(targets))
        return Quality(mean_iou, {"pooled_iou": pooled_iou}, samples=sum(len(p) for p in preds))

    def _reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """Occupancy grids (N, X, Y, Z) as bool on the CPU, thresholded at 0.5."""
        return (self.model(images.to(self.device))[:, 0] >= 0.5).cpu()

    # ----- inference ----------------------------------------------------------------------------------------
    def inference_samples(self) -> list[torch.Tensor]:
        return [self.test_set[obj].images[view].float() / 255 for obj, view in self.query_pairs]

    def query_count(self) -> int:
        return len(self._query_list())

    def load_query(self, index: int) -> torch.Tensor:
        obj, view = self._query_list()[index]
        return self.test_set[obj].images[view].float() / 255

    def _query_list(self) -> list[tuple[int, int]]:
        """(test model, view) of every query LoadGen serves: the inference samples' pairs first, then every pair
        evaluate() reconstructs (each test model from its evaluation views), each once."""
        if getattr(self, "_queries", None) is None:
            scored = [(obj, view) for obj in range(len(self.test_set)) for view in self.eval_views]
            self._queries = list(dict.fromkeys([*map(tuple, self.query_pairs), *scored]))
        return self._queries

    @torch.no_grad()
    def infer(self, samples: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        return list(self._reconstruct(torch.stack(list(samples))))

    def score(self, indices: Sequence[int], outputs: Sequence[torch.Tensor]) -> Quality:
        targets = torch.stack([self.test_set[self._query_list()[i][0]].voxels for i in indices])
        mean_iou, pooled_iou = voxel_iou(torch.stack(list(outputs)), targets)
        return Quality(mean_iou, {"pooled_iou": pooled_iou}, samples=len(indices))

    # ----- characterization ---------------------------------------------------------------------------------
    def example_batch(self) -> dict[str, torch.Tensor]:
        objs = collate_objects([self.train_set[i] for i in range(min(self.config.batch_size, len(self.train_set)))])
        return training_batch(objs, torch.Generator().manual_seed(self.ctx.seed), self.device)

    def describe(self) -> dict[str, Any]:
        return {"train_objects": len(self.train_set), "test_objects": len(self.test_set), "views": self.n_views,
                "eval_views": self.eval_views}


BENCHMARK = PerspectiveTransformerNets

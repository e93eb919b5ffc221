"""DC-AI-C7: FaceNet trained with semi-hard triplets on VGGFace2 identities, verified on LFW pairs.

A training step draws FaceNet's identity-balanced mini-batch (P identities x K faces), embeds it, mines every
anchor-positive pair's semi-hard negative inside the batch and takes one AdaGrad step on the triplet loss.
Evaluation embeds every LFW image the pairs use and scores the squared embedding distances with LFW's 10-fold
protocol. An inference query is one LFW pair; its answer is the pair's squared distance.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from aibench.benchmarks.base import Benchmark, Quality, StepOutput, selected_rows_first
from aibench.benchmarks.c07_face_embedding import SPEC
from aibench.benchmarks.c07_face_embedding.data import (
    FaceFiles, identity_batches, load_all, synthesize_faces, to_tensor, verification_accuracy,
)
from aibench.benchmarks.c07_face_embedding.model import FaceNet, triplet_loss
from aibench.datasets.lfw import FacePair, LfwPairs, read_pairs
from aibench.datasets.vggface2 import (
    Box, Identities, box_key, boxes_file, read_identities, read_loose_boxes,
)
from aibench.errors import DataError, UserError
from aibench.spec import ScaleConfig

EMBED_CHUNK = 256  # images per forward pass at evaluation


def _read(data_dir: Path, config: ScaleConfig) -> tuple[Identities, LfwPairs]:
    return read_identities(data_dir, "train", config.hparams.get("max_identities")), read_pairs(data_dir)


def _face_boxes(data_dir: Path, identities: Identities) -> list[list[Box]] | None:
    """Each training image's published loose box, identity by identity; None when the boxes file is absent.
    An image the file has no box for is a DataError naming the file."""
    boxes = read_loose_boxes(data_dir, "train")
    if boxes is None:
        return None
    out = []
    for files in identities.images:
        missing = next((box_key(p) for p in files if box_key(p) not in boxes), None)
        if missing is not None:
            raise DataError(boxes_file(data_dir, "train"), f"no loose box for training image {missing}")
        out.append([boxes[box_key(p)] for p in files])
    return out


def build_model(hp: dict[str, Any]) -> FaceNet:
    """The scale's FaceNet: Inception-ResNet-v1 at hp's width and block repeats, hp's embedding size."""
    return FaceNet(hp["embedding_dim"], hp["dropout"], hp["width"], tuple(hp["blocks"]))


class FaceEmbedding(Benchmark):
    SPEC = SPEC
    DATA_PARALLEL_UNSUPPORTED = (
        "FaceNet mines its triplets within each batch; split over processes, each rank would mine within its "
        "own part and the training would change, so it needs a gather of embeddings first")

    # ----- data -------------------------------------------------------------------------------------
    @classmethod
    def synthesize(cls, data_dir: Path, config: ScaleConfig, seed: int) -> None:
        hp = config.hparams
        synthesize_faces(data_dir, seed, hp["synth_train_identities"], hp["synth_train_images"],
                         hp["synth_test_identities"], hp["synth_test_images"], hp["synth_folds"],
                         hp["synth_pairs_per_fold"], hp["synth_size"], loose_boxes=hp.get("synth_loose_bb", False),
                         lfw_center=hp["lfw_center_crop"])

    @classmethod
    def check_data(cls, data_dir: Path, config: ScaleConfig) -> dict[str, Any]:
        identities, lfw = _read(data_dir, config)
        boxes = _face_boxes(data_dir, identities) if config.hparams["loose_bb"] else None
        # decode one image of each set: a wrong format fails here, not in training
        to_tensor(identities.images[0][0], 8, boxes[0][0] if boxes else None)
        to_tensor(lfw.pairs[0].first, 8, center=config.hparams["lfw_center_crop"])
        return {"train_identities": len(identities), "train_images": identities.image_count,
                "loose_boxes": boxes is not None, "lfw_pairs": len(lfw.pairs), "lfw_folds": lfw.folds,
                "lfw_images": len(lfw.images())}

    @classmethod
    def reference_models(cls, config: ScaleConfig) -> dict[str, nn.Module]:
        """FaceNet's only output size is its embedding, a hyperparameter: no data set count enters the model."""
        return {"model": build_model(config.hparams)}

    # ----- setup ------------------------------------------------------------------------------------
    def initialize(self) -> None:
        hp, size = self.hp, self.hp["image_size"]
        if self.config.batch_size != hp["identities_per_batch"] * hp["faces_per_identity"]:
            raise UserError(f"C7: batch_size {self.config.batch_size} must be identities_per_batch x "
                            f"faces_per_identity = {hp['identities_per_batch']} x {hp['faces_per_identity']}")
        self.identities, self.lfw = _read(self.ctx.data_dir, self.config)
        if len(self.identities) < hp["identities_per_batch"]:
            raise DataError(self.identities.root, f"VGGFace2 training split has {len(self.identities)} identities; "
                                                  f"a FaceNet batch draws {hp['identities_per_batch']} different ones")
        paths = [p for files in self.identities.images for p in files]
        labels = [i for i, files in enumerate(self.identities.images) for _ in files]
        # the published boxes are read from their CSV file; no image is decoded before prepare_data()
        self.train_files = FaceFiles(paths, labels, size, self._train_boxes())
        self.train_labels = torch.tensor(labels, device=self.device)
        self._index_pairs(self._eval_pairs())
        self.model = build_model(hp).to(self.device)
        self.optimizer = torch.optim.Adagrad(self.model.parameters(), lr=hp["lr"])
        self.flip_gen = torch.Generator(self.device).manual_seed(self.ctx.seed + 11)

    def _train_boxes(self) -> list[Box] | None:
        """The published loose boxes in training-image order, or None (each photo's centre square) where the
        scale does not crop or the file is absent (then the record says so)."""
        if not self.hp["loose_bb"]:
            return None
        boxes = _face_boxes(self.ctx.data_dir, self.identities)
        if boxes is None:
            self.warn(f"C7: no {boxes_file(self.ctx.data_dir, 'train')}: training on the centre square of each "
                      f"VGGFace2 photo instead of its published loose face box")
            return None
        return [box for per_identity in boxes for box in per_identity]

    def _eval_pairs(self) -> list[FacePair]:
        """LFW's pairs, or in a smoke run the first ctx.eval_limit of them with matched and mismatched pairs
        alternating (pairs.txt lists each fold's matched pairs first), so a few pairs still hold both kinds."""
        if self.ctx.eval_limit is None:
            return list(self.lfw.pairs)
        matched = [p for p in self.lfw.pairs if p.same]
        mismatched = [p for p in self.lfw.pairs if not p.same]
        return list(self.limit_eval([p for two in zip(matched, mismatched) for p in two]))

    def prepare_data(self) -> None:
        """Decode (and crop) every LFW image the evaluated pairs use and, with hparam preload, every training
        image (else the loader decodes them in the training loop)."""
        files, size = self.train_files, self.hp["image_size"]
        self.train_images = load_all(files.paths, size, files.boxes).to(self.device) if self.hp["preload"] else None
        self.lfw_images = load_all(self.lfw_paths, size, center=self.hp["lfw_center_crop"]).to(self.device)

    def _index_pairs(self, pairs: list[FacePair]) -> None:
        """The LFW images the evaluated pairs use (each once), and the pairs as rows into them."""
        self.pairs = pairs
        self.lfw_paths = lfw_paths = list(dict.fromkeys(p for pair in pairs for p in (pair.first, pair.second)))
        index = {p: i for i, p in enumerate(lfw_paths)}
        self.pair_index = torch.tensor([[index[p.first], index[p.second]] for p in pairs], device=self.device)
        self.pair_same = torch.tensor([p.same for p in pairs], device=self.device)
        self.pair_fold = torch.tensor([p.fold for p in pairs], device=self.device)
        rng = np.random.default_rng([self.ctx.seed, 7])
        count = min(self.config.inference_samples, len(pairs))
        self.query_pairs = np.sort(rng.choice(len(pairs), count, replace=False))
        self.query_order = np.array(selected_rows_first(self.query_pairs, len(pairs)))  # LoadGen's whole split

    def models(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    # ----- training ---------------------------------------------------------------------------------
    def train_samples(self) -> int:
        return self.hp["batches_per_epoch"] * self.config.batch_size

    def _batch_indices(self, epoch: int) -> list[list[int]]:
        hp = self.hp
        rng = np.random.default_rng([self.ctx.seed, 1, epoch])
        counts = [len(files) for files in self.identities.images]
        return identity_batches(counts, hp["identities_per_batch"], hp["faces_per_identity"],
                                hp["batches_per_epoch"], rng)

    def train_batches(self, epoch: int) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        batches = self._batch_indices(epoch)
        if self.train_images is not None:
            return ((self.train_images[b], self.train_labels[b]) for b in map(torch.tensor, batches))
        return DataLoader(self.train_files, batch_sampler=batches, num_workers=self.hp["workers"],
                          pin_memory=self.device.type == "cuda", persistent_workers=False)

    def _augment(self, images: torch.Tensor) -> torch.Tensor:
        """Random horizontal flips (faces are near-symmetric; the reference code flips training crops)."""
        if not self.hp["flip"]:
            return images
        flip = torch.rand(len(images), device=images.device, generator=self.flip_gen) < 0.5
        return torch.where(flip[:, None, None, None], images.flip(3), images)

    def _loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        images, labels = (t.to(self.device, non_blocking=True) for t in batch)
        return triplet_loss(self.model(self._augment(images)), labels, self.hp["margin"])

    def compute_loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, int]:
        return self._loss(batch)[0], len(batch[0])

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> StepOutput:
        self.optimizer.zero_grad(set_to_none=True)
        loss, stats = self._loss(batch)
        loss.backward()
        self.optimizer.step()
        return StepOutput(loss=float(loss.detach()), samples=len(batch[0]), losses=stats)

    # ----- evaluation -------------------------------------------------------------------------------
    def _embed(self, images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([self.model(images[i:i + EMBED_CHUNK]) for i in range(0, len(images), EMBED_CHUNK)])

    def evaluate(self) -> Quality:
        embeddings = self._embed(self.lfw_images)
        first, second = embeddings[self.pair_index[:, 0]], embeddings[self.pair_index[:, 1]]
        distances = (first - second).pow(2).sum(1)
        result = verification_accuracy(distances.cpu(), self.pair_same.cpu(), self.pair_fold.cpu())
        return Quality(result.pop("accuracy"), result, samples=len(distances))

    # ----- inference --------------------------------------------------------------------------------
    def inference_samples(self) -> Sequence[torch.Tensor]:
        """Each query is one LFW pair: its two preprocessed faces, shape (2, 3, H, W)."""
        return [self.lfw_images[self.pair_index[i]] for i in self.query_pairs]

    def query_count(self) -> int:
        return len(self.query_order)

    def load_query(self, index: int) -> torch.Tensor:
        return self.lfw_images[self.pair_index[self.query_order[index]]]

    def infer(self, samples: Sequence[torch.Tensor]) -> list[float]:
        """The squared distance between each pair's two embeddings."""
        embeddings = self._embed(torch.cat(list(samples)).to(self.device)).view(len(samples), 2, -1)
        return (embeddings[:, 0] - embeddings[:, 1]).pow(2).sum(1).tolist()

    def score(self, indices: Sequence[int], outputs: Sequence[float]) -> Quality:
        rows = torch.from_numpy(self.query_order[list(indices)])
        result = verification_accuracy(torch.tensor(list(outputs)), self.pair_same.cpu()[rows],
                                       self.pair_fold.cpu()[rows])
        return Quality(result.pop("accuracy"), result, samples=len(rows))

    # ----- characterization -------------------------------------------------------------------------
    def example_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        indices = torch.tensor(self._batch_indices(0)[0])
        if self.train_images is not None:
            return self.train_images[indices], self.train_labels[indices]
        images, labels = zip(*(self.train_files[int(i)] for i in indices))
        return torch.stack(images).to(self.device), torch.tensor(labels, device=self.device)

    def describe(self) -> dict[str, Any]:
        pixels = self.lfw_images.flatten(1)
        distances = (pixels[self.pair_index[:, 0]] - pixels[self.pair_index[:, 1]]).pow(2).sum(1)
        raw = verification_accuracy(distances.cpu(), self.pair_same.cpu(), self.pair_fold.cpu())
        return {"train_identities": len(self.identities), "train_images": self.identities.image_count,
                "lfw_pairs": len(self.pairs), "raw_pixel_lfw_accuracy": raw["accuracy"]}


BENCHMARK = FaceEmbedding

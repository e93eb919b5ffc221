"""DC-AI-C5: CycleGAN between Cityscapes photos (A) and colour label images (B).

A training step follows the reference's optimize_parameters: translate both ways and back, update both generators
on the LSGAN, cycle and identity losses with the discriminators frozen, then update each discriminator on a real
image against a generated one drawn from its image pool. Domain B images are drawn at random for every A image, so
training never sees which label image belongs to which photo. The learning rate stays constant for
`constant_epochs` and then decays linearly to zero over `decay_epochs`.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from aibench.benchmarks.base import Benchmark, Quality, StepOutput
from aibench.benchmarks.c05_image_to_image import SPEC
from aibench.benchmarks.c05_image_to_image.data import (
    confusion, load_images, load_train_ids, majority_class, nearest_class, random_crop_flip, segmentation_scores,
    synthesize_cityscapes,
)
from aibench.benchmarks.c05_image_to_image.model import (
    ImagePool, PatchDiscriminator, ResnetGenerator, init_weights, lsgan_loss,
)
from aibench.datasets.cityscapes import Frame, read_split, train_ids
from aibench.spec import ScaleConfig

EVAL_CHUNK = 32


def _frames(data_dir: Path, config: ScaleConfig) -> tuple[list[Frame], list[Frame]]:
    train = read_split(data_dir, "train")[: config.hparams.get("max_train_frames")]
    return train, read_split(data_dir, "val")


class ImageToImage(Benchmark):
    SPEC = SPEC
    DATA_PARALLEL_UNSUPPORTED = (
        "CycleGAN trains two generators and two discriminators in one step, with image pools of past fakes; "
        "splitting that over processes needs a scheme of its own, not written yet")

    # ----- data -------------------------------------------------------------------------------------
    @classmethod
    def synthesize(cls, data_dir: Path, config: ScaleConfig, seed: int) -> None:
        hp = config.hparams
        splits = {"train": (hp["synth_train_cities"], hp["synth_train_per_city"]),
                  "val": (hp["synth_val_cities"], hp["synth_val_per_city"])}
        synthesize_cityscapes(data_dir, seed, splits, hp["synth_width"], hp["synth_height"])

    @classmethod
    def check_data(cls, data_dir: Path, config: ScaleConfig) -> dict[str, Any]:
        train, val = _frames(data_dir, config)
        for frame in (train[0], val[0]):  # decode one frame of each split: wrong formats fail here
            load_images([frame.photo, frame.color], 8)
            train_ids(frame.label_ids)
        return {"train_frames": len(train), "val_frames": len(val)}

    # ----- setup ------------------------------------------------------------------------------------
    def initialize(self) -> None:
        hp, device = self.hp, self.device
        # the frames are listed here; their pixels are decoded in prepare_data(), on the clock
        self.train_frames, val = _frames(self.ctx.data_dir, self.config)
        self.val_frames = list(self.limit_eval(val))
        if (wanted := hp.get("max_train_frames")) and len(self.train_frames) < wanted:
            self.warn(f"Cityscapes: {len(self.train_frames)} training frames, fewer than the {wanted} this scale "
                      "trains on")
        self.query_rows = list(range(min(self.config.inference_samples, len(self.val_frames))))
        self._majority: int | None = None

        nets = {role: module.to(device) for role, module in self.reference_models(self.config).items()}
        self.gen_ab, self.gen_ba = nets["generator_ab"], nets["generator_ba"]
        self.disc_a, self.disc_b = nets["discriminator_a"], nets["discriminator_b"]
        for module in self.models().values():
            init_weights(module)
        betas = (hp["beta1"], 0.999)
        self.opt_g = torch.optim.Adam(itertools.chain(self.gen_ab.parameters(), self.gen_ba.parameters()),
                                      lr=hp["lr"], betas=betas)
        self.opt_d = torch.optim.Adam(itertools.chain(self.disc_a.parameters(), self.disc_b.parameters()),
                                      lr=hp["lr"], betas=betas)
        self.pool_a = ImagePool(hp["pool_size"], random.Random(self.ctx.seed))
        self.pool_b = ImagePool(hp["pool_size"], random.Random(self.ctx.seed + 1))
        self.crop_gen = torch.Generator().manual_seed(self.ctx.seed + 2)

    def prepare_data(self) -> None:
        """Decode the training photos and label images and the validation photos and their train ids."""
        hp, train, val = self.hp, self.train_frames, self.val_frames
        # held as uint8 at load size: 2,975 Cityscapes frames at 286x286 take 0.7 GB per domain
        self.photos = self._uint8(load_images([f.photo for f in train], hp["load_size"]))
        self.labels = self._uint8(load_images([f.color for f in train], hp["load_size"], nearest=True))
        self.val_photos = load_images([f.photo for f in val], hp["eval_size"]).to(self.device)
        self.val_truth = load_train_ids(val, hp["eval_size"]).to(self.device)

    @property
    def majority(self) -> int:
        """The most frequent class of the training labels: only the record's baseline needs it (training and
        evaluation do not), so it is counted on first use, after the run, rather than on the clock."""
        if self._majority is None:
            self._majority = majority_class(self.train_frames, self.hp["eval_size"])
        return self._majority

    @classmethod
    def reference_models(cls, config: ScaleConfig) -> dict[str, nn.Module]:
        """Both generators and both PatchGANs; their sizes depend on the width and block count alone (images
        are RGB in both domains: label maps are colour images, whatever the class count)."""
        width, blocks = config.hparams["width"], config.hparams["blocks"]
        return {"generator_ab": ResnetGenerator(width, blocks),  # photo -> label (G)
                "generator_ba": ResnetGenerator(width, blocks),  # label -> photo (F)
                "discriminator_a": PatchDiscriminator(width),  # judges photos
                "discriminator_b": PatchDiscriminator(width)}  # judges label images

    @staticmethod
    def _uint8(images: torch.Tensor) -> torch.Tensor:
        return ((images + 1) * 127.5).round().to(torch.uint8)

    def models(self) -> dict[str, nn.Module]:
        return {"generator_ab": self.gen_ab, "generator_ba": self.gen_ba, "discriminator_a": self.disc_a,
                "discriminator_b": self.disc_b}

    # ----- training ---------------------------------------------------------------------------------
    def train_samples(self) -> int:
        return len(self.train_frames)

    def lr_factor(self, epoch: int) -> float:
        """1 for the constant epochs, then linearly down towards 0 over the decay epochs (reference 'linear')."""
        hp = self.hp
        return 1.0 - max(0, epoch + 1 - hp["constant_epochs"]) / (hp["decay_epochs"] + 1)

    def train_batches(self, epoch: int) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups:
                group["lr"] = self.hp["lr"] * self.lr_factor(epoch)
        draw = torch.Generator().manual_seed(self.ctx.seed * 100_003 + epoch)
        order = torch.randperm(len(self.photos), generator=draw)
        unpaired = torch.randint(len(self.labels), (len(self.photos),), generator=draw)
        size = self.config.batch_size
        for start in range(0, len(order), size):
            yield self.photos[order[start:start + size]], self.labels[unpaired[start:start + size]]

    def _prepare(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        crop = self.hp["crop_size"]
        return tuple(random_crop_flip(images.float() / 127.5 - 1, crop, self.crop_gen).to(self.device)
                     for images in batch)

    def _generator_losses(self, real_a: torch.Tensor, real_b: torch.Tensor) -> dict[str, torch.Tensor]:
        """The generators' LSGAN, cycle and identity losses; the control (the paper's "GAN alone") has the
        adversarial term only: no image is translated back, nor either domain through its own generator."""
        hp = self.hp
        fake_b, fake_a = self.gen_ab(real_a), self.gen_ba(real_b)
        adversarial = lsgan_loss(self.disc_b(fake_b), True) + lsgan_loss(self.disc_a(fake_a), True)
        losses = {"total": adversarial, "adversarial": adversarial,
                  "fake_a": fake_a.detach(), "fake_b": fake_b.detach()}
        if self.ctx.control:
            return losses
        cycle = F.l1_loss(self.gen_ba(fake_b), real_a) + F.l1_loss(self.gen_ab(fake_a), real_b)
        identity = F.l1_loss(self.gen_ab(real_b), real_b) + F.l1_loss(self.gen_ba(real_a), real_a)
        total = adversarial + hp["lambda_cycle"] * cycle + hp["lambda_cycle"] * hp["lambda_identity"] * identity
        return {**losses, "total": total, "cycle": cycle, "identity": identity}

    def _discriminator_loss(self, disc: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return 0.5 * (lsgan_loss(disc(real), True) + lsgan_loss(disc(fake), False))

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> StepOutput:
        real_a, real_b = self._prepare(batch)
        discriminators = (self.disc_a, self.disc_b)
        for d in discriminators:
            d.requires_grad_(False)  # the generator step must not move the discriminators
        self.opt_g.zero_grad(set_to_none=True)
        g = self._generator_losses(real_a, real_b)
        g["total"].backward()
        self.opt_g.step()
        for d in discriminators:
            d.requires_grad_(True)
        self.opt_d.zero_grad(set_to_none=True)
        loss_da = self._discriminator_loss(self.disc_a, real_a, self.pool_a.query(g["fake_a"]))
        loss_db = self._discriminator_loss(self.disc_b, real_b, self.pool_b.query(g["fake_b"]))
        (loss_da + loss_db).backward()
        self.opt_d.step()
        losses = {k: float(g[k].detach()) for k in ("adversarial", "cycle", "identity") if k in g}
        losses.update(discriminator_a=float(loss_da.detach()), discriminator_b=float(loss_db.detach()))
        return StepOutput(loss=float(g["total"].detach()), samples=len(real_a), losses=losses)

    # ----- evaluation -------------------------------------------------------------------------------
    def _translate(self, photos: torch.Tensor) -> torch.Tensor:
        """Photo -> label: the generated colour label images read as class ids."""
        with torch.no_grad():
            return torch.cat([nearest_class(self.gen_ab(photos[i:i + EVAL_CHUNK]))
                              for i in range(0, len(photos), EVAL_CHUNK)])

    def _quality(self, predicted: torch.Tensor, truth: torch.Tensor) -> Quality:
        scores = segmentation_scores(confusion(predicted, truth))
        return Quality(scores.pop("pixel_accuracy"), scores, samples=len(truth))

    def evaluate(self) -> Quality:
        return self._quality(self._translate(self.val_photos), self.val_truth)

    # ----- inference --------------------------------------------------------------------------------
    def inference_samples(self) -> Sequence[torch.Tensor]:
        return [self.val_photos[i] for i in self.query_rows]

    def query_count(self) -> int:
        return len(self.val_photos)  # query i is validation photo i (the inference samples are the first)

    def load_query(self, index: int) -> torch.Tensor:
        return self.val_photos[index]

    def infer(self, samples: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The predicted class map (train ids) of each photo."""
        return list(self._translate(torch.stack(list(samples)).to(self.device)).to(torch.uint8).cpu())

    def score(self, indices: Sequence[int], outputs: Sequence[torch.Tensor]) -> Quality:
        rows = list(indices)
        return self._quality(torch.stack(list(outputs)).long(), self.val_truth[rows].cpu())

    # ----- characterization -------------------------------------------------------------------------
    def example_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        return next(iter(self.train_batches(0)))

    def training_example(self) -> Callable[[], Any]:
        """One generator and one discriminator forward+backward (no optimizer steps, pools untouched)."""
        real_a, real_b = self._prepare(self.example_batch())

        def run() -> None:
            g = self._generator_losses(real_a, real_b)
            g["total"].backward()
            (self._discriminator_loss(self.disc_a, real_a, g["fake_a"])
             + self._discriminator_loss(self.disc_b, real_b, g["fake_b"])).backward()

        return run

    def compute_loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, int]:
        real_a, real_b = self._prepare(batch)
        return self._generator_losses(real_a, real_b)["total"], len(real_a)

    def describe(self) -> dict[str, Any]:
        truth = self.val_truth
        constant = torch.full_like(truth, self.majority)
        identity = nearest_class(self.val_photos)  # photos read directly as label colours
        return {"majority_class": self.majority,
                "majority_pixel_accuracy": self._quality(constant, truth).value,
                "identity_pixel_accuracy": self._quality(identity, truth).value}


BENCHMARK = ImageToImage

"""DC-AI-C12: recurrent residual image compression trained with the L1 residual loss; MS-SSIM (torchmetrics) of
the final iteration's reconstruction on the validation images, with the code's bits per pixel."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as ms_ssim

from aibench.benchmarks.base import Benchmark, Quality
from aibench.benchmarks.c12_image_compression import SPEC
from aibench.benchmarks.c12_image_compression.data import (
    downsampled_images, downsampling_block, eval_transform, load_all, mean_colour_images, synthesize_scenes,
    to_signed, to_unit, train_transform,
)
from aibench.benchmarks.c12_image_compression.model import (
    RecurrentCompressor, bits_per_pixel, entropy_bits_per_pixel, residual_l1_loss,
)
from aibench.datasets.imagefolder import ImageFolderDataset, read_splits, verify_images
from aibench.spec import ScaleConfig

EVAL_CHUNK = 64


def _read(data_dir: Path, hp: dict[str, Any]) -> tuple[list[Path], list[Path]]:
    """Training image paths (the first `max_train_images`) and the evaluation images: `eval_images` spread
    evenly over the val split (all of it when None), held in memory for evaluation."""
    splits = read_splits(Path(data_dir))
    train = [path for path, _ in splits["train"].samples][: hp["max_train_images"]]
    val = [path for path, _ in splits["val"].samples]
    count = len(val) if hp["eval_images"] is None else min(hp["eval_images"], len(val))
    return train, [val[i * len(val) // count] for i in range(count)]


class ImageCompression(Benchmark):
    SPEC = SPEC

    # ----- data -------------------------------------------------------------------------------------
    @classmethod
    def synthesize(cls, data_dir: Path, config: ScaleConfig, seed: int) -> None:
        hp = config.hparams
        synthesize_scenes(Path(data_dir), hp["synth_folders"], hp["synth_train_per_folder"],
                          hp["synth_val_per_folder"], hp["synth_size_range"], seed)

    @classmethod
    def check_data(cls, data_dir: Path, config: ScaleConfig) -> dict[str, Any]:
        """Decode every evaluation image and the first training image of each folder (a full decode of
        ImageNet's training split would take minutes; a bad one is reported by name when training reaches it)."""
        train_paths, eval_paths = _read(Path(data_dir), config.hparams)
        first_of_folder = {path.parent: path for path in reversed(train_paths)}
        verify_images([*first_of_folder.values(), *eval_paths])
        return {"train_images": len(train_paths), "eval_images": len(eval_paths)}

    # ----- training ---------------------------------------------------------------------------------
    def setup(self) -> None:
        hp = self.hp
        train_paths, eval_paths = _read(self.ctx.data_dir, hp)
        self.train_set = ImageFolderDataset([(p, 0) for p in train_paths], train_transform(hp["patch_size"]))
        self.val_images = to_signed(load_all(eval_paths, eval_transform(hp["eval_resize"], hp["eval_size"])))
        self.model = RecurrentCompressor(hp["encoder_widths"], hp["bits"], hp["decoder_widths"]).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=hp["lr"])
        self.query_rows = [i % len(self.val_images) for i in range(self.config.inference_samples)]

    def models(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    def train_samples(self) -> int:
        return len(self.train_set)

    def train_batches(self, epoch: int) -> Iterator[torch.Tensor]:
        hp = self.hp
        passed = sum(epoch >= milestone for milestone in hp["lr_milestones"])
        for group in self.optimizer.param_groups:  # set from the epoch, so a repeated or resumed epoch agrees
            group["lr"] = hp["lr"] * hp["lr_gamma"] ** passed
        generator = torch.Generator().manual_seed(self.ctx.seed * 7919 + epoch)
        loader = DataLoader(self.train_set, batch_size=self.config.batch_size, shuffle=True, drop_last=True,
                            generator=generator, num_workers=self.hp["num_workers"])
        for images, _ in loader:
            yield to_signed(images).to(self.device)

    def compute_loss(self, batch: torch.Tensor) -> tuple[torch.Tensor, int]:
        reconstructions, _ = self.model(batch, self.hp["iterations"])
        return residual_l1_loss(batch, reconstructions), len(batch)

    # ----- quality ----------------------------------------------------------------------------------
    def _ms_ssim(self, reconstructed: torch.Tensor, original: torch.Tensor) -> float:
        """MS-SSIM with the scale's window and scale weights, on images in [0, 1]."""
        return float(ms_ssim(to_unit(reconstructed), to_unit(original), data_range=1.0,
                             kernel_size=self.hp["msssim_kernel"], betas=tuple(self.hp["msssim_betas"])))

    @torch.no_grad()
    def _reconstruct(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """The first and the last iteration's reconstructions of images in [-1, 1], and each iteration's codes."""
        first, last, codes = [], [], []
        for start in range(0, len(images), EVAL_CHUNK):
            outputs, chunk_codes = self.model(images[start:start + EVAL_CHUNK].to(self.device),
                                              self.hp["iterations"])
            first.append(outputs[0])
            last.append(outputs[-1])
            codes.append(chunk_codes)
        return torch.cat(first), torch.cat(last), [torch.cat(c) for c in zip(*codes)]

    def _quality(self, reconstructed: torch.Tensor, original: torch.Tensor, **extra: float) -> Quality:
        return Quality(self._ms_ssim(reconstructed, original),
                       {"bpp": bits_per_pixel(self.hp["bits"], self.hp["iterations"]), **extra},
                       samples=len(original))

    def evaluate(self) -> Quality:
        first, last, codes = self._reconstruct(self.val_images)
        original = self.val_images.to(self.device)
        return self._quality(last, original, ms_ssim_first_iteration=self._ms_ssim(first, original),
                             bpp_first_iteration=bits_per_pixel(self.hp["bits"], 1),
                             bpp_entropy_order0=entropy_bits_per_pixel(codes))

    # ----- inference --------------------------------------------------------------------------------
    def inference_samples(self) -> Sequence[torch.Tensor]:
        return [self.val_images[i] for i in self.query_rows]

    @torch.no_grad()
    def infer(self, samples: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Encode and decode: the reconstruction at the full bit rate, one per query image."""
        _, last, _ = self._reconstruct(torch.stack(list(samples)))
        return list(last.cpu())

    def score(self, indices: Sequence[int], outputs: Sequence[torch.Tensor]) -> Quality:
        original = torch.stack([self.val_images[self.query_rows[i]] for i in indices])
        return self._quality(torch.stack(list(outputs)), original)

    # ----- characterization -------------------------------------------------------------------------
    def example_batch(self) -> torch.Tensor:
        return to_signed(torch.stack([self.train_set[i][0] for i in range(self.config.batch_size)])).to(self.device)

    def describe(self) -> dict[str, Any]:
        bpp = bits_per_pixel(self.hp["bits"], self.hp["iterations"])
        block = downsampling_block(bpp)
        return {"train_images": len(self.train_set), "val_images": len(self.val_images), "bpp": bpp,
                "bpp_note": "bits of the binary code before entropy coding (an upper bound on the coded rate); "
                            "bpp_entropy_order0 in the quality is the rate with one adaptive probability per bit",
                "mean_colour_baseline_ms_ssim": self._ms_ssim(mean_colour_images(self.val_images),
                                                              self.val_images),
                # a classical code at no higher rate, so a reader sees what the learned code is worth
                "downsampling_reference": {"block": block, "bpp": 24 / block**2,
                                           "ms_ssim": self._ms_ssim(downsampled_images(self.val_images, block),
                                                                    self.val_images)}}


BENCHMARK = ImageCompression

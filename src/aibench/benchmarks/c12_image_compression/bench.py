"""DC-AI-C12: recurrent residual image compression trained with the L1 residual loss, beside the binary context
model that entropy-codes its bits (trained in the same steps on the detached codes); MS-SSIM (torchmetrics) of the
final iteration's reconstruction on the validation images, with the raw and the entropy-coded bits per pixel."""

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
from aibench.benchmarks.c12_image_compression.entropy import BinaryContextModel, entropy_coded_bpp
from aibench.benchmarks.c12_image_compression.model import (
    RecurrentCompressor, bits_per_pixel, entropy_bits_per_pixel, residual_l1_loss,
)
from aibench.datasets.imagefolder import ImageFolderDataset, read_splits, verify_images
from aibench.errors import DataError
from aibench.spec import ScaleConfig

EVAL_CHUNK = 64
STANDARD_WINDOW, STANDARD_SIGMA = 11, 1.5  # Wang et al. 2003's MS-SSIM: an 11x11 Gaussian window of sigma 1.5


def msssim_sigma(window: int) -> float:
    """The Gaussian sigma that makes torchmetrics use a `window` x `window` window.

    torchmetrics ignores `kernel_size` when `gaussian_kernel=True`: its window is int(3.5 sigma + 0.5) * 2 + 1
    pixels wide. The standard window's shape (11 wide at sigma 1.5) scaled to `window` keeps the Gaussian weighting
    the MS-SSIM definition uses, which a uniform `gaussian_kernel=False` window would not.
    """
    sigma = STANDARD_SIGMA * window / STANDARD_WINDOW
    if int(3.5 * sigma + 0.5) * 2 + 1 != window:
        raise ValueError(f"no Gaussian sigma scaled from the standard window gives a {window}-pixel window")
    return sigma


def _read(data_dir: Path, hp: dict[str, Any]) -> tuple[list[Path], list[Path], list[str]]:
    """Training image paths (the first `max_train_images`), the evaluation images (`eval_images` spread evenly
    over the val split, all of it when None, held in memory for evaluation) and notes on what the data lacks."""
    splits = read_splits(Path(data_dir))
    train = [path for path, _ in splits["train"].samples][: hp["max_train_images"]]
    val = [path for path, _ in splits["val"].samples]
    if not train or not val:
        raise DataError(Path(data_dir) / ("train" if not train else "val"), "no images; expected ImageNet's JPEGs")
    notes = []
    if hp["max_train_images"] is not None and len(train) < hp["max_train_images"]:
        notes.append(f"{data_dir}: {len(train)} training images, fewer than the {hp['max_train_images']:,} the "
                     "configuration trains on; training on all of them")
    if hp["eval_images"] is not None and len(val) < hp["eval_images"]:
        notes.append(f"{data_dir}: {len(val)} validation images, fewer than the {hp['eval_images']:,} the "
                     "configuration evaluates on; evaluating on all of them")
    count = len(val) if hp["eval_images"] is None else min(hp["eval_images"], len(val))
    return train, [val[i * len(val) // count] for i in range(count)], notes


def build_models(hp: dict[str, Any]) -> dict[str, nn.Module]:
    """The codec (encoder, binarizer, decoder) and its entropy coder, sized by the scale's hparams alone."""
    codec = RecurrentCompressor(hp["encoder_widths"], hp["bits"], hp["decoder_widths"],
                                hp["decoder_hidden_kernels"])
    return {"model": codec, "entropy_coder": BinaryContextModel(hp["bits"], hp["iterations"])}


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
        train_paths, eval_paths, _ = _read(Path(data_dir), config.hparams)
        first_of_folder = {path.parent: path for path in reversed(train_paths)}
        verify_images([*first_of_folder.values(), *eval_paths])
        return {"train_images": len(train_paths), "eval_images": len(eval_paths)}

    @classmethod
    def reference_models(cls, config: ScaleConfig) -> dict[str, nn.Module]:
        return build_models(config.hparams)

    # ----- training ---------------------------------------------------------------------------------
    def initialize(self) -> None:
        """Untimed: list the images and build the codec; the evaluation images are decoded in prepare_data()."""
        hp = self.hp
        train_paths, eval_paths, notes = _read(self.ctx.data_dir, hp)
        for note in notes:
            self.warn(note)
        if len(train_paths) < self.config.batch_size:
            raise DataError(Path(self.ctx.data_dir) / "train", f"{len(train_paths)} training images, fewer than "
                                                                f"one batch of {self.config.batch_size}")
        self.train_set = ImageFolderDataset([(p, 0) for p in train_paths], train_transform(hp["patch_size"]))
        self.eval_paths = list(self.limit_eval(eval_paths))
        models = build_models(hp)
        self.model = models["model"].to(self.device)
        self.entropy_coder = models["entropy_coder"].to(self.device)
        # one optimizer: the entropy coder learns from detached codes, so its gradients never reach the codec
        self.optimizer = torch.optim.Adam([*self.model.parameters(), *self.entropy_coder.parameters()],
                                          lr=hp["lr"])
        self.query_rows = [i % len(self.eval_paths) for i in range(self.config.inference_samples)]

    def prepare_data(self) -> None:
        """Timed: decode, resize and crop the evaluation images into memory (training patches are decoded as the
        loader reads them)."""
        self.val_images = to_signed(load_all(self.eval_paths, eval_transform(self.hp["eval_resize"],
                                                                             self.hp["eval_size"])))

    def models(self) -> dict[str, nn.Module]:
        return {"model": self.model, "entropy_coder": self.entropy_coder}

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
        """The paper's L1 residual loss plus the entropy coder's cross-entropy (bits per code bit) on the
        detached codes: two disjoint sets of parameters learning in the same steps."""
        reconstructions, codes = self.model(batch, self.hp["iterations"])
        bits = self.entropy_coder.code_bits([c.detach() for c in codes])
        rate = bits.mean() / sum(c[0].numel() for c in codes)
        return residual_l1_loss(batch, reconstructions) + rate, len(batch)

    # ----- quality ----------------------------------------------------------------------------------
    def _ms_ssim(self, reconstructed: torch.Tensor, original: torch.Tensor) -> float:
        """MS-SSIM with the scale's window (a Gaussian torchmetrics sizes to it) and scale weights, on [0, 1]."""
        window = self.hp["msssim_kernel"]
        return float(ms_ssim(to_unit(reconstructed), to_unit(original), data_range=1.0, kernel_size=window,
                             sigma=msssim_sigma(window), betas=tuple(self.hp["msssim_betas"])))

    @torch.no_grad()
    def _reconstruct(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor],
                                                         torch.Tensor]:
        """Of images in [-1, 1]: the first and the last iteration's reconstructions, each iteration's codes and
        the bits the entropy coder spends on each image."""
        first, last, codes, bits = [], [], [], []
        for start in range(0, len(images), EVAL_CHUNK):
            outputs, chunk_codes = self.model(images[start:start + EVAL_CHUNK].to(self.device),
                                              self.hp["iterations"])
            first.append(outputs[0])
            last.append(outputs[-1])
            codes.append(chunk_codes)
            bits.append(self.entropy_coder.code_bits(chunk_codes))
        return torch.cat(first), torch.cat(last), [torch.cat(c) for c in zip(*codes)], torch.cat(bits)

    def _quality(self, reconstructed: torch.Tensor, original: torch.Tensor, bpp_entropy: float,
                 **extra: float) -> Quality:
        return Quality(self._ms_ssim(reconstructed, original),
                       {"bpp": bits_per_pixel(self.hp["bits"], self.hp["iterations"]), "bpp_entropy": bpp_entropy,
                        **extra}, samples=len(original))

    def evaluate(self) -> Quality:
        first, last, codes, bits = self._reconstruct(self.val_images)
        original = self.val_images.to(self.device)
        return self._quality(last, original, entropy_coded_bpp(bits, codes),
                             ms_ssim_first_iteration=self._ms_ssim(first, original),
                             bpp_first_iteration=bits_per_pixel(self.hp["bits"], 1),
                             bpp_entropy_order0=entropy_bits_per_pixel(codes))

    # ----- inference --------------------------------------------------------------------------------
    def inference_samples(self) -> Sequence[torch.Tensor]:
        return [self.val_images[i] for i in self.query_rows]

    def query_count(self) -> int:
        return len(self.val_images)  # query i is validation image i (the inference samples are the first)

    def load_query(self, index: int) -> torch.Tensor:
        return self.val_images[index]

    @torch.no_grad()
    def infer(self, samples: Sequence[torch.Tensor]) -> list[tuple[torch.Tensor, float]]:
        """Encode (with the entropy coder's probabilities) and decode: per query image, the reconstruction at the
        full bit rate and the entropy-coded bits per pixel."""
        _, last, codes, bits = self._reconstruct(torch.stack(list(samples)))
        pixels = last.shape[-2] * last.shape[-1]
        return [(image, float(b) / pixels) for image, b in zip(last.cpu(), bits.cpu())]

    def score(self, indices: Sequence[int], outputs: Sequence[tuple[torch.Tensor, float]]) -> Quality:
        original = torch.stack([self.val_images[i] for i in indices])
        rates = [bpp for _, bpp in outputs]
        return self._quality(torch.stack([image for image, _ in outputs]), original, sum(rates) / len(rates))

    # ----- characterization -------------------------------------------------------------------------
    def example_batch(self) -> torch.Tensor:
        return to_signed(torch.stack([self.train_set[i][0] for i in range(self.config.batch_size)])).to(self.device)

    def describe(self) -> dict[str, Any]:
        bpp = bits_per_pixel(self.hp["bits"], self.hp["iterations"])
        block = downsampling_block(bpp)
        return {"train_images": len(self.train_set), "val_images": len(self.val_images), "bpp": bpp,
                "bpp_note": "bits of the binary code before entropy coding; bpp_entropy in the quality is the "
                            "entropy coder's cross-entropy (the rate its arithmetic coder reaches), "
                            "bpp_entropy_order0 the rate with one adaptive probability per bit channel",
                "mean_colour_baseline_ms_ssim": self._ms_ssim(mean_colour_images(self.val_images),
                                                              self.val_images),
                # a classical code at no higher rate, so a reader sees what the learned code is worth
                "downsampling_reference": {"block": block, "bpp": 24 / block**2,
                                           "ms_ssim": self._ms_ssim(downsampled_images(self.val_images, block),
                                                                    self.val_images)}}


BENCHMARK = ImageCompression

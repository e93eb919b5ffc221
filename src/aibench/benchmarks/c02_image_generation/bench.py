"""DC-AI-C2 image generation: a Wasserstein GAN with MLP generator and critic on LSUN bedrooms.

Training follows Algorithm 1 of the WGAN paper and its reference code: every training batch of real images
is one critic step (RMSprop, then weight clipping); after n_critic critic steps comes one generator step
(100 critic steps instead during the first generator iterations and every 500th, so the critic stays near
optimal). An epoch is one pass of critic steps over the training images, as in the reference.

Quality is the training critic's estimate of the Earth-Mover distance (the paper's "loss function in training"),
measured at each evaluation between the held-out images and generated ones. It reads about 0 before the critic
has learned and too low while a critic lags behind a generator that has just moved, so a lower-is-better target
counts only once (a) the critic has been refreshed by a burst of critic steps after the warm-up (the reference's
burst at every 500th generator iteration: the critic is then near-optimal), and (b) the estimate, measured at the
end of a burst, has risen above the target once. Until then each evaluation is stored in the curve with
`Quality.counts` False: the harness keeps the estimate's whole curve but no such evaluation can meet the target.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from aibench.benchmarks.base import Benchmark, Quality, StepOutput
from aibench.benchmarks.c02_image_generation import SPEC
from aibench.benchmarks.c02_image_generation.data import (
    ImageTensors,
    index_keys,
    load_all,
    preloaded_batches,
    split,
    streamed_batches,
    write_synthetic_lsun,
)
from aibench.benchmarks.c02_image_generation.model import MLPCritic, MLPGenerator, em_estimate
from aibench.spec import ScaleConfig


def nearest_neighbour_rmse(queries: torch.Tensor, references: torch.Tensor) -> float:
    """Mean over queries of the RMSE (in [0, 1] pixel units) to the nearest reference image.

    Fakes-to-real says whether samples look like some real image; real-to-fakes whether the samples cover
    the real images (a collapsed generator scores badly on it). Images are in [-1, 1].
    """
    q, r = queries.flatten(1) / 2, references.flatten(1) / 2
    return float((torch.cdist(q, r).min(dim=1).values / q.shape[1] ** 0.5).mean())


def pixel_em_distance(fakes: torch.Tensor, reals: torch.Tensor) -> float:
    """The exact Earth-Mover distance between two equal-sized image sets under per-image RMSE (in [0, 1]
    pixel units): the mean cost of the optimal one-to-one matching. Critic-free, and it punishes a
    generator collapsed onto few images, which must then stand in for every real image."""
    cost = (torch.cdist(fakes.flatten(1) / 2, reals.flatten(1) / 2) / fakes[0].numel() ** 0.5).cpu()
    rows, cols = linear_sum_assignment(cost.numpy())
    return float(cost[rows, cols].mean())


class WassersteinGAN(Benchmark):
    SPEC = SPEC
    DATA_PARALLEL_UNSUPPORTED = (
        "a WGAN takes several critic steps per generator step, with weight clipping after each; splitting "
        "them over processes needs a scheme of its own, not written yet")

    # ----- data -------------------------------------------------------------------------------------
    @classmethod
    def synthesize(cls, data_dir: Path, config: ScaleConfig, seed: int) -> None:
        hp = config.hparams
        write_synthetic_lsun(data_dir, hp["synth_train_images"], hp["synth_val_images"], seed)

    @classmethod
    def check_data(cls, data_dir: Path, config: ScaleConfig) -> dict[str, Any]:
        hp = config.hparams
        splits = split(data_dir, hp["eval_images"], hp.get("max_train_images"))
        # decode one image of each split, so a wrong format fails here and not minutes into training
        splits.train.image(int(splits.train_indices[0]))
        splits.heldout.image(int(splits.heldout_indices[0]))
        return {"train_images": len(splits.train_indices), "heldout_images": len(splits.heldout_indices),
                "train_source": str(splits.train.path), "heldout_source": str(splits.heldout.path)}

    # ----- training ---------------------------------------------------------------------------------
    def initialize(self) -> None:
        """Untimed: split the export's keys into training and held-out images, build both MLPs and their
        optimizers, draw the fixed evaluation noise (its count is the held-out index's). No image is decoded."""
        hp, size = self.hp, self.hp["image_size"]
        splits = split(self.ctx.data_dir, hp["eval_images"], hp.get("max_train_images"))
        self._warn_if_short(len(splits.train_indices), len(splits.heldout_indices))
        for source in (splits.train, splits.heldout):  # the same source twice lists it once
            index_keys(source)  # listing LSUN's keys is indexing the data set, not reading its images
        self.train_set = ImageTensors(splits.train, splits.train_indices, size)
        self.heldout_set = ImageTensors(splits.heldout, self.limit_eval(splits.heldout_indices), size)
        # training images the evaluation critic trains on (held in memory even when training streams)
        self.eval_critic_set = ImageTensors(splits.train, splits.train_indices[: hp["eval_critic_images"]], size)

        self.generator = MLPGenerator(hp["noise_dim"], hp["hidden"], size).to(self.device)
        self.critic = MLPCritic(hp["hidden"], size).to(self.device)
        self.critic.clip_weights(hp["clip"])
        self.generator_opt = torch.optim.RMSprop(self.generator.parameters(), lr=hp["lr_generator"])
        self.critic_opt = torch.optim.RMSprop(self.critic.parameters(), lr=hp["lr_critic"])

        self.noise_gen = torch.Generator(self.device).manual_seed(self.ctx.seed)
        # fixed noise for evaluation, so successive evaluations compare the generator and not the draw
        eval_draw = torch.Generator(self.device).manual_seed(self.ctx.seed + 1)
        self.eval_noise = self._noise(len(self.heldout_set), eval_draw)
        self.generator_iterations = 0
        self.critic_steps_since_generator = 0
        self.last_generator_loss = float("nan")
        self.critic_trained_at: int | None = None  # generator iteration of the first refresh after the warm-up
        self.peak_estimate: float | None = None  # the largest estimate measured at the end of a critic burst

    def prepare_data(self) -> None:
        """Timed: decode the held-out images, the evaluation critic's training images and, where the scale
        preloads, every training image into tensors (streaming scales decode training images in the loop)."""
        self.train_images = load_all(self.train_set).to(self.device) if self.hp["preload"] else None
        self.heldout = load_all(self.heldout_set).to(self.device)
        self.eval_critic_images = (self.train_images[: len(self.eval_critic_set)] if self.train_images is not None
                                   else load_all(self.eval_critic_set).to(self.device))

    def _warn_if_short(self, train: int, heldout: int) -> None:
        """A smaller LSUN export than the scale assumes is used as it is; the record says so."""
        hp = self.hp
        if heldout < hp["eval_images"]:
            self.warn(f"LSUN: {heldout} held-out images, fewer than the {hp['eval_images']} this scale evaluates")
        if hp.get("max_train_images") and train < hp["max_train_images"]:
            self.warn(f"LSUN: {train} training images, fewer than the {hp['max_train_images']} this scale trains on")

    def models(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "critic": self.critic}

    def _noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.hp["noise_dim"], device=self.device, generator=generator or self.noise_gen)

    def train_samples(self) -> int:
        return len(self.train_set)

    def train_batches(self, epoch: int) -> Iterable[torch.Tensor]:
        shuffle = torch.Generator().manual_seed(self.ctx.seed * 100_003 + epoch)
        if self.train_images is not None:
            return preloaded_batches(self.train_images, self.config.batch_size, shuffle)
        return streamed_batches(self.train_set, self.config.batch_size, self.hp["workers"], shuffle,
                                pin_memory=self.device.type == "cuda")

    def in_burst(self) -> bool:
        """Whether the critic steps before the next generator step are a burst (warm-up or refresh)."""
        hp, g = self.hp, self.generator_iterations
        return g < hp["critic_burst_first"] or g % hp["critic_burst_every"] == 0

    def critic_iterations(self) -> int:
        """Critic steps before the next generator step (the reference's schedule)."""
        return self.hp["critic_burst_iters"] if self.in_burst() else self.hp["n_critic"]

    def _after_burst(self) -> None:
        """At the end of a burst the critic is near-optimal for the current generator: its estimate then
        says whether the target lies below where training started, and a refresh after the warm-up says the
        critic has trained."""
        estimate = self.training_estimate()
        self.peak_estimate = estimate if self.peak_estimate is None else max(self.peak_estimate, estimate)
        if self.critic_trained_at is None and self.generator_iterations >= self.hp["critic_burst_first"]:
            self.critic_trained_at = self.generator_iterations

    def target_counts(self) -> bool:
        """Whether an estimate below the target means a good generator, not an untrained or lagging critic."""
        return (self.critic_trained_at is not None and self.peak_estimate is not None
                and self.peak_estimate > self.config.target)

    def train_step(self, batch: torch.Tensor) -> StepOutput:
        real = batch.to(self.device, non_blocking=True)
        critic_loss = self._critic_step(real)
        self.critic_steps_since_generator += 1
        if self.critic_steps_since_generator >= self.critic_iterations():
            if self.in_burst():
                self._after_burst()
            self.last_generator_loss = self._generator_step(len(real))
            self.generator_iterations += 1
            self.critic_steps_since_generator = 0
        return StepOutput(loss=critic_loss, samples=len(real),
                          losses={"critic": critic_loss, "generator": self.last_generator_loss})

    def _critic_loss(self, real: torch.Tensor) -> torch.Tensor:
        """Minimized by the critic: E[critic(fake)] - E[critic(real)], the negated EM estimate."""
        with torch.no_grad():
            fake = self.generator(self._noise(len(real)))
        return -em_estimate(self.critic, real, fake)

    def _generator_loss(self, n: int) -> torch.Tensor:
        return -self.critic(self.generator(self._noise(n))).mean()

    def _critic_step(self, real: torch.Tensor) -> float:
        self.critic_opt.zero_grad(set_to_none=True)
        loss = self._critic_loss(real)
        loss.backward()
        self.critic_opt.step()
        self.critic.clip_weights(self.hp["clip"])
        return float(loss.detach())

    def _generator_step(self, n: int) -> float:
        self.critic.requires_grad_(False)  # gradients flow through the critic to the generator only
        self.generator_opt.zero_grad(set_to_none=True)
        loss = self._generator_loss(n)
        loss.backward()
        self.generator_opt.step()
        self.critic.requires_grad_(True)
        return float(loss.detach())

    # ----- quality ----------------------------------------------------------------------------------
    def _evaluation_critic(self) -> MLPCritic:
        """An extra measure beside the paper's: a fresh critic (same architecture and weight clipping), trained
        `eval_critic_steps` RMSprop steps against the current generator on training images, from the same
        initial weights and the same draws at every evaluation, so its EM estimate depends on the generator alone.

        It checks the paper's measure where the counting rule cannot: a training critic lagging behind the
        generator between bursts under-estimates, and a clipped critic whose ReLUs all die reads 0 for good,
        while this critic's estimate depends on the generator alone. Training a new critic for the measurement
        follows Im et al., "Quantitatively evaluating GANs with divergences proposed for training" (ICLR 2018).
        """
        hp, n = self.hp, self.config.batch_size
        with torch.random.fork_rng(devices=[]):  # a fixed initialization that leaves the run's RNG alone
            torch.manual_seed(self.ctx.seed + 3)
            critic = MLPCritic(hp["hidden"], hp["image_size"]).to(self.device)
        critic.clip_weights(hp["clip"])
        opt = torch.optim.RMSprop(critic.parameters(), lr=hp["eval_critic_lr"])
        draw = torch.Generator(self.device).manual_seed(self.ctx.seed + 4)
        with torch.enable_grad():
            for _ in range(hp["eval_critic_steps"]):
                pick = torch.randint(len(self.eval_critic_images), (n,), device=self.device, generator=draw)
                real = self.eval_critic_images[pick]
                with torch.no_grad():
                    fake = self.generator(self._noise(n, draw))
                opt.zero_grad(set_to_none=True)
                (-em_estimate(critic, real, fake)).backward()
                opt.step()
                critic.clip_weights(hp["clip"])
        return critic

    def training_estimate(self) -> float:
        """The training critic's EM estimate between the held-out images and the fixed evaluation noise's
        samples: the quality, and what bursts measure."""
        with torch.no_grad():
            return float(em_estimate(self.critic, self.heldout, self.generator(self.eval_noise)))

    def _quality(self, fake: torch.Tensor) -> Quality:
        """The training critic's EM estimate between the held-out real images and `fake` (the paper's
        measure); in extra, a freshly trained evaluation critic's estimate and critic-free sample checks."""
        critic = self._evaluation_critic()
        with torch.no_grad():
            n = min(len(fake), len(self.heldout))
            extra = {"em_evaluation_critic": float(em_estimate(critic, self.heldout, fake)),
                     "em_pixels_exact": pixel_em_distance(fake[:n], self.heldout[:n]),
                     "nn_rmse_fake_to_real": nearest_neighbour_rmse(fake, self.heldout),
                     "nn_rmse_real_to_fake": nearest_neighbour_rmse(self.heldout, fake),
                     "generator_iterations": float(self.generator_iterations),
                     "target_counts": float(self.target_counts())}
            if self.peak_estimate is not None:
                extra["peak_estimate"] = self.peak_estimate
            em = float(em_estimate(self.critic, self.heldout, fake))
        return Quality(value=em, extra=extra, samples=len(self.heldout), counts=self.target_counts())

    def evaluate(self) -> Quality:
        with torch.no_grad():
            return self._quality(self.generator(self.eval_noise))

    # ----- inference --------------------------------------------------------------------------------
    def inference_samples(self) -> Sequence[torch.Tensor]:
        """Query samples are noise vectors, drawn from their own seeded generator."""
        draw = torch.Generator().manual_seed(self.ctx.seed + 2)
        return list(torch.randn(self.config.inference_samples, self.hp["noise_dim"], generator=draw))

    def query_count(self) -> int:
        return len(self.eval_noise)

    def load_query(self, index: int) -> torch.Tensor:
        """The evaluation's noise vector `index`: LoadGen serves the noise evaluate() generates from (one per
        held-out image), so the served quality is the evaluation's; the inference samples' own noise is drawn apart
        and, noise being noise, they are not its first queries."""
        return self.eval_noise[index].cpu()

    def infer(self, samples: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        with torch.no_grad():
            images = self.generator(torch.stack(list(samples)).to(self.device))
        return list(images.cpu())

    def score(self, indices: Sequence[int], outputs: Sequence[torch.Tensor]) -> Quality:
        return self._quality(torch.stack(list(outputs)).to(self.device))

    # ----- characterization -------------------------------------------------------------------------
    def example_batch(self) -> torch.Tensor:
        return self.heldout[: self.config.batch_size]

    def example_samples(self) -> int:
        return len(self.example_batch())

    def training_example(self) -> Callable[[], Any]:
        """One critic step's and one generator step's forward+backward (no optimizer steps)."""
        real = self.example_batch()

        def run() -> None:
            noise_state = self.noise_gen.get_state()  # counting FLOPs must not change the run's noise
            self._critic_loss(real).backward()
            self.critic.requires_grad_(False)
            self._generator_loss(len(real)).backward()
            self.critic.requires_grad_(True)
            self.noise_gen.set_state(noise_state)

        return run

    def describe(self) -> dict[str, Any]:
        return {"generator_iterations": self.generator_iterations, "peak_estimate": self.peak_estimate,
                "critic_trained_at_generator_iteration": self.critic_trained_at}

    @classmethod
    def reference_models(cls, config: ScaleConfig) -> dict[str, nn.Module]:
        hp = config.hparams
        return {"generator": MLPGenerator(hp["noise_dim"], hp["hidden"], hp["image_size"]),
                "critic": MLPCritic(hp["hidden"], hp["image_size"])}


BENCHMARK = WassersteinGAN

"""DC-AI-C4: Show and Tell on MSCOCO 2014; per-word perplexity of held-out reference captions.

Every (image, caption) pair of the train split is one training sample, shuffled every epoch. At small and full
the CNN starts from torchvision's ImageNet Inception-v3 weights (`--pretrained C4=PATH`) and, as im2txt, is frozen
for the first `freeze_epochs` (phase `cnn_frozen`: no gradient, batch norm in inference mode), then fine-tuned with
everything else at `fine_tune_lr` (phase `cnn_trained`). Evaluation runs
the CNN once per held-out image and scores all its reference captions teacher-forced (perplexity over their
words and end words), then captions each image greedily for BLEU-4 against its references.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset
from torchmetrics.text import Perplexity

from aibench.benchmarks.base import Benchmark, Quality, selected_rows_first
from aibench.benchmarks.c04_image_to_text import SPEC
from aibench.benchmarks.c04_image_to_text.data import (
    BOS_ID, EOS_ID, PAD_ID, Vocab, bleu4, load_image, normalize, synthesize_coco, tokenize, unigram_perplexity)
from aibench.benchmarks.c04_image_to_text.model import MIN_IMAGE_SIZE, ShowAndTell
from aibench.datasets.coco_captions import SPLITS, CaptionedImage, annotation_path, read_captions
from aibench.errors import UserError
from aibench.spec import ScaleConfig

_OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}


class CaptionedImages(Dataset):
    """(uint8 image, its captions' ids) per training image; images decoded on demand or held in memory."""

    def __init__(self, items: list[CaptionedImage], captions: list[list[list[int]]], size: int,
                 preload: bool) -> None:
        self.items, self.captions, self.size = items, captions, size
        self.images = torch.stack([load_image(i.path, size) for i in items]) if preload else None
        self.pairs = sum(len(c) for c in captions)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, list[list[int]]]:
        image = self.images[index] if self.images is not None else load_image(self.items[index].path, self.size)
        return image, self.captions[index]


@dataclass
class TrainBatch:
    images: torch.Tensor  # uint8 (images, 3, H, W)
    owners: torch.Tensor  # (captions,): the image of each caption
    captions_in: torch.Tensor  # <s> w1 .. wn, padded
    captions_out: torch.Tensor  # w1 .. wn </s>, padded

    def to(self, device: torch.device) -> TrainBatch:
        return TrainBatch(*(t.to(device) for t in (self.images, self.owners, self.captions_in, self.captions_out)))


def pad_captions(captions: Sequence[list[int]], prefix: int | None = None, suffix: int | None = None
                 ) -> torch.Tensor:
    rows = [([prefix] if prefix is not None else []) + list(c) + ([suffix] if suffix is not None else [])
            for c in captions]
    out = torch.full((len(rows), max(len(r) for r in rows)), PAD_ID, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, :len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def collate(rows: list[tuple[torch.Tensor, list[list[int]]]]) -> TrainBatch:
    """Images with every caption of each as one (image, caption) training pair."""
    owners = torch.tensor([i for i, (_, captions) in enumerate(rows) for _ in captions])
    captions = [c for _, image_captions in rows for c in image_captions]
    return TrainBatch(torch.stack([image for image, _ in rows]), owners, pad_captions(captions, prefix=BOS_ID),
                      pad_captions(captions, suffix=EOS_ID))


def image_batches(order: np.ndarray, captions_per_image: float, pairs_per_batch: int) -> list[list[int]]:
    """Images grouped so a batch holds about `pairs_per_batch` (image, caption) pairs.

    All captions of an image share one CNN pass: the same pairs and gradient as a batch of separate pairs, at a
    fifth of COCO's CNN cost.
    """
    per_batch = max(2, round(pairs_per_batch / captions_per_image))
    batches = [order[i:i + per_batch].tolist() for i in range(0, len(order), per_batch)]
    if len(batches) > 1 and len(batches[-1]) == 1:  # batch norm needs two images: join a lone last one
        batches[-2] += batches.pop()
    return batches


@dataclass(frozen=True)
class CaptionQuery:
    """An inference query: one image, and its reference captions (for the perplexity)."""

    image: torch.Tensor  # uint8 (3, H, W)
    references: tuple[list[int], ...]


class ImageToText(Benchmark):
    SPEC = SPEC

    # ----- data -------------------------------------------------------------------------------------
    @classmethod
    def synthesize(cls, data_dir: Path, config: ScaleConfig, seed: int) -> None:
        hp = config.hparams
        synthesize_coco(Path(data_dir), seed, hp["synth_images"], hp["synth_image_size"] or hp["image_size"],
                        hp["synth_one_shape"], hp["synth_vocab"], hp["synth_word_repeats"])

    @classmethod
    def check_data(cls, data_dir: Path, config: ScaleConfig) -> dict[str, Any]:
        """Both caption files valid and every captioned image's file present."""
        hp = config.hparams
        limits = {"train": hp["max_train_images"], hp["eval_split"]: hp["eval_images"]}
        items = {split: read_captions(data_dir, split, limit=limits.get(split)) for split in SPLITS}
        return {**{f"{s}_images": len(v) for s, v in items.items()},
                **{f"{s}_captions": sum(len(i.captions) for i in v) for s, v in items.items()}}

    # ----- setup ------------------------------------------------------------------------------------
    @staticmethod
    def build_model(hp: dict[str, Any], vocab_size: int, blind: bool = False) -> ShowAndTell:
        if hp["image_size"] < MIN_IMAGE_SIZE[hp["encoder"]]:
            raise UserError(f"C4: image_size {hp['image_size']} is below {hp['encoder']}'s smallest input, "
                            f"{MIN_IMAGE_SIZE[hp['encoder']]}")
        return ShowAndTell(vocab_size, hp["embedding"], hp["hidden"], hp["dropout"], hp["init_scale"],
                           hp["encoder_divisor"], hp["encoder"], blind=blind)

    @classmethod
    def reference_models(cls, config: ScaleConfig) -> dict[str, nn.Module]:
        """The captioner with im2txt's 12,000-row softmax (the spec's COCO_VOCAB)."""
        if config.hparams["vocab_size"] is None:
            raise NotImplementedError("C4 sizes its vocabulary from the data at this scale")
        return {"model": cls.build_model(config.hparams, config.hparams["vocab_size"])}

    VOCAB_FILE = "vocab.json"

    def prepare_artefacts(self) -> None:
        """The word vocabulary (it fixes the embedding's and the softmax's rows), as im2txt's
        build_mscoco_data.py writes its word_counts.txt before training: built from the training captions once
        per caption file and setting, then loaded."""
        hp = self.hp
        rows = hp["vocab_size"]
        settings = {"min_word_count": hp["min_word_count"], "max_words": None if rows is None else rows - 4,
                    "max_train_images": hp["max_train_images"], "tokenizer": "lower-case [a-z0-9]+"}

        def build(folder: Path) -> None:
            train = read_captions(self.ctx.data_dir, "train", check_files=False, limit=hp["max_train_images"])
            Vocab.build((c for item in train for c in item.captions), settings["min_word_count"],
                        settings["max_words"]).save(folder / self.VOCAB_FILE)

        folder = self.artefact("vocab", settings, [annotation_path(self.ctx.data_dir, "train")], build)
        self.vocab = Vocab.load(folder / self.VOCAB_FILE)

    def _warn_if_capped(self) -> None:
        """More training words seen min_word_count times than the softmax's rows (less its 4 specials) hold."""
        vocab, rows = self.vocab, self.hp["vocab_size"]
        if vocab.seen > len(vocab) - 4:
            self.warn(f"COCO captions: {vocab.seen} training words are seen at least {self.hp['min_word_count']} "
                      f"times; the {rows}-row softmax keeps the {len(vocab) - 4} most frequent")

    def _read_eval(self) -> list[CaptionedImage]:
        hp = self.hp
        items = read_captions(self.ctx.data_dir, hp["eval_split"], limit=hp["eval_images"])
        if hp["eval_images"] and len(items) < hp["eval_images"] and not self.ctx.smoke:
            self.warn(f"COCO {hp['eval_split']}2014: {len(items)} captioned images, fewer than the "
                      f"{hp['eval_images']} the reference evaluates on; scoring all of them")
        return list(self.limit_eval(items))

    def _load_pretrained(self) -> None:
        """torchvision's Inception-v3 weights into the CNN (its classifier and aux heads are not ours)."""
        state = self.pretrained_state()
        if state is None:
            self.pretrained_missing: list[str] | None = None
            return
        from aibench.harness.pretrained import load_matching

        self.pretrained_missing = load_matching(self.model.encoder, state, self.ctx.pretrained,
                                                skip_prefixes=("fc.", "AuxLogits."))
        if self.pretrained_missing:
            self.warn(f"{self.ctx.pretrained}: {len(self.pretrained_missing)} CNN tensors kept random "
                      f"({', '.join(self.pretrained_missing[:3])} ...)")

    def _optimizer(self) -> torch.optim.Optimizer:
        """Three groups, so each phase sets its own rates: the CNN, W_I and the language side."""
        hp = self.hp
        cnn = list(self.model.encoder.parameters())
        w_i = list(self.model.image_embedding.parameters())
        rest = [p for name, p in self.model.named_parameters()
                if not name.startswith(("encoder.", "image_embedding."))]
        groups = [{"params": cnn, "weight_decay": hp["cnn_weight_decay"]}, {"params": w_i}, {"params": rest}]
        return _OPTIMIZERS[hp["optimizer"]]([{**g, "lr": hp["lr"]} for g in groups])

    def initialize(self) -> None:
        """Untimed: load (or build) the vocabulary artefact, build the captioner at its size, load the pretrained
        CNN and set up the first phase's optimizer. No caption is encoded and no image decoded."""
        hp = self.hp
        self.prepare_artefacts()
        self._warn_if_capped()
        # the control (`--controls`): the same captioner never shown the image, a language model of the captions
        self.model = self.build_model(hp, hp["vocab_size"] or len(self.vocab), blind=self.ctx.control)
        self._load_pretrained()
        self.model.to(self.device)
        self.optimizer = self._optimizer()
        self.cnn_frozen = False
        self._enter_phase(0)

    def prepare_data(self) -> None:
        """Timed: read both splits' captions, encode them with the vocabulary, preload the images where the
        scale does, and fit the unigram baseline to the encoded training captions."""
        hp = self.hp
        train = read_captions(self.ctx.data_dir, "train", limit=hp["max_train_images"])
        self.eval_items = self._read_eval()
        captions = [[self.vocab.encode(c) for c in item.captions] for item in train]
        self.train_set = CaptionedImages(train, captions, hp["image_size"], hp["preload"])
        self.eval_references = [[self.vocab.encode(c) for c in item.captions] for item in self.eval_items]
        self.eval_images = (torch.stack([load_image(i.path, hp["image_size"]) for i in self.eval_items])
                            if hp["preload"] else None)
        self.unigram = unigram_perplexity([c for cs in captions for c in cs],
                                          [c for refs in self.eval_references for c in refs], len(self.vocab))
        rng = np.random.default_rng([self.ctx.seed, 0])
        count = min(self.config.inference_samples, len(self.eval_items))
        self.query_rows = np.sort(rng.choice(len(self.eval_items), count, replace=False))
        self.query_order = selected_rows_first(self.query_rows, len(self.eval_items))  # LoadGen's whole split

    def models(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    # ----- training ---------------------------------------------------------------------------------
    def train_samples(self) -> int:
        return self.train_set.pairs

    def phase(self, epoch: int) -> str:
        """im2txt's two phases: the ImageNet CNN frozen, then trained with the rest."""
        return "cnn_frozen" if epoch < self.hp["freeze_epochs"] else "cnn_trained"

    def _learning_rates(self, epoch: int) -> tuple[float, float, float]:
        """Rates of the CNN, W_I and the language side in an epoch.

        Frozen phase: the CNN still, the rest at lr with the paper's step decay. Fine-tuning (im2txt's
        --train_inception): everything at the constant fine_tune_lr. Without one (tiny, from scratch): the CNN
        and W_I at encoder_lr, the rest at lr, both step-decayed.
        """
        hp = self.hp
        decay = hp["lr_decay"] ** (epoch // hp["lr_decay_epochs"])
        if self.phase(epoch) == "cnn_frozen":
            return 0.0, hp["lr"] * decay, hp["lr"] * decay
        if hp["fine_tune_lr"] is not None:
            return (hp["fine_tune_lr"],) * 3
        cnn = (hp["encoder_lr"] or hp["lr"]) * decay
        return cnn, cnn, hp["lr"] * decay

    def _enter_phase(self, epoch: int) -> None:
        for group, lr in zip(self.optimizer.param_groups, self._learning_rates(epoch)):
            group["lr"] = lr
        self.cnn_frozen = self.phase(epoch) == "cnn_frozen"
        self.train_mode(self.model.training)

    def train_mode(self, training: bool) -> None:
        """A frozen CNN keeps its batch norm in inference mode (im2txt: is_training only with train_inception)."""
        super().train_mode(training)
        if training and self.cnn_frozen:
            self.model.encoder.eval()

    def train_batches(self, epoch: int) -> Iterator[TrainBatch]:
        hp = self.hp
        self._enter_phase(epoch)
        order = np.random.default_rng([self.ctx.seed, 1, epoch]).permutation(len(self.train_set))
        batches = image_batches(order, self.train_set.pairs / len(self.train_set), self.config.batch_size)
        loader = DataLoader(self.train_set, batch_sampler=batches, collate_fn=collate,
                            num_workers=hp["loader_workers"])
        for batch in loader:
            yield batch.to(self.device)

    def compute_loss(self, batch: TrainBatch) -> tuple[torch.Tensor, int]:
        """Mean negative log-likelihood per caption word (and </s>), teacher forced."""
        embedded = self.model.embed_images(normalize(batch.images), frozen_cnn=self.cnn_frozen)
        logits = self.model.describe(embedded[batch.owners], batch.captions_in)
        loss = F.cross_entropy(logits.flatten(0, 1), batch.captions_out.flatten(), ignore_index=PAD_ID)
        return loss, len(batch.owners)

    def max_grad_norm(self) -> float:
        return self.hp["clip_norm"]  # the paper's gradient clipping

    # ----- quality ----------------------------------------------------------------------------------
    def _eval_image(self, index: int) -> torch.Tensor:
        if self.eval_images is not None:
            return self.eval_images[index]
        return load_image(self.eval_items[index].path, self.hp["image_size"])

    def _teacher_forced(self, embedded: torch.Tensor, references: Sequence[Sequence[list[int]]]
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits and targets of every reference caption (one row each), and the image each row belongs to."""
        owners = torch.tensor([i for i, refs in enumerate(references) for _ in refs], device=self.device)
        flat = [c for refs in references for c in refs]
        logits = self.model.describe(embedded[owners], pad_captions(flat, prefix=BOS_ID).to(self.device))
        return logits, pad_captions(flat, suffix=EOS_ID).to(self.device), owners

    def _captions(self, embedded: torch.Tensor) -> list[str]:
        captions = self.model.caption(embedded, self.hp["max_caption"], words=len(self.vocab))
        return [self.vocab.decode(ids) for ids in captions]

    def _reference_texts(self, index: int) -> list[str]:
        """An image's references as the captioner writes: lower-case words without punctuation."""
        return [" ".join(tokenize(c)) for c in self.eval_items[index].captions]

    def evaluate(self) -> Quality:
        perplexity = Perplexity(ignore_index=PAD_ID).to(self.device)
        hypotheses: list[str] = []
        for start in range(0, len(self.eval_items), self.hp["eval_batch"]):
            rows = range(start, min(start + self.hp["eval_batch"], len(self.eval_items)))
            images = torch.stack([self._eval_image(i) for i in rows]).to(self.device)
            embedded = self.model.embed_images(normalize(images))
            logits, targets, _ = self._teacher_forced(embedded, [self.eval_references[i] for i in rows])
            perplexity.update(logits, targets)
            hypotheses += self._captions(embedded)
        references = [self._reference_texts(i) for i in range(len(self.eval_items))]
        return Quality(float(perplexity.compute()), {"bleu4": bleu4(hypotheses, references),
                                                     "unigram_perplexity": self.unigram}, samples=len(self.eval_items))

    # ----- inference --------------------------------------------------------------------------------
    def inference_samples(self) -> Sequence[CaptionQuery]:
        return [CaptionQuery(self._eval_image(r), tuple(self.eval_references[r])) for r in self.query_rows]

    def query_count(self) -> int:
        return len(self.query_order)

    def load_query(self, index: int) -> CaptionQuery:
        row = self.query_order[index]  # the image decoded now, unless the scale preloads the split
        return CaptionQuery(self._eval_image(row), tuple(self.eval_references[row]))

    def infer(self, samples: Sequence[CaptionQuery]) -> list[dict[str, Any]]:
        """Per query: its greedy caption, and the summed NLL and word count of its reference captions."""
        embedded = self.model.embed_images(normalize(torch.stack([s.image for s in samples]).to(self.device)))
        logits, targets, owners = self._teacher_forced(embedded, [s.references for s in samples])
        nll = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=PAD_ID, reduction="none").sum(dim=1)
        words = (targets != PAD_ID).sum(dim=1).float()
        per_image = torch.zeros(len(samples), device=self.device).index_add_(0, owners, nll).tolist()
        counts = torch.zeros(len(samples), device=self.device).index_add_(0, owners, words).tolist()
        return [{"caption": c, "nll": n, "words": int(w)}
                for c, n, w in zip(self._captions(embedded), per_image, counts)]

    def score(self, indices: Sequence[int], outputs: Sequence[dict[str, Any]]) -> Quality:
        """Perplexity over all reference words of the answered queries, and BLEU-4 of their captions."""
        nll = sum(o["nll"] for o in outputs) / max(1, sum(o["words"] for o in outputs))
        references = [self._reference_texts(self.query_order[i]) for i in indices]
        return Quality(float(np.exp(nll)), {"bleu4": bleu4([o["caption"] for o in outputs], references)},
                       samples=len(outputs))

    # ----- characterization -------------------------------------------------------------------------
    def example_batch(self) -> TrainBatch:
        order = np.arange(len(self.train_set))
        rows = image_batches(order, self.train_set.pairs / len(self.train_set), self.config.batch_size)[0]
        return collate([self.train_set[i] for i in rows]).to(self.device)

    def example_samples(self) -> int:
        return len(self.example_batch().owners)

    def describe(self) -> dict[str, Any]:
        """The model's facts, and the data's once prepare_data() has run (a run stopped before has none)."""
        divisor, encoder = self.hp["encoder_divisor"], self.hp["encoder"]
        facts = {"vocab_words": len(self.vocab), "softmax_rows": self.model.output.out_features,
                 "eval_split": self.hp["eval_split"],
                 "encoder": f"torchvision {encoder}" + (f", channels / {divisor}" if divisor != 1 else ""),
                 "pretrained_tensors_missing": self.pretrained_missing, "decoding": "greedy"}
        if hasattr(self, "train_set"):
            facts.update(train_images=len(self.train_set.items), train_pairs=self.train_set.pairs,
                         eval_images=len(self.eval_items), unigram_perplexity=self.unigram)
        return facts


BENCHMARK = ImageToText

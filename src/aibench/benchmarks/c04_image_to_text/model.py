"""Neural Image Caption, "Show and Tell" (Vinyals et al. 2015; the authors' im2txt release), with greedy decoding.

Structural parts (paper §3, im2txt's show_and_tell_model.py):
- image encoder: Inception-v3 (im2txt's CNN), here torchvision's `Inception3` so its ImageNet weights file loads,
  without the auxiliary and 1000-way classifier heads: its 2048 pooled features (after Mixed_7c) are mapped by a
  linear layer W_I (with bias, as im2txt's image_embedding) into the word-embedding space. Tiny uses the
  family's first member, GoogLeNet (Inception-v1, 1024 pooled features), which learns from scratch at 32 x 32;
- the image embedding is the LSTM's input at t = -1 only (x_{-1} = CNN(I)); words enter as embeddings W_e S_t
  from the start word S_0 = <s> on;
- one LSTM layer, its forget gate's bias starting at 1 (as im2txt, by TensorFlow's BasicLSTMCell), so the image,
  seen once, is not forgotten before the LSTM learns to keep it; dropout on its outputs; a softmax layer over
  the vocabulary predicts S_{t+1} from m_t;
- training by the sum of -log p_t(S_t) over the words and the end word </s> under teacher forcing;
- inference by sampling the most likely word step by step (greedy), up to </s>.

With `blind=True` (the benchmark's control) the image is never read: x_{-1} is all zeros and the CNN and W_I,
though built (so the optimizer's groups, the pretrained loading and the phases stay the method's), never run, so
the LSTM is a language model of the captions alone.
"""

from __future__ import annotations

import contextlib
import functools

import torch
from torch import nn
from torchvision.models import googlenet
from torchvision.models.inception import (
    BasicConv2d, Inception3, InceptionA, InceptionAux, InceptionB, InceptionC, InceptionD, InceptionE)

from aibench.benchmarks.c04_image_to_text.data import BOS_ID, EOS_ID, PAD_ID, UNK_ID

FEATURES = {"inception_v3": 2048, "googlenet": 1024}  # channels of the pooled last inception block
MIN_IMAGE_SIZE = {"inception_v3": 75, "googlenet": 32}  # the smallest input the strides take without error


class NarrowConv(BasicConv2d):
    """torchvision's conv + batch norm + ReLU with every channel count divided by `divisor` (RGB input kept)."""

    def __init__(self, in_channels: int, out_channels: int, divisor: int = 1, **kwargs: object) -> None:
        super().__init__(in_channels if in_channels == 3 else in_channels // divisor, out_channels // divisor,
                         **kwargs)


def inception_v3_features(divisor: int = 1) -> nn.Module:
    """Inception-v3 up to its pooled features (fc and dropout are identities), torchvision's parameter names.

    `divisor` 1 is torchvision's `inception_v3` architecture exactly, so its IMAGENET1K_V1 state dict loads;
    `transform_input` re-normalizes ImageNet-normalized input to the [-1, 1] range Google's weights expect, as
    torchvision's pretrained model does. Every Inception-v3 channel count divides by 4 and 8.
    """
    blocks = None
    if divisor != 1:
        conv = functools.partial(NarrowConv, divisor=divisor)
        blocks = [conv] + [functools.partial(block, conv_block=conv) for block in
                           (InceptionA, InceptionB, InceptionC, InceptionD, InceptionE, InceptionAux)]
    cnn = Inception3(aux_logits=False, transform_input=True, init_weights=True, inception_blocks=blocks)
    cnn.dropout = nn.Identity()  # dropout on the caption side instead, as in the paper
    cnn.fc = nn.Identity()  # W_I lives in ShowAndTell.image_embedding
    return cnn


def googlenet_features() -> nn.Module:
    """torchvision's GoogLeNet without auxiliary heads, up to its pooled features (fc and dropout identities)."""
    cnn = googlenet(weights=None, aux_logits=False, init_weights=True, transform_input=False)
    cnn.dropout = nn.Identity()
    cnn.fc = nn.Identity()
    return cnn


class ShowAndTell(nn.Module):
    def __init__(self, vocab_size: int, embedding: int, hidden: int, dropout: float,
                 init_scale: float, encoder_divisor: int = 1, encoder: str = "inception_v3",
                 blind: bool = False) -> None:
        super().__init__()
        self.blind = blind
        self.encoder = inception_v3_features(encoder_divisor) if encoder == "inception_v3" else googlenet_features()
        self.image_embedding = nn.Linear(FEATURES[encoder] // encoder_divisor, embedding)  # W_I
        self.embedding = nn.Embedding(vocab_size, embedding, padding_idx=PAD_ID)
        self.lstm = nn.LSTM(embedding, hidden, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden, vocab_size)
        for module in (self.image_embedding, self.embedding, self.lstm, self.output):
            for weight in module.parameters():  # the paper's initialization of everything outside the CNN
                nn.init.uniform_(weight, -init_scale, init_scale)
        with torch.no_grad():  # PyTorch orders the gates input, forget, cell, output
            self.lstm.bias_hh_l0[hidden:2 * hidden] += 1.0

    def embed_images(self, images: torch.Tensor, frozen_cnn: bool = False) -> torch.Tensor:
        """x_{-1} = W_I CNN(I). A frozen CNN runs without recording gradients (im2txt's first phase). Blind: zeros,
        the same for every image (the CNN is not run)."""
        if self.blind:
            return images.new_zeros(images.size(0), self.image_embedding.out_features)
        with torch.no_grad() if frozen_cnn else contextlib.nullcontext():
            features = self.encoder(images)
        return self.image_embedding(features)

    def forward(self, images: torch.Tensor, captions_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (batch, caption length, vocab): image first, then <s> w1 ... wn."""
        return self.describe(self.embed_images(images), captions_in)

    def describe(self, image_embeddings: torch.Tensor, captions_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits from image embeddings (one row per caption)."""
        steps = torch.cat([image_embeddings[:, None], self.embedding(captions_in)], dim=1)
        states, _ = self.lstm(steps)
        return self.output(self.dropout(states[:, 1:]))  # the output at the image step predicts nothing

    @torch.no_grad()
    def caption(self, image_embeddings: torch.Tensor, max_length: int, words: int | None = None
                ) -> list[list[int]]:
        """Greedy captions (word ids, without <s>/</s>) from image embeddings.

        `words`: ids at or above it are output rows no vocabulary word fills (im2txt sizes the softmax above
        the real vocabulary), never chosen.
        """
        _, state = self.lstm(image_embeddings[:, None])
        word = torch.full((image_embeddings.size(0),), BOS_ID, dtype=torch.long, device=image_embeddings.device)
        done = torch.zeros_like(word, dtype=torch.bool)
        chosen = []
        for _ in range(max_length):
            states, state = self.lstm(self.embedding(word)[:, None], state)
            logits = self.output(states[:, 0])
            logits[:, [PAD_ID, BOS_ID, UNK_ID]] = float("-inf")
            if words is not None:
                logits[:, words:] = float("-inf")
            word = logits.argmax(dim=-1).masked_fill(done, PAD_ID)
            chosen.append(word)
            done |= word == EOS_ID
            if bool(done.all()):
                break
        out = []
        for row in torch.stack(chosen, dim=1).tolist():
            row = row[:row.index(EOS_ID)] if EOS_ID in row else row
            out.append([w for w in row if w != PAD_ID])
        return out

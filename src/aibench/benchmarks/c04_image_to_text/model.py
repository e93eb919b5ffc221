"""Neural Image Caption, "Show and Tell" (Vinyals et al. 2015), with greedy decoding.

Structural parts (paper §3):
- image encoder: a deep CNN (torchvision's GoogLeNet, the Inception network the paper names; its classifier is
  replaced), whose pooled features are mapped by a linear layer W_I into the word-embedding space;
- the image embedding is the LSTM's input at t = -1 only (x_{-1} = CNN(I)); words enter as embeddings W_e S_t
  from the start word S_0 = <s> on;
- one LSTM layer, its forget gate's bias starting at 1 (as the authors' im2txt release, by TensorFlow's
  BasicLSTMCell), so the image, seen once, is not forgotten before the LSTM learns to keep it; dropout on its
  outputs; a softmax layer over the vocabulary predicts S_{t+1} from m_t;
- training by the sum of -log p_t(S_t) over the words and the end word </s> under teacher forcing;
- inference by sampling the most likely word step by step (greedy), up to </s>.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import googlenet

from aibench.benchmarks.c04_image_to_text.data import BOS_ID, EOS_ID, PAD_ID, UNK_ID


def image_encoder(embedding: int, checkpoint: str | None) -> nn.Module:
    """GoogLeNet without auxiliary heads, its 1000-way classifier replaced by W_I (1024 -> embedding).

    `checkpoint` is an optional file of ImageNet weights (torchvision's googlenet state dict): the paper starts
    from an ImageNet-trained CNN, but nothing is downloaded at run time.
    """
    cnn = googlenet(weights=None, aux_logits=False, init_weights=True, transform_input=False)
    if checkpoint:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        cnn.load_state_dict({k: v for k, v in state.items() if not k.startswith("aux")}, strict=False)
    cnn.dropout = nn.Identity()  # dropout on the caption side instead, as in the paper
    cnn.fc = nn.Linear(1024, embedding)
    return cnn


class ShowAndTell(nn.Module):
    def __init__(self, vocab_size: int, embedding: int, hidden: int, dropout: float,
                 init_scale: float, encoder_checkpoint: str | None = None) -> None:
        super().__init__()
        self.encoder = image_encoder(embedding, encoder_checkpoint)
        self.embedding = nn.Embedding(vocab_size, embedding, padding_idx=PAD_ID)
        self.lstm = nn.LSTM(embedding, hidden, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden, vocab_size)
        for module in (self.encoder.fc, self.embedding, self.lstm, self.output):
            for weight in module.parameters():  # the paper's initialization of everything outside the CNN
                nn.init.uniform_(weight, -init_scale, init_scale)
        with torch.no_grad():  # PyTorch orders the gates input, forget, cell, output
            self.lstm.bias_hh_l0[hidden:2 * hidden] += 1.0

    def forward(self, images: torch.Tensor, captions_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (batch, caption length, vocab): image first, then <s> w1 ... wn."""
        return self.describe(self.encoder(images), captions_in)

    def describe(self, image_embeddings: torch.Tensor, captions_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits from image embeddings (one row per caption)."""
        steps = torch.cat([image_embeddings[:, None], self.embedding(captions_in)], dim=1)
        states, _ = self.lstm(steps)
        return self.output(self.dropout(states[:, 1:]))  # the output at the image step predicts nothing

    @torch.no_grad()
    def caption(self, image_embeddings: torch.Tensor, max_length: int) -> list[list[int]]:
        """Greedy captions (word ids, without <s>/</s>) from image embeddings (the encoder's output)."""
        _, state = self.lstm(image_embeddings[:, None])
        word = torch.full((image_embeddings.size(0),), BOS_ID, dtype=torch.long, device=image_embeddings.device)
        done = torch.zeros_like(word, dtype=torch.bool)
        words = []
        for _ in range(max_length):
            states, state = self.lstm(self.embedding(word)[:, None], state)
            logits = self.output(states[:, 0])
            logits[:, [PAD_ID, BOS_ID, UNK_ID]] = float("-inf")
            word = logits.argmax(dim=-1).masked_fill(done, PAD_ID)
            words.append(word)
            done |= word == EOS_ID
            if bool(done.all()):
                break
        out = []
        for row in torch.stack(words, dim=1).tolist():
            row = row[:row.index(EOS_ID)] if EOS_ID in row else row
            out.append([w for w in row if w != PAD_ID])
        return out

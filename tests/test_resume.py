"""Training checkpoints capture what decides the next step and load back weights-only."""

import random

import numpy as np
import pytest
import torch

from aibench.errors import UserError
from aibench.harness import resume


class Bench:
    def __init__(self):
        torch.manual_seed(0)
        self.model = torch.nn.Linear(2, 2)
        self.optimizer = torch.optim.Adam(self.model.parameters())
        self.generator = torch.Generator().manual_seed(3)
        self.np_rng = np.random.default_rng(5)
        self.py_rng = random.Random(7)
        self.iterations = 0

    def extra_training_state(self):
        return None

    def load_extra_training_state(self, state):
        pass


def _draws(bench):
    return (np.random.rand(), random.random(), torch.rand(1).item(), bench.np_rng.random(), bench.py_rng.random(),
            torch.rand(1, generator=bench.generator).item())


def test_a_restored_checkpoint_continues_every_random_stream_and_counter(tmp_path):
    bench = Bench()
    bench.model(torch.ones(1, 2)).sum().backward()
    bench.optimizer.step()
    bench.iterations = 4
    np.random.seed(11)
    random.seed(1)
    resume.save(tmp_path / "c.pt", bench, {"epochs_done": 1})
    expected, weights = _draws(bench), bench.model.weight.detach().clone()
    fresh = Bench()
    state = resume.load(tmp_path / "c.pt")  # weights-only: no pickled code
    resume.restore(fresh, state["benchmark"])
    assert _draws(fresh) == expected and fresh.iterations == 4
    assert torch.equal(fresh.model.weight, weights)
    assert fresh.optimizer.state_dict()["state"][0]["step"] == 1
    assert state["progress"] == {"epochs_done": 1}


def test_a_damaged_training_checkpoint_is_one_line(tmp_path):
    path = tmp_path / "c.pt"
    resume.save(path, Bench(), {})
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(UserError, match="not a training checkpoint"):
        resume.load(path)

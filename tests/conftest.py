import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # so tests can import the toy benchmark


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a test module (use: pytestmark = pytest.mark.usefixtures("one_torch_thread")).

    Tiny tensors gain nothing from a second thread, and on a busy 2-core machine two OpenMP threads wait on each
    other: every op can run up to 25x slower.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

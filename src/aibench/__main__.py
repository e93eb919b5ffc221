"""`python -m aibench ...` and `torchrun ... -m aibench run ...` (each training process runs the CLI)."""

import sys

from aibench.cli import main

sys.exit(main())

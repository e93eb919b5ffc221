"""Live progress for training runs (rich), kept apart from the measuring code."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class TrainProgress:
    """One bar per epoch: steps done, the running loss, and the last evaluation."""

    def __init__(self, label: str, max_epochs: int, console: Console | None = None) -> None:
        self.label, self.max_epochs = label, max_epochs
        self.progress = Progress(
            TextColumn("[bold]{task.fields[label]}"), TextColumn("{task.description}"), BarColumn(),
            MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[quality]}"),
            TimeElapsedColumn(), console=console, transient=False,
        )
        self.task: Any = None
        self.last_quality = ""

    def __enter__(self) -> TrainProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def epoch(self, epoch: int, phase: str) -> None:
        if self.task is not None:
            self.progress.update(self.task, visible=False)
        self.task = self.progress.add_task(f"{phase} epoch {epoch + 1}/{self.max_epochs}", total=None,
                                           label=self.label, loss="-", quality=self.last_quality)

    def step(self, out: Any) -> None:
        self.progress.update(self.task, advance=1, loss=f"{out.loss:.4f}")

    def eval(self, quality: Any) -> None:
        self.last_quality = f"quality {quality.value:.4f}"
        self.progress.update(self.task, quality=self.last_quality)

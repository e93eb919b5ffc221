"""Live progress for training and inference runs, kept apart from the measuring code.

At a terminal: a rich bar per epoch with batches done out of the epoch's total, the running loss, the last
evaluation beside the target, and an estimate of the time left. Anywhere else (nohup, SLURM, CI, a pipe) one
plain line per epoch and per inference scenario, flushed at once, so a log shows the run as it goes.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn
from rich.table import Column
from rich.text import Text


def batch_count(batches: Any) -> int | None:
    """How many batches an epoch's iterable holds, where it can say without being consumed (None otherwise)."""
    try:
        return len(batches)
    except TypeError:  # a generator, or a loader over an iterable data set
        return None


def duration(seconds: float) -> str:
    """A short human duration: 4.2 s, 3m05s, 2h10m."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class _RunElapsed(ProgressColumn):
    """The whole run's time so far (rich's own column counts each epoch's bar from zero)."""

    def __init__(self, owner: TrainProgress) -> None:
        super().__init__()
        self.owner = owner

    def render(self, task: Task) -> Text:
        return Text(duration(time.monotonic() - self.owner.started) if self.owner.started else "", style="dim")


WIDE_ENOUGH_FOR_BAR = 120  # columns: label, epoch, batches, loss, quality against target, times, and a bar


class TrainProgress:
    """Epochs, batches, loss, quality against the target and time left; a live bar or plain lines."""

    def __init__(self, label: str, max_epochs: int, console: Console | None = None, target: float | None = None,
                 metric: str = "quality", budget_s: float | None = None) -> None:
        self.label, self.max_epochs, self.target, self.metric, self.budget_s = label, max_epochs, target, metric, \
            budget_s
        self.console = console or Console(stderr=True)
        self.live = self.console.is_terminal
        # the bar and columns only where the line has room for them; narrower, one text that wraps, since rich
        # cuts each column's cell (`0.47…`) rather than move to a second line
        if self.console.width >= WIDE_ENOUGH_FOR_BAR:
            columns: list[ProgressColumn] = [
                TextColumn("[bold]{task.fields[label]}"), TextColumn("{task.description}"), BarColumn(bar_width=20),
                TextColumn("{task.fields[count]}"), TextColumn("loss {task.fields[loss]}"),
                TextColumn("{task.fields[quality]}"), _RunElapsed(self), TextColumn("{task.fields[left]}")]
        else:  # narrow: the time left says more than the time spent
            columns = [TextColumn("[bold]{task.fields[label]}[/bold] {task.description} {task.fields[count]} loss "
                                  "{task.fields[loss]} {task.fields[quality]} {task.fields[left]}",
                                  table_column=Column(no_wrap=False, overflow="fold", ratio=1))]
        self.progress = Progress(*columns, console=self.console, transient=False)
        self.task: Any = None
        self.started = 0.0
        self.epoch_times: list[float] = []
        self.steps_per_phase: dict[str, int] = {}  # counted in each phase's first epoch when the loader cannot say
        self._epoch: tuple[int, str] | None = None
        self._steps, self._total, self._loss = 0, None, None
        self._quality = ""
        self._epoch_started = 0.0
        self._line_due = False

    def __enter__(self) -> TrainProgress:
        self.started = time.monotonic()
        if self.live:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._end_epoch()
        if self.live:
            self.progress.stop()

    def epoch(self, epoch: int, phase: str, total: int | None = None) -> None:
        self._end_epoch()
        self._epoch, self._steps, self._loss = (epoch, phase), 0, None
        self._total = total if total is not None else self.steps_per_phase.get(phase)
        self._epoch_started, self._line_due = time.monotonic(), True
        if self.live:
            if self.task is not None:
                self.progress.update(self.task, visible=False)
            self.task = self.progress.add_task(self._title(), total=self._total, label=self.label, loss="-",
                                               quality=self._quality, count=self._count(), left=self._left())

    def step(self, out: Any) -> None:
        self._steps += 1
        self._loss = out.loss
        if self.live:
            self.progress.update(self.task, advance=1, loss=f"{out.loss:.4f}", count=self._count())

    def eval(self, quality: Any) -> None:
        self._quality = self.quality_text(quality.value)
        if self.live:
            self.progress.update(self.task, quality=self._quality)
        else:
            self._end_epoch()  # the epoch's line, now that its evaluation is known

    def quality_text(self, value: float) -> str:
        target = "" if self.target is None else f" (target {self.target:.4g})"
        return f"{self.metric} {value:.4g}{target}"

    def _title(self) -> str:
        epoch, phase = self._epoch or (0, "train")
        named = "" if phase == "train" else f"{phase} "  # only a benchmark with phases (teacher/student) names them
        return f"{named}epoch {epoch + 1}/{self.max_epochs}"

    def _count(self) -> str:
        return f"{self._steps}/{self._total}" if self._total else f"{self._steps} batches"

    def _left(self) -> str:
        """Time left if every epoch still to come takes the mean epoch's time, capped by the time budget; an upper
        bound, as the run stops early at its target."""
        if not self.epoch_times or self._epoch is None:
            return ""
        remaining = self.max_epochs - self._epoch[0] - (0 if self._line_due else 1)  # the current one, if running
        left = sum(self.epoch_times) / len(self.epoch_times) * max(0, remaining)
        if self.budget_s is not None:
            left = min(left, max(0.0, self.budget_s - (time.monotonic() - self.started)))
        return f"≤ {duration(left)} left"

    def _end_epoch(self) -> None:
        """Close the current epoch once: remember its time and batch count; print its line when not live."""
        if not self._line_due or self._epoch is None:
            return
        self._line_due = False
        took = time.monotonic() - self._epoch_started
        self.epoch_times.append(took)
        self.steps_per_phase.setdefault(self._epoch[1], self._steps)
        if self.live:
            self.progress.update(self.task, left=self._left())
            return
        loss = "-" if self._loss is None else f"{self._loss:.4g}"
        parts = [self.label, self._title().removeprefix("train "), f"loss {loss}"]
        if self._quality:
            parts.append(self._quality)
        parts.append(duration(took))
        left = self._left()
        if left and self._epoch[0] + 1 < self.max_epochs:
            parts.append(f"({left})")
        say(self.console, " ".join(parts))


class InferProgress:
    """One line per LoadGen scenario as it ends, and one for the accuracy pass."""

    def __init__(self, label: str, console: Console | None = None) -> None:
        self.label = label
        self.console = console or Console(stderr=True)

    def start(self, scenarios: list[str]) -> None:
        say(self.console, f"{self.label} infer: calibrating, then {', '.join(scenarios)} and an accuracy pass")

    def scenario(self, name: str, result: Any) -> None:
        if result.skipped:
            say(self.console, f"{self.label} infer {name}: skipped ({result.skipped})")
            return
        unit = "ms" if name in ("SingleStream", "MultiStream") else ("QPS" if name == "Server" else "samples/s")
        what = {"SingleStream": "p90", "MultiStream": "p99", "Server": "peak", "Offline": ""}[name]
        value = "-" if result.headline is None else _figure(result.headline)
        verdict = "VALID" if result.valid else ("INVALID" if result.valid is False else "not judged")
        took = "" if result.duration_s is None else f" {duration(result.duration_s)}"
        say(self.console, f"{self.label} infer {name}: {what + ' ' if what else ''}{value} {unit} {verdict}{took}")

    def accuracy(self, metric: str, value: float | None) -> None:
        shown = "-" if value is None else f"{value:.4g}"
        say(self.console, f"{self.label} infer accuracy pass: {metric} {shown}")


def _figure(value: float) -> str:
    """Four significant digits, no exponent: 0.8622, 5.504, 6681, 11781."""
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def say(console: Console, line: str) -> None:
    """One plain line, flushed at once (a log read while the run goes sees it)."""
    console.print(line, markup=False, highlight=False, soft_wrap=True)
    try:
        console.file.flush()
    except (AttributeError, ValueError):  # a closed or bufferless stream
        pass

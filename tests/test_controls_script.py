"""scripts/controls.py: the verdict of each row follows the stored record (no run here: the records are built)."""

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).parents[1] / "scripts" / "controls.py"
_spec = importlib.util.spec_from_file_location("controls_script", _PATH)
controls = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(controls)


def _record(method_status="success", **control):
    base = {"ablation": "the teacher", "status": "target_missed", "quality": 0.30, "margin": 0.20,
            "required_margin": 0.10, "method_wins": True}
    return {"status": method_status, "quality": 0.50, "target": 0.40, "metrics": {"control": {**base, **control}}}


@pytest.mark.parametrize(("record", "verdict"), [
    (_record(), "pass"),
    (_record(margin=0.05, method_wins=False), "FAIL"),
    (_record(method_status="target_missed"), "FAIL: the method's run ended target_missed"),
    (_record(status="success"), "FAIL: the control alone reaches the target"),
    (_record(status="diverged", quality=None, margin=None, method_wins=True), "control diverged"),
    # diverged after evaluations: its best quality is compared by the margin, like any other control
    (_record(status="diverged", margin=0.05, method_wins=False), "FAIL"),
    (_record(required_margin=None, method_wins=None), "no required margin in the spec"),
])
def test_verdicts(record, verdict):
    assert controls.row("C16", 0, record, 1.0, "")["verdict"] == verdict


def test_a_control_that_diverged_before_any_evaluation_passes():
    assert "control diverged" in controls.PASSING and "FAIL" not in controls.PASSING


def test_absent_controls_and_failed_runs():
    none = _record()
    none["metrics"]["control"] = {"ablation": None, "why_none": "no part to remove"}
    assert controls.row("C6", 0, none, 1.0, "")["verdict"] == "no control: no part to remove"
    assert controls.row("C16", 0, None, 1.0, "exit 2")["verdict"] == "error: exit 2"

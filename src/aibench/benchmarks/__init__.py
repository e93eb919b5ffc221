"""One package per component benchmark: `__init__.py` (torch-free SPEC), `data.py`, `model.py`, `bench.py`."""

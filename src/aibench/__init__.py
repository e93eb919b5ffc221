"""aibench: the AIBench component benchmarks (Internet-service AI workloads) with one shared harness."""

__version__ = "0.1.0"

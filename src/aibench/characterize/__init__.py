"""Workload characterization: parameters, FLOPs, system metadata, runtime breakdown, variation."""

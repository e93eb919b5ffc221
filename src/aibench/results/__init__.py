"""Results: the run record, its SQL store and the MLPerf-format training log."""

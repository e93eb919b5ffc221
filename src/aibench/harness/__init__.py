"""The shared harness: training and inference drivers, timing and energy. It knows no model."""

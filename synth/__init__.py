"""Synthetic safety-risk census for demos, tests and benchmarks (not part of the pure core `geo`)."""

from synth.generate import BAD_ENTERPRISE_ROWS, ENTERPRISE_COLUMNS, EVENT_COLUMNS, GBK_COLUMNS, generate_demo

__all__ = ["BAD_ENTERPRISE_ROWS", "ENTERPRISE_COLUMNS", "EVENT_COLUMNS", "GBK_COLUMNS", "generate_demo"]

"""clapbench: trustworthy benchmarks for CLAP models."""

__version__ = "0.1.0"

"""Audio architectures of the original CLAP code bases, re-implemented with their parameter names and shapes.

Each module here names its parameters and buffers exactly as the original classes do, so an original
state dict loads with ``strict=True``; the forward passes compute only what the embeddings need.
"""

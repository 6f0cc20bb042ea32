"""Built-in demo material: synthesized datasets in official layouts and tiny CLAP models built offline.

The tests build their fixtures with the same code, so the demo path is the tested path.
"""

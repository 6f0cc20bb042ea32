"""Audio decoding and the parallel clip loader."""

from clapbench.audio.decode import load_audio
from clapbench.audio.loader import iter_prepared

__all__ = ["load_audio", "iter_prepared"]

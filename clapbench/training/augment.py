"""Keyword-to-caption augmentation (LAION-CLAP): captions made from a clip's labels.

With templates (the task's own and a built-in set of other wordings; one is drawn per epoch), and,
when a local text-generation model folder is given, captions that model writes from the keywords.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from clapbench.errors import ModelError

# Other wordings than the task files' evaluation prompts ("This is a sound of {}.", "the sound of {}.", ...),
# so an evaluation measures transfer to a new phrasing, not recall of a trained one.
KEYWORD_TEMPLATES = (
    "{}",
    "{} can be heard",
    "a clip with {}",
    "you can hear {}",
    "{} in a short recording",
    "there is {} here",
)


def join_keywords(keywords: Sequence[str]) -> str:
    """'dog' / 'dog and rain' / 'dog, rain and wind'."""
    words = [k for k in keywords if k]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def keyword_captions(keywords: Sequence[str], templates: Sequence[str]) -> tuple[str, ...]:
    """Every template filled with the joined keywords, without repeats, in template order."""
    text = join_keywords(keywords)
    return tuple(dict.fromkeys(t.format(text) for t in templates))


class CaptionWriter:
    """Captions from keywords by a local text-generation model (transformers pipeline), seeded and greedy.

    Only as good as the model: a generated caption that lacks every keyword is dropped (the template
    captions remain), so a weak model cannot teach the wrong sound.
    """

    PROMPT = "Write a one-sentence caption for a sound recording that contains: {}.\nCaption:"

    def __init__(self, folder: str | Path, device: str = "cpu", max_new_tokens: int = 24):
        from transformers import pipeline

        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise ModelError(f"--caption-model {folder}: not a model folder; expected config.json and weights of a local text-generation model")
        try:
            self.pipe = pipeline("text-generation", model=str(folder), device=device)
        except Exception as exc:
            raise ModelError(f"--caption-model {folder}: cannot load a text-generation pipeline ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
        self.max_new_tokens = max_new_tokens

    def __call__(self, keywords: Sequence[str]) -> str | None:
        prompt = self.PROMPT.format(join_keywords(keywords))
        out = self.pipe(prompt, max_new_tokens=self.max_new_tokens, do_sample=False, return_full_text=False)
        text = out[0]["generated_text"].strip().splitlines()[0].strip() if out and out[0]["generated_text"].strip() else ""
        if not text or not any(k.lower() in text.lower() for k in keywords):
            return None
        return text

"""Find a text tower's tokenizer files offline: a --tokenizer folder, or the local HuggingFace cache."""

from __future__ import annotations

from pathlib import Path

from clapbench.errors import ModelError

# What each tokenizer needs, and the hub repositories whose cached snapshots may hold it.
NEEDED = {
    "bert": ("vocab.txt",),
    "roberta": ("vocab.json", "merges.txt"),
    "gpt2": ("vocab.json", "merges.txt"),
}
HUB_REPOS = {
    "bert": ("google-bert/bert-base-uncased", "bert-base-uncased"),
    "roberta": ("FacebookAI/roberta-base", "roberta-base"),
    "gpt2": ("openai-community/gpt2", "gpt2"),
}


def _needed_text(kind: str) -> str:
    return " + ".join(NEEDED[kind])


def find_tokenizer_folder(kind: str, folder: str | Path | None) -> Path:
    """The folder holding ``kind``'s tokenizer files; ModelError saying which files when none is found."""
    repos = " or ".join(HUB_REPOS[kind])
    if folder is not None:
        folder = Path(folder).expanduser()
        missing = [name for name in NEEDED[kind] if not (folder / name).is_file()]
        if not folder.is_dir() or missing:
            raise ModelError(
                f"--tokenizer {folder}: {'no such folder' if not folder.is_dir() else 'lacks ' + ', '.join(missing)}; "
                f"the {kind} tokenizer needs {_needed_text(kind)} (as in the hub repo {HUB_REPOS[kind][0]})"
            )
        return folder
    cached = _from_hf_cache(kind)
    if cached is not None:
        return cached
    raise ModelError(
        f"no {kind} tokenizer found: not in the local HuggingFace cache ({repos}); pass --tokenizer DIR "
        f"with {_needed_text(kind)} (the files of the hub repo {HUB_REPOS[kind][0]})"
    )


def _from_hf_cache(kind: str) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    for repo in HUB_REPOS[kind]:
        paths = [try_to_load_from_cache(repo, name) for name in NEEDED[kind]]
        if all(isinstance(p, str) for p in paths):
            folders = {Path(p).parent for p in paths}
            if len(folders) == 1:
                return folders.pop()
    return None


def load_tokenizer(kind: str, folder: Path):
    """A transformers tokenizer of the class the original used, read from ``folder`` offline."""
    from transformers import BertTokenizerFast, GPT2TokenizerFast, RobertaTokenizerFast

    cls = {"bert": BertTokenizerFast, "roberta": RobertaTokenizerFast, "gpt2": GPT2TokenizerFast}[kind]
    try:
        return cls.from_pretrained(str(folder), local_files_only=True)
    except Exception as exc:
        lines = str(exc).strip().splitlines()
        raise ModelError(
            f"{folder}: cannot read the {kind} tokenizer ({lines[0] if lines else type(exc).__name__}); "
            f"expected {_needed_text(kind)}"
        ) from None


def check_vocabulary(tokenizer, embedding_rows: int, kind: str, folder: Path, source: str) -> None:
    """A tokenizer of another model (a RoBERTa vocab for GPT-2, say) would embed the wrong tokens: refuse it."""
    if len(tokenizer) != embedding_rows:
        raise ModelError(
            f"{folder}: the {kind} tokenizer has {len(tokenizer)} tokens but the text tower of {source} embeds "
            f"{embedding_rows}; expected the tokenizer of {HUB_REPOS[kind][0]}"
        )

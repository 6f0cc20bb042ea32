"""A run's fingerprint: a hash of everything that decides a result's numbers, with those fields listed.

An existing result is kept in place of a new run only when the fingerprints are equal; otherwise the
fields that differ are named. Computed before the model is loaded, from the request: the weights hash,
the task (name, version, file content), templates and prompts, the evaluation, the data selection
(folds, limit, pair list), seeds, bootstrap count, and how the model was asked to run (protocol, dtype,
batch size: embeddings differ by float noise across batch sizes).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from clapbench.results.record import Fingerprint


def _file_sha(path: str | Path | None) -> str | None:
    if not path or not Path(path).is_file():
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def task_content_sha(spec) -> str | None:
    """The validated task file's content hash (a task file's includes count), else the file's bytes."""
    sha = getattr(spec, "content_sha", None)
    return sha or _file_sha(spec.source_file)


def dataset_sha(dataset) -> str:
    """A hash of the evaluated items (path, labels, fold, captions) and the class list: another copy of a dataset
    with other or fewer clips, or another --limit sample, has another one."""
    digest = hashlib.sha256(json.dumps(list(dataset.classes), ensure_ascii=False).encode())
    for item in dataset.items:
        digest.update(json.dumps([item.path, list(item.labels), item.fold, list(item.captions)], ensure_ascii=False).encode())
    return digest.hexdigest()


def fingerprint_fields(spec, eval_type: str, variant: str | None, options, model_sha: str | None, model_spec: str,
                       data_sha: str | None = None, item_company: list[str] | None = None) -> dict[str, Any]:
    """``item_company``: for a temporal probe, the run's temporal tasks whose items are embedded together
    (temporal.run_items): they decide the batches its items are embedded in, so its numbers' last bits."""
    source = spec.source
    fields: dict[str, Any] = {
        "model_sha256": model_sha,
        # a model without a weights hash (a plugin that names none) is told by how it was given
        "model": None if model_sha else model_spec,
        "task": spec.name,
        "task_version": spec.version,
        "task_content_sha256": task_content_sha(spec),
        "source_task": None if source is None else {"name": source.name, "version": source.version, "content_sha256": task_content_sha(source)},
        "templates": list(spec.templates),
        "prompts": dict(sorted(spec.prompts.items())),
        "evaluation": eval_type,
        "variant": variant,
        "folds": list(options.folds) if options.folds else None,
        "limit": options.limit,
        "data_items_sha256": data_sha,  # the items read (after --folds and --limit): another copy of the data is another run
        "pairs_sha256": _file_sha(options.pairs) if (options.pairs and source is not None) else None,
        "seed": options.seed,
        "bootstrap_resamples": options.n_resamples,
        "probe_seed": options.probe_seed if variant == "linear-probe" else None,
        "batch_size": options.batch_size,
        **({"temporal_items_with": item_company} if item_company else {}),
        **{k: options.model_request.get(k) for k in sorted(options.model_request)},
    }
    return fields


def make_fingerprint(fields: dict[str, Any]) -> Fingerprint:
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str)
    return Fingerprint(sha256=hashlib.sha256(canonical.encode()).hexdigest(), fields=json.loads(canonical))


def differences(old: Fingerprint | None, new: Fingerprint) -> list[str]:
    """'limit: None -> 20' for each field that differs (an old result without a fingerprint: one line saying so)."""
    if old is None:
        return ["the existing result has no fingerprint (written by an earlier clapbench)"]
    out = []
    for key in sorted(set(old.fields) | set(new.fields)):
        a, b = old.fields.get(key, "<absent>"), new.fields.get(key, "<absent>")
        if a != b:
            out.append(f"{key}: {_short(a)} -> {_short(b)}")
    return out


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."

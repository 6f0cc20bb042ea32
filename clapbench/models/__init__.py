"""Model loading: every family returns a LoadedModel that follows the AudioTextModel contract."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from clapbench.errors import ModelError
from clapbench.models.hashing import weights_sha256
from clapbench.models.contract import AudioTextModel, LoadedModel, check_embeddings
from clapbench.paths import slug

DTYPE_NAMES = ("float32", "bfloat16", "float16")

__all__ = ["AudioTextModel", "LoadedModel", "ModelIdentity", "check_embeddings", "load_model", "model_identity", "resolve_device", "DTYPES"]


@dataclass(frozen=True)
class ModelIdentity:
    """What a run knows of a model before loading it: its results folder name and its weights hash
    (None for a plugin, whose weights only it can name)."""

    model_id: str
    sha256: str | None
    path: str


def model_identity(spec: str, model_id: str | None = None) -> ModelIdentity:
    """The id and weights hash ``load_model`` will give ``spec``, without loading it."""
    path = Path(spec).expanduser()
    if path.is_file():
        return ModelIdentity(slug(model_id or path.resolve().stem), weights_sha256(path), str(path.resolve()))
    if path.is_dir():
        return ModelIdentity(slug(model_id or path.resolve().name), weights_sha256(path), str(path.resolve()))
    return ModelIdentity(slug(model_id or spec.replace(":", ".")), None, spec)


def __getattr__(name: str):
    # torch is imported on first use, so that `clapbench --help` and the option lists stay fast.
    if name == "DTYPES":
        import torch

        return {n: getattr(torch, n) for n in DTYPE_NAMES}
    raise AttributeError(name)


# Device nodes of the drivers torch.cuda runs on (NVIDIA, NVIDIA Jetson, AMD ROCm, WSL's GPU): without any of them
# CUDA cannot be available, and "auto" is the CPU without importing torch (a second of a warm rerun's two).
GPU_DEVICE_NODES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/nvhost-ctrl-gpu", "/dev/nvmap", "/dev/kfd", "/dev/dxg")


def no_gpu_driver() -> bool:
    """True when this is Linux and no GPU driver's device node exists (so torch.cuda.is_available() is False)."""
    import os
    import sys

    return sys.platform.startswith("linux") and not any(os.path.exists(node) for node in GPU_DEVICE_NODES)


def resolve_device(device: str) -> str:
    if device == "auto" and no_gpu_driver():
        return "cpu"
    if device == "cpu":
        return device
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise ModelError(f"--device {device}: not a device name; expected auto, cpu, cuda or cuda:N") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ModelError(f"--device {device}: CUDA is not available on this machine; use --device cpu or auto")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ModelError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s); expected cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    return device


def worker_modules_of(spec: str, family: str | None = None, front_end: str = "auto") -> list[str] | None:
    """The modules the decoding workers of ``spec`` will import, known before the model loads, or None when that
    takes loading it. For a HF ClapModel folder with the torch front end the workers hold only the clip fitter
    (``WavePreparer``), so their fork server can start, and import, on another core while the weights load."""
    from clapbench.audio.loader import worker_modules
    from clapbench.models.clap_frontend import WavePreparer
    from clapbench.models.hf_clap import is_hf_clap_folder, resolve_front_end

    path = Path(spec).expanduser()
    if family not in (None, "hf-clap") or not path.is_dir() or not is_hf_clap_folder(path):
        return None
    if resolve_front_end(front_end, "cpu") != "torch":  # auto picks torch on every device
        return None
    return worker_modules(WavePreparer.__new__(WavePreparer))  # the class's module: a WavePreparer holds only numbers


def check_hf_options(spec: str, front_end: str, attention: str, hf_clap_folder: bool) -> None:
    """--front-end and --attention choose how transformers' ClapModel computes; any other model computes its own way,
    and a result must not record a choice that was never made."""
    given = [f"--{name} {value}" for name, value in (("front-end", front_end), ("attention", attention)) if value != "auto"]
    if given and not hf_clap_folder:
        raise ModelError(f"--model {spec}: {' and '.join(given)} apply to HF ClapModel folders only; "
                         "other models compute their features and attention their own way (leave them at auto)")


def load_model(
    spec: str, device: str = "auto", dtype: str = "float32", seed: int = 0, model_id: str | None = None,
    family: str | None = None, protocol: str = "native", tokenizer: str | None = None, decoding=None, sha256: str | None = None,
    memo_dir: Path | None = None, front_end: str = "auto", before_build: Callable[[], None] | None = None,
    attention: str = "auto",
) -> LoadedModel:
    """Load ``spec``: a HF ClapModel folder, an MS-CLAP, clapcap or LAION-CLAP checkpoint file, or a plugin ``package.module:factory``.

    ``decoding`` (a ``beam_search.BeamOptions``) sets a captioner's beam search; None keeps its defaults.
    ``sha256``: the weights hash when the caller has it already (``model_identity``), so it is not computed twice.
    ``memo_dir``: a cache folder where the checkpoint's manifest is remembered (clapbench.models.manifest); a
    checkpoint loaded before with the same options then comes back unbuilt, built on first use.
    ``front_end`` (HF ClapModel folders): where log-mel features are computed, ``torch`` (batched, on the model's
    device), ``transformers`` (the feature extractor per clip, in the decoding workers) or ``auto``.
    ``attention`` (HF ClapModel folders): HTSAT's window attention through torch's fused kernel (``sdpa``,
    models/window_attention.py), transformers' own (``eager``), or ``auto`` (sdpa where it applies).
    ``before_build`` is called just before the network is built here (not when a remembered checkpoint comes back
    unbuilt), e.g. to start work that can run beside the weights' loading."""
    if memo_dir is not None:
        from clapbench.models import manifest as memo

        device = resolve_device(device)
        options = {"family": family, "protocol": protocol, "tokenizer": tokenizer, "decoding": repr(decoding), "dtype": dtype,
                   "seed": seed, "device": device, "model_id": model_id, "front_end": front_end,
                   "attention": attention}
        key = memo.manifest_key(spec, options)
        if key is not None:
            def build() -> LoadedModel:
                return load_model(spec, device, dtype, seed, model_id, family, protocol, tokenizer, decoding, sha256, front_end=front_end,
                                  attention=attention)

            known = memo.read_manifest(Path(memo_dir), key)
            if known is not None:
                return memo.lazy_loaded(known, build)
            if before_build is not None:
                before_build()
            loaded = build()
            memo.write_manifest(Path(memo_dir), key, memo.manifest_of(loaded))
            return loaded
    if before_build is not None:
        before_build()
    from clapbench.models import DTYPES
    from clapbench.models.families import CHECKPOINT_SUFFIXES, load_checkpoint_model
    from clapbench.models.hf_clap import HFClapModel, is_hf_clap_folder
    from clapbench.models.pe_audio import pe_audio_variant
    from clapbench.models.plugin import load_plugin, looks_like_plugin
    from clapbench.models.presets import canonical_family, resolve_protocol

    device = resolve_device(device)
    if dtype not in DTYPES:
        raise ModelError(f"--dtype {dtype}: expected one of {', '.join(DTYPES)}")
    path = Path(spec).expanduser()
    family = canonical_family(family)
    check_hf_options(spec, front_end, attention, family in (None, "hf-clap") and path.is_dir() and is_hf_clap_folder(path))
    if path.is_file() and (family not in (None, "hf-clap") or path.suffix in CHECKPOINT_SUFFIXES):
        model = load_checkpoint_model(path, family, protocol, tokenizer, device=device, dtype=DTYPES[dtype], seed=seed, decoding=decoding)
        return LoadedModel(
            model=model,
            model_id=slug(model_id or path.resolve().stem),
            model_id_given=model_id,
            path=str(path.resolve()),
            kind=model.family,
            sha256=sha256 or weights_sha256(path),
            device=device,
            dtype=dtype,
            preprocessing=model.describe(),
            family=model.family,
            variant=model.variant,
        )
    if path.is_dir() and family not in (None, "hf-clap"):
        raise ModelError(f"--family {family}: {path} is a folder; MS-CLAP and LAION-CLAP checkpoints are single .pt/.pth files")
    if decoding is not None and not path.is_file():
        raise ModelError(f"--model {spec}: --beam-size, --entry-length, --temperature and --stop-token apply to clapcap checkpoints only")
    if path.is_dir() and tokenizer is not None:
        raise ModelError(f"--tokenizer: {path} is a transformers ClapModel folder, which carries its own tokenizer")
    if path.is_dir() and pe_audio_variant(path) is not None:
        return _load_pe_audio(path, pe_audio_variant(path), protocol, device, dtype, model_id, sha256)
    if path.is_dir():
        preset = resolve_protocol(protocol, "hf-clap")
        if not is_hf_clap_folder(path):
            raise ModelError(
                f"{path}: not a CLAP checkpoint folder; expected config.json with model_type 'clap' (or 'pe_audio', 'pe_audio_video'), "
                "the weights (model.safetensors) and the processor files that save_pretrained writes"
            )
        model = HFClapModel(path, device=device, dtype=DTYPES[dtype], seed=seed, front_end=front_end, attention=attention)
        preprocessing = model.describe()
        if protocol == "hf":  # native keeps the task's templates: a HF folder has no paper prompt of its own
            preprocessing.update(protocol="hf", prompt=preset.prompt, protocol_source=preset.source, prompt_source=preset.prompt_source)
        else:
            preprocessing["protocol"] = "native (the folder's saved feature-extractor settings, the task's templates)"
        variant = "htsat-fused" if model.model.config.audio_config.enable_fusion else "htsat-unfused"
        return _folder_model(path, model, "hf-clap", variant, preprocessing, model_id, device, dtype, sha256)
    if path.exists():
        raise ModelError(
            f"{path}: not a checkpoint clapbench reads; expected a HF ClapModel folder, an MS-CLAP or LAION-CLAP "
            f"checkpoint file ({'/'.join(CHECKPOINT_SUFFIXES)}, or --family to force one) or a plugin package.module:factory"
        )
    if looks_like_plugin(spec):
        if family is not None or protocol not in (None, "native") or tokenizer is not None:
            raise ModelError(f"--model {spec}: a plugin does its own preprocessing; --family, --protocol and --tokenizer do not apply")
        model = load_plugin(spec, device=device, dtype=dtype, seed=seed)
        return wrap_model(model, model_id or spec.replace(":", "."), spec, "plugin", device, dtype, model_id_given=model_id)
    raise ModelError(
        f"--model {spec}: no such file or folder, and not a plugin spec; expected a HF ClapModel folder "
        "(config.json, model.safetensors, processor files), an MS-CLAP or LAION-CLAP checkpoint (.pt/.pth) or package.module:factory"
    )


def wrap_model(model, model_id: str, path: str, kind: str, device: str = "cpu", dtype: str = "float32", model_id_given: str | None = None) -> LoadedModel:
    """A LoadedModel around an object with the model contract (a plugin's, or one built in a notebook)."""
    describe = getattr(model, "describe", None)
    preprocessing = dict(describe()) if callable(describe) else {}
    preprocessing.setdefault("sample_rate", int(model.sample_rate))
    return LoadedModel(
        model=model,
        model_id=slug(model_id),
        model_id_given=model_id_given,
        path=path,
        kind=kind,
        sha256=getattr(model, "sha256", None),  # a plugin may name its weights; none is claimed for it
        device=device,
        dtype=dtype,
        preprocessing=preprocessing,
        family=getattr(model, "family", None),
        variant=getattr(model, "variant", None),
    )


def _load_pe_audio(path: Path, variant: str, protocol: str, device: str, dtype: str, model_id: str | None, sha256: str | None = None) -> LoadedModel:
    from clapbench.models import DTYPES
    from clapbench.models.pe_audio import PeAudioAdapter

    if protocol not in (None, "native"):
        raise ModelError(f"--protocol {protocol}: {path} is a PE Audio folder, which takes the raw 48 kHz waveform its own feature extractor pads; only native applies")
    model = PeAudioAdapter(path, variant, device=device, dtype=DTYPES[dtype])
    preprocessing = {**model.describe(), "protocol": "native (the folder's saved feature-extractor settings, the task's templates)"}
    return _folder_model(path, model, "pe-audio", variant, preprocessing, model_id, device, dtype, sha256)


def _folder_model(path: Path, model, family: str, variant: str, preprocessing: dict, model_id: str | None, device: str, dtype: str, sha256: str | None = None) -> LoadedModel:
    """A transformers folder's LoadedModel: named after the folder, its weight files hashed."""
    return LoadedModel(
        model=model,
        model_id=slug(model_id or path.resolve().name),
        model_id_given=model_id,
        path=str(path.resolve()),
        kind=family,
        sha256=sha256 or weights_sha256(path),
        device=device,
        dtype=dtype,
        preprocessing=preprocessing,
        family=family,
        variant=variant,
    )

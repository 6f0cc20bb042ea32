"""clapbench train: the loss and its distributed gather, optimisation, checkpoints and resume, temporal items, fusion, CLI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import run_cli

from clapbench.audio.synth import make_esc50_layout
from clapbench.training.data import ClipCaptionDataset, collate
from clapbench.training.examples import read_pair_file
from clapbench.training.loss import contrastive_loss
from clapbench.training.model import ContrastiveClap, build_fresh, load_for_training
from clapbench.models.hashing import weights_sha256
from clapbench.training.state import load_trainer_state
from clapbench.training.trainer import TrainConfig, train

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """ESC-50 layout, 6 classes x 5 clips of 1.5 s at 48 kHz (folds 1-5, one clip of each class per fold)."""
    return make_esc50_layout(tmp_path_factory.mktemp("train") / "esc50", clips_per_class=5, seconds=1.5, sample_rate=48000)


@pytest.fixture(scope="module")
def pair_csv(clips) -> Path:
    """A pair list beside the audio folder, relative paths, two captions for some clips."""
    rows = ["audio,caption"]
    for i, line in enumerate((clips / "meta" / "esc50.csv").read_text().splitlines()[1:]):
        name, _, _, category = line.split(",")[:4]
        rows.append(f"audio/{name},{category.replace('_', ' ')}")
        if i % 2 == 0:
            rows.append(f"audio/{name},the sound of {category.replace('_', ' ')}")
    path = clips / "pairs.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def tiny_init(tmp_path_factory, pair_csv) -> Path:
    return build_fresh(tmp_path_factory.mktemp("init") / "tiny", "tiny", read_pair_file(pair_csv).captions(), seed=0, fusion=False)


def reference_loss(audio: np.ndarray, text: np.ndarray, scale_a: float, scale_t: float) -> float:
    """Symmetric InfoNCE written out row by row (an independent computation)."""
    def ce(rows, cols, scale):
        total = 0.0
        for i in range(len(rows)):
            logits = scale * np.array([rows[i] @ cols[j] for j in range(len(cols))], dtype=np.float64)
            total += -(logits[i] - np.log(np.exp(logits - logits.max()).sum()) - logits.max())
        return total / len(rows)

    return (ce(audio, text, scale_a) + ce(text, audio, scale_t)) / 2


def test_contrastive_loss_matches_reference():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 5)).astype(np.float32)
    t = rng.standard_normal((6, 5)).astype(np.float32)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    got = contrastive_loss(torch.from_numpy(a), torch.from_numpy(t), torch.tensor(10.0), torch.tensor(3.0))
    assert got.item() == pytest.approx(reference_loss(a, t, 10.0, 3.0), rel=1e-5)


def _fixed_batch(tiny_init, pair_csv, n=6):
    """One clip of each class (a batch whose captions differ), or the first n clips."""
    clap, processor = load_for_training(tiny_init, fusion=False)
    examples = read_pair_file(pair_csv).examples
    examples = examples[::5] if n == 6 else examples[:n]
    ds = ClipCaptionDataset(examples, processor.feature_extractor, seed=0)
    mels, longer, captions = collate([ds[(0, i)] for i in range(n)])
    tokens = processor.tokenizer(captions, padding=True, return_tensors="pt")
    return clap, mels, longer, tokens


def test_training_steps_lower_the_loss_on_a_fixed_batch(tiny_init, pair_csv):
    torch.manual_seed(0)
    clap, mels, longer, tokens = _fixed_batch(tiny_init, pair_csv)
    model = ContrastiveClap(clap).eval()  # no dropout: the same batch gives the same loss
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(10):
        loss = contrastive_loss(*model(mels, longer, tokens["input_ids"], tokens["attention_mask"]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.97 * losses[0] and losses[-1] == min(losses), losses
    # the model's own loss agrees with the reference computation on its embeddings
    with torch.no_grad():
        a, t, sa, st = model(mels, longer, tokens["input_ids"], tokens["attention_mask"])
    ref = reference_loss(a.numpy(), t.numpy(), float(sa), float(st))
    assert contrastive_loss(a, t, sa, st).item() == pytest.approx(ref, rel=1e-4)


def _config(out: Path, init: Path, **kw) -> TrainConfig:
    base = dict(output=out, init=str(init), steps=4, batch_size=8, lr=2e-3, checkpoint_every=2, keep_checkpoints=0, seed=3)
    return TrainConfig(**{**base, **kw})


def _losses(out: Path) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())}


def test_resume_replays_an_uninterrupted_run(tmp_path, tiny_init, pair_csv):
    data = read_pair_file(pair_csv)
    full = train(_config(tmp_path / "full", tiny_init), data)
    # An interrupted run: only the step-2 checkpoint survived; --resume goes on from there.
    part = tmp_path / "part"
    (part / "checkpoints").mkdir(parents=True)
    shutil.copytree(full / "checkpoints" / "step-000002", part / "checkpoints" / "step-000002")
    train(_config(part, tiny_init, resume=True), data)

    full_losses, part_losses = _losses(full), _losses(part)
    assert sorted(part_losses) == [3, 4]
    assert part_losses == {s: full_losses[s] for s in (3, 4)}
    a = load_trainer_state(full / "checkpoints" / "step-000004")
    b = load_trainer_state(part / "checkpoints" / "step-000004")
    assert a["step"] == b["step"] == 4
    for key, state in a["optimizer"]["state"].items():
        for name in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(state[name], b["optimizer"]["state"][key][name])
    assert a["optimizer"]["param_groups"] == b["optimizer"]["param_groups"]
    assert a["scheduler"] == b["scheduler"]
    (ra,), (rb,) = a["rng"], b["rng"]
    assert ra["python"] == rb["python"] and torch.equal(ra["torch"], rb["torch"])
    assert all(np.array_equal(x, y) for x, y in zip(ra["numpy"], rb["numpy"]))
    from safetensors.torch import load_file

    wa, wb = load_file(full / "model.safetensors"), load_file(part / "model.safetensors")
    # the trainer state is not part of the weights' identity: the step-4 checkpoint hashes as the final model
    assert weights_sha256(full / "checkpoints" / "step-000004") == weights_sha256(full)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], w) for k, w in load_file(tiny_init / "model.safetensors").items())
    # what a run leaves behind
    assert (full / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (full / "checkpoints" / "step-000002" / "loss.png").is_file()
    summary = json.loads((full / "training.json").read_text())
    assert summary["steps"] == 4 and summary["data"]["kind"] == "pair-list"
    rec = json.loads((full / "metrics.jsonl").read_text().splitlines()[0])
    assert {"step", "loss", "lr", "logit_scale_a", "logit_scale_t", "seconds"} <= rec.keys()



def test_run_killed_in_its_first_checkpoint_restarts_from_the_beginning(tmp_path, tiny_init, pair_csv, monkeypatch):
    """Killed while writing step-1.tmp, the only checkpoint: a plain rerun points to --resume, and --resume
    removes the half-written folder and trains from step 0, replaying the killed run's losses exactly."""
    import dataclasses
    import io

    from rich.console import Console

    from clapbench.errors import ClapbenchError
    from clapbench.training import trainer as trainer_module

    data, out = read_pair_file(pair_csv), tmp_path / "killed"
    cfg = _config(out, tiny_init, steps=1)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the weights are in step-000001.tmp, its trainer state never got written: kill -9 here
    monkeypatch.setattr(trainer_module, "save_trainer_state", killed)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, data, Console(quiet=True))
    monkeypatch.undo()
    half = out / "checkpoints" / "step-000001.tmp"
    assert half.is_dir() and trainer_module.latest_checkpoint(out) is None
    killed_losses = _losses(out)
    assert sorted(killed_losses) == [1]

    with pytest.raises(ClapbenchError, match="no complete checkpoint.*pass --resume to start it again from the beginning"):
        train(cfg, data, Console(quiet=True))
    with pytest.raises(ClapbenchError, match=r"no complete checkpoint.*add --init CKPT or --config tiny\|base"):
        train(dataclasses.replace(cfg, init=None, resume=True), data, Console(quiet=True))
    assert half.is_dir()  # a refusal changes nothing

    shown = io.StringIO()
    train(dataclasses.replace(cfg, resume=True), data, Console(file=shown, width=400))
    said = " ".join(shown.getvalue().split())
    assert f"removed {half}" in said and "training starts from the beginning (step 0)" in said and "resumed from" not in said
    assert not half.exists() and trainer_module.latest_checkpoint(out) == out / "checkpoints" / "step-000001"
    assert _losses(out) == killed_losses  # the same steps, bit for bit, as the run that was killed

    with pytest.raises(ClapbenchError, match="checkpoint at step 1: pass --resume to continue"):
        train(cfg, data, Console(quiet=True))
    not_training = tmp_path / "papers"
    not_training.mkdir()
    (not_training / "notes.txt").write_text("mine")
    for resume in (False, True):
        with pytest.raises(ClapbenchError, match="is no training output"):
            train(dataclasses.replace(cfg, output=not_training, resume=resume), data, Console(quiet=True))


DDP_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    import numpy as np, torch, torch.distributed as dist, torch.nn.functional as F
    from clapbench.training.loss import contrastive_loss
    from clapbench.training.model import ContrastiveClap, load_for_training

    work = Path(sys.argv[1])
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    batch = torch.load(work / "batch.pt")
    clap, _ = load_for_training(Path(sys.argv[2]), fusion=False)
    clap = clap.double()  # float64: reduction-order noise far below any real difference
    model = torch.nn.parallel.DistributedDataParallel(ContrastiveClap(clap).eval())
    n = batch["mels"].shape[0] // world
    part = slice(rank * n, (rank + 1) * n)
    inputs = (batch["mels"][part].double(), batch["longer"][part], batch["ids"][part], batch["mask"][part])

    def local_only_loss(a, t, sa, st):
        # a deliberately broken gather: each process contrasts only its own half of the batch
        targets = torch.arange(a.shape[0])
        return (F.cross_entropy(sa * a @ t.T, targets) + F.cross_entropy(st * t @ a.T, targets)) / 2

    out = {}
    for name, loss_fn in (("gathered", contrastive_loss), ("local", local_only_loss)):
        model.zero_grad(set_to_none=True)
        loss = loss_fn(*model(*inputs))
        loss.backward()
        mean = loss.detach().clone()
        dist.all_reduce(mean)
        mean /= world
        out[name] = {"loss": mean.item(), "grads": {k: p.grad.clone() for k, p in clap.named_parameters() if p.grad is not None}}
    if rank == 0:
        torch.save(out, work / "ddp.pt")

    # then two steps of the real trainer on the same 2 processes (gloo; it joins the existing group)
    from clapbench.training.examples import read_pair_file
    from clapbench.training.trainer import TrainConfig, train
    train(TrainConfig(output=work / "run", init=sys.argv[2], steps=2, batch_size=8, checkpoint_every=2), read_pair_file(sys.argv[3]))
    """
)

# float64 carries 53 bits (eps 2.2e-16): summing the same terms in another order (two processes, gloo's
# all-reduce) moves a gradient by a few eps of the terms' magnitude times their number. Two scales bound it:
# - each parameter's largest |gradient| (relative part, GRAD_RTOL = 1e-9: ~1e4 terms of 1e-16 with margin);
# - for gradients that are zero analytically but not numerically (attention key biases: softmax ignores a
#   shift), what is left is the noise of cancelled terms, bounded by the model's largest |gradient| x GRAD_FLOOR.
# A real difference (the local-only loss below) moves gradients by more than 1e-3 of their scale.
GRAD_RTOL = 1e-9
GRAD_FLOOR = 1e-12


def gradient_mismatches(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor], rtol: float, floor: float = GRAD_FLOOR) -> list[str]:
    """For each parameter whose largest |difference| exceeds its tolerance: the numbers and where."""
    largest = max(g.abs().max().item() for g in want.values())
    out = []
    for k, g in want.items():
        diff = (got[k] - g).abs()
        scale = g.abs().max().item()
        tol = rtol * scale + floor * largest
        if diff.max().item() > tol:
            where = tuple(int(i) for i in torch.unravel_index(diff.argmax(), diff.shape))
            out.append(f"{k}: largest difference {diff.max().item():.3e} at {where} (got {got[k][where].item():.6e}, "
                       f"want {g[where].item():.6e}), tolerance {tol:.3e} = {rtol:g} x largest |grad| {scale:.3e} "
                       f"+ {floor:g} x the model's largest {largest:.3e}")
    return out


def test_gathered_loss_on_two_processes_equals_one_process(tmp_path, tiny_init, pair_csv):
    clap, mels, longer, tokens = _fixed_batch(tiny_init, pair_csv, n=8)
    torch.save({"mels": mels, "longer": longer, "ids": tokens["input_ids"], "mask": tokens["attention_mask"]}, tmp_path / "batch.pt")
    script = tmp_path / "ddp_check.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(29500 + os.getpid() % 1000),
           str(script), str(tmp_path), str(tiny_init), str(pair_csv)]
    # its own process group, so a hung run is ended with the workers torchrun started
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
    assert proc.returncode == 0, output[-5000:]

    clap = clap.double()
    model = ContrastiveClap(clap).eval()
    loss = contrastive_loss(*model(mels.double(), longer, tokens["input_ids"], tokens["attention_mask"]))
    loss.backward()
    want = {k: p.grad for k, p in clap.named_parameters() if p.grad is not None}
    ddp = torch.load(tmp_path / "ddp.pt", weights_only=False)
    assert ddp["gathered"]["loss"] == pytest.approx(loss.item(), rel=GRAD_RTOL)
    assert ddp["gathered"]["grads"].keys() == want.keys()
    mismatches = gradient_mismatches(ddp["gathered"]["grads"], want, GRAD_RTOL)
    assert not mismatches, "\n".join(mismatches[:10])
    # the same check catches a gather that leaves each process with its own half, on (nearly) every parameter
    broken = gradient_mismatches(ddp["local"]["grads"], want, 1e-3, floor=0.0)
    # (every parameter but the analytically-zero key biases)
    assert len(broken) > 0.8 * len(want), f"only {len(broken)} of {len(want)} gradients differ"
    assert abs(ddp["local"]["loss"] - loss.item()) > 1e-3 * loss.item()
    # the trainer under torchrun: one history, written once, from both processes' gathered batch
    summary = json.loads((tmp_path / "run" / "training.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 2
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 2


def _tone_dataset(root: Path, freqs: dict[str, float], per_class: int = 2, seconds: float = 1.0, sr: int = 48000) -> Path:
    (root / "meta").mkdir(parents=True)
    (root / "audio").mkdir()
    rows = ["filename,fold,target,category,esc10,src_file,take"]
    t = np.arange(int(seconds * sr)) / sr
    for target, (name, f) in enumerate(freqs.items()):
        for j in range(per_class):
            fname = f"{j + 1}-{100 + target}-A-{target}.wav"
            sf.write(root / "audio" / fname, (0.5 * np.sin(2 * np.pi * f * t)).astype(np.float32), sr)
            rows.append(f"{fname},{j + 1},{target},{name},False,{100 + target},A")
    (root / "meta" / "esc50.csv").write_text("\n".join(rows) + "\n")
    return root


def _peak_hz(wave: np.ndarray, sr: int, k: int = 1) -> list[float]:
    """The k strongest frequencies, each at least 50 Hz from the ones before (ascending)."""
    spectrum = np.abs(np.fft.rfft(wave))
    freqs = np.fft.rfftfreq(len(wave), 1 / sr)
    peaks: list[float] = []
    for i in np.argsort(-spectrum):
        if all(abs(freqs[i] - p) > 50 for p in peaks):
            peaks.append(float(freqs[i]))
        if len(peaks) == k:
            break
    return sorted(peaks)


def test_temporal_items_play_in_the_order_their_captions_say(tmp_path):
    from clapbench.data import read_dataset
    from clapbench.registry import registry
    from clapbench.training.temporal import temporal_examples

    freqs = {"low_tone": 300.0, "mid_tone": 1200.0, "high_tone": 4800.0}
    spec = registry()["esc50"]
    dataset = read_dataset(_tone_dataset(tmp_path / "tones", freqs), spec.dataset)
    by_name = {name.replace("_", " "): f for name, f in freqs.items()}
    sr = 48000
    fe = type("FE", (), {"sampling_rate": sr})()

    stage_b = temporal_examples(spec, dataset, "B", n_pairs=6, seed=0, clip_seconds=0.5)
    assert len(stage_b.examples) == 12 and stage_b.group_size == 2
    loader = ClipCaptionDataset(stage_b.examples, fe)
    for ex in stage_b.examples:
        wave = loader.load_wave(ex.sound)
        assert len(wave) == sr  # two clips of 0.5 s
        first, second = _peak_hz(wave[: sr // 2], sr)[0], _peak_hz(wave[sr // 2 :], sr)[0]
        for caption in ex.captions:
            named = sorted((caption.index(n), by_name[n]) for n in by_name if n in caption)
            assert [f for _, f in named] == [pytest.approx(first, abs=4), pytest.approx(second, abs=4)], caption
    # a pair's two orders are one group, reversed
    g0 = [ex for ex in stage_b.examples if ex.group == 0]
    assert g0[0].sound.variant == "A then B" and g0[1].sound.variant == "B then A"
    assert (g0[0].sound.path_a, g0[0].sound.path_b) == (g0[1].sound.path_a, g0[1].sound.path_b)

    stage_a = temporal_examples(spec, dataset, "A", n_pairs=6, seed=0, clip_seconds=0.5)
    assert stage_a.group_size == 3
    for ex in stage_a.examples:
        wave = loader.load_wave(ex.sound)
        named = sorted(by_name[n] for n in by_name if n in ex.captions[0])
        assert len(named) == (2 if ex.sound.variant == "A while B" else 1)
        assert _peak_hz(wave, sr, k=len(named)) == pytest.approx(named, abs=4), ex.captions[0]


def test_train_cli_with_fusion_and_evaluation(tmp_path, clips, tiny_init):
    # a Clotho layout over the fold-5 clips: --eval-folds applies to esc50 only
    clotho = tmp_path / "clotho"
    (clotho / "evaluation").mkdir(parents=True)
    rows = ["file_name,caption_1,caption_2,caption_3,caption_4,caption_5"]
    for line in (clips / "meta" / "esc50.csv").read_text().splitlines()[1:]:
        name, fold, _, category = line.split(",")[:4]
        if fold == "5":
            shutil.copy(clips / "audio" / name, clotho / "evaluation" / name)
            rows.append(",".join([name] + [f"{category.replace('_', ' ')} {i}" for i in range(5)]))
    (clotho / "clotho_captions_evaluation.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "fused"
    res = run_cli("train", "--init", tiny_init, "--fusion", "--pairs", "esc50", "--data", f"esc50={clips}", "--folds", "1,2,3,4",
                  "--output", out, "--steps", "2", "--batch-size", "6", "--eval-tasks", "esc50,clotho", "--eval-folds", "5",
                  "--data", f"clotho={clotho}", "--bootstrap", "50")
    assert res.exit_code == 0, res.output
    config = json.loads((out / "config.json").read_text())
    assert config["audio_config"]["enable_fusion"] is True
    assert json.loads((out / "processor_config.json").read_text())["feature_extractor"]["truncation"] == "fusion"
    start = json.loads((out / "eval" / "step-000000" / "esc50.json").read_text())
    end = json.loads((out / "eval" / "step-000002" / "esc50.json").read_text())
    assert start["n_items"] == end["n_items"] == 6 and end["folds"] == ["5"]
    assert json.loads((out / "eval" / "step-000002" / "clotho.json").read_text())["n_items"] == 6
    # the same result as `clapbench run` on the trained folder
    res = run_cli("run", "--model", out, "--tasks", "esc50", "--data", f"esc50={clips}", "--folds", "5", "--output", tmp_path / "r", "--bootstrap", "50", "--workers", "0")
    assert res.exit_code == 0, res.output
    again = json.loads((tmp_path / "r" / "fused" / "esc50.json").read_text())
    assert again["model_sha"] == end["model_sha"] and again["metrics"] == end["metrics"]


def test_pair_lists_and_bad_input(tmp_path, clips):
    jl = tmp_path / "lists" / "pairs.jsonl"
    jl.parent.mkdir()
    audio = sorted((clips / "audio").iterdir())
    jl.write_text(
        json.dumps({"audio": os.path.relpath(audio[0], jl.parent), "captions": ["a", "b"]}) + "\n"
        + json.dumps({"audio": str(audio[1]), "caption": "c"}) + "\n"
    )
    ex = read_pair_file(jl).examples
    assert [e.captions for e in ex] == [("a", "b"), ("c",)] and ex[0].sound == str(audio[0].resolve())

    bad = tmp_path / "bad.csv"
    bad.write_text("audio,caption\nnope.wav,a dog\n")
    res = run_cli("train", "--config", "tiny", "--pairs", bad, "--output", tmp_path / "o")
    assert res.exit_code == 2 and "nope.wav not found" in res.output and "Traceback" not in res.output
    res = run_cli("train", "--config", "tiny", "--pairs", "no-such-task", "--output", tmp_path / "o")
    assert res.exit_code == 2 and "neither a file nor a known task" in res.output
    assert not (tmp_path / "o").exists()


def test_caption_model_output_is_kept_only_when_it_names_the_sound(tmp_path, tiny_init):
    """--caption-model: a local text-generation folder (here a random tiny GPT-2) writes captions; one that
    names none of the keywords is dropped, so the template captions alone remain."""
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from clapbench.training.augment import CaptionWriter, keyword_captions

    tok = PreTrainedTokenizerFast(tokenizer_file=str(tiny_init / "tokenizer.json"), eos_token="</s>", pad_token="<pad>")
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=128, n_embd=16, n_layer=1, n_head=2)).save_pretrained(tmp_path / "gen")
    tok.save_pretrained(tmp_path / "gen")
    writer = CaptionWriter(tmp_path / "gen")
    text = writer.pipe(writer.PROMPT.format("dog"), max_new_tokens=writer.max_new_tokens, do_sample=False, return_full_text=False)[0]["generated_text"]
    first_line = text.strip().splitlines()[0].strip() if text.strip() else ""
    assert writer(["dog"]) == (first_line if "dog" in first_line.lower() else None)
    assert keyword_captions(["dog", "rain"], ["{}", "you can hear {}"]) == ("dog and rain", "you can hear dog and rain")

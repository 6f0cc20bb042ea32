"""`clapbench run --config run.yaml`: every run option as YAML; flags given on the command line win.

Keys are the options' long names (``data-root`` or ``data_root``). Options that repeat take lists, and
``data`` also takes a mapping of task to folder; ``tasks``, ``folds`` and ``eval`` take a list or a
comma-separated string. The file becomes the command's defaults (click's ``default_map``), so a flag
overrides its key and the effective options are what the run records.
"""

from __future__ import annotations

import difflib
import hashlib
from pathlib import Path
from typing import Any

import click
import yaml

COMMA_LISTS = ("task_names", "folds", "evals")


def option_names(command: click.Command) -> dict[str, click.Option]:
    """Every accepted key (long flag without dashes, with - or _) -> its option."""
    out = {}
    for param in command.params:
        if not isinstance(param, click.Option) or param.name == "config":
            continue
        for flag in param.opts:
            if flag.startswith("--"):
                key = flag[2:]
                out[key] = out[key.replace("-", "_")] = param
    return out


def read_run_config(path: str, command: click.Command) -> dict[str, Any]:
    """The file's options as click's default_map ({parameter name: value})."""
    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise click.BadParameter(f"{file}: cannot read ({exc.strerror or exc})", param_hint="--config") from None
    except yaml.YAMLError as exc:
        raise click.BadParameter(f"{file}: not valid YAML ({exc})", param_hint="--config") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise click.BadParameter(f"{file}: expected a mapping of option names to values, e.g. 'model: /models/clap'", param_hint="--config")
    known = option_names(command)
    out: dict[str, Any] = {}
    for key, value in data.items():
        option = known.get(str(key))
        if option is None:
            close = difflib.get_close_matches(str(key), sorted({k for k in known if "_" not in k}), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise click.BadParameter(f"{file}: unknown option '{key}'{hint} (keys are the run command's long option names)", param_hint="--config")
        out[option.name] = _value(file, str(key), option, value)
    return out


def _value(file: Path, key: str, option: click.Option, value: Any) -> Any:
    if option.multiple:
        if isinstance(value, dict) and option.name == "data":
            return [f"{name}={path}" for name, path in value.items()]
        if isinstance(value, (str, int, float)):
            return [str(value)]
        if not isinstance(value, list):
            raise click.BadParameter(f"{file}: '{key}' takes a list", param_hint="--config")
        return [str(v) for v in value]
    if option.name in COMMA_LISTS and isinstance(value, list):
        return ",".join(str(v) for v in value)
    if option.is_flag and not isinstance(value, bool):
        raise click.BadParameter(f"{file}: '{key}' takes true or false", param_hint="--config")
    if isinstance(value, (dict, list)):
        raise click.BadParameter(f"{file}: '{key}' takes one value, not a {type(value).__name__}", param_hint="--config")
    return value


def config_option(fn):
    """--config FILE: read before every other option (eager), so its values become their defaults."""

    def load(ctx: click.Context, param: click.Parameter, value: str | None):
        if value is not None:
            ctx.default_map = {**(ctx.default_map or {}), **read_run_config(value, ctx.command)}
            ctx.meta["run_config"] = {"file": str(Path(value).resolve()), "sha256": hashlib.sha256(Path(value).read_bytes()).hexdigest()}
        return value

    return click.option("--config", type=click.Path(dir_okay=False), is_eager=True, expose_value=False, callback=load,
                        help="YAML file of run options (keys: the long option names); flags given here override it.")(fn)


def effective_options(ctx: click.Context) -> dict[str, Any]:
    """The options this invocation runs with (after the config file and the flags), for the result files."""
    out = {}
    for param in ctx.command.params:
        if isinstance(param, click.Option) and param.name in ctx.params:
            value = ctx.params[param.name]
            flag = next(f[2:] for f in param.opts if f.startswith("--"))  # named as in a config file
            out[flag] = list(value) if isinstance(value, tuple) else value
    if "run_config" in ctx.meta:
        out["config"] = ctx.meta["run_config"]
    return out

"""Sweep TOML files: read into SweepConfig values, written back from one;
a finished run dir's records read back with its config.

Every key is a :class:`~jaxmnist.sweep.config.SweepConfig` field's declared
TOML key (``table.key`` for the keys of a table such as ``[tuning]``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from jaxmnist.errors import closest
from jaxmnist.results.records import RunRecords, read_records
from jaxmnist.sweep.config import FIELDS, SweepConfig, coerce, declared


def read_toml(path: str | Path) -> dict[str, Any]:
    """The options in a sweep TOML file, parsed and type-checked (a
    ValueError names the file)."""
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"config file {str(p)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"config file {str(p)!r} cannot be read "
                         f"({type(e).__name__})") from e
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"config file {str(p)!r} is not valid TOML: "
                         f"{e}") from e
    try:
        return _read_values(raw)
    except ValueError as e:
        raise ValueError(f"config file {str(p)!r}: {e}") from e


def read_config(path: Path) -> SweepConfig:
    """The SweepConfig a run dir's ``config.toml`` holds."""
    return SweepConfig(**read_toml(path))


def read_run(run_dir: str | Path) -> RunRecords:
    """The records of a finished run directory, its config a SweepConfig
    (:func:`jaxmnist.results.records.read_records`; a ValueError of one
    line when it is not a finished run dir or a file in it is damaged)."""
    return read_records(run_dir, read_config)


def check_values(path: str | Path, values: dict[str, Any]) -> None:
    """ValueError naming the file ``path`` unless its ``values`` (those
    the command line leaves) make a valid SweepConfig."""
    try:
        SweepConfig(**values)
    except ValueError as e:
        raise ValueError(f"config file {str(path)!r}: {e}") from e


def _read_values(raw: dict[str, Any]) -> dict[str, Any]:
    by_key = {declared(n).toml or n: n for n in FIELDS}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key in by_key:
            values[by_key[key]] = coerce(by_key[key], value)
        elif isinstance(value, dict) and any(k.startswith(f"{key}.")
                                             for k in by_key):
            values.update(_read_table(key, value, by_key))
        elif key in {k.split(".")[0] for k in by_key if "." in k}:
            raise ValueError(f"[{key}] must be a table, got {value!r}")
        else:
            values[key] = coerce(key, value)  # raises: unknown key
    return values


def _read_table(table: str, value: dict, by_key: dict[str, str]) -> dict:
    keys = [k.split(".", 1)[1] for k in by_key if k.startswith(f"{table}.")]
    out = {}
    for k, v in value.items():
        if k not in keys:
            raise ValueError(f"unknown [{table}] key {k!r}{closest(k, keys)}"
                             f"; valid keys: {', '.join(keys)}")
        out[by_key[f"{table}.{k}"]] = coerce(by_key[f"{table}.{k}"], v)
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v)


def to_toml(cfg: SweepConfig) -> str:
    """The config as TOML that :func:`read_toml` reads back identically."""
    top, tables = [], {}
    for name in FIELDS:
        value, key = getattr(cfg, name), declared(name).toml or name
        if name == "learning_rates":  # a table of its own
            if value:
                tables["learning_rates"] = [f"{opt} = {_fmt(list(lrs))}"
                                            for opt, lrs in value]
        elif name == "optimizer_options":  # a table per optimizer
            for opt, options in value:
                tables[f"optimizer_options.{opt}"] = [
                    f"{k} = {_fmt(list(v))}" for k, v in options]
        elif "." in key:
            table, sub = key.split(".", 1)
            tables.setdefault(table, []).append(f"{sub} = {_fmt(value)}")
        elif value is not None:
            top.append(f"{key} = {_fmt(value)}")
    for table, lines in tables.items():
        top += ["", f"[{table}]", *lines]
    return "\n".join(top) + "\n"

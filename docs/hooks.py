"""mkdocs hooks: the repository's figures/ served beside the pages, and the
tables that must not drift from the code generated from it.

A page asks for a generated table with a marker line:

- ``<!-- sweep-options -->``: every sweep option, built from the argparse
  parser that ``python -m jaxmnist.sweep --help`` prints, so the page and
  ``--help`` say the same.
- ``<!-- optimizer-table -->``: every registered optimizer with its default
  learning rate and batch size, why, and its vmappable options.

The docstrings cross-reference in Sphinx's roles (``:func:`name```); the
API pages show the name as code, without the role.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]


def on_files(files, config):
    """Serve the repository's figures/*.png at figures/ beside the pages."""
    for png in sorted((ROOT / "figures").glob("*.png")):
        files.append(File(f"figures/{png.name}", str(ROOT), config["site_dir"],
                          config["use_directory_urls"]))
    return files


def cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def sweep_options_table() -> str:
    from jaxmnist.cli.sweep import build_parser  # noqa: PLC0415
    from jaxmnist.sweep import config as sweep_config  # noqa: PLC0415

    rows = ["| option | TOML key | what it does (default) |",
            "| --- | --- | --- |"]
    for group in build_parser()._action_groups:
        for action in group._group_actions:
            if not action.option_strings or action.help is None:
                continue
            flags = ", ".join(f"`{f}`" for f in action.option_strings)
            if isinstance(action, argparse.BooleanOptionalAction):
                flags = f"`{action.option_strings[0]}` / `--no-...`"
            name = action.dest
            toml = ""
            if name in sweep_config.FIELDS:
                toml = f"`{sweep_config.declared(name).toml or name}`"
            rows.append(f"| {flags} | {toml} | {cell(action.help)} |")
    return "\n".join(rows)


def optimizer_table() -> str:
    from jaxmnist.optim.registry import OPTIMIZERS, get_spec  # noqa: PLC0415

    rows = ["| optimizer | batch | learning rate | why | vmappable options |",
            "| --- | --- | --- | --- | --- |"]
    for name in OPTIMIZERS:
        spec = get_spec(name)
        options = ", ".join(f"`{k}` ({v:g})"
                            for k, v in spec.vmappable.items()) or "none"
        batch = 1 if spec.per_sample else spec.batch_size
        rows.append(f"| `{name}` | {batch} | {spec.learning_rate:g} | "
                    f"{cell(spec.why)} | {options} |")
    return "\n".join(rows)


MARKERS = {"<!-- sweep-options -->": sweep_options_table,
           "<!-- optimizer-table -->": optimizer_table}


def on_page_markdown(markdown, page, config, files):
    for marker, table in MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, table())
    return markdown


#: A Sphinx role left in front of a docstring's rendered code span.
_SPHINX_ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|obj|exc):"
                          r"<code>~?")


def on_page_content(html, page, config, files):
    """Drop the Sphinx roles (``:func:``, and a ``~``) the docstrings'
    references carry."""
    return _SPHINX_ROLE.sub("<code>", html)

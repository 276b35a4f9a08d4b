"""docs/cli.md is generated from the argparse parsers and agrees with `logstep COMMAND --help`."""

from __future__ import annotations

import argparse

import pytest

from logstep import cli
from tools import render_cli_docs as rcd

pytestmark = pytest.mark.docs


def test_committed_cli_reference_is_up_to_date() -> None:
    committed = rcd.OUTPUT.read_text() if rcd.OUTPUT.exists() else ""
    assert committed == rcd.render(), (
        "docs/cli.md is out of date with `logstep --help` (a command or option was added, removed "
        "or changed): run `make cli-docs` (python tools/render_cli_docs.py) and commit docs/cli.md"
    )


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_every_option_in_help_is_in_its_section(name: str) -> None:
    page = rcd.OUTPUT.read_text()
    section = page.split(f"\n## logstep {name}\n", 1)[1].split("\n## ", 1)[0]
    parser = rcd.command_parser(name)
    help_text = parser.format_help()
    for action in parser._actions:
        if action.help == argparse.SUPPRESS:
            continue
        for option in action.option_strings:
            assert option in help_text
            assert f"`{option}" in section, f"{option} of logstep {name} is not in docs/cli.md"


def test_usage_wraps_and_repeats_metavars_as_argparse_does() -> None:
    parser = argparse.ArgumentParser(prog="logstep x")
    parser.add_argument("files", nargs="+")
    parser.add_argument("--mode", choices=("a", "b"), required=True)
    parser.add_argument("--tag", action="append", metavar="K=V", help="default %(default)s")
    assert rcd.usage(parser) == "usage: logstep x [-h] --mode {a,b} [--tag K=V] files [files ...]"
    rows = rcd.options_table(parser)
    assert "| `--mode {a,b}` |  |  |" in rows
    assert "| `--tag K=V` |  | default None |" in rows

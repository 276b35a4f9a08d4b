"""``logstep destroy``: remove a stage (see logstep/deploy/deploy.py for the sequence)."""

from __future__ import annotations

import argparse

from logstep.deploy.deploy import add_destroy_arguments, run_destroy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``logstep destroy`` options."""
    add_destroy_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``logstep destroy``."""
    return run_destroy(args)

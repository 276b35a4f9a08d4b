"""The ``logstep`` command. Subcommands import their modules lazily, so ``logstep transform``
never pays for boto3 or moto (it is benchmarked as a whole process)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# subcommand -> (module, one-line help). Each module has add_arguments(parser) and run(args) -> int.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("logstep.sandbox.demo", "run the whole pipeline on the embedded sandbox and summarise it"),
    "transform": ("logstep.transform_cmd", "print the documents the pipeline would deliver"),
    "replay": ("logstep.replay", "resend the records a failed execution left pending"),
    "cost": ("logstep.cost.command", "price a run's counters per GB of logs and per million events"),
    "executions": (
        "logstep.executions",
        "list recent executions; failed ones with cause and pending records",
    ),
    "show": ("logstep.show", "one execution, step by step, from its history"),
    "infra": ("logstep.deploy.infra", "render the infrastructure template for a stage"),
    "deploy": ("logstep.deploy.deploy", "deploy a stage to AWS: stack, chalice deploy, mapping settings"),
    "destroy": ("logstep.deploy.destroy", "remove a stage: subscription filters, Chalice, bucket, stack"),
    "index": (
        "logstep.deploy.index",
        "set up the search cluster's index template and retention; show the indices",
    ),
    "local": ("logstep.sandbox.local", "run the sandbox as a service: moto server, onboarding API, pipeline"),
}


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; only the selected subcommand's module is imported."""
    parser = argparse.ArgumentParser(prog="logstep", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(module=module_name)
        if name == selected:
            _module(module_name).add_arguments(command)
    return parser


def _module(name: str):  # type: ignore[no-untyped-def]
    return importlib.import_module(name)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``logstep`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(selected if selected in COMMANDS else None).parse_args(argv)
    try:
        code: int = _module(args.module).run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code

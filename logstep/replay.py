"""logstep replay EXECUTION_ARN: resend exactly the records a failed execution left pending.

Works against AWS with the usual credentials, or against a sandbox endpoint
(``--endpoint-url http://127.0.0.1:5000`` for ``logstep local``). Each chunk's pending
set is rewritten after every attempt, so a second replay sends nothing. An execution
that failed before its documents existed (in Decode or Transform) is replayed by
starting a new execution on the same claim-checked batch.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib import jsoncodec
from chalicelib.batching import Record, decode_records, encode_records
from chalicelib.claimcheck import ClaimCheck, manifest_key, pending_key, rejected_key
from chalicelib.delivery.kinesis import KinesisDelivery
from chalicelib.delivery.outcome import Delivery
from chalicelib.delivery.search import HttpTransport, SearchDelivery, signer_for
from chalicelib.settings import SEARCH_AUTHS, DeliveryLimits, SearchSettings


@dataclass(frozen=True)
class PendingSet:
    """What one chunk of an execution still has to send."""

    index: int
    records: list[Record]


@dataclass
class ReplayResult:
    """What a replay did."""

    execution: str
    sent: int = 0
    still_pending: int = 0
    chunks: int = 0
    attempts: int = 0
    restarted_execution: str | None = None
    errors: dict[str, int] = field(default_factory=dict)


def run_delivery(store: ClaimCheck, run: str) -> tuple[str, str]:
    """(delivery, target) the run's chunks were made for; runs from before it was recorded: kinesis."""
    manifest = store.get_optional(manifest_key(run))
    chunks = json.loads(manifest)["chunks"] if manifest is not None else []
    first = chunks[0] if chunks else {}
    return str(first.get("delivery") or "kinesis"), str(first.get("target") or "")


def chunk_keys(store: ClaimCheck, run: str) -> list[str] | None:
    """The run's chunks if Transform finished writing them, else None (none or a partial set).

    Transform lists them in ``chunks.json`` last; runs from before that file existed count
    as finished when Summarize (which runs only after Transform) wrote their summary.
    """
    manifest = store.get_optional(manifest_key(run))
    if manifest is not None:
        return [str(chunk["key"]) for chunk in json.loads(manifest)["chunks"]]
    if store.get_optional(f"{run}summary.json") is not None:
        return store.list_keys(f"{run}chunks/")
    return None


def pending_sets(store: ClaimCheck, run: str) -> list[PendingSet]:
    """Every chunk of a run with records still to send (its pending set, or the whole chunk)."""
    out: list[PendingSet] = []
    for key in chunk_keys(store, run) or []:
        index = int(key.rsplit("/", 1)[-1].split(".", 1)[0])
        blob, _ = store.remaining(run, index, key)
        records = decode_records(blob)
        if records:
            out.append(PendingSet(index=index, records=records))
    return out


def delivered(store: ClaimCheck, run: str) -> bool:
    """Whether an execution on this run's batch delivered everything (it then deleted the batch)."""
    summary = store.get_optional(f"{run}summary.json")
    return summary is not None and json.loads(summary).get("pending") == 0


def restart(sfn: Any, store: ClaimCheck, run: str, description: dict[str, Any]) -> str:
    """Start the batch over in a new execution (or find the restart already running).

    Partial chunks and pending sets of the failed Transform are deleted first, so the new
    execution's chunks are the only ones. Restart names are ``<name>-rN``: the first free
    N, unless an earlier restart is still running, which is then the answer.
    """
    if not store.list_keys(f"{run}raw.json"):
        raise RuntimeError(
            f"the batch of {description['executionArn']} is gone from {store.uri(run)} "
            "(expired, or deleted by a run that delivered it): nothing to replay"
        )
    machine = description["stateMachineArn"]
    prefix = machine.replace(":stateMachine:", ":execution:", 1)
    for attempt in range(1, MAX_RESTARTS + 1):
        name = f"{description['name'][:74]}-r{attempt}"
        try:
            earlier = sfn.describe_execution(executionArn=f"{prefix}:{name}")
        except sfn.exceptions.ExecutionDoesNotExist:
            store.delete(store.list_keys(f"{run}chunks/") + store.list_keys(f"{run}pending/"))
            started = sfn.start_execution(stateMachineArn=machine, name=name, input=description["input"])
            return str(started["executionArn"])
        if earlier["status"] == "RUNNING":
            return str(earlier["executionArn"])
    raise RuntimeError(f"{MAX_RESTARTS} restarts of {description['executionArn']} already ran")


MAX_RESTARTS = 20


def destination_for(state_machine_arn: str) -> str:
    """logstep-<stage>-pipeline -> logstep-<stage>-destination (the deterministic naming)."""
    name = state_machine_arn.rsplit(":", 1)[-1]
    return name.removesuffix("-pipeline") + "-destination"


def replay_execution(
    execution_arn: str,
    *,
    sfn: Any,
    s3: Any,
    kinesis: Any,
    stream: str | None = None,
    limits: DeliveryLimits | None = None,
    max_attempts: int = 8,
    sleep: Callable[[float], None] = time.sleep,
    search: Callable[[str], Delivery] | None = None,
) -> ReplayResult:
    """Resend an execution's pending records, with capped exponential backoff and full jitter.

    A run made for the search delivery is resent with ``search(recorded endpoint)``: its
    items carry ``create`` and their ``_id``, so what an earlier attempt wrote answers 409
    and the index keeps one copy.
    """
    description = sfn.describe_execution(executionArn=execution_arn)
    if description["status"] == "RUNNING":
        raise RuntimeError(f"{execution_arn} is still running; replay it once it has ended")
    state = json.loads(description.get("input") or "{}")
    store = ClaimCheck(s3, state["bucket"])
    run = state["run"]
    result = ReplayResult(execution=execution_arn)
    if description["status"] == "SUCCEEDED" or delivered(store, run):
        return result  # every record went out (a restart may have delivered them)
    if chunk_keys(store, run) is None:
        # Transform never finished on this batch: whatever chunks exist are partial.
        result.restarted_execution = restart(sfn, store, run, description)
        return result
    sets = pending_sets(store, run)
    kind, target = run_delivery(store, run)
    delivery: Delivery
    if kind == "search":
        if search is None:
            raise RuntimeError(
                f"{execution_arn} delivered to the search cluster {target}: "
                "give --search-endpoint (and --search-auth) to replay it"
            )
        delivery = search(target)
    else:
        delivery = KinesisDelivery(
            kinesis,
            stream or target or destination_for(description["stateMachineArn"]),
            limits or DeliveryLimits(),
        )
    for pending in sets:
        result.chunks += 1
        records = pending.records
        for attempt in range(max_attempts):
            result.attempts += 1
            outcome = delivery.send(records)
            result.sent += outcome.delivered
            for code, n in outcome.error_counts.items():
                result.errors[code] = result.errors.get(code, 0) + n
            records = outcome.pending
            if outcome.rejections:
                documents = {"documents": outcome.rejections}
                store.put(rejected_key(run, pending.index), jsoncodec.dumps(documents))
            store.put(pending_key(run, pending.index), encode_records(records))
            if not outcome.retryable:
                break
            sleep(random.uniform(0, min(30.0, 0.5 * 2**attempt)))
        result.still_pending += len(records)
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``logstep replay``."""
    parser.add_argument("execution_arn")
    parser.add_argument("--endpoint-url", help="AWS endpoint, e.g. http://127.0.0.1:5000 for logstep local")
    parser.add_argument("--region")
    parser.add_argument("--stream", help="destination stream (default: from the state machine's name)")
    parser.add_argument("--max-attempts", type=int, default=8)
    parser.add_argument(
        "--search-endpoint",
        help="search delivery: the cluster to resend to (default: the one the run was made for)",
    )
    parser.add_argument(
        "--search-auth",
        choices=SEARCH_AUTHS,
        help="search delivery: how to authenticate (default: SigV4 for *.es/*.aoss.amazonaws.com "
        "endpoints, none for a local one)",
    )
    parser.add_argument("--search-secret-arn", help="search delivery: the api-key/basic auth secret")


def run(args: argparse.Namespace) -> int:
    """Replay and report; exit 1 if records are still pending."""
    import boto3

    session = boto3.Session(region_name=args.region)

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=args.endpoint_url)

    def search(recorded: str) -> Delivery:
        environ = {
            "LOGSTEP_SEARCH_ENDPOINT": args.search_endpoint or recorded,
            "LOGSTEP_SEARCH_AUTH": args.search_auth or "",
            "LOGSTEP_SEARCH_SECRET_ARN": args.search_secret_arn or "",
            "AWS_REGION": session.region_name or "",
        }
        if not environ["LOGSTEP_SEARCH_AUTH"] and environ["LOGSTEP_SEARCH_ENDPOINT"].startswith("http://"):
            environ["LOGSTEP_SEARCH_AUTH"] = "none"
        settings = SearchSettings.from_env(environ, lambda _name, default: default)
        credentials = session.get_credentials

        def frozen() -> Any:
            return credentials().get_frozen_credentials()

        sign = signer_for(settings, frozen, client("secretsmanager"))
        return SearchDelivery(HttpTransport(settings.endpoint, sign, settings.timeout_seconds), settings)

    result = replay_execution(
        args.execution_arn,
        sfn=client("stepfunctions"),
        s3=client("s3"),
        kinesis=client("kinesis"),
        stream=args.stream,
        max_attempts=args.max_attempts,
        search=search,
    )
    if result.restarted_execution:
        print(f"no documents were produced; started {result.restarted_execution} on the same batch")
        return 0
    print(
        f"replayed {result.chunks} chunk(s): {result.sent} records sent, "
        f"{result.still_pending} still pending, {result.attempts} rounds"
        + (f", errors {result.errors}" if result.errors else "")
    )
    return 1 if result.still_pending else 0

"""logstep local: the sandbox as a long-running service, for the walkthrough in docs/local-sandbox.md.

One process (moto's state machine interpreter calls Lambda on its own server port, so
the in-process Lambda answer must live in the process that runs the moto server):

- a moto server on 127.0.0.1:--aws-port, so the AWS CLI and boto3 work against it with
  ``--endpoint-url`` (or ``AWS_ENDPOINT_URL``);
- the onboarding API on 127.0.0.1:--api-port, served by Chalice's local server from the
  same ``app.py`` that is deployed;
- the pipeline: a poller standing in for the Kinesis event source mapping, and the real
  state machine with the Chalice handlers as its Lambda tasks;
- the sandbox's search server (osmem-server) on 127.0.0.1:--search-port: the pipeline's
  ``_bulk`` target with ``--delivery search``; with the default Kinesis delivery a Firehose
  stand-in (``logstep.sandbox.firehose``) delivers the destination stream to it;
- the follow-rule sweep on ``--sweep-interval`` (moto sends no CloudTrail events, so new
  groups are found by the sweep here, as the deployed sweep catches what events miss).

It prints the endpoints, a copy-paste walkthrough and, last, a line containing ``ready``
once every endpoint answers. Ctrl-C (or SIGTERM) stops it cleanly.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import signal
import socket
import threading
import time
import urllib.request
import warnings
from collections.abc import Iterator
from typing import Any

from logstep.health import format_health, health_from_emf

HOST = "127.0.0.1"
STAGE = "local"
READY_TIMEOUT_SECONDS = 30.0
# The deployed sweep runs every 15 minutes; locally a minute keeps the walkthrough short.
DEFAULT_SWEEP_INTERVAL_SECONDS = 60.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``logstep local``."""
    parser.add_argument("--api-port", type=int, default=8000, help="the onboarding API's port")
    parser.add_argument("--aws-port", type=int, default=5000, help="the moto server's port")
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=1.0,
        help="seconds between polls of the source stream (the event source mapping)",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=0.01,
        help="multiplier on the state machine's Retry backoff sleeps (1 = real time)",
    )
    parser.add_argument(
        "--delivery",
        choices=("kinesis", "search"),
        default="kinesis",
        help="kinesis: documents go to the destination stream; search: straight to a search "
        "server (osmem-server) on --search-port with _bulk",
    )
    parser.add_argument(
        "--search-port",
        type=int,
        default=9200,
        help="the search server's port (the _bulk target with --delivery search, the Firehose "
        "stand-in's with kinesis)",
    )
    parser.add_argument(
        "--sweep-interval",
        type=float,
        default=DEFAULT_SWEEP_INTERVAL_SECONDS,
        metavar="SECONDS",
        help="seconds between sweeps of the follow rules (the stage's schedule: 15 minutes)",
    )
    parser.add_argument("--quiet", action="store_true", help="no pipeline progress lines")


def walkthrough(
    api_url: str,
    aws_url: str,
    region: str,
    destination_stream: str,
    search_url: str | None = None,
    delivery: str = "kinesis",
) -> str:
    """The copy-paste walkthrough printed at start (and shown in docs/local-sandbox.md).

    With a search server (``search_url``) it ends with a search of the index: in the search
    delivery instead of reading the destination stream, in the Kinesis delivery after it
    (the Firehose stand-in delivers the stream to the index).
    """
    json_event = (
        '{"timestamp": $(date +%s000), "message": '
        '"{\\"level\\": \\"error\\", \\"message\\": \\"payment declined\\", '
        '\\"orderId\\": 42}"}'
    )
    report_event = (
        '{"timestamp": $(date +%s000), "message": "REPORT RequestId: '
        "3f1c2a5e-8d0b-4c6e-9a7f-1b2c3d4e5f60 Duration: 12.34 ms Billed Duration: 13 ms "
        'Memory Size: 128 MB Max Memory Used: 70 MB"}'
    )
    lines = [
        "# 1. Point the AWS CLI at the sandbox (any credentials work):",
        f"export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION={region}",
        f"export AWS_ENDPOINT_URL={aws_url}",
        "",
        "# 2. Create a log group and onboard it through the API:",
        "aws logs create-log-group --log-group-name /aws/lambda/orders",
        f"curl -s -w '\\n' -X POST {api_url}/subscriptions -d '{{\"logGroupName\": \"/aws/lambda/orders\"}}'",
        f"curl -s -w '\\n' {api_url}/subscriptions",
        "",
        "# 3. Write log events:",
        "aws logs create-log-stream --log-group-name /aws/lambda/orders --log-stream-name web-1",
        "cat > events.json <<EOF",
        f"[{json_event},",
        f" {report_event}]",
        "EOF",
        "aws logs put-log-events --log-group-name /aws/lambda/orders --log-stream-name web-1 \\",
        "  --log-events file://events.json",
        "",
    ]
    offboard = f"{api_url}/subscriptions?logGroupName=/aws/lambda/orders"
    if search_url is not None and delivery == "search":
        search_steps = [
            "# 4. To stop shipping the group later, offboard it:",
            f"#   curl -s -w '\\n' -X DELETE '{offboard}'",
            "",
            "# 5. A few seconds after step 3, search the index:",
            f"curl -s '{search_url}/logstep-*/_count'",
            f"curl -s '{search_url}/logstep-*/_search?q=level:ERROR'",
        ]
        return "\n".join([*lines, *search_steps]) + "\n"
    lines += [
        "# 4. A few seconds later, read the transformed documents off the destination stream:",
        f"IT=$(aws kinesis get-shard-iterator --stream-name {destination_stream} \\",
        "  --shard-id shardId-000000000000 --shard-iterator-type TRIM_HORIZON \\",
        "  --query ShardIterator --output text)",
        "aws kinesis get-records --shard-iterator \"$IT\" --query 'Records[].Data' --output text \\",
        "  | tr '\\t' '\\n' | while read -r data; do echo \"$data\" | base64 -d; echo; done",
        "",
    ]
    if search_url is None:
        lines += ["# 5. Offboard the group:", f"curl -s -w '\\n' -X DELETE '{offboard}'"]
        return "\n".join(lines) + "\n"
    lines += [
        "# 5. To stop shipping the group later, offboard it:",
        f"#   curl -s -w '\\n' -X DELETE '{offboard}'",
        "",
        "# 6. Firehose (the sandbox's stand-in) delivers the stream to the search server once its",
        "#    buffer interval is up (300 s x --time-scale: 3 s by default); search the index:",
        f"curl -s '{search_url}/logstep-*/_count'",
        f"curl -s '{search_url}/logstep-*/_search?q=level:ERROR'",
    ]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    """Start everything, print the walkthrough and ``ready``, serve until Ctrl-C."""
    ports = [(args.aws_port, "--aws-port"), (args.api_port, "--api-port")]
    search = _start_search(args)
    if search is not None:
        ports.append((args.search_port, "--search-port"))
    for port, flag in ports:
        if not _port_free(port):
            print(f"logstep local: port {port} on {HOST} is in use; pick another with {flag}")
            return 2
    if len({port for port, _ in ports}) != len(ports):
        print(f"logstep local: {', '.join(flag for _, flag in ports)} must differ")
        return 2
    if args.sweep_interval <= 0:
        print("logstep local: --sweep-interval must be a positive number of seconds")
        return 2

    from chalice.config import Config
    from chalice.local import create_local_server

    from logstep.sandbox.pipeline import Sandbox, SandboxConfig

    stop = threading.Event()
    # Ctrl-C and SIGTERM both stop cleanly (a shell's background job starts with SIGINT
    # ignored, so the default handler is installed explicitly).
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    previous_term = signal.signal(signal.SIGTERM, lambda *_: _interrupt())
    _quiet_library_output()
    config = SandboxConfig(
        stage=STAGE,
        source_shards=1,
        destination_shards=1,
        time_scale=args.time_scale,
        aws_port=args.aws_port,
    )
    sandbox = Sandbox(config)
    # The onboarding API's stage settings: Chalice's local server has no function ARN to
    # complete ARNs from, so they are given whole.
    config.environment.update(
        {
            "LOGSTEP_SOURCE_STREAM_ARN": sandbox.stream_arn(sandbox.source_stream),
            "LOGSTEP_LOGS_ROLE_ARN": sandbox.logs_role_arn,
        }
    )
    api_url = f"http://{HOST}:{args.api_port}"
    try:
        print(f"logstep local: starting the moto server on {sandbox.endpoint_url} ...", flush=True)
        with contextlib.ExitStack() as stack:
            if search is not None:
                stack.enter_context(search)
                if args.delivery == "search":
                    # The handlers read the stage environment when the sandbox starts.
                    config.environment.update(search.environment())
            stack.enter_context(sandbox)
            if search is not None and args.delivery == "kinesis":
                stack.callback(_start_firehose(sandbox, search, args.poll_interval, args.quiet).stop)
            stack.enter_context(_serving_api(sandbox, args.api_port, Config, create_local_server))
            poller = threading.Thread(
                target=_poll,
                args=(sandbox, args.poll_interval, stop, args.quiet),
                name="logstep-poller",
                daemon=True,
            )
            poller.start()
            # At exit the poller stops (then is waited for) before moto does: no failed poll.
            stack.callback(poller.join, 5)
            stack.callback(stop.set)
            search_url = search.url if search is not None else None
            _wait_until_answering(api_url, sandbox, search_url)
            endpoint = sandbox.endpoint_url or ""
            print(_banner(api_url, endpoint, sandbox, search_url, args.delivery), flush=True)
            print(
                walkthrough(
                    api_url,
                    endpoint,
                    sandbox.config.region,
                    sandbox.destination_stream,
                    search_url,
                    args.delivery,
                ),
                flush=True,
            )
            serving = f"API {api_url}, AWS {endpoint}" + (f", search {search_url}" if search_url else "")
            print(f"logstep local: ready ({serving}); Ctrl-C stops", flush=True)
            # Started after "ready", so that line stays the last one of start-up.
            threading.Thread(
                target=_sweep,
                args=(sandbox, args.sweep_interval, stop, args.quiet),
                name="logstep-sweep",
                daemon=True,
            ).start()
            while not stop.wait(0.5):
                pass
    except KeyboardInterrupt:
        print("\nlogstep local: stopping ...", flush=True)
    finally:
        stop.set()
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)
    print("logstep local: stopped", flush=True)
    return 0


def _interrupt() -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _serving_api(sandbox: Any, port: int, config_cls: Any, create_server: Any) -> Iterator[None]:
    """Chalice's local server for app.py's routes, on a daemon thread."""
    import app

    config = config_cls.create(
        chalice_stage=sandbox.config.stage,
        app_name="logstep",
        lambda_timeout=30,
        lambda_memory_size=128,
    )
    server = create_server(app.app, config, HOST, port)
    # One short line per API request instead of http.server's access log.
    server.server.RequestHandlerClass = functools.partial(
        _api_request_handler(), app_object=app.app, config=config
    )
    thread = threading.Thread(target=server.server.serve_forever, name="logstep-api", daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server.server_close()
        thread.join(timeout=5)


def _api_request_handler() -> Any:
    from chalice.local import ChaliceRequestHandler

    class ApiRequestHandler(ChaliceRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            print(f"[api] {self.command} {self.path} -> {code}", flush=True)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return ApiRequestHandler


def _quiet_library_output() -> None:
    """Keep moto's per-request access log and Chalice's local-auth warning off the terminal
    (the banner carries that warning, in words about this API)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="IAMAuthorizer is not a supported in local mode")


def _poll(sandbox: Any, interval: float, stop: threading.Event, quiet: bool) -> None:
    """The event source mapping: poll the source stream, ingest batches, report executions."""
    reported: set[str] = set()
    while not stop.wait(interval):
        try:
            records = sandbox.pump()
            if records and not quiet:
                print(f"[pipeline] {records} source records ingested", flush=True)
            finished = False
            for execution in sandbox.executions():
                name, status = execution["name"], execution["status"]
                if status != "RUNNING" and name not in reported:
                    reported.add(name)
                    finished = True
                    if not quiet:
                        print(f"[pipeline] execution {name}: {status}", flush=True)
            if finished and not quiet:
                # The same numbers the stage's CloudWatch metrics would show.
                print(_indent(format_health(health_from_emf(sandbox.metric_documents))), flush=True)
        except Exception as e:  # keep polling: a failed poll is retried, like Lambda's
            if stop.is_set():
                return
            print(f"[pipeline] poll failed ({type(e).__name__}: {e}); retrying", flush=True)


def _sweep(sandbox: Any, interval: float, stop: threading.Event, quiet: bool) -> None:
    """The sweep's schedule: run the follow-rule sweep every ``interval`` seconds."""
    while not stop.wait(interval):
        try:
            report, error = sandbox.sweep_follows()
            if error is not None:
                print(f"[follows] sweep failed ({error['errorType']}: {error['errorMessage']})", flush=True)
                continue
            counts = report["counts"]
            if not quiet and (
                counts["subscribed"] or counts["failed"] or report["reapplied"] or report["errors"]
            ):
                print(
                    f"[follows] sweep: {counts['subscribed']} subscribed, {counts['failed']} failed, "
                    f"{report['reapplied']} re-applied, {len(report['rulesResuming'])} rules to resume"
                    + (f", errors: {', '.join(report['errors'])}" if report["errors"] else ""),
                    flush=True,
                )
        except Exception as e:  # keep sweeping, as the next scheduled run would
            if stop.is_set():
                return
            print(f"[follows] sweep failed ({type(e).__name__}: {e}); retrying", flush=True)


def _indent(text: str) -> str:
    return "\n".join(f"[pipeline] {line}" for line in text.splitlines())


def _wait_until_answering(api_url: str, sandbox: Any, search_url: str | None = None) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    kinesis = sandbox.client("kinesis")
    while True:
        try:
            kinesis.list_streams()
            if search_url is not None:
                with urllib.request.urlopen(search_url, timeout=5) as answer:
                    answer.read()
            with urllib.request.urlopen(f"{api_url}/subscriptions?limit=1", timeout=5) as answer:
                if answer.status == 200:
                    return
        except Exception:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def _banner(
    api_url: str, aws_url: str, sandbox: Any, search_url: str | None = None, delivery: str = "kinesis"
) -> str:
    if search_url is None:
        destination = sandbox.destination_stream
    elif delivery == "search":
        destination = f"_bulk -> search server {search_url} (osmem-server)"
    else:
        destination = (
            f"{sandbox.destination_stream} -> Firehose stand-in -> search server {search_url} (osmem-server)"
        )
    return f"""
logstep local (stage {sandbox.config.stage}, region {sandbox.config.region})
  onboarding API   {api_url}/subscriptions
  follow rules     {api_url}/follows
  AWS (moto)       {aws_url}
  source stream    {sandbox.source_stream}
  destination      {destination}

WARNING: Chalice's local server lets IAM-protected routes through UNSIGNED. The deployed
API requires SigV4 (IAM) on every route; nothing here checks who is calling.
"""


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def _start_search(args: argparse.Namespace) -> Any:
    """The search server (not yet started), or None where osmem-server cannot run."""
    from logstep.sandbox.search import SearchSandbox, osmem_available

    reason = osmem_available()
    if reason and args.delivery == "kinesis":
        print(
            f"logstep local: cannot start a search server on this platform ({reason}); "
            "the documents stay on the destination stream (no Firehose stand-in)",
            flush=True,
        )
        return None
    if reason:
        print(
            f"logstep local: cannot start a search server on this platform ({reason}); "
            "falling back to the Kinesis delivery",
            flush=True,
        )
        return None
    return _TemplatedSearch(SearchSandbox(addr=f"{HOST}:{args.search_port}"))


def _start_firehose(sandbox: Any, search: Any, interval: float, quiet: bool) -> Any:
    """The Firehose stand-in, polling the destination stream on a thread; progress printed."""
    from logstep.sandbox.firehose import stand_in_for

    firehose = stand_in_for(sandbox, search)
    seen = [0, 0]

    def report(stand_in: Any) -> None:
        counters = stand_in.counters
        if [counters.indexed, counters.backed_up] != seen and not quiet:
            print(
                f"[firehose] {counters.indexed - seen[0]} documents indexed"
                + (
                    f", {counters.backed_up - seen[1]} backed up to S3"
                    if counters.backed_up > seen[1]
                    else ""
                ),
                flush=True,
            )
        seen[:] = [counters.indexed, counters.backed_up]

    def failed(error: Exception) -> None:
        print(f"[firehose] poll failed ({type(error).__name__}: {error}); retrying", flush=True)

    firehose.start(interval, on_poll=report, on_error=failed)
    return firehose


class _TemplatedSearch:
    """The search server, with logstep's index template installed once it is up."""

    def __init__(self, search: Any) -> None:
        self._search = search

    def __getattr__(self, name: str) -> Any:
        return getattr(self._search, name)

    def __enter__(self) -> Any:
        from logstep.sandbox.search import install_index_template

        self._search.__enter__()
        install_index_template(self._search)
        return self

    def __exit__(self, *exc: object) -> None:
        self._search.__exit__(*exc)

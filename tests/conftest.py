"""Shared fixtures: the sandbox with Retry sleeps recorded instead of slept."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.helpers import corpus_dir


class SleepRecorder:
    """Stands in for the interpreter's sleep: records what Retry asked for."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    """The Retry sleeps of the sandbox made by ``make_sandbox``."""
    return SleepRecorder()


@pytest.fixture
def make_sandbox(sleeps: SleepRecorder) -> Iterator[Callable[..., Any]]:
    """A factory for a started sandbox (Retry sleeps recorded, not slept); stops it after the test."""
    from logstep.sandbox.pipeline import Sandbox, SandboxConfig

    started: list[Any] = []

    def make(**kwargs: Any) -> Any:
        kwargs.setdefault("sleep", sleeps)
        sandbox = Sandbox(SandboxConfig(**kwargs))
        sandbox.__enter__()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in reversed(started):
        sandbox.__exit__(None, None, None)


@pytest.fixture
def corpus() -> Any:
    """../shared/corpus, or skip."""
    path = corpus_dir()
    if path is None:
        pytest.skip("../shared/corpus is absent")
    return path


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """chalice.test.Client on app.py's dev stage, with a Lambda context that has an ARN."""
    import chalice.test

    import app as chalice_app

    class ContextWithArn(chalice.test.LambdaContext):  # type: ignore[misc]
        """chalice.test's context has an empty ARN; Lambda's names the function's account."""

        def __init__(self, function_name: str, *args: Any, **kwargs: Any) -> None:
            super().__init__(function_name, *args, **kwargs)
            self.invoked_function_arn = (
                f"arn:aws:lambda:us-east-1:123456789012:function:logstep-dev-{function_name}"
            )

    monkeypatch.setattr(chalice.test, "LambdaContext", ContextWithArn)
    with chalice.test.Client(chalice_app.app, stage_name="dev") as test_client:
        yield test_client


@pytest.fixture
def make_search() -> Iterator[Callable[..., Any]]:
    """A factory for the sandbox's search server (osmem-server behind the fault proxy), with
    the index template installed; skips where osmem-server cannot run."""
    from logstep.sandbox.search import (
        SearchFaultPlan,
        SearchSandbox,
        install_index_template,
        osmem_available,
    )

    reason = osmem_available()
    if reason:
        pytest.skip(reason)
    started: list[Any] = []

    def make(template: bool = True, **plan: Any) -> Any:
        search = SearchSandbox(SearchFaultPlan(**plan))
        search.__enter__()
        started.append(search)
        if template:
            install_index_template(search)
        return search

    yield make
    for search in reversed(started):
        search.__exit__(None, None, None)

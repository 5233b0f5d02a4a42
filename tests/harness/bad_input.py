"""The bad-input corpus: each case is a prompt a careless or hostile user could send through /prompt. A refused
case must be reported by the named node, in words that say what to do; a handled case must simply run. Either
way the server then runs a valid prompt, and no message shows a server path the user did not name."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .graphs import tiny_pipeline, write_reference
from tools.comfyui_server import ComfyServer, execution_error


@dataclass(frozen=True)
class Refused:
    """``build(server, reference)`` gives the prompt; ``node`` must report it, with every one of ``words``."""

    build: Callable[[ComfyServer, str], dict]
    node: str
    words: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Handled:
    """A prompt that looks odd but is valid: it runs."""

    build: Callable[[ComfyServer, str], dict]


def reported_error(server: ComfyServer, prompt: dict) -> tuple[str, str] | None:
    """(node id, message) of the error the prompt gets when queued or when run; None if it ran."""
    status, body = server.queue(prompt)
    if status != 200:
        assert status == 400, body
        [(node_id, report)] = body["node_errors"].items()
        return node_id, " ".join(f"{error['message']}: {error['details']}" for error in report["errors"])
    error = execution_error(server.wait(body["prompt_id"]))
    return None if error is None else (error["node_id"], error["exception_message"])


def check_case(server: ComfyServer, name: str, case: Refused | Handled) -> None:
    reference = write_reference(server.base, "corpus_reference.png")
    outcome = reported_error(server, case.build(server, reference))
    if isinstance(case, Handled):
        assert outcome is None, f"{name}: {outcome}"
    else:
        assert outcome is not None, f"{name}: the bad prompt ran without an error"
        node_id, message = outcome
        assert node_id == case.node, message
        for word in case.words:
            assert word in message, f"{word!r} missing from: {message}"
        assert "Traceback" not in message and server.base not in message, message
    entry = server.run(tiny_pipeline(reference, steps=2, prompt=f"after the case {name}"))
    assert entry["status"]["status_str"] == "success", execution_error(entry)

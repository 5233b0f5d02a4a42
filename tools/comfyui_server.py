"""A real ComfyUI server in a subprocess: its own base directory, a free port, stopped by PID."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .comfyui_trees import PROJECT_ROOT, comfyui_path

if TYPE_CHECKING:
    import torch

PACK_ROOT = PROJECT_ROOT
PACK_NAME = "ComfyUI-Squeeze"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class ComfyServer:
    """One ComfyUI process; ``base`` holds its custom_nodes, models, input and output folders."""

    base: str
    extra_nodes: list[str] = field(default_factory=list)
    python: str = sys.executable
    """The interpreter ComfyUI runs on (another environment than the tests' own, for an install test)."""
    pack: str = PACK_ROOT
    """The pack's folder, linked into custom_nodes as ComfyUI-Squeeze."""
    port: int = 0
    process: subprocess.Popen | None = None
    log_path: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def models(self, *parts: str) -> str:
        path = os.path.join(self.base, "models", *parts)
        os.makedirs(os.path.dirname(path) if "." in os.path.basename(path) else path, exist_ok=True)
        return path

    def start(self, timeout: float = 120.0) -> ComfyServer:
        comfy = comfyui_path()
        nodes_dir = os.path.join(self.base, "custom_nodes")
        os.makedirs(nodes_dir, exist_ok=True)
        for folder in ("input", "output", "temp", "user"):
            os.makedirs(os.path.join(self.base, folder), exist_ok=True)
        for source in [self.pack, *self.extra_nodes]:
            name = PACK_NAME if source == self.pack else os.path.basename(source)
            link = os.path.join(nodes_dir, name)
            if not os.path.lexists(link):
                os.symlink(source, link)
        self.port = self.port or _free_port()
        self.log_path = os.path.join(self.base, "comfyui.log")
        command = [
            self.python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
            "--base-directory", self.base, "--disable-api-nodes", "--disable-auto-launch",
            # A file, not :memory:: some versions' asset scanner needs tables that outlive one connection.
            "--database-url", f"sqlite:///{os.path.join(self.base, 'comfyui.db')}",
        ]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, cwd=comfy, stdout=log, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                self.get("/object_info/KSampler")
                return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"ComfyUI did not answer within {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def log_text(self) -> str:
        """Everything the server has logged so far."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as log:
                return log.read()
        except OSError:
            return ""

    def log_tail(self, chars: int = 6000) -> str:
        return self.log_text()[-chars:]

    def request(self, path: str, payload: dict | None = None, timeout: float = 60.0):
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.url + path, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                body = response.read()
                return response.status, (json.loads(body) if body else None)
        except urllib.error.HTTPError as error:
            body = error.read()
            try:
                return error.code, json.loads(body)
            except json.JSONDecodeError:
                return error.code, body.decode(errors="replace")

    def fetch(self, path: str) -> tuple[int, str, bytes]:
        """(status, content type, body) of a GET, for files the server serves."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=60) as response:
                return response.status, response.headers.get("Content-Type", ""), response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Content-Type", ""), error.read()

    def get(self, path: str):
        status, body = self.request(path)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body}")
        return body

    def queue(self, prompt: dict) -> tuple[int, dict]:
        """POST a prompt; returns (HTTP status, body) so tests can read validation errors."""
        return self.request("/prompt", {"prompt": prompt, "client_id": uuid.uuid4().hex})

    def wait(self, prompt_id: str, timeout: float = 600.0) -> dict:
        """The /history entry of a finished prompt (success or error)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            history = self.get(f"/history/{prompt_id}")
            if prompt_id in history and history[prompt_id].get("status", {}).get("completed") is not None:
                entry = history[prompt_id]
                if entry["status"].get("status_str") in ("success", "error"):
                    return entry
            time.sleep(0.25)
        raise TimeoutError(f"prompt {prompt_id} did not finish in {timeout}s:\n{self.log_tail()}")

    def run(self, prompt: dict, timeout: float = 600.0) -> dict:
        """Queue a prompt and wait for it; raises with the server's own words if it was refused."""
        status, body = self.queue(prompt)
        if status != 200:
            raise PromptRefused(body)
        return self.wait(body["prompt_id"], timeout)

    def free_caches(self) -> None:
        """Drop every cached output and model, and return once the next prompt is sure to run without them.

        ``/free`` only sets flags; the worker applies them after the item it is running or has just taken
        from the queue. So a prompt queued right after ``/free`` can still be served from the cache. A tiny
        barrier prompt absorbs that: the worker applies the flags at the latest when it has finished the
        barrier, before it takes any prompt queued after it."""
        status, body = self.request("/free", {"free_memory": True, "unload_models": True})
        if status != 200:
            raise RuntimeError(f"/free answered {status}: {body}")
        entry = self.run({"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1,
                                                                        "color": 0}},
                          "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}})
        if entry["status"]["status_str"] != "success":
            raise RuntimeError(f"the barrier prompt after /free failed: {entry['status']}")

    def output_images(self, entry: dict, saved_only: bool = False) -> list[str]:
        """The images a finished prompt wrote; ``saved_only``: those of its output folder, not its previews."""
        paths = []
        for node_output in entry.get("outputs", {}).values():
            for image in node_output.get("images", []):
                if saved_only and image.get("type", "output") != "output":
                    continue
                paths.append(os.path.join(self.base, image.get("type", "output"), image.get("subfolder", ""),
                                          image["filename"]))
        return paths


def saved_latents(server: ComfyServer, entry: dict) -> dict[str, torch.Tensor]:
    """Latents written by SaveLatent nodes, by node id."""
    from safetensors.torch import load_file

    found = {}
    for node_id, node_output in entry.get("outputs", {}).items():
        for item in node_output.get("latents", []):
            found[node_id] = load_file(os.path.join(server.base, "output", item["subfolder"],
                                                    item["filename"]))["latent_tensor"]
    return found


class PromptRefused(RuntimeError):
    def __init__(self, body):
        super().__init__(json.dumps(body, indent=1) if isinstance(body, dict) else str(body))
        self.body = body


def execution_error(entry: dict) -> dict | None:
    """The execution_error message of a failed /history entry, if any."""
    for kind, message in entry.get("status", {}).get("messages", []):
        if kind == "execution_error":
            return message
    return None

"""Headless Chromium driven over the DevTools protocol, to use the real ComfyUI frontend as an artist does.

Debian's ``chromium`` is installed with apt-get on first use when it is missing (a package registry,
the one network the tests may use). One page, one websocket; ``evaluate`` runs JavaScript in the
page and awaits promises, ``screenshot`` writes a PNG.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import aiohttp

FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
         "--remote-debugging-port=0")


def chromium_path() -> str:
    """The Chromium executable ($CHROMIUM, or Debian's package, installed if missing)."""
    own = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if own:
        return own
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return shutil.which("chromium") or "/usr/bin/chromium"


class BrowserError(RuntimeError):
    pass


class Chromium:
    def __init__(self, width: int = 1600, height: int = 1000):
        self.profile = tempfile.mkdtemp(prefix="squeeze-chromium-")
        self.process = subprocess.Popen(
            [chromium_path(), *FLAGS, f"--user-data-dir={self.profile}", f"--window-size={width},{height}",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.loop = asyncio.new_event_loop()
        self.ids = itertools.count(1)
        self.session = self.socket = None
        self.events: list[dict] = []
        self.loop.run_until_complete(self._connect(width, height))

    def _port(self, timeout: float = 30.0) -> int:
        marker = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(marker):
                with open(marker, encoding="utf-8") as handle:
                    first = handle.readline().strip()
                if first:
                    return int(first)
            if self.process.poll() is not None:
                raise BrowserError(f"chromium exited with {self.process.returncode}")
            time.sleep(0.1)
        raise BrowserError("chromium did not open its DevTools port")

    async def _connect(self, width: int, height: int) -> None:
        port = self._port()
        self.session = aiohttp.ClientSession()
        async with self.session.get(f"http://127.0.0.1:{port}/json/list") as response:
            pages = [target for target in await response.json() if target["type"] == "page"]
        self.socket = await self.session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0)
        for method in ("Page.enable", "Runtime.enable"):
            await self._send(method)
        await self._send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                         mobile=False)

    async def _send(self, method: str, **params) -> dict:
        message_id = next(self.ids)
        await self.socket.send_str(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads((await self.socket.receive()).data)
            if message.get("id") == message_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def call(self, method: str, **params) -> dict:
        return self.loop.run_until_complete(self._send(method, **params))

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def evaluate(self, expression: str, timeout: float = 120.0):
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.loop.run_until_complete(asyncio.wait_for(self._send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True), timeout))
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(details.get("exception", {}).get("description") or details.get("text"))
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.25)
        raise BrowserError(f"timed out waiting for: {expression}")

    def console_errors(self) -> list[str]:
        return [event["params"]["exceptionDetails"].get("text", "") for event in self.events
                if event.get("method") == "Runtime.exceptionThrown"]

    def screenshot(self, path: str) -> str:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as handle:
            handle.write(base64.b64decode(data))
        return path

    def close(self) -> None:
        if self.session is not None:
            self.loop.run_until_complete(self.session.close())
        self.loop.close()
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        shutil.rmtree(self.profile, ignore_errors=True)

"""Screenshots of the example graphs as the README shows them and as template thumbnails, each stamped
with the SHA-256 of the workflow file it shows, so a test can tell when a picture is out of date."""

from __future__ import annotations

import hashlib
import os

from PIL import Image, PngImagePlugin

from .comfyui_server import PACK_ROOT

STAMP = "squeeze_workflow_sha256"
SCREENSHOTS_DIR = os.path.join(PACK_ROOT, "docs", "images")
THUMBNAIL_WIDTH = 640


def workflow_digest(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def screenshot_path(workflow_path: str) -> str:
    return os.path.join(SCREENSHOTS_DIR, os.path.basename(workflow_path).replace(".json", ".png"))


def thumbnail_path(workflow_path: str) -> str:
    """Where ComfyUI's template browser looks: beside the workflow, same name, .jpg."""
    return workflow_path[: -len(".json")] + ".jpg"


def write_pictures(workflow_path: str, screenshot: str) -> None:
    digest = workflow_digest(workflow_path)
    os.makedirs(SCREENSHOTS_DIR, exist_ok=True)
    with Image.open(screenshot) as image:
        image = image.convert("RGB")
        info = PngImagePlugin.PngInfo()
        info.add_text(STAMP, digest)
        image.save(screenshot_path(workflow_path), pnginfo=info, optimize=True)
        height = round(image.height * THUMBNAIL_WIDTH / image.width)
        image.resize((THUMBNAIL_WIDTH, height), Image.LANCZOS).save(
            thumbnail_path(workflow_path), quality=85, comment=f"{STAMP}={digest}".encode())


def picture_digests(workflow_path: str) -> dict[str, str | None]:
    """The workflow digest each picture was stamped with (None if missing or unstamped)."""
    found = {}
    screenshot = screenshot_path(workflow_path)
    if os.path.exists(screenshot):
        with Image.open(screenshot) as image:
            found["screenshot"] = image.text.get(STAMP)
    else:
        found["screenshot"] = None
    thumbnail = thumbnail_path(workflow_path)
    if os.path.exists(thumbnail):
        with Image.open(thumbnail) as image:
            comment = image.info.get("comment", b"").decode(errors="replace")
            found["thumbnail"] = comment.split("=", 1)[1] if comment.startswith(STAMP + "=") else None
    else:
        found["thumbnail"] = None
    return found

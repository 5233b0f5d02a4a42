"""The example workflows, end to end: a headless ComfyUI, the workflow file as saved.

``python -m tools.run_workflow [workflow.json]`` is the README's main job: by default it runs the
trained miniature that ships with the pack (two references composed into one scene, the pictures, prompt and
result side by side in one image); the other workflows run on stand-ins of the real models (built once,
cached). It starts ComfyUI on a free port, converts the workflow with the server's /object_info, queues it,
prints the image's path and stops the server.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np
from PIL import Image

from squeeze_core.miniature.example import EXAMPLE_PICTURES, example_pictures

from .comfyui_server import PACK_ROOT, ComfyServer, PromptRefused, execution_error
from .standins import link_standins
from .workflow_api import load_workflow, workflow_to_prompt

WORKFLOWS_DIR = os.path.join(PACK_ROOT, "workflows")
MAIN_WORKFLOW = os.path.join(WORKFLOWS_DIR, "squeeze_miniature.json")
SUBJECT = "squeeze_subject.png"
SECOND_SUBJECT = "squeeze_subject_2.png"
def workflow_files() -> list[str]:
    return sorted(os.path.join(WORKFLOWS_DIR, name) for name in os.listdir(WORKFLOWS_DIR) if name.endswith(".json"))


def write_subject(input_dir: str, name: str = SUBJECT, size: int = 384) -> str:
    """A striped disc with a dark rim on a warm grey ground: the subject the example workflows load."""
    yy, xx = np.mgrid[:size, :size] / size
    radius = np.hypot(yy - 0.5, xx - 0.5)
    pixels = np.empty((size, size, 3), dtype=np.uint8)
    pixels[:] = (150, 140, 128)
    disc = radius < 0.3
    stripes = (np.floor((xx + yy) * 12) % 2).astype(bool)
    pixels[disc & stripes] = (210, 50, 40)
    pixels[disc & ~stripes] = (245, 235, 220)
    pixels[(radius >= 0.27) & disc] = (40, 30, 60)
    return _save(pixels, input_dir, name)


def write_second_subject(input_dir: str, name: str = SECOND_SUBJECT, size: int = 384) -> str:
    """A blue and yellow checkered square on a pale ground: the other subject of the two-subject example."""
    yy, xx = np.mgrid[:size, :size] / size
    pixels = np.empty((size, size, 3), dtype=np.uint8)
    pixels[:] = (205, 215, 222)
    square = (np.abs(yy - 0.5) < 0.28) & (np.abs(xx - 0.5) < 0.28)
    checks = ((np.floor(xx * 10) + np.floor(yy * 10)) % 2).astype(bool)
    pixels[square & checks] = (30, 70, 200)
    pixels[square & ~checks] = (240, 200, 40)
    return _save(pixels, input_dir, name)


def _save(pixels: np.ndarray, input_dir: str, name: str) -> str:
    os.makedirs(input_dir, exist_ok=True)
    Image.fromarray(pixels).save(os.path.join(input_dir, name))
    return name


def write_miniature_pictures(input_dir: str) -> list[str]:
    """The example case's two pictures: subjects the miniature never saw in training."""
    return [_save(picture, input_dir, name) for picture, name in zip(example_pictures(), EXAMPLE_PICTURES)]


def start_example_server(base: str, extra_nodes: list[str] = ()) -> ComfyServer:
    """A ComfyUI whose models folder holds every stand-in and whose input folder holds the subjects (the
    trained miniature comes with the pack)."""
    link_standins(os.path.join(base, "models"))
    write_subject(os.path.join(base, "input"))
    write_second_subject(os.path.join(base, "input"))
    write_miniature_pictures(os.path.join(base, "input"))
    return ComfyServer(base, extra_nodes=list(extra_nodes)).start()


def workflow_prompt(server: ComfyServer, path: str) -> dict:
    return workflow_to_prompt(load_workflow(path), server.get("/object_info"))


def run_prompt(server: ComfyServer, prompt: dict, timeout: float = 900.0) -> list[str]:
    """Queue a prompt, wait, and return the paths of the images it saved (not its previews); raises with the
    server's words."""
    entry = server.run(prompt, timeout=timeout)
    if entry["status"]["status_str"] != "success":
        raise RuntimeError(f"the workflow failed: {execution_error(entry)}")
    return server.output_images(entry, saved_only=True)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workflow", nargs="?", default=MAIN_WORKFLOW)
    parser.add_argument("--out", default=os.path.join(PACK_ROOT, "output"))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="squeeze-example-") as base:
        server = start_example_server(base)
        try:
            prompt = workflow_prompt(server, args.workflow)
            if any(node["class_type"] == "CLIPLoader" for node in prompt.values()):
                raise SystemExit(f"{os.path.basename(args.workflow)} loads a 7B text encoder with CLIPLoader, which "
                                 f"has no small stand-in; run it from the tests, or pick {MAIN_WORKFLOW}")
            try:
                images = run_prompt(server, prompt)
            except (PromptRefused, RuntimeError) as error:
                print(error, "\n", server.log_tail(), file=sys.stderr)
                raise SystemExit(1) from error
        finally:
            server.stop()
        os.makedirs(args.out, exist_ok=True)
        kept = [shutil.copy(image, os.path.join(args.out, os.path.basename(image))) for image in images]
    for path in kept:
        print(os.path.abspath(path))
    print(f"ran {os.path.basename(args.workflow)} in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return kept[0]


if __name__ == "__main__":
    main()

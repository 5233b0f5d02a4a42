"""ComfyUI entry point: registers the Squeeze nodes and serves web/ (the node help pages).

Outside ComfyUI (pytest, plain scripts) there is no ``comfy_api`` to import, so the entry point is
simply absent and the package still imports; so it is when this file is imported as a plain module, as pytest
imports it from a checkout whose folder name is not a Python name (``custom_nodes/ComfyUI-Squeeze``).
"""

comfy_entrypoint = None
if __package__:
    try:
        from .nodes.extension import comfy_entrypoint
    except ImportError as error:
        if error.name is None or not error.name.startswith(("comfy", "folder_paths", "node_helpers")):
            raise

WEB_DIRECTORY = "./web"

__all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]

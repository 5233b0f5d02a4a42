"""The one list of every node this pack registers with ComfyUI."""

from typing_extensions import override

from comfy_api.latest import ComfyExtension, io


class SqueezeExtension(ComfyExtension):
    @override
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return []


async def comfy_entrypoint() -> SqueezeExtension:
    return SqueezeExtension()

"""Chat templates and how much of them the diffusion model never sees."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from .errors import PromptError

QWEN_IMAGE_EDIT_TEMPLATE = (
    "<|im_start|>system\nDescribe the key features of the input image (color, shape, size, texture, objects, "
    "background), then explain how the user's text instruction should alter or modify the image. Generate a new "
    "image that meets the user's requirements while maintaining consistency with the original input where "
    "appropriate.<|im_end|>\n<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"
)
QWEN_IMAGE_TEMPLATE = (
    "<|im_start|>system\nDescribe the image by detailing the color, shape, size, texture, quantity, text, spatial "
    "relationships of the objects and background:<|im_end|>\n<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"
)


@dataclass(frozen=True)
class PromptFormat:
    """How the instruction and the pictures become one chat prompt.

    ``drop_template``: True drops every token before the user's content (the system turn and the
    user header), as Qwen-Image and ComfyUI do; an int drops that many tokens; False keeps all.
    """

    template: str = QWEN_IMAGE_EDIT_TEMPLATE
    picture_label: str = "Picture {}: "
    drop_template: bool | int = True

    def __post_init__(self) -> None:
        if self.template.count("{}") != 1:
            raise PromptError("a prompt template must contain exactly one '{}' where the instruction goes")
        if isinstance(self.drop_template, int) and not isinstance(self.drop_template, bool) and self.drop_template < 0:
            raise PromptError(f"drop_template must be True, False or a token count >= 0, not {self.drop_template}")

    @property
    def prefix(self) -> str:
        return self.template.split("{}")[0]

    @property
    def suffix(self) -> str:
        """What follows the instruction (the turn's end and the assistant header)."""
        return self.template.split("{}")[1]

    def labelled(self, picture_labels: bool) -> PromptFormat:
        """This format, or the same without "Picture k:" labels (as the first Qwen-Image-Edit wrote them)."""
        return self if picture_labels else replace(self, picture_label="")

    def user_content(self, instruction: str, num_images: int, image_placeholder: str) -> str:
        """The user turn: each labelled picture placeholder, then the instruction."""
        pictures = "".join(self.picture_label.format(k + 1) + image_placeholder for k in range(num_images))
        return pictures + instruction

    def render(self, instruction: str, num_images: int, image_placeholder: str) -> str:
        return self.template.format(self.user_content(instruction, num_images, image_placeholder))

    def template_tokens(self, prefix_tokens: int) -> int:
        """How many leading tokens carry the template role, given how many tokens the prefix takes."""
        if self.drop_template is True:
            return prefix_tokens
        return 0 if self.drop_template is False else int(self.drop_template)


def check_instruction(instruction: str, pictures: int, allow_empty: bool = False) -> str:
    """An empty prompt with pictures is the unconditional of an edit (the negative of classifier-free guidance,
    as Qwen-Image-Edit's is); with no picture there is nothing to encode, so it is a forgotten prompt, unless
    ``allow_empty`` says it is the unconditional of a text-only encoding."""
    if not isinstance(instruction, str):
        raise PromptError(f"the prompt must be text, not {type(instruction).__name__}")
    if not instruction.strip() and not pictures and not allow_empty:
        raise PromptError("the prompt is empty and no picture is given: write an instruction such as 'the same "
                          "toy on a beach at sunset', or connect a picture")
    return instruction


WORD_JOINER = "\u2060"


def as_plain_text(instruction: str, control_tokens: Iterable[str]) -> str:
    """The instruction with every control token of the MLLM's tokenizer (``<|image_pad|>``, ``<|im_end|>``, ...)
    broken by an invisible word joiner after its first character, so typed text is read as text: it can neither
    add a picture placeholder nor close the chat turn."""
    for token in sorted(set(control_tokens), key=len, reverse=True):
        if len(token) > 1 and token in instruction:
            instruction = instruction.replace(token, token[0] + WORD_JOINER + token[1:])
    return instruction

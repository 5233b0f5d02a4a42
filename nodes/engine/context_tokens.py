"""Where the conditioning's MLLM image tokens sit in the context a model actually receives.

Most models take the conditioning's context as it is. Some pad it to a length of their own: FLUX.2 puts
zeros in front of it up to 512 tokens. The conditioning's own tokens are found in the model's context by
value, so the token roles the pack keeps map onto the right positions, and a context cut of its image
tokens is padded back the same way, giving what the model would have made of the cut conditioning.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...squeeze_core.features import TokenRole, image_role


@dataclass(frozen=True)
class ImageTokens:
    roles: torch.Tensor
    """[L] the token roles over the model's context (PAD where the model padded it)."""
    offset: int
    """Where the conditioning's own tokens start in it."""
    tokens: int
    """How many the conditioning has."""

    @property
    def mask(self) -> torch.Tensor:
        """[L] bool: every picture's image tokens."""
        return self.roles >= TokenRole.IMAGE

    def picture(self, index: int) -> torch.Tensor:
        """[L] bool: the image tokens of picture ``index`` (0-based)."""
        return self.roles == image_role(index)

    def cut(self, context: torch.Tensor) -> torch.Tensor:
        """[B, L, D] without the image tokens, padded back with zeros on the side the model padded."""
        kept = context[:, ~self.mask.to(context.device)]
        length = context.shape[1]
        if length == self.tokens:
            return kept
        missing = length - kept.shape[1]
        return F.pad(kept, (0, 0, missing, 0) if self.offset > 0 else (0, 0, 0, missing))


def locate_image_tokens(roles: torch.Tensor, original: torch.Tensor | None,
                        context: torch.Tensor) -> ImageTokens | None:
    """The image tokens of a conditioning with ``roles`` [B, T] and context ``original`` [B, T, D] inside the
    model's ``context`` [B, L, D]; None when the conditioning's tokens cannot be found there."""
    tokens, length = roles.shape[1], context.shape[1]
    if length == tokens:
        offset = 0
    elif original is None or length < tokens:
        return None
    else:
        found = [offset for offset in (length - tokens, 0) if original.shape == context[:, offset:offset + tokens].shape
                 and torch.equal(context[:, offset:offset + tokens], original.to(context))]
        if not found:
            return None
        offset = found[0]
    placed = torch.full((length,), int(TokenRole.PAD), dtype=torch.long)
    placed[offset:offset + tokens] = roles.max(dim=0).values.cpu()
    return ImageTokens(placed.to(context.device), offset, tokens)

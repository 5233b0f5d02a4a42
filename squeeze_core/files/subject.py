"""Subject files: a subject's pictures, MLLM prefix (hidden states and key/value cache) and VAE latents as
safetensors tensors, everything else in the file's metadata; nothing is unpickled."""

from __future__ import annotations

import json
import os

from safetensors.torch import load_file

from ..errors import SubjectFileError
from ..picture_prefix import PicturePrefix
from ..subject import Subject
from .metadata import read_config_text, save_with_config

CONFIG_KEY = "squeeze_subject"


def save_subject(subject: Subject, path: str | os.PathLike) -> None:
    prefix = subject.prefix
    tensors = {"prefix.states": prefix.states, "prefix.roles": prefix.roles,
               **{f"picture.{k}": picture for k, picture in enumerate(subject.pictures)},
               **{f"latent.{k}": latent for k, latent in enumerate(subject.latents)},
               **{f"prefix.keys.{k}": key for k, key in enumerate(prefix.keys)},
               **{f"prefix.values.{k}": value for k, value in enumerate(prefix.values)}}
    config = {"position_delta": prefix.position_delta, "prompt_prefix": prefix.prompt_prefix,
              "picture_labels": prefix.picture_labels, "num_images": prefix.num_images, "source": prefix.source,
              "vision_pixel_budget": prefix.vision_pixel_budget, "cache_layers": len(prefix.keys),
              "latents": len(subject.latents)}
    save_with_config(tensors, path, CONFIG_KEY, json.dumps(config))


def load_subject(path: str | os.PathLike) -> Subject:
    name = os.path.basename(os.fspath(path))
    text = read_config_text(path, CONFIG_KEY, "subject", "the subjects folder", SubjectFileError,
                            "save subjects with Squeeze Subject Save or save_subject")
    try:
        config = json.loads(text)
        tensors = load_file(os.fspath(path))
        pictures = [tensors.pop(f"picture.{k}") for k in range(config["num_images"])]
        latents = [tensors.pop(f"latent.{k}") for k in range(config["latents"])]
        keys = [tensors.pop(f"prefix.keys.{k}") for k in range(config["cache_layers"])]
        values = [tensors.pop(f"prefix.values.{k}") for k in range(config["cache_layers"])]
        prefix = PicturePrefix(tensors.pop("prefix.states"), keys, values, tensors.pop("prefix.roles"),
                               config["position_delta"], config["prompt_prefix"], config["picture_labels"],
                               config["num_images"], config["source"], config["vision_pixel_budget"])
    except (KeyError, TypeError, ValueError) as error:
        raise SubjectFileError(f"{name} is not a complete subject file ({error}); save the subject again") from error
    if tensors:
        raise SubjectFileError(f"{name} holds tensors a subject does not have ({sorted(tensors)[:5]}); save the "
                               f"subject again")
    return Subject(pictures, prefix, latents)

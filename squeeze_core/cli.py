"""Command line of the core: ``generate`` from reference images and a prompt, ``train`` the miniature,
``evaluate`` it (and its ablations) on held-out cases, ``train-dla``, ``evaluate-dla`` and ``compare-scores`` on
your own data and models, check that DreamBench's figures agree with the miniature's exact metrics
(``scorer-agreement``), check what its VAE and MLLM see (``probes``), draw a ``reference`` picture of a subject of
its domain, write its cases as a dataset folder (``export-dataset``), draw a DLA's pooling over the MLLM's layers
(``dla-view``), and run each part of the method once on tiny random models (``demo``).
``python -m squeeze_core <command> --help`` says more."""

from __future__ import annotations

import argparse
import logging
import os
import sys

import numpy as np
from PIL import Image

from .errors import SqueezeError
from .schedule import PRESETS, schedule_from_preset
from .miniature.domain.scenes import BACKGROUNDS, POSITIONS, TURNS
from .miniature.domain.subjects import FINE_BITS, HUES, MID_BITS, SHAPES
from .miniature.spec import VARIANTS, VISION_RESOLUTION, MiniatureSpec


def _files(folder: str):
    from .miniature.shipped import SHIPPED, MiniatureFiles

    return MiniatureFiles(folder) if folder else SHIPPED


def _pipeline(options: argparse.Namespace):
    from .pipeline import SqueezePipeline

    files = _files(options.models)
    return SqueezePipeline.from_files(options.mllm or files.mllm, options.model or files.diffusion,
                                      options.vae or files.vae, options.dla or (files.dla if os.path.exists(files.dla)
                                                                              else None),
                                      lora_path=options.lora or None, vision_resolution=options.vision_resolution)


def region_argument(text: str):
    """``none``, or ``LEFT,TOP,RIGHT,BOTTOM`` in fractions of the output, optionally ``@STRENGTH`` (0-1)."""
    from .region_binding import Region, RegionError

    if text.strip().lower() == "none":
        return None
    box, _, strength = text.partition("@")
    try:
        edges = tuple(float(value) for value in box.split(","))
        if len(edges) != 4:
            raise ValueError
        return Region(box=edges, strength=float(strength) if strength else 1.0)
    except ValueError as error:
        problem = error if isinstance(error, RegionError) else "write LEFT,TOP,RIGHT,BOTTOM[@STRENGTH] or none"
        raise argparse.ArgumentTypeError(f"region '{text}': {problem}") from error


def generate(options: argparse.Namespace) -> None:
    import torch

    from .side_by_side import side_by_side

    if len(options.region) > len(options.reference):
        raise SystemExit(f"{len(options.region)} regions for {len(options.reference)} references: give at most one "
                         f"--region per --reference, in the same order")
    pipeline = _pipeline(options)
    references = [np.asarray(Image.open(path).convert("RGB")) for path in options.reference]
    schedule = schedule_from_preset(options.schedule, switch_1=options.switch_1, switch_2=options.switch_2,
                                    identity_strength=options.identity_strength,
                                    release_regions_at=options.release_regions_at)
    result = pipeline(options.prompt, references, schedule=schedule, reference_regions=options.region,
                      height=options.size, width=options.size,
                      num_inference_steps=options.steps, guidance_scale=options.cfg,
                      generator=torch.Generator().manual_seed(options.seed))
    image = result.images[0]
    if options.side_by_side:
        image = side_by_side(references, image, options.prompt)
    Image.fromarray(image).save(options.out)
    print(options.out)


def _plan(scale: float):
    from .miniature.train import TrainingPlan

    return TrainingPlan().scaled(scale) if scale != 1.0 else TrainingPlan()


def train(options: argparse.Namespace) -> None:
    from .miniature.train import train_miniature

    files = train_miniature(options.out, _plan(options.scale), variant=options.variant, reuse=options.reuse,
                            checkpoints=options.checkpoints, spec=MiniatureSpec(seed=options.seed))
    print(files.root)


SETTING_HELP = {
    "stage1_steps": "steps of stage 1, MLLM conditioning alone (the paper: about 25k)",
    "stage2_steps": "steps of stage 2, with the references' VAE latents (the paper: about 10k)",
    "reference_rate": "stage 2: share of samples that see each reference's latents",
    "semantic_drop_rate": "stage 2: share of samples whose context loses the MLLM's image tokens",
    "instruction_drop_rate": "share of samples with an empty instruction (classifier-free guidance)",
    "accumulation": "samples per process per optimiser step (global batch: processes x accumulation)",
    "transformer": "train a LoRA on the transformer, all of it, or none of it (the DLA alone)",
    "lora_targets": "comma-separated linear layers the LoRA wraps",
    "mixed_precision": "bf16 autocast (the frozen parts are held in bf16 too)",
    "resolution": "side of the target and reference pictures, in pixels (area kept, on a 16-pixel grid)",
    "vision_resolution": "side at which the MLLM sees each reference",
    "layers": "comma-separated MLLM layers the DLA pools (default: all)",
    "dla_pool_dim": "width of the DLA's attention pooling over the layers",
    "checkpoint_every": "write a checkpoint every this many steps (and at each stage's end)",
}


def _setting_arguments(command: argparse.ArgumentParser) -> None:
    """One flag per TrainingSettings field, its default the dataclass's own."""
    from dataclasses import MISSING, fields

    from .training.settings import PRECISIONS, TRANSFORMER_MODES, TrainingSettings

    choices = {"transformer": TRANSFORMER_MODES, "mixed_precision": PRECISIONS}
    for field in fields(TrainingSettings):
        flag = f"--{field.name.replace('_', '-')}"
        default = field.default if field.default is not MISSING else field.default_factory()
        help_text = SETTING_HELP.get(field.name, "")
        if isinstance(default, bool):
            command.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
        elif field.name in ("layers", "lora_targets"):
            item = int if field.name == "layers" else str
            command.add_argument(flag, type=lambda text, item=item: tuple(item(part) for part in text.split(",")),
                                 default=default, help=help_text)
        else:
            command.add_argument(flag, type=type(default), default=default, choices=choices.get(field.name),
                                 help=help_text)


def train_dla(options: argparse.Namespace) -> None:
    from dataclasses import fields

    from .training.recipe import train_dla as run
    from .training.settings import TrainingSettings

    settings = TrainingSettings(**{field.name: getattr(options, field.name) for field in fields(TrainingSettings)})
    files = run(settings, data=options.data, mllm=options.mllm, transformer=options.transformer_model,
                vae=options.vae, out=options.out, name=options.name, feature_cache=options.feature_cache,
                workers=options.workers, resume=options.resume, fsdp=options.fsdp)
    print(files.out)


def evaluate_dla(options: argparse.Namespace) -> None:
    from .scoring.sweep import evaluate_dla as run

    schedule = schedule_from_preset(options.schedule, switch_1=options.switch_1, switch_2=options.switch_2)
    table = run(options.data, options.out, mllm=options.mllm, transformer=options.transformer_model, vae=options.vae,
                dino=options.dino, clip=options.clip, dla=options.dla or None, lora=options.lora or None,
                seeds=options.seeds, steps=options.steps, guidance_scale=options.cfg, resolution=options.resolution,
                vision_resolution=options.vision_resolution, schedule=schedule, label=options.label)
    if table is not None:
        print(table)


def compare_scores(options: argparse.Namespace) -> None:
    from .scoring.compare import compare_scores as compare

    print(compare(options.a, options.b, options.label_a, options.label_b))


def scorer_agreement(options: argparse.Namespace) -> None:
    from .miniature.scorer_agreement import run_scorer_agreement

    print(run_scorer_agreement(options.out, _files(options.scorers), cases=options.cases, steps=options.steps,
                               seed=options.seed, scorer_steps=options.scorer_steps))


def train_study(options: argparse.Namespace) -> None:
    from .miniature.train import train_study as train_runs

    for name in train_runs(options.root, options.seeds, _plan(options.scale)):
        print(os.path.join(options.root, name))


def evaluate(options: argparse.Namespace) -> None:
    from .miniature.study import report, run_setups, schedule_setups, study_setups
    from .miniature.study_record import RecordMismatch, cards_of, read_record, with_setups, write_record

    if not options.models and not options.ablations:
        raise SystemExit("evaluate scores three-grain runs: give --models DIR (a run of python -m squeeze_core "
                         "train) or --ablations ROOT (a folder of them)")
    if options.ablations:
        root = options.ablations
        setups = [setup for setup in study_setups(options.seeds) if os.path.isdir(os.path.join(root, setup.run))]
    else:
        root, run = os.path.split(os.path.abspath(options.models))
        setups = schedule_setups(run)
    settings = dict(cases=options.cases, steps=options.steps, seed=options.seed)
    try:
        record = read_record(options.json, **settings) if options.json else {}
    except RecordMismatch as error:
        raise SystemExit(str(error)) from error
    cards = run_setups(root, setups, known=cards_of(record), **settings)
    print(report(cards, options.seeds))
    if options.json:
        write_record(options.json, with_setups(record, setups, cards), **settings)


def reference(options: argparse.Namespace) -> None:
    from .miniature.domain.scenes import Pose, render
    from .miniature.domain.subjects import Subject

    subject = Subject(options.shape, options.primary, options.secondary, options.mid, options.fine)
    picture, _ = render([subject], [Pose(options.position, TURNS.index(options.turn))], options.ground)
    Image.fromarray(picture).save(options.out)
    print(options.out)


def probes(options: argparse.Namespace) -> None:
    from .files import load_vae
    from .joint_encoder import JointEncoder
    from .miniature.case_data import draw_split
    from .miniature.probes import describe_cases, description_scores, mllm_probe, vae_probe

    files = _files(options.models)
    cases = draw_split(options.cases, "held_out", options.seed)
    print("VAE encode + decode, held-out targets:")
    for result in vae_probe(load_vae(files.vae).eval(), cases):
        print("  " + result.line())
    encoder = JointEncoder.from_folder(files.mllm, vision_pixel_budget=VISION_RESOLUTION**2)
    print("MLLM descriptions of held-out targets (share of subjects named rightly):")
    for result in description_scores(describe_cases(encoder, cases), cases):
        print("  " + result.line())
    print("MLLM image tokens, probe fitted on training subjects, scored on held-out ones (chance 0.5):")
    for layer in options.layer or [encoder.num_layers // 2, encoder.num_layers]:
        for result in mllm_probe(encoder, layer):
            print("  " + result.line())


def export_dataset(options: argparse.Namespace) -> None:
    from .manifest import validate_manifest
    from .miniature.case_data import draw_split
    from .miniature.export import write_dataset

    write_dataset(options.out, draw_split(options.cases, options.split, options.seed))
    print(f"{validate_manifest(options.out)} rows in {options.out}")


def dla_view(options: argparse.Namespace) -> None:
    from .dla_view import render_layer_weights
    from .files import load_dla
    from .joint_encoder import JointEncoder

    files = _files(options.models)
    encoder = JointEncoder.from_folder(options.mllm or files.mllm,
                                       vision_pixel_budget=options.vision_resolution**2)
    dla = load_dla(options.dla or files.dla, mllm_hidden_size=encoder.hidden_size, mllm_num_layers=encoder.num_layers)
    references = [np.asarray(Image.open(path).convert("RGB")) for path in options.reference]
    view = dla.layer_weights(encoder.encode(options.prompt, references))
    Image.fromarray(render_layer_weights(view, per_token=options.per_token)).save(options.out)
    print(options.out)


def demo(options: argparse.Namespace) -> None:
    from .demo import run_demo

    print(run_demo(options.cache, options.out, options.prompt))


def _model_arguments(command: argparse.ArgumentParser) -> None:
    """The frozen parts a recipe command reads: the MLLM, the diffusion transformer and its VAE."""
    command.add_argument("--mllm", required=True, help="a transformers VLM folder (Qwen2-VL, Qwen2.5-VL, Qwen3-VL, "
                         "LLaVA, ...)")
    command.add_argument("--transformer-model", required=True, help="a diffusers QwenImageTransformer2DModel or "
                         "FluxTransformer2DModel folder (FLUX.1-dev, Kontext), or the pack's diffusion model file")
    command.add_argument("--vae", required=True, help="a diffusers AutoencoderKLQwenImage or (for FLUX.1) "
                         "AutoencoderKL folder, or the pack's VAE file")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m squeeze_core", description=__doc__.splitlines()[0])
    commands = root.add_subparsers(dest="command", required=True)

    run = commands.add_parser("generate", help="one image from reference images and an instruction")
    run.add_argument("--reference", action="append", required=True, help="a reference image (repeat for more)")
    run.add_argument("--prompt", required=True)
    run.add_argument("--out", default="squeeze.png")
    run.add_argument("--models", default="", help="a folder laid out like the miniature's (default: the shipped one)")
    for name in ("mllm", "model", "vae", "dla"):
        run.add_argument(f"--{name}", default="", help=f"override the {name} path")
    run.add_argument("--lora", default="", help="a LoRA of the diffusion model to merge (train-dla writes one)")
    run.add_argument("--schedule", choices=[p for p in PRESETS if p != "custom"], default="paper")
    run.add_argument("--switch-1", type=float, default=0.05)
    run.add_argument("--switch-2", type=float, default=0.15)
    run.add_argument("--identity-strength", type=float, default=1.0)
    run.add_argument("--region", action="append", type=region_argument, default=[],
                     help="where reference k belongs, for the k-th --reference: LEFT,TOP,RIGHT,BOTTOM in fractions "
                     "of the output, @STRENGTH to bind softer than 1 (hard), or none")
    run.add_argument("--release-regions-at", type=float, default=1.0,
                     help="the fraction of the trajectory after which the regions let go (1: bound throughout)")
    run.add_argument("--steps", type=int, default=20)
    run.add_argument("--cfg", type=float, default=2.5, help="classifier-free guidance, the empty instruction as "
                     "the negative (the paper samples at 2.5)")
    run.add_argument("--size", type=int, default=64)
    run.add_argument("--vision-resolution", type=int, default=VISION_RESOLUTION,
                     help="the side at which the MLLM sees each picture (the shipped miniature's by default)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--side-by-side", action="store_true", help="save reference, prompt and result in one image")
    run.set_defaults(handler=generate)

    learn = commands.add_parser("train", help="train the miniature from nothing (or an ablation variant)")
    learn.add_argument("--out", required=True, help="folder to write (ComfyUI model folder names inside)")
    learn.add_argument("--variant", choices=VARIANTS, default="full", help="the full method or an ablation")
    learn.add_argument("--seed", type=int, default=0, help="initialisation and data order (and, without "
                       "--reuse, the MLLM's and VAE's)")
    learn.add_argument("--reuse", default=None, help="take the MLLM and VAE of a finished run in this folder")
    learn.add_argument("--checkpoints", default=None, help="also write the model after each stage here")
    learn.add_argument("--scale", type=float, default=1.0, help="scale every step count (0.01: a smoke test)")
    learn.set_defaults(handler=train)

    study = commands.add_parser("train-study", help="train every run the study needs that a folder does not hold "
                                "yet: the main model and no VAE identity at each seed, the other ablations at seed 0")
    study.add_argument("--root", required=True, help="the study's folder (runs are written as <variant>-seed<k>)")
    study.add_argument("--seeds", type=int, default=3)
    study.add_argument("--scale", type=float, default=1.0, help="scale every step count (0.01: a smoke test)")
    study.set_defaults(handler=train_study)

    recipe = commands.add_parser("train-dla", help="train a DLA (and a LoRA) for any MLLM and a Qwen-Image or "
                                 "FLUX.1 transformer on a dataset folder, on accelerate: run it as is, or under "
                                 "accelerate launch")
    recipe.add_argument("--data", required=True, help="a dataset folder (manifest.jsonl; see export-dataset)")
    _model_arguments(recipe)
    recipe.add_argument("--out", required=True, help="run folder: checkpoints, log.jsonl, squeeze_dla/, loras/")
    recipe.add_argument("--name", default="squeeze", help="file name of the DLA and LoRA written")
    recipe.add_argument("--feature-cache", default=None, help="cache the MLLM's encodings in this folder")
    recipe.add_argument("--workers", type=int, default=0, help="data-loader processes reading pictures")
    recipe.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    recipe.add_argument("--fsdp", action="store_true", help="split the transformer's weights, gradients and optimiser "
                        "state across the processes of accelerate launch (FSDP) instead of copying it to each")
    _setting_arguments(recipe)
    recipe.set_defaults(handler=train_dla)

    score = commands.add_parser("evaluate-dla", help="DreamBench-style scores (DINO, CLIP-I, CLIP-T, copy-paste) of "
                                "a model over a dataset and seeds; under accelerate launch, shared between processes")
    score.add_argument("--data", required=True, help="a dataset folder (manifest.jsonl), held-out rows")
    score.add_argument("--out", required=True, help="folder for scores.csv and scores.md")
    _model_arguments(score)
    score.add_argument("--dla", default="", help="a DLA file (default: the base conditioning)")
    score.add_argument("--lora", default="", help="a LoRA file merged into the transformer")
    score.add_argument("--dino", required=True, help="a DINO ViT folder (transformers), e.g. dino-vits16")
    score.add_argument("--clip", required=True, help="a CLIP or SigLIP folder (transformers)")
    score.add_argument("--seeds", type=int, default=4)
    score.add_argument("--steps", type=int, default=20)
    score.add_argument("--cfg", type=float, default=2.5)
    score.add_argument("--resolution", type=int, default=1024, help="side of the generated images")
    score.add_argument("--vision-resolution", type=int, default=384)
    score.add_argument("--schedule", choices=[p for p in PRESETS if p != "custom"], default="paper")
    score.add_argument("--switch-1", type=float, default=0.05)
    score.add_argument("--switch-2", type=float, default=0.15)
    score.add_argument("--label", default="", help="the run's name in the table (default: the --out folder's)")
    score.set_defaults(handler=evaluate_dla)

    pair = commands.add_parser("compare-scores", help="two evaluate-dla runs of one dataset and seeds, paired by row: "
                               "each figure's difference with its 95%% interval and p-value")
    pair.add_argument("a", help="scores.csv of run A")
    pair.add_argument("b", help="scores.csv of run B")
    pair.add_argument("--label-a", default="A")
    pair.add_argument("--label-b", default="B")
    pair.set_defaults(handler=compare_scores)

    agree = commands.add_parser("scorer-agreement", help="do DINO, CLIP-I and CLIP-T point the way the miniature's "
                                "exact metrics do? (scoring models trained on its domain)")
    agree.add_argument("--scorers", default="", help="a models folder holding squeeze_scorers/dino-miniature and "
                       "clip-miniature (default: the shipped ones); what it lacks is trained there")
    agree.add_argument("--out", required=True, help="folder for the DreamBench table (scores.csv, scores.md)")
    agree.add_argument("--cases", type=int, default=200)
    agree.add_argument("--steps", type=int, default=20)
    agree.add_argument("--seed", type=int, default=0)
    agree.add_argument("--scorer-steps", type=int, default=1500, help="training steps of each scoring model")
    agree.set_defaults(handler=scorer_agreement)

    draw = commands.add_parser("reference", help="draw a reference picture of a subject of the miniature's domain")
    draw.add_argument("--shape", choices=SHAPES, default="notch")
    draw.add_argument("--primary", choices=sorted(HUES), default="orange", help="the code area's colour")
    draw.add_argument("--secondary", choices=sorted(HUES), default="blue", help="the outer ring's colour")
    draw.add_argument("--mid", type=int, default=5, help=f"the {MID_BITS} mid bits, as an integer")
    draw.add_argument("--fine", type=int, default=40_000, help=f"the {FINE_BITS} fine bits, as an integer")
    draw.add_argument("--position", choices=POSITIONS, default="middle centre")
    draw.add_argument("--turn", choices=TURNS, default="upright")
    draw.add_argument("--ground", choices=sorted(BACKGROUNDS), default="grey")
    draw.add_argument("--out", default="subject.png")
    draw.set_defaults(handler=reference)

    judge = commands.add_parser("evaluate", help="exact scores on held-out cases, and the paired tests behind "
                                "each of the paper's claims")
    judge.add_argument("--models", default="", help="one trained miniature's folder: every sampler schedule")
    judge.add_argument("--ablations", default=None, help="a folder of runs named <variant>-seed<k>: every "
                       "trained row and every schedule")
    judge.add_argument("--seeds", type=int, default=3, help="training seeds of the main model and of no VAE identity")
    judge.add_argument("--cases", type=int, default=500)
    judge.add_argument("--steps", type=int, default=20)
    judge.add_argument("--seed", type=int, default=0, help="held-out cases and noise")
    judge.add_argument("--json", default=None, help="keep every case's figures in this file: setups it already "
                       "holds (same cases, steps and seed) are read, not sampled again, so a study that grows run "
                       "by run scores only its new runs")
    judge.set_defaults(handler=evaluate)
    export = commands.add_parser("export-dataset", help="write cases of the miniature's domain as a dataset folder "
                                 "(manifest.jsonl and PNG files, the format of squeeze_core.manifest)")
    export.add_argument("--out", required=True)
    export.add_argument("--cases", type=int, default=1000)
    export.add_argument("--split", choices=("train", "held_out"), default="train",
                        help="training subjects, or held-out ones (fine codes no training subject has)")
    export.add_argument("--seed", type=int, default=0)
    export.set_defaults(handler=export_dataset)

    probe = commands.add_parser("probes", help="do the VAE and the MLLM see the fine bits, and does the MLLM name "
                                   "each subject's place, shape and palette? (held-out subjects)")
    probe.add_argument("--models", default="", help="a trained miniature's folder (default: the shipped one)")
    probe.add_argument("--cases", type=int, default=300, help="held-out cases for the VAE and description probes")
    probe.add_argument("--layer", type=int, action="append", help="MLLM layer to probe (repeat; default middle, last)")
    probe.add_argument("--seed", type=int, default=0)
    probe.set_defaults(handler=probes)
    view = commands.add_parser("dla-view", help="draw how much each MLLM layer weighs in a DLA's pooling")
    view.add_argument("--reference", action="append", default=[], help="a reference image (repeat for more)")
    view.add_argument("--prompt", required=True)
    view.add_argument("--models", default="", help="a folder laid out like the miniature's (default: the shipped one)")
    view.add_argument("--mllm", default="", help="override the MLLM folder")
    view.add_argument("--dla", default="", help="override the DLA file")
    view.add_argument("--vision-resolution", type=int, default=VISION_RESOLUTION)
    view.add_argument("--per-token", action="store_true", help="a token-by-layer heat map instead of mean bars")
    view.add_argument("--out", default="dla_view.png")
    view.set_defaults(handler=dla_view)
    show = commands.add_parser("demo", help="run each part of the method once on tiny random models")
    show.add_argument("--cache", default=os.path.join(os.path.expanduser("~"), ".cache", "comfyui-squeeze", "tiny"))
    show.add_argument("--out", default="output")
    show.add_argument("--prompt", default="Put the subject of Picture 1 small in the top left on a blue background")
    show.set_defaults(handler=demo)
    return root


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    options = parser().parse_args(argv)
    try:
        options.handler(options)
    except SqueezeError as error:
        raise SystemExit(f"{options.command}: {error}") from error

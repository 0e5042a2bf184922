"""The ``chai`` command line (also ``python -m chai``).

Commands::

    chai demo  [options]                      built-in prompts on the trained synthetic STDiT3, 64MB cache,
                                              a picture of every hit beside the miss it reused and its twins
    chai run   --prompts FILE [options]       any prompt file (default: the mini STDiT3, random weights)
    chai run|demo --pipeline wan|cogvideox|latte [--model ID_OR_PATH]
                                              the same through a diffusers pipeline with CHAI enabled
                                              (``chai.diffusers.cli_run``; tiny random config by default)
    chai trace [--prompts FILE] [--budgets 16MB,64MB,256MB,1GB] [--matching entity,prompt]
                                              hit rate against budget without running the model (it
                                              times one model step to project latency)
    chai cache stats DIR | chai cache clear DIR
    chai eval quality --pairs FILE [--pipeline ...] [--clip PATH]
                                              per (cached, request) pair: the miss, the hit and the hit's
                                              full-schedule and short no-cache twins; PSNR / SSIM with paired
                                              bootstrap intervals, a contact sheet, a JSON report

This module only parses arguments and prints; the work is done by ``chai.demo`` (models, encoders,
picture), ``chai.pipeline``, ``chai.trace`` (the trace replay), ``chai.evaluation`` (``eval quality``) and
``chai.report`` (tables, JSON, plots).

Every failure the user can cause (bad flag, missing or empty prompt file, bad size, missing optional
package) prints one ``chai: error: ...`` line with a hint and exits non-zero (2 for usage errors, 1 for
runtime errors); tracebacks are shown only with ``CHAI_DEBUG=1``. See ``docs/cli.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from chai.config import MISS_CACHE_PROBES, MissCacheConfig

__all__ = ["CLIError", "build_parser", "main", "read_prompts"]

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code ``code``."""

    def __init__(self, message: str, code: int = EXIT_RUNTIME):
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------------------------- inputs


def read_prompts(path: str | os.PathLike | None, *, builtin: str | None = None) -> list[str]:
    """Prompts from a text file: one per line; blank lines and lines starting with '#' are skipped.

    Raises CLIError (usage) when the file is missing, unreadable, not UTF-8 or holds no prompt.
    """
    if builtin is not None:
        text = resources.files("chai.data").joinpath(builtin).read_text(encoding="utf-8")
        src = f"built-in {builtin}"
    else:
        p = Path(path)
        if not p.exists():
            raise CLIError(
                f"prompt file {str(p)!r} does not exist. HINT: pass --prompts FILE with one prompt per line.",
                EXIT_USAGE,
            )
        if p.is_dir():
            raise CLIError(
                f"prompt file {str(p)!r} is a directory. HINT: pass a text file with one prompt per line.", EXIT_USAGE
            )
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise CLIError(
                f"prompt file {str(p)!r} is not UTF-8 text ({exc.reason}). HINT: save it as UTF-8.", EXIT_USAGE
            )
        except OSError as exc:
            raise CLIError(f"cannot read prompt file {str(p)!r}: {exc.strerror}.", EXIT_USAGE)
        src = str(p)
    prompts = [ln.strip() for ln in text.splitlines()]
    prompts = [ln for ln in prompts if ln and not ln.startswith("#")]
    if not prompts:
        raise CLIError(
            f"prompt file {src!r} contains no prompts. HINT: write one prompt per line ('#' starts a comment).",
            EXIT_USAGE,
        )
    return prompts


def _size_arg(text: str) -> int:
    from chai.sizes import parse_size

    if text.strip().startswith("-"):
        raise argparse.ArgumentTypeError(f"a size must be > 0 bytes, got the negative {text!r}. HINT: e.g. 64MB.")
    try:
        n = parse_size(text, name="size")
    except (ValueError, TypeError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"size must be > 0 bytes, got {text!r}. HINT: e.g. 64MB.")
    return n


def _size_list_arg(text: str) -> list[int]:
    from chai.sizes import parse_size_list

    negative = [t.strip() for t in text.split(",") if t.strip().startswith("-")]
    if negative:
        raise argparse.ArgumentTypeError(
            f"every budget must be > 0 bytes, got the negative {', '.join(map(repr, negative))}. HINT: e.g. 16MB,64MB."
        )
    try:
        sizes = parse_size_list(text, name="budgets")
    except (ValueError, TypeError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if any(n <= 0 for n in sizes):
        raise argparse.ArgumentTypeError(f"every budget must be > 0 bytes, got {text!r}. HINT: e.g. 16MB,64MB.")
    return sizes


def _matching_list_arg(text: str) -> list[str]:
    items = [t.strip() for t in text.split(",")]
    bad = [t for t in items if t not in ("entity", "prompt")]
    if not items or bad:
        raise argparse.ArgumentTypeError(
            f"unknown matching {bad or text!r}. HINT: use entity, prompt or entity,prompt."
        )
    return list(dict.fromkeys(items))


def _bounded(kind: type, minimum: float, what: str):
    """An argparse type: ``kind(text)`` that must be finite and at least ``minimum``; ``what`` names it."""

    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}.") from None
        if not (v >= minimum) or v == float("inf"):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}.")
        return v

    parse.__name__ = what  # argparse prints the type's name in some messages
    return parse


_positive_int = _bounded(int, 1, "a positive integer")
_nonneg_int = _bounded(int, 0, "an integer >= 0")
_nonneg_float = _bounded(float, 0.0, "a finite number >= 0")


def _resolution_arg(text: str) -> str:
    from chai.pipeline import image_size

    try:
        image_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _device_arg(text: str) -> str:
    import torch

    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f"unknown device {text!r}. HINT: use cpu or cuda (cuda:0).") from None
    return str(dev)


# --------------------------------------------------------------------------------------------- threads

_THREADS_DEFAULT_HELP = (
    "the CPUs this process may use that the current load leaves idle, at least 1; OMP_NUM_THREADS when set"
)


def choose_threads(cpus: int, load: float | None, machine_cpus: int) -> int:
    """Torch CPU threads for a process that may use ``cpus`` CPUs of a ``machine_cpus``-CPU machine whose
    1-minute load average is ``load`` (None: unknown, use every usable CPU).

    The load counts runnable processes on the whole machine; spread evenly, ``load * cpus / machine_cpus`` of
    it sits on our CPUs. What is left idle, rounded, is the thread count (a CPU more than half busy counts as
    busy), at least 1 and at most ``cpus``. Threads beyond the idle CPUs do not add speed: they time-share the
    busy ones, and each parallel region then waits for its slowest thread.
    """
    cpus = max(1, int(cpus))
    if load is None:
        return cpus
    busy = max(0.0, float(load)) * cpus / max(int(machine_cpus), cpus)
    return max(1, min(cpus, round(cpus - busy)))


def _set_torch_threads(requested: int | None) -> str:
    """Set torch's CPU thread count (``--threads``, else :func:`choose_threads` on this machine, else
    OMP_NUM_THREADS when the user set it); returns how it was chosen, for the run's header line."""
    import torch

    if requested is not None:
        torch.set_num_threads(requested)
        return f"{requested} threads (--threads)"
    if os.environ.get("OMP_NUM_THREADS", "").strip():
        return f"{torch.get_num_threads()} threads (OMP_NUM_THREADS)"
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    try:
        load: float | None = os.getloadavg()[0]
    except (AttributeError, OSError):  # not available on this platform
        load = None
    n = choose_threads(cpus, load, os.cpu_count() or cpus)
    torch.set_num_threads(n)
    where = f"{cpus} usable CPUs" + ("" if load is None else f", load {load:.1f}")
    return f"{n} thread{'s' if n != 1 else ''} ({where}; --threads N to override)"


# --------------------------------------------------------------------------------------------- parser

#: ``--preset`` values, as ``chai.demo.preset_names()`` lists them (a test keeps the two equal; spelled out
#: here so that building the parser imports no torch).
PRESET_NAMES = ("synthetic", "tiny", "tiny-hd72", "mini", "XL/2")
_PRESET_HELP = (
    "synthetic (trained on CPU: 32x32 clips of coloured shapes, meaningful pixels), or a random-weight STDiT3 "
    "for OpenSora-shaped timings: tiny, tiny-hd72, mini (the CPU demo size), XL/2 (OpenSora 1.2's size)"
)


#: ``--pipeline`` values: CHAI's own STDiT3 pipeline, then the diffusers families of ``chai.diffusers`` (a test
#: keeps these equal to ``chai.diffusers.cli_run.PIPELINE_CLASSES``; spelled out so the parser imports nothing).
PIPELINE_NAMES = ("stdit3", "wan", "cogvideox", "latte")


def _preset_arg(text: str) -> str:
    if text not in PRESET_NAMES:
        raise argparse.ArgumentTypeError(f"unknown preset {text!r}. HINT: choose one of {', '.join(PRESET_NAMES)}.")
    return text


#: A token that can only be a (negative) value: no chai option starts with a digit.
_NEGATIVE_VALUE = re.compile(r"^-\.?\d")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")

    def _value_options(self) -> set[str]:
        """Option strings, here and in every sub-command, that take exactly one value."""
        out: set[str] = set()
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    out |= sub._value_options() if isinstance(sub, _Parser) else set()
            elif action.option_strings and action.nargs is None:
                out.update(action.option_strings)
        return out

    def parse_known_args(self, args=None, namespace=None):
        # argparse reads `--budget -5MB` as a flag missing its value ("expected one argument") because -5MB looks
        # like an option; joined as `--budget=-5MB`, the value reaches its type check and gets a real message.
        args = list(sys.argv[1:] if args is None else args)
        takes_value = self._value_options()
        joined: list[str] = []
        for tok in args:
            if joined and joined[-1] in takes_value and _NEGATIVE_VALUE.match(tok):
                joined[-1] = f"{joined[-1]}={tok}"
            else:
                joined.append(tok)
        return super().parse_known_args(joined, namespace)


def _add_diffusers_model_args(g: Any) -> None:
    """``--model`` and ``--dtype`` of the diffusers pipelines (``run``, ``demo``, ``eval quality``)."""
    g.add_argument(
        "--model",
        metavar="ID_OR_PATH",
        default=None,
        help="with --pipeline wan|cogvideox|latte: a Hugging Face model id (already in the local cache) or a "
        "local checkpoint directory, loaded with the pipeline class's from_pretrained, local files only "
        "(default: a tiny random config built in code)",
    )
    g.add_argument(
        "--dtype",
        choices=("auto", "float32", "bfloat16", "float16"),
        default="auto",
        help="diffusers pipelines: weight dtype (default auto: bfloat16 for --model on CUDA, else float32)",
    )


def _add_generation_args(p: argparse.ArgumentParser, *, demo: bool) -> None:
    g = p.add_argument_group("generation")
    default_preset = "synthetic" if demo else "mini"
    g.add_argument(
        "--pipeline",
        choices=PIPELINE_NAMES,
        default="stdit3",
        help="stdit3 (default: CHAI's own OpenSora 1.2 pipeline, model chosen by --preset), or a diffusers "
        "pipeline through chai.diffusers.enable_chai: wan, cogvideox, latte (tiny random config unless --model)",
    )
    _add_diffusers_model_args(g)
    g.add_argument(
        "--preset", type=_preset_arg, default=None, help=f"{_PRESET_HELP} (default {default_preset}; stdit3 only)"
    )
    g.add_argument("--seed", type=int, default=0, help="weights seed; request i uses noise seed SEED+i (default 0)")
    g.add_argument("--device", type=_device_arg, default="cpu", help="torch device (default: cpu)")
    g.add_argument("--steps-full", type=_positive_int, default=30, help="steps on a miss (default 30)")
    g.add_argument("--steps-hit", type=_positive_int, default=8, help="steps on a hit (default 8)")
    clip = "synthetic 32x32" + (", others 144p" if demo else ", others 240p")
    g.add_argument(
        "--resolution",
        type=_resolution_arg,
        default=None,
        help=f"144p, 240p, 360p, ... or HxW pixels (default: {clip})",
    )
    frames = "synthetic 4" + (", others 51" if demo else ", others 68")
    g.add_argument("--frames", type=_positive_int, default=None, help=f"frames per clip (default: {frames})")
    g.add_argument("--mode", choices=("joint", "replace"), default="joint", help="Cache Attention mode (default joint)")
    g.add_argument(
        "--miss-cache",
        metavar="THRESHOLD",
        type=_nonneg_float,
        default=None,
        help="first-block residual cache on misses: skip the blocks after the probe while its residual "
        "changes less than THRESHOLD (relative L1) since the last computed step, e.g. 0.1 (default: off); stdit3: "
        "chai's own, and the all-miss baseline is then measured on up to 3 plain misses after the run; wan, "
        "cogvideox: diffusers' FirstBlockCacheConfig(threshold=THRESHOLD); latte: refused",
    )
    g.add_argument(
        "--miss-cache-probe",
        choices=MISS_CACHE_PROBES,
        default=None,
        help="stdit3 with --miss-cache: what always runs before the step cache decides: block = spatial_blocks[0] "
        "alone (a skipping step costs one block), pair = block pair 0 (default: block)",
    )
    g.add_argument(
        "--cfg-scale",
        type=float,
        default=None,
        help="classifier-free guidance scale (default 7.0; diffusers pipelines: the pipeline's own default)",
    )
    g.add_argument(
        "--text-encoder",
        choices=("minilm", "hash"),
        default="minilm",
        help="caption encoder: minilm (default, offline all-MiniLM-L6-v2) or hash (no weights)",
    )
    g.add_argument("--limit", type=_positive_int, default=None, help="use only the first N prompts")
    g.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        help=f"torch CPU threads (default: {_THREADS_DEFAULT_HELP})",
    )
    c = p.add_argument_group("cache")
    c.add_argument(
        "--budget", type=_size_arg, default=_size_arg("64MB"), help="cache byte budget, e.g. 64MB, 1GiB (default 64MB)"
    )
    c.add_argument(
        "--cache",
        "--cache-dir",
        dest="cache",
        metavar="LOCATION",
        default=None,
        help="where the cache lives: a directory (or dir:///path), or redis://host:port/db (also rediss://, "
        "unix://) to share one cache between processes and machines (default: in memory)",
    )
    c.add_argument("--namespace", default="default", help="cache namespace (tenant) (default: default)")
    c.add_argument(
        "--matching", choices=("entity", "prompt"), default="entity", help="entity (CHAI) or prompt matching"
    )
    c.add_argument("--threshold", type=float, default=None, help="cosine threshold for a hit (default: the cache's)")
    c.add_argument("--embedder", choices=("minilm", "hash"), default="minilm", help="cache embedder (default minilm)")
    o = p.add_argument_group("output")
    if demo:
        o.add_argument(
            "--picture",
            default="chai-demo.png",
            help="PNG with one row per hit: the miss it reused, the hit and its two twins (default chai-demo.png)",
        )
        o.add_argument("--no-picture", action="store_true", help="do not write the picture")
        o.add_argument(
            "--no-twins",
            dest="twins",
            action="store_false",
            help="stdit3: skip the twins of each hit (its full-schedule and plain hit-length generations, same "
            "prompt and seed, no cache, run after the timed run for the picture and the PSNR table); timings only",
        )
    else:
        o.add_argument(
            "--picture",
            default=None,
            help="write a PNG with one row per hit (the miss it reused, the hit; with --twins its twins) to FILE",
        )
        o.add_argument(
            "--twins",
            action="store_true",
            help="stdit3: after the timed run, generate each hit's full-schedule and plain hit-length twins (same "
            "prompt and seed, no cache) for the picture and a PSNR table (default: off)",
        )
    o.add_argument("--report", default=None, help="write the JSON report (schema chai.run/1) to FILE")
    o.add_argument("--plot", default=None, help="write a PNG of per-request latency to FILE")
    o.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    o.add_argument("--quiet", action="store_true", help="no per-request lines, only the summary")


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``chai`` (exposed for docs and tests)."""
    parser = _Parser(prog="chai", description="CHAI: cross-inference latent caching for text-to-video (OpenSora 1.2).")
    from chai import __version__

    parser.add_argument("--version", action="version", version=f"chai {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    demo = sub.add_parser(
        "demo",
        help="built-in prompts on the trained synthetic STDiT3 (CPU, a minute or two), with a picture of every hit "
        "beside its twins",
        description="Run the built-in prompt list through CHAI with a 64MB cache, generate each hit's 30-step and "
        "plain 8-step twins after the timed run, and write a picture of every hit beside the miss it reused and "
        "its twins. The default model is the trained synthetic STDiT3 "
        "(32x32 clips of coloured shapes); --preset mini gives OpenSora-shaped timings (random weights).",
    )
    demo.add_argument("--prompts", default=None, help="use this prompt file instead of the built-in list")
    _add_generation_args(demo, demo=True)

    run = sub.add_parser(
        "run", help="run CHAI on a prompt file", description="Generate every prompt of FILE through CHAI."
    )
    run.add_argument("--prompts", required=True, help="text file, one prompt per line ('#' comments)")
    _add_generation_args(run, demo=False)

    tr = sub.add_parser(
        "trace",
        help="hit rate against cache budget, without running the model (times one model step)",
        description="Replay a prompt trace through real caches (extractor, embedder, index, entry sizes) "
        "at several budgets and matchings, without generating anything. Latency is projected from the "
        "cost of one denoising step: given by --step-cost, or measured by timing one model step of "
        "--preset at the trace's latent shape.",
    )
    tr.add_argument("--prompts", default=None, help="trace file (default: the built-in 240-prompt trace)")
    tr.add_argument(
        "--budgets",
        type=_size_list_arg,
        default=_size_list_arg("16MB,64MB,256MB,1GB"),
        help="comma-separated budgets (default 16MB,64MB,256MB,1GB)",
    )
    tr.add_argument(
        "--matching",
        type=_matching_list_arg,
        default=["entity", "prompt"],
        help="comma-separated: entity, prompt (default both)",
    )
    tr.add_argument("--resolution", type=_resolution_arg, default="240p", help="clip resolution (default 240p)")
    tr.add_argument("--frames", type=_positive_int, default=68, help="frames per clip (default 68)")
    tr.add_argument(
        "--step-cost",
        type=_nonneg_float,
        default=None,
        help="seconds per denoising step (CFG included); default: one model step of --preset, timed",
    )
    tr.add_argument(
        "--fixed-cost",
        type=_nonneg_float,
        default=0.0,
        help="seconds per request outside denoising (text encoder, VAE); default 0",
    )
    tr.add_argument(
        "--preset",
        type=_preset_arg,
        default="mini",
        help="STDiT3 preset whose step is timed when --step-cost is not given (random weights; default mini)",
    )
    tr.add_argument("--device", type=_device_arg, default="cpu", help="device for the step-cost measurement")
    tr.add_argument("--steps-full", type=_positive_int, default=30, help="steps of a miss (default 30)")
    tr.add_argument("--steps-hit", type=_positive_int, default=8, help="steps of a hit (default 8)")
    tr.add_argument("--threshold", type=float, default=None, help="cosine threshold (default: the cache's)")
    tr.add_argument("--embedder", choices=("minilm", "hash"), default="minilm", help="cache embedder (default minilm)")
    tr.add_argument(
        "--quant", choices=("int8", "fp8", "fp32"), default="int8", help="latent storage dtype (default int8)"
    )
    tr.add_argument(
        "--cache",
        metavar="LOCATION",
        default=None,
        help="replay against this store (a directory or redis://...) in a fresh namespace, cleared afterwards "
        "(default: in memory); with --workers, the Redis cache the workers share",
    )
    tr.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="replay over N worker processes: one shared cache of each budget (--cache redis://...) against N "
        "private in-memory caches of budget/N, beside a single process (default 1: no fleet)",
    )
    tr.add_argument(
        "--miss-cache",
        metavar="THRESHOLD",
        type=_nonneg_float,
        default=None,
        help="project misses with the first-block residual cache at THRESHOLD (see chai run --miss-cache); the "
        "skip fraction is measured on 3 plain misses of the trained synthetic model unless --miss-skip-fraction",
    )
    tr.add_argument(
        "--miss-cache-probe",
        choices=MISS_CACHE_PROBES,
        default=None,
        help="with --miss-cache: the step cache's probe (see chai run --miss-cache-probe; default: block)",
    )
    tr.add_argument(
        "--miss-skip-fraction",
        metavar="F",
        type=_bounded(float, 0.0, "a fraction in [0, 1]"),
        default=None,
        help="with --miss-cache: take F as the share of a miss's steps that skip instead of measuring it",
    )
    tr.add_argument("--warmup", type=_nonneg_int, default=0, help="first N requests fill the cache, not counted")
    tr.add_argument("--limit", type=_positive_int, default=None, help="use only the first N prompts")
    tr.add_argument("--seed", type=int, default=0, help="seed of the model timed and of the stand-in latents")
    tr.add_argument(
        "--threads", type=_positive_int, default=None, help=f"torch CPU threads (default: {_THREADS_DEFAULT_HELP})"
    )
    tr.add_argument("--report", default=None, help="write the JSON report (schema chai.trace/1) to FILE")
    tr.add_argument("--plot", default=None, help="write a PNG of hit rate and latency against budget to FILE")
    tr.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")

    _add_eval_parser(sub)

    cache = sub.add_parser(
        "cache",
        help="inspect or clear a cache: a directory or a redis:// URL",
        description="Statistics of, or deletion of, the cache a run stored with --cache LOCATION (a directory "
        "or a redis:// URL).",
    )
    csub = cache.add_subparsers(dest="cache_command", metavar="ACTION", parser_class=_Parser, help="stats or clear")
    csub.required = True
    st = csub.add_parser("stats", help="print the statistics of a cache location", description="Read-only.")
    st.add_argument("location", help="the --cache of an earlier run: a directory or redis://host:port/db")
    st.add_argument("--namespace", default=None, help="one namespace (default: all)")
    st.add_argument("--json", action="store_true", help="print JSON")
    cl = csub.add_parser(
        "clear", help="delete every entry of a cache location", description="Deletes cache files or Redis keys."
    )
    cl.add_argument("location", help="the --cache of an earlier run: a directory or redis://host:port/db")
    cl.add_argument("--namespace", default=None, help="one namespace (default: all)")
    return parser


def _add_eval_parser(sub: Any) -> None:
    ev = sub.add_parser(
        "eval",
        help="quality evidence: chai eval quality --pairs FILE",
        description="Measure what CHAI's cache hits cost in quality.",
    )
    esub = ev.add_subparsers(dest="eval_command", metavar="ACTION", parser_class=_Parser, help="quality")
    esub.required = True
    q = esub.add_parser(
        "quality",
        help="hits against their no-cache twins: PSNR / SSIM with intervals, a contact sheet, a JSON report",
        description="For each (cached prompt, request prompt) pair, with one seed: generate the cached prompt (a miss, "
        "into an empty cache), then the request (the hit), then the request without the cache at the full and at "
        "the hit step count (its twins). Reports PSNR and SSIM of the hit and of the short twin against the full "
        "twin, per pair and as means with paired bootstrap intervals. See docs/eval.md.",
    )
    q.add_argument(
        "--pairs",
        required=True,
        metavar="FILE",
        help='JSON lines: {"cached": PROMPT, "request": PROMPT} (optional "seed"); "#" lines are comments',
    )
    g = q.add_argument_group("pipeline")
    g.add_argument(
        "--pipeline",
        choices=PIPELINE_NAMES,
        default="stdit3",
        help="stdit3 (default: CHAI's own pipeline, model from --preset / --weights) or a diffusers pipeline: "
        "wan, cogvideox, latte (tiny random config unless --model)",
    )
    g.add_argument(
        "--preset",
        type=_preset_arg,
        default=None,
        help=f"stdit3: {_PRESET_HELP} (default synthetic; with --weights, the checkpoint's size, default XL/2)",
    )
    g.add_argument(
        "--weights",
        metavar="PATH",
        default=None,
        help="stdit3: load this STDiT3 checkpoint (e.g. OpenSora 1.2's hpcai-tech/OpenSora-STDiT-v3 directory or its "
        "model.safetensors) into --preset (default XL/2); compared on latents (chai ships no OpenSora VAE)",
    )
    _add_diffusers_model_args(g)
    g.add_argument("--device", type=_device_arg, default="cpu", help="torch device (default: cpu)")
    g.add_argument(
        "--seed", type=int, default=0, help="weights seed; pair i without its own seed uses SEED+i (default 0)"
    )
    g.add_argument("--steps-full", type=_positive_int, default=30, help="steps of a miss and of the full twin (30)")
    g.add_argument("--steps-hit", type=_positive_int, default=8, help="steps of a hit and of the short twin (8)")
    g.add_argument("--resolution", type=_resolution_arg, default=None, help="144p, 240p, ... or HxW pixels")
    g.add_argument("--frames", type=_positive_int, default=None, help="frames per clip (default: the model's)")
    g.add_argument("--mode", choices=("joint", "replace"), default="joint", help="Cache Attention mode (default joint)")
    g.add_argument("--cfg-scale", type=float, default=None, help="guidance scale (default: 7.0 / the pipeline's)")
    g.add_argument(
        "--text-encoder",
        choices=("minilm", "hash"),
        default=None,
        help="stdit3 caption encoder (default minilm; hash with --weights and no --t5)",
    )
    g.add_argument(
        "--t5",
        metavar="PATH",
        default=None,
        help="with --weights: encode captions with the T5 checkpoint in this local directory (OpenSora 1.2 was "
        "trained with DeepFloyd/t5-v1_1-xxl), local files only",
    )
    g.add_argument("--embedder", choices=("minilm", "hash"), default="minilm", help="cache embedder (default minilm)")
    g.add_argument("--threshold", type=float, default=None, help="cosine threshold for a hit (default: the cache's)")
    g.add_argument(
        "--threads", type=_positive_int, default=None, help=f"torch CPU threads (default: {_THREADS_DEFAULT_HELP})"
    )
    o = q.add_argument_group("output")
    o.add_argument(
        "--report",
        default="chai-eval-quality.json",
        help="JSON report (schema chai.eval.quality/1) (default %(default)s)",
    )
    o.add_argument("--sheet", default="chai-eval-quality.png", help="contact sheet PNG (default %(default)s)")
    o.add_argument("--no-sheet", action="store_true", help="do not draw the contact sheet")
    o.add_argument("--sheet-rows", type=_positive_int, default=24, help="pairs shown on the sheet (default 24)")
    o.add_argument("--sheet-frames", type=_positive_int, default=4, help="frames per clip on the sheet (default 4)")
    o.add_argument(
        "--clip",
        metavar="PATH",
        default=None,
        help="also score the hit and the twins with the CLIP checkpoint in this local directory (never downloaded)",
    )
    o.add_argument(
        "--bootstrap", type=_positive_int, default=10_000, help="bootstrap resamples of the pairs (default 10000)"
    )
    o.add_argument("--bootstrap-seed", type=int, default=0, help="seed of the bootstrap resampling (default 0)")
    o.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


# --------------------------------------------------------------------------------------------- building blocks


def _progress(total: int, desc: str, disable: bool, unit: str = "it", position: int = 0):
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm ships with the cli extra
        return contextlib.nullcontext(None)
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        disable=disable,
        leave=False,
        dynamic_ncols=True,
        position=position,
    )


def _emit(line: str, bar: Any = None) -> None:
    if bar is not None and hasattr(bar, "write"):
        bar.write(line, file=sys.stdout)
    else:
        print(line, flush=True)


def _quant_dtype(name: str):
    import torch

    return {"int8": torch.int8, "fp8": torch.float8_e4m3fn, "fp32": torch.float32}[name]


def open_cache(
    budget: int,
    *,
    location: str | None,
    namespace: str,
    matching: str,
    threshold: float | None,
    embedder: Any,
):
    """A ``chai.cache.LatentCache`` with the CLI's options (threshold only when given)."""
    from chai.cache import LatentCache

    kw: dict[str, Any] = {"namespace": namespace, "matching": matching, "embedder": embedder}
    if threshold is not None:
        kw["threshold"] = threshold
    try:
        return LatentCache(budget, location, **kw)
    except OSError as exc:
        if _location_scheme(location) != "dir":
            raise
        # The store works in a per-namespace subfolder the user never typed: name their path instead.
        raise _cache_dir_error(location, exc.strerror or str(exc)) from None
    except (ValueError, ImportError) as exc:
        raise CLIError(str(exc).replace("\n", " "), EXIT_USAGE) from None


def _cache_dir_error(location: str | None, why: str) -> CLIError:
    return CLIError(
        f"--cache {location!r}: cannot create or write the cache directory ({why}). HINT: pass a directory you can "
        "write (it is created when missing), e.g. --cache ~/.cache/chai, or a redis:// URL; without --cache the "
        "cache lives in memory.",
        EXIT_USAGE,
    )


def _open_run_cache(args: argparse.Namespace, embedder: Any, prompts: Sequence[str], shape, grid, what: str):
    """The cache of ``run`` / ``demo``, after refusing a ``--budget`` smaller than one entry of latent ``shape``
    (C, T, H, W) with a (T, S) token ``grid`` (the same usage error for every model)."""
    import torch

    from chai.trace import BudgetTooSmallError, check_budget, entry_floor_bytes

    floor = entry_floor_bytes(
        shape, quant_dtype=torch.int8, dim=int(embedder.dim), prompt_chars=min(map(len, prompts)), mask_shape=grid
    )
    try:
        check_budget(args.budget, floor, flag="--budget", what=what)
    except BudgetTooSmallError as exc:
        raise _budget_error(exc) from None
    return open_cache(
        args.budget,
        location=args.cache,
        namespace=args.namespace,
        matching=args.matching,
        threshold=args.threshold,
        embedder=embedder,
    )


def _redacted(location: str | None) -> str | None:
    if location is None:
        return None
    from chai.cache.redis_store import redact_url

    return redact_url(location)


def _location_scheme(location: str | None, flag: str = "--cache") -> str:
    from chai.cache.store import parse_location

    try:
        return parse_location(location).scheme
    except ValueError as exc:
        raise CLIError(f"{flag}: {str(exc).replace(chr(10), ' ')}", EXIT_USAGE) from None


def _check_output_path(path: str | None, flag: str) -> None:
    if path is None:
        return
    parent = Path(path).resolve().parent
    if not parent.exists():
        raise CLIError(f"{flag} {path!r}: directory {str(parent)!r} does not exist. HINT: create it first.", EXIT_USAGE)
    if Path(path).is_dir():
        raise CLIError(f"{flag} {path!r} is a directory. HINT: pass a file name.", EXIT_USAGE)


def _check_cache_location(location: str | None) -> None:
    """A directory --cache must be a directory or not exist yet (it is created), and not sit under a file."""
    if _location_scheme(location) != "dir":
        return
    from chai.cache.store import parse_location

    path = location
    p = Path(parse_location(location).target)
    for q in (p, *p.parents):
        if q.exists():
            if not q.is_dir():
                where = "" if q == p else f" (its parent {str(q)!r} is a file)"
                raise CLIError(
                    f"--cache {path!r} is not a directory{where}. HINT: pass a directory, new or from an "
                    "earlier run (it is created when missing), e.g. --cache chai-cache, or a redis:// URL.",
                    EXIT_USAGE,
                )
            if not os.access(q, os.W_OK | os.X_OK):  # refused now, before the model is built
                raise _cache_dir_error(path, "permission denied" if q == p else f"{str(q)!r} is not writable")
            return


def _budget_error(exc: Exception) -> CLIError:
    return CLIError(str(exc).replace("\n", " "), EXIT_USAGE)


def _short_list(items: Sequence[str], limit: int = 3) -> str:
    items = list(items)
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


#: Width of the outcome column of a request line (HIT / MISS and what it matched or stored) and of its prompt.
REQUEST_WHAT_WIDTH, REQUEST_PROMPT_WIDTH = 58, 50


def _fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, ending in "..." when cut."""
    return text if len(text) <= width else text[: max(0, width - 3)] + "..."


def _request_what(rec: dict[str, Any]) -> str:
    """The outcome column of a request line, at most REQUEST_WHAT_WIDTH characters whatever the entity names."""
    if rec["hit"]:
        pe, ce, tail = str(rec["prompt_entity"]), str(rec["cached_entity"]), f" ({rec['score']:.2f})"
        room = REQUEST_WHAT_WIDTH - len("HIT   ") - len(" -> ") - len(tail)
        pe = _fit(pe, max(room - len(ce), room // 2))  # a short cached entity leaves its room to the other
        return f"HIT   {pe} -> {_fit(ce, room - len(pe))}{tail}"
    if rec.get("inserted_entry") is not None:
        head = "MISS  cached as "
        return head + _fit(_short_list(rec.get("entities") or []), REQUEST_WHAT_WIDTH - len(head))
    reason = rec.get("lookup_reason")
    if reason == "store_unavailable":
        return "MISS  (cache unreachable: not cached)"
    if reason == "no_entities" or (reason is None and not rec.get("entities")):
        return "MISS  (no entity: not cached)"
    return "MISS  (not cached)"


def _request_line(i: int, n: int, rec: dict[str, Any]) -> str:
    """One line per request of ``run`` / ``demo``: fixed-width columns, so long entity names or prompts never
    push the steps and time columns out of line."""
    width = len(str(n))
    prompt = _fit(rec["prompt"], REQUEST_PROMPT_WIDTH)
    what, total = _request_what(rec), rec["timings"]["total"]
    return f"[{i + 1:>{width}}/{n}] {what:<{REQUEST_WHAT_WIDTH}} {rec['steps']:>3} steps {total:7.2f}s  {prompt}"


# --------------------------------------------------------------------------------------------- demo / run


def _check_generation_args(args: argparse.Namespace, picture: str | None, cache_steps: Sequence[int]) -> None:
    """Checks shared by every ``run`` / ``demo`` pipeline, before anything is built."""
    import torch

    for path, flag in ((args.report, "--report"), (args.plot, "--plot"), (picture, "--picture")):
        _check_output_path(path, flag)
    _check_cache_location(args.cache)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise CLIError(
            f"--device {args.device}: CUDA is not available on this machine. HINT: use --device cpu.", EXIT_USAGE
        )
    if args.steps_hit > args.steps_full:
        raise CLIError(
            f"--steps-hit {args.steps_hit} exceeds --steps-full {args.steps_full}. HINT: e.g. 8 and 30.", EXIT_USAGE
        )
    if max(cache_steps) > args.steps_hit:
        raise CLIError(
            f"--steps-hit {args.steps_hit} is below {max(cache_steps)}: "
            f"Cache Attention runs at hit steps {', '.join(map(str, cache_steps))}.",
            EXIT_USAGE,
        )


def _cmd_generate(args: argparse.Namespace) -> int:

    from chai import demo, report
    from chai.pipeline import CHAIPipeline, PipelineConfig, image_size
    from chai.trace import token_grid

    if args.pipeline != "stdit3":
        return _cmd_generate_diffusers(args)
    if args.model is not None:
        raise CLIError(
            f"--model {args.model!r} needs a diffusers pipeline. HINT: add --pipeline wan, cogvideox or latte "
            "(the stdit3 pipeline's model is --preset).",
            EXIT_USAGE,
        )
    if args.dtype != "auto":
        raise CLIError(
            f"--dtype {args.dtype} applies to diffusers pipelines only. HINT: drop it, or add --pipeline wan.",
            EXIT_USAGE,
        )
    if args.miss_cache_probe is not None and args.miss_cache is None:
        raise CLIError(
            f"--miss-cache-probe {args.miss_cache_probe} needs --miss-cache. HINT: e.g. --miss-cache 0.12.", EXIT_USAGE
        )
    if args.preset is None:
        args.preset = "synthetic" if args.command == "demo" else "mini"
    if args.cfg_scale is None:
        args.cfg_scale = 7.0
    picture = None if getattr(args, "no_picture", False) else args.picture
    _check_generation_args(args, picture, PipelineConfig.cache_steps)
    quiet_bar = args.no_progress or not report.is_tty()

    if args.command == "demo" and args.prompts is None:
        prompts = read_prompts(None, builtin=demo.builtin_prompts(args.preset))
    else:
        prompts = read_prompts(args.prompts)
    if args.limit:
        prompts = prompts[: args.limit]
    t_setup = time.perf_counter()
    dm = demo.load_demo_model(
        args.preset, seed=args.seed, device=args.device, text_encoder=args.text_encoder, command=args.command
    )
    height, width = image_size(args.resolution) if args.resolution else (dm.height, dm.width)
    frames = args.frames or dm.num_frames
    resolution = args.resolution or f"{height}x{width}"
    try:
        shape = dm.latent_shape(frames, height, width)
    except ValueError as exc:
        raise CLIError(f"--resolution {resolution}: {exc}", EXIT_USAGE) from None
    embedder = demo.build_embedder(args.embedder)
    patch = tuple(getattr(dm.model.config, "patch_size", (1, 2, 2)))
    cache = _open_run_cache(
        args, embedder, prompts, shape, token_grid(shape, patch), f"{resolution} x {frames} frames (latent {shape} x 3)"
    )
    config = PipelineConfig(
        full_steps=args.steps_full,
        hit_steps=args.steps_hit,
        mode=args.mode,
        cfg_scale=args.cfg_scale,
        use_timestep_transform=dm.use_timestep_transform,
        miss_cache=args.miss_cache,
        miss_cache_probe=_miss_cache_probe(args),
    )
    setup_s = time.perf_counter() - t_setup
    n = len(prompts)
    n_params = sum(p.numel() for p in dm.model.parameters())
    weights = "trained" if dm.trained else "random weights"
    with contextlib.ExitStack() as stack:
        stack.enter_context(cache)
        pipe = stack.enter_context(
            CHAIPipeline(dm.model, dm.text_encoder, cache, config=config, vae=dm.vae, device=args.device)
        )
        # The first request would otherwise pay the one-time costs (weights loading lazily, allocator) and
        # inflate the miss mean that the speedup is computed from.
        warmup_s = pipe.warm_up(num_frames=frames, height=height, width=width)
        print(
            f"chai {args.command}: {n} prompts, preset {args.preset} ({weights}, {n_params / 1e6:.1f}M params), "
            f"{resolution} x {frames} frames, {args.device}, {args.threads_note}, cache {args.budget / 1e6:.0f}MB "
            f"({args.matching} matching), {args.steps_full}/{args.steps_hit} steps; setup {setup_s:.1f}s, "
            f"warm-up {warmup_s:.1f}s (not counted)",
            flush=True,
        )

        hit_views: dict[int, Any] = {}  # what each hit is compared with its twins on (kept from the timed run)

        def requests(on_step):
            for i, prompt in enumerate(prompts):
                res = pipe.generate(
                    prompt, seed=args.seed + i, num_frames=frames, height=height, width=width, on_step=on_step
                )
                if args.twins and res.hit:
                    hit_views[i] = demo.view_of(res)
                yield res.to_record(index=i), (demo.clip_frames(res) if picture else None)

        records, clips = _drive_requests(args, stack, n, quiet_bar, requests)
        stats = cache.stats()
        all_miss_s, baseline = _plain_miss_baseline(pipe, records, frames, height, width)
        # After every timing: the twins are evidence of what a hit costs in quality, not part of the run.
        twins, twin_clips = _run_twins(args, pipe, records, hit_views, frames, height, width, keep_frames=bool(picture))
    config_doc = {
        "preset": args.preset,
        "seed": args.seed,
        "resolution": resolution,
        "height": height,
        "width": width,
        "num_frames": frames,
        "budget_bytes": args.budget,
        "cache": _redacted(args.cache),
        "namespace": args.namespace,
        "matching": args.matching,
        "threshold": args.threshold,
        "text_encoder": repr(dm.text_encoder),
        "embedder": getattr(embedder, "name", type(embedder).__name__),
        "pipeline": config.to_dict(),
        "setup_s": setup_s,
        "warmup_s": warmup_s,
        "all_miss_baseline": baseline,
        "twins": bool(args.twins),
    }
    title = f"chai {args.command} ({args.preset}, {resolution})"
    return _finish_run(
        args,
        records,
        clips,
        stats,
        config_doc,
        title=title,
        picture=picture,
        latent_note=dm.vae is None,
        all_miss_s=all_miss_s,
        twins=twins,
        twin_clips=twin_clips,
    )


def _run_twins(
    args: argparse.Namespace,
    pipe: Any,
    records: Sequence[dict],
    hit_views: dict[int, Any],
    frames: int,
    height: int,
    width: int,
    *,
    keep_frames: bool,
) -> tuple[list[dict], dict[int, Any]]:
    """The twins of every hit (``chai.demo.make_twins``), run after the timed run: their ``twins`` records and,
    with ``keep_frames``, their (full, short) frames for the picture."""
    from chai import demo, report

    hits = [r for r in records if r["hit"] and r["index"] in hit_views]
    twins: list[dict] = []
    clips: dict[int, Any] = {}
    if not hits:
        return twins, clips
    cfg, what = pipe.config, f"{len(hits)} hits" if len(hits) > 1 else "the hit"
    print(
        f"twins: the {cfg.full_steps}-step and plain {cfg.hit_steps}-step twins of {what} (same prompt and seed, "
        "no cache), generated after the timed run: not counted in any timing",
        flush=True,
    )
    quiet_bar = args.no_progress or not report.is_tty()
    with _progress(len(hits), "twins", quiet_bar, unit="hit") as bar:
        for r in hits:
            full, short = demo.make_twins(pipe, r["prompt"], r["seed"], num_frames=frames, height=height, width=width)
            twins.append(demo.twin_record(r, hit_views.pop(r["index"]), full, short))
            if keep_frames:
                clips[r["index"]] = (demo.clip_frames(full), demo.clip_frames(short))
            if bar is not None:
                bar.update(1)
    return twins, clips


#: Plain misses timed after a run with --miss-cache for its all-miss baseline.
BASELINE_MISSES = 3


def _plain_miss_baseline(pipe: Any, records: Sequence[dict], frames: int, height: int, width: int):
    """(all-miss seconds or None, how it was obtained). Without a step cache the run's own misses are the
    baseline; with one they are faster than a request without CHAI, so up to ``BASELINE_MISSES`` of them are
    run again as plain misses (same prompt and seed, no lookup, no step cache) and timed."""
    if pipe.config.miss_cache is None:
        return None, "the run's misses"
    again = [r for r in records if not r["hit"]][:BASELINE_MISSES] or list(records[:1])
    times = []
    for r in again:
        res = pipe.generate(
            r["prompt"], seed=r["seed"], num_frames=frames, height=height, width=width, use_cache=False,
            miss_cache=False,
        )  # fmt: skip
        times.append(res.timings["total"])
    return sum(times) / len(times), f"{len(times)} plain misses run after the run (no step cache)"


def _miss_cache_probe(args: argparse.Namespace) -> str:
    """--miss-cache-probe, or the step cache's default probe."""
    return args.miss_cache_probe or MissCacheConfig.probe


def _cmd_generate_diffusers(args: argparse.Namespace) -> int:
    """``run`` / ``demo`` with ``--pipeline wan|cogvideox|latte``: the prompts go through the diffusers pipeline's
    own ``pipe(prompt=...)`` with CHAI enabled (``chai.diffusers``); same lines, summary and report as stdit3."""

    from chai import demo, report
    from chai.diffusers import ChaiDiffusersConfig, cli_run, enable_chai
    from chai.pipeline import image_size

    kind = args.pipeline
    if args.preset is not None:
        raise CLIError(
            f"--preset {args.preset} chooses an STDiT3 model; --pipeline {kind} takes --model instead. "
            f"HINT: drop --preset (a tiny random {kind} config is the default) or pass --model ID_OR_PATH.",
            EXIT_USAGE,
        )
    if args.miss_cache_probe is not None:
        raise CLIError(
            f"--miss-cache-probe {args.miss_cache_probe} sets chai's own STDiT3 step cache; --pipeline {kind} uses "
            "diffusers' cache. HINT: drop --miss-cache-probe.",
            EXIT_USAGE,
        )
    miss_cache = None
    if args.miss_cache is not None:
        try:
            miss_cache = cli_run.miss_cache_config(kind, args.miss_cache)
        except ValueError as exc:
            raise CLIError(str(exc), EXIT_USAGE) from None
    if args.twins and args.command == "run":
        raise CLIError(f"--twins applies to --pipeline stdit3 only, not {kind}. HINT: drop --twins.", EXIT_USAGE)
    picture = None if getattr(args, "no_picture", False) else args.picture
    _check_generation_args(args, picture, ChaiDiffusersConfig.cache_steps)
    quiet_bar = args.no_progress or not report.is_tty()
    if args.command == "demo" and args.prompts is None:
        prompts = read_prompts(None, builtin=demo.builtin_prompts("mini"))
    else:
        prompts = read_prompts(args.prompts)
    if args.limit:
        prompts = prompts[: args.limit]
    height = width = None
    if args.resolution:
        height, width = image_size(args.resolution)
    t_setup = time.perf_counter()
    dtype = cli_run.resolve_dtype(args.dtype, model=args.model, device=args.device)
    try:
        loaded = cli_run.load_pipeline(kind, args.model, seed=args.seed, device=args.device, dtype=dtype)
    except FileNotFoundError as exc:
        raise CLIError(str(exc), EXIT_USAGE) from None
    except cli_run.PipelineUnavailableError as exc:
        raise CLIError(str(exc), EXIT_RUNTIME) from None
    call = cli_run.call_arguments(loaded, height=height, width=width, frames=args.frames, guidance_scale=args.cfg_scale)
    embedder = demo.build_embedder(args.embedder)
    try:
        shape, grid = cli_run.request_shape(loaded.pipe, call, args.steps_full)
    except (TypeError, ValueError) as exc:
        raise CLIError(f"--pipeline {kind}: {str(exc).replace(chr(10), ' ')}", EXIT_USAGE) from None
    cache = _open_run_cache(args, embedder, prompts, shape, grid, f"{type(loaded.pipe).__name__} latent {shape} x 3")
    cli_run.warm_up(loaded, call)
    config = ChaiDiffusersConfig(hit_steps=args.steps_hit, mode=args.mode)
    cls_name = type(loaded.pipe).__name__
    size = ", ".join(f"{k} {v}" for k, v in call.items() if k in ("height", "width", "num_frames", "video_length"))
    setup_s = time.perf_counter() - t_setup
    n = len(prompts)
    print(
        f"chai {args.command}: {n} prompts, {cls_name} ({loaded.source}, {loaded.params / 1e6:.2f}M transformer "
        f"params, {str(dtype).removeprefix('torch.')}), {size or 'the pipeline default size'}, {args.device}, "
        f"{args.threads_note}, cache {args.budget / 1e6:.0f}MB ({args.matching} matching), "
        f"{args.steps_full}/{args.steps_hit} steps; setup {setup_s:.1f}s",
        flush=True,
    )
    if args.twins:
        print(f"twins: not generated for --pipeline {kind} (stdit3 only): the picture shows each hit beside its miss")
    with contextlib.ExitStack() as stack:
        stack.enter_context(cache)
        try:
            handle = enable_chai(loaded.pipe, cache=cache, config=config, miss_cache=miss_cache)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise CLIError(str(exc).replace("\n", " "), EXIT_RUNTIME) from None
        stack.callback(handle.remove)

        def requests(on_step):
            return cli_run.generate(
                handle, prompts, steps=args.steps_full, seed=args.seed, call_kwargs=call,
                keep_frames=bool(picture), on_step=on_step,
            )  # fmt: skip

        records, clips = _drive_requests(args, stack, n, quiet_bar, requests)
        stats = cache.stats()
    config_doc = {
        "preset": None,
        "seed": args.seed,
        "resolution": args.resolution,
        "height": call.get("height"),
        "width": call.get("width"),
        "num_frames": call.get("video_length" if kind == "latte" else "num_frames"),
        "budget_bytes": args.budget,
        "cache": _redacted(args.cache),
        "namespace": args.namespace,
        "matching": args.matching,
        "threshold": args.threshold,
        "text_encoder": f"{cls_name}'s own",
        "embedder": getattr(embedder, "name", type(embedder).__name__),
        "pipeline": {
            "kind": kind,
            "class": cls_name,
            "model": loaded.source,
            "tiny": loaded.tiny,
            "dtype": str(dtype).removeprefix("torch."),
            "transformer_params": loaded.params,
            "call": _jsonable(call),
            "full_steps": args.steps_full,
            "hit_steps": args.steps_hit,
            "miss_cache": None if miss_cache is None else {"config": type(miss_cache).__name__, "threshold": args.miss_cache},
            **config.to_dict(),
        },
        "setup_s": setup_s,
    }
    title = f"chai {args.command} ({cls_name}, {'tiny random' if loaded.tiny else loaded.source})"
    return _finish_run(args, records, clips, stats, config_doc, title=title, picture=picture)


def _drive_requests(
    args: argparse.Namespace,
    stack: contextlib.ExitStack,
    n: int,
    quiet_bar: bool,
    requests: Callable[[Callable[[int, int], None]], Any],
) -> tuple[list[dict], dict[int, Any]]:
    """Run ``requests(on_step)`` (an iterable of (record, frames or None)) with the progress bars and the
    per-request lines of ``run`` / ``demo``; returns the records and the frames kept for the picture."""
    records: list[dict[str, Any]] = []
    clips: dict[int, Any] = {}
    bar = stack.enter_context(_progress(n, "requests", quiet_bar, unit="req"))
    step_bar = stack.enter_context(_progress(args.steps_full, "steps", quiet_bar, unit="step", position=1))

    def on_step(step: int, total: int) -> None:
        if step_bar is not None:
            if step == 1:
                step_bar.reset(total=total)
            step_bar.update(1)

    for rec, frames in requests(on_step):
        i = rec["index"]
        records.append(rec)
        if frames is not None:
            clips[i] = frames
        if bar is not None:
            bar.update(1)
            bar.set_postfix(hits=sum(r["hit"] for r in records))
        if not args.quiet:
            _emit(_request_line(i, n, rec), bar)
    return records, clips


def _finish_run(
    args: argparse.Namespace,
    records: list[dict],
    clips: dict[int, Any],
    stats: dict,
    config: dict,
    *,
    title: str,
    picture: str | None,
    latent_note: bool = False,
    all_miss_s: float | None = None,
    twins: Sequence[dict] = (),
    twin_clips: dict[int, Any] | None = None,
) -> int:
    """The summary table, the twins' PSNR table, the ``chai.run/1`` report, the plot and the picture of ``run`` /
    ``demo``."""
    from chai import demo, report

    summary = report.summarize_run(records, all_miss_s=all_miss_s)
    summary["unavailable_lookups"] = int(stats.get("unavailable_lookups") or 0)
    summary["unavailable_inserts"] = int(stats.get("unavailable_inserts") or 0)
    print()
    print(report.run_table(summary))
    if all_miss_s is not None:
        print(f"all-miss baseline: {config.get('all_miss_baseline')}, mean {all_miss_s:.2f}s")
    if twins:
        t = twins[0]
        on = "decoded pixels" if t["compared_on"] == "pixels" else "latents"
        print(
            f"\nPSNR to each hit's {t['full_steps']}-step twin (same prompt and seed, no cache), on {on}: the hit "
            f"({t['short_steps']} steps with the cache) against the plain {t['short_steps']}-step twin; the twins ran "
            "after the timed run and are not in the timings above"
        )
        print(report.twins_table(twins))
    if summary["unavailable_lookups"] or summary["unavailable_inserts"]:
        where = _redacted(args.cache) or "in memory"
        print(
            f"the cache {where} could not be reached for {summary['unavailable_lookups']} of {len(records)} lookups "
            f"and {summary['unavailable_inserts']} inserts: those requests ran as full misses and stored nothing, "
            f"so the hit rate above is not the cache's. HINT: is the server running and reachable from here? "
            f"(chai cache stats {where} checks it)"
        )
    doc = {
        "schema": report.RUN_SCHEMA,
        "command": args.command,
        "created": report.now_iso(),
        "environment": report.environment(args.device),
        "config": config,
        "requests": records,
        "summary": summary,
        "twins": list(twins),
        "cache": _jsonable(stats),
    }
    _write_outputs(args, doc, lambda path: report.plot_run(path, records, title=title))
    if picture:
        out = demo.write_picture(
            picture, records, clips, title=title, latent_note=latent_note, twins=twins, twin_frames=twin_clips
        )
        print(f"picture: {out}" if out is not None else "picture: not written (no request was generated)")
    return EXIT_OK


def _write_outputs(args: argparse.Namespace, doc: dict, plot: Callable[[str], Any]) -> None:
    """Write the JSON report (``--report``) and the PNG (``--plot``) when asked, naming each file."""
    from chai import report

    if args.report:
        report.write_json(args.report, doc)
        print(f"report: {args.report}")
    if args.plot:
        plot(args.plot)
        print(f"plot: {args.plot}")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if hasattr(obj, "item"):
        try:
            return obj.item()
        except Exception:  # noqa: BLE001
            pass
    return str(obj)


# --------------------------------------------------------------------------------------------- trace


def _cmd_trace(args: argparse.Namespace) -> int:
    import torch

    from chai import demo, report
    from chai.cache.entities import default_extractor
    from chai.pipeline import image_size, latent_shape
    from chai.sizes import format_size
    from chai.trace import BudgetTooSmallError, TraceConfig, measure_skip_step_cost, measure_step_cost, run_trace

    prompts = read_prompts(args.prompts) if args.prompts else read_prompts(None, builtin="trace_prompts.txt")
    if args.limit:
        prompts = prompts[: args.limit]
    if args.warmup >= len(prompts):
        raise CLIError(f"--warmup {args.warmup} leaves no request to count ({len(prompts)} prompts).", EXIT_USAGE)
    _check_output_path(args.report, "--report")
    _check_output_path(args.plot, "--plot")
    if args.steps_hit > args.steps_full:
        raise CLIError(f"--steps-hit {args.steps_hit} exceeds --steps-full {args.steps_full}.", EXIT_USAGE)
    scheme = _location_scheme(args.cache)
    if args.workers > 1 and scheme != "redis":
        raise CLIError(
            f"--workers {args.workers} needs one cache the workers share: --cache redis://host:port/db (got "
            f"{_redacted(args.cache)!r}). HINT: start redis-server and pass --cache redis://localhost:6379/0.",
            EXIT_USAGE,
        )
    _check_cache_location(args.cache)
    height, width = image_size(args.resolution)
    shape = latent_shape(args.frames, height, width)
    quiet_bar = args.no_progress or not report.is_tty()
    embedder = demo.build_embedder(args.embedder)
    cfg = TraceConfig(
        budgets=args.budgets,
        matchings=args.matching,
        shape=shape,
        step_cost=0.0 if args.step_cost is None else float(args.step_cost),
        fixed_cost=args.fixed_cost,
        steps_full=args.steps_full,
        steps_hit=args.steps_hit,
        threshold=args.threshold,
        quant_dtype=_quant_dtype(args.quant),
        warmup=args.warmup,
        seed=args.seed,
    )

    if args.miss_skip_fraction is not None and (args.miss_cache is None or args.miss_skip_fraction > 1.0):
        raise CLIError(
            f"--miss-skip-fraction {args.miss_skip_fraction} needs --miss-cache and a value in [0, 1]."
            " HINT: e.g. --miss-cache 0.1 --miss-skip-fraction 0.4.",
            EXIT_USAGE,
        )
    if args.miss_cache_probe is not None and args.miss_cache is None:
        raise CLIError(
            f"--miss-cache-probe {args.miss_cache_probe} needs --miss-cache. HINT: e.g. --miss-cache 0.12.", EXIT_USAGE
        )
    if args.miss_cache is not None and args.workers > 1:
        raise CLIError("--miss-cache is not projected for --workers > 1. HINT: drop one of them.", EXIT_USAGE)
    if args.step_cost is None or args.miss_cache is not None:
        if args.device.startswith("cuda") and not torch.cuda.is_available():
            raise CLIError(
                f"--device {args.device}: CUDA is not available. HINT: use --device cpu or --step-cost.", EXIT_USAGE
            )
        print(
            f"timing one model step of preset {args.preset} (random weights) at {args.resolution} x {args.frames} "
            f"frames, {args.threads_note} ...",
            flush=True,
        )
        model = demo.build_model(args.preset, seed=args.seed, device=args.device)
        step_shape = (int(model.config.in_channels), *shape[1:])
        timed = measure_step_cost(model, step_shape, height=height, width=width, device=args.device, seed=args.seed)
        if args.miss_cache is not None:
            skip = measure_skip_step_cost(
                model, step_shape, height=height, width=width, device=args.device, seed=args.seed,
                probe=_miss_cache_probe(args),
            )
            # a given --step-cost keeps the measured ratio of a skipping call to a full one
            cfg.skip_step_cost = skip if args.step_cost is None else float(args.step_cost) * skip / timed
        if args.step_cost is None:
            cfg.step_cost = timed
        del model
    step_source = "given" if args.step_cost is not None else f"measured ({args.preset}, {args.device}, CFG batch 2)"
    skip_source = None
    if args.miss_cache is not None:
        if args.miss_skip_fraction is not None:
            cfg.skip_fraction, skip_source = float(args.miss_skip_fraction), "given"
        else:
            cfg.skip_fraction = _measure_trace_skip_fraction(args, prompts)
            skip_source = (
                f"measured on {TRACE_SKIP_PROBES} plain misses of the trained synthetic model at threshold "
                f"{args.miss_cache}"
            )

    if args.workers > 1:
        return _trace_fleet(args, prompts, cfg, embedder, step_source)
    total_jobs = len(args.budgets) * len(args.matching) * len(prompts)
    extractor = default_extractor()
    # Load the extractor and embedder now: the first replayed lookup would otherwise carry their loading time
    # into the first budget's projected latency.
    extractor.extract("a warm-up clip")
    embedder.embed(["a warm-up clip"])
    with _progress(total_jobs, "trace", quiet_bar, unit="req") as bar:
        try:
            out = run_trace(
                prompts,
                cfg,
                embedder=embedder,
                extractor=extractor,
                on_request=(lambda: bar.update(1)) if bar is not None else None,
                location=args.cache,
            )
        except BudgetTooSmallError as exc:
            raise _budget_error(exc) from None
        except _connection_errors() as exc:
            if scheme == "dir" and isinstance(exc, OSError):
                raise _cache_dir_error(args.cache, exc.strerror or str(exc)) from None
            raise CLIError(f"cannot reach {_redacted(args.cache)}: {exc}. HINT: is the server running?") from None
    results, ratios, entry_bytes = out["results"], out["entity_vs_prompt"], out["entry_bytes"]
    doc = {
        "schema": report.TRACE_SCHEMA,
        "command": "trace",
        "created": report.now_iso(),
        "environment": report.environment(args.device),
        "setup": {
            "prompts_file": args.prompts or "built-in trace_prompts.txt",
            "prompts": len(prompts),
            "warmup": args.warmup,
            "counted": len(prompts) - args.warmup,
            "resolution": args.resolution,
            "height": height,
            "width": width,
            "num_frames": args.frames,
            "latent_shape": list(shape),
            "quant": args.quant,
            "entry_bytes": entry_bytes,
            "step_cost_s": cfg.step_cost,
            "step_cost_source": step_source,
            "fixed_cost_s": args.fixed_cost,
            "steps_full": args.steps_full,
            "steps_hit": args.steps_hit,
            "all_miss_latency_s": cfg.full_s,
            "hit_latency_s": cfg.hit_s,
            "extractor": out["extractor"],
            "embedder": getattr(embedder, "name", type(embedder).__name__),
            "threshold": args.threshold,
            "miss_cache": args.miss_cache,
            "miss_cache_probe": _miss_cache_probe(args) if args.miss_cache is not None else None,
            "miss_skip_fraction": cfg.skip_fraction if args.miss_cache is not None else None,
            "miss_skip_fraction_source": skip_source,
            "skip_step_cost_s": cfg.skip_step_cost if args.miss_cache is not None else None,
            "miss_latency_s": cfg.miss_s,
        },
        "results": results,
        "entity_vs_prompt": ratios,
    }
    print(
        f"chai trace: {len(prompts)} prompts ({args.warmup} warm-up), {args.resolution} x {args.frames} frames, "
        f"latent {tuple(shape)}, entry {entry_bytes / 1e6 if entry_bytes else 0:.2f}MB, step {cfg.step_cost:.3f}s "
        f"({step_source}), all-miss {cfg.full_s:.2f}s/request"
    )
    if args.miss_cache is not None:
        print(
            f"misses with --miss-cache {args.miss_cache}: {100 * cfg.skip_fraction:.0f}% of steps skip ({skip_source}), "
            f"a skipping step {cfg.skip_step_cost:.3f}s, a miss {cfg.miss_s:.2f}s (speedups are against the plain "
            "all-miss)"
        )
    print()
    print(report.trace_table(results))
    for r in results:
        if r["matching"] == "entity" and r["hits"]:
            kinds = ", ".join(f"{k} {n}" for k, n in sorted(r["hit_kinds"].items(), key=lambda kv: -kv[1]))
            print(f"entity hits by kind at {format_size(r['budget_bytes'])}: {kinds} (every pair in --report)")
    for b, r in ratios.items():
        print(_ratio_line(int(b), r, results))
    title = f"chai trace ({len(prompts)} prompts, {args.resolution})"
    _write_outputs(args, doc, lambda path: report.plot_trace(path, results, title=title))
    return EXIT_OK


#: Plain misses of the trace's first prompts that measure the step cache's skip fraction for ``chai trace``.
TRACE_SKIP_PROBES = 3


def _measure_trace_skip_fraction(args: argparse.Namespace, prompts: Sequence[str]) -> float:
    """The skip fraction of ``--miss-cache`` on plain misses of the trace's first prompts, through the trained
    synthetic model at its own clip size (a random-weight model's residuals say nothing about a trained one's)."""
    from chai import demo
    from chai.pipeline import CHAIPipeline, PipelineConfig
    from chai.trace import measure_skip_fraction

    dm = demo.load_demo_model(demo.TRAINED, seed=args.seed, device=args.device, command="trace")
    config = PipelineConfig(
        full_steps=args.steps_full,
        hit_steps=args.steps_hit,
        use_timestep_transform=dm.use_timestep_transform,
        miss_cache=args.miss_cache,
        miss_cache_probe=_miss_cache_probe(args),
    )
    with CHAIPipeline(dm.model, dm.text_encoder, None, config=config, device=args.device) as pipe:
        return measure_skip_fraction(
            pipe, list(prompts[:TRACE_SKIP_PROBES]), num_frames=dm.num_frames, height=dm.height, width=dm.width
        )


def _ratio_line(budget: int, ratio: float | None, results: Sequence[dict]) -> str:
    """The entity / prompt comparison at one budget, in words when there is no ratio (prompt matching had no
    hit): a bare "-" said nothing."""
    from chai.sizes import format_size

    head = f"entity / prompt hit rate at {format_size(budget)}: "
    if ratio is not None:
        return head + f"{ratio:.2f}x"
    hits = next((r["hits"] for r in results if r["budget_bytes"] == budget and r["matching"] == "entity"), 0)
    return head + f"no ratio: prompt matching had no hit (entity matching had {hits})"


def _trace_fleet(args: argparse.Namespace, prompts: list[str], cfg: Any, embedder: Any, step_source: str) -> int:
    from chai import report
    from chai.cache.entities import default_extractor
    from chai.sizes import format_size
    from chai.trace import BudgetTooSmallError, run_fleet

    if "prompt" in args.matching and args.matching != ["entity"]:
        print("chai trace --workers: entity matching only (the fleet comparison is about CHAI's cache)")
    print(
        f"replaying {len(prompts)} prompts over {args.workers} worker processes at "
        f"{', '.join(format_size(b) for b in args.budgets)} (single / shared {_redacted(args.cache)} / private) ...",
        flush=True,
    )
    try:
        out = run_fleet(
            prompts,
            cfg,
            location=args.cache,
            workers=args.workers,
            embedder=embedder,
            extractor=default_extractor(),
            embedder_kind=args.embedder,
        )
    except BudgetTooSmallError as exc:
        raise _budget_error(exc) from None
    except _connection_errors() as exc:
        raise CLIError(f"cannot reach {_redacted(args.cache)}: {exc}. HINT: is the server running?") from None
    rows = []
    for r in out["results"]:
        sh, pr = r["shared"], r["private"]
        rows.append(
            [
                format_size(r["budget_bytes"]),
                f"{100 * r['single_hit_rate']:.1f}%",
                f"{100 * sh['hit_rate']:.1f}%",
                f"{100 * pr['hit_rate']:.1f}%",
                f"{sh['lookup_ms_p50']:.1f} / {sh['lookup_ms_p99']:.1f}",
                "-" if sh["insert_ms_p50"] is None else f"{sh['insert_ms_p50']:.1f} / {sh['insert_ms_p99']:.1f}",
                sh["store_errors"],
            ]
        )
    print(
        report.format_table(
            [
                "budget",
                "1 process",
                f"shared x{args.workers}",
                f"private x{args.workers}",
                "shared lookup ms p50/p99",
                "insert ms p50/p99",
                "errors",
            ],
            rows,
            align="lrrrrrr",
        )
    )
    doc = {
        "schema": report.TRACE_SCHEMA,
        "command": "trace",
        "created": report.now_iso(),
        "environment": report.environment("cpu"),
        "setup": {
            "prompts": len(prompts),
            "warmup": args.warmup,
            "workers": args.workers,
            "location": out["location"],
            "latent_shape": list(cfg.shape),
            "quant": args.quant,
            "embedder": getattr(embedder, "name", type(embedder).__name__),
            "threshold": args.threshold,
            "step_cost_s": cfg.step_cost,
            "step_cost_source": step_source,
        },
        "fleet": out["results"],
    }
    if args.plot:
        print(f"--plot {args.plot}: not drawn for a fleet replay (the table and --report hold the numbers)")
        args.plot = None
    _write_outputs(args, doc, lambda path: None)
    return EXIT_OK


# --------------------------------------------------------------------------------------------- eval quality


def _eval_stdit3_runner(args: argparse.Namespace, cache: Any):
    from chai import demo
    from chai.evaluation.runners import STDiT3Runner
    from chai.pipeline import PipelineConfig, image_size

    for flag, value in (("--model", args.model), ("--dtype", None if args.dtype == "auto" else args.dtype)):
        if value is not None:
            raise CLIError(
                f"{flag} applies to diffusers pipelines only. HINT: add --pipeline wan|cogvideox|latte, or drop it "
                "(the stdit3 model is --preset / --weights).",
                EXIT_USAGE,
            )
    if args.t5 is not None and (args.weights is None or args.text_encoder is not None):
        raise CLIError(
            "--t5 encodes the captions of a --weights checkpoint and replaces --text-encoder. HINT: pass --weights "
            "PATH --t5 PATH, without --text-encoder.",
            EXIT_USAGE,
        )
    if args.weights is not None:
        encoder = "t5" if args.t5 is not None else args.text_encoder or "hash"
        try:
            dm = demo.load_checkpoint_model(
                args.weights, args.preset or "XL/2", device=args.device, text_encoder=encoder, t5=args.t5
            )
        except FileNotFoundError as exc:
            raise CLIError(str(exc), EXIT_USAGE) from None
    else:
        dm = demo.load_demo_model(
            args.preset or demo.TRAINED, seed=args.seed, device=args.device,
            text_encoder=args.text_encoder or "minilm", command="run",
        )  # fmt: skip
    height, width = image_size(args.resolution) if args.resolution else (dm.height, dm.width)
    config = PipelineConfig(
        full_steps=args.steps_full,
        hit_steps=args.steps_hit,
        mode=args.mode,
        cfg_scale=7.0 if args.cfg_scale is None else args.cfg_scale,
        use_timestep_transform=dm.use_timestep_transform,
    )
    size = {"num_frames": args.frames or dm.num_frames, "height": height, "width": width}
    name = f"{dm.preset} from {args.weights}, {dm.text_encoder!r}" if args.weights else f"preset {dm.preset}"
    runner = STDiT3Runner(dm.model, dm.text_encoder, cache, config=config, vae=dm.vae, device=args.device, size=size)
    return runner, {"pipeline": "stdit3", "model": name, "trained": dm.trained}


def _eval_diffusers_runner(args: argparse.Namespace, cache: Any):
    from chai.diffusers import ChaiDiffusersConfig, cli_run
    from chai.evaluation.runners import DiffusersRunner
    from chai.pipeline import image_size

    stdit3_only = (("--preset", args.preset), ("--weights", args.weights), ("--text-encoder", args.text_encoder),
                   ("--t5", args.t5))  # fmt: skip
    for flag, value in stdit3_only:
        if value is not None:
            raise CLIError(
                f"{flag} applies to --pipeline stdit3 only, not {args.pipeline}. HINT: drop it (diffusers pipelines "
                "take --model and use their own text encoder).",
                EXIT_USAGE,
            )
    height, width = image_size(args.resolution) if args.resolution else (None, None)
    dtype = cli_run.resolve_dtype(args.dtype, model=args.model, device=args.device)
    try:
        loaded = cli_run.load_pipeline(args.pipeline, args.model, seed=args.seed, device=args.device, dtype=dtype)
    except FileNotFoundError as exc:
        raise CLIError(str(exc), EXIT_USAGE) from None
    except cli_run.PipelineUnavailableError as exc:
        raise CLIError(str(exc), EXIT_RUNTIME) from None
    call = cli_run.call_arguments(loaded, height=height, width=width, frames=args.frames, guidance_scale=args.cfg_scale)
    config = ChaiDiffusersConfig(hit_steps=args.steps_hit, mode=args.mode)
    try:
        runner = DiffusersRunner(loaded.pipe, cache, config=config, full_steps=args.steps_full, call_kwargs=call)
    except (TypeError, RuntimeError) as exc:
        raise CLIError(str(exc).replace("\n", " "), EXIT_RUNTIME) from None
    return runner, {"pipeline": args.pipeline, "model": loaded.source, "trained": not loaded.tiny}


def _interval_cell(iv: dict, fmt: str) -> str:
    return f"{iv['mean']:{fmt}} [{iv['low']:{fmt}}, {iv['high']:{fmt}}]"


def _eval_table(summary: dict, full_steps: int, hit_steps: int) -> str:
    from chai import report

    def rows(block: dict) -> list[list[str]]:
        names = (("hit", "CHAI hit"), ("short", f"plain {hit_steps}-step"), ("hit_minus_short", "hit - plain"))
        return [
            [label, _interval_cell(block[key]["psnr_db"], ".2f"), _interval_cell(block[key]["ssim"], ".4f")]
            for key, label in names
        ]

    conf = round(100 * summary["bootstrap"]["confidence"])
    heads = [f"vs the {full_steps}-step twin", f"PSNR dB [{conf}% CI]", f"SSIM [{conf}% CI]"]
    out = [f"all {summary['pairs']} pairs:", report.format_table(heads, rows(summary["all_pairs"]), align="lrr")]
    clip = summary["all_pairs"].get("clip_score")
    if clip is not None:
        names = (("hit", "hit"), ("full", f"{full_steps}-step twin"), ("short", f"{hit_steps}-step twin"))
        out.append(
            "clip score vs the request prompt: "
            + ", ".join(f"{label} {_interval_cell(clip[k], '.2f')}" for k, label in names)
        )
    if summary["hit_pairs"] is not None and summary["hits"] < summary["pairs"]:
        out += [
            f"the {summary['hits']} pairs that hit:",
            report.format_table(heads, rows(summary["hit_pairs"]), align="lrr"),
        ]
    return "\n".join(out)


def _cmd_eval_quality(args: argparse.Namespace) -> int:
    import torch

    from chai import demo, report
    from chai.evaluation import quality
    from chai.evaluation.pairs import PairsFileError, read_pairs

    sheet = None if args.no_sheet else args.sheet
    for path, flag in ((args.report, "--report"), (sheet, "--sheet")):
        _check_output_path(path, flag)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise CLIError(f"--device {args.device}: CUDA is not available here. HINT: use --device cpu.", EXIT_USAGE)
    if args.steps_hit > args.steps_full:
        raise CLIError(
            f"--steps-hit {args.steps_hit} exceeds --steps-full {args.steps_full}. HINT: 8 and 30.", EXIT_USAGE
        )
    try:
        pairs = read_pairs(args.pairs, seed=args.seed)
    except PairsFileError as exc:
        raise CLIError(str(exc), EXIT_USAGE) from None
    scorer = None
    if args.clip is not None:
        from chai.evaluation.clip import ClipScorer

        try:
            scorer = ClipScorer(args.clip, device=args.device)
        except FileNotFoundError as exc:
            raise CLIError(str(exc), EXIT_USAGE) from None
    embedder = demo.build_embedder(args.embedder)
    # In memory and emptied before each pair, so it holds one entry at a time: no budget to choose.
    cache = open_cache(
        1 << 40, location=None, namespace="eval", matching="entity", threshold=args.threshold, embedder=embedder
    )
    settings = quality.BootstrapSettings(resamples=args.bootstrap, seed=args.bootstrap_seed)
    build = _eval_stdit3_runner if args.pipeline == "stdit3" else _eval_diffusers_runner
    with contextlib.ExitStack() as stack:
        stack.enter_context(cache)
        runner, about = build(args, cache)
        stack.callback(runner.close)
        if scorer is not None and runner.space != "pixels":
            raise CLIError(
                "--clip needs decoded pixels, but this model has no decoder (its clips are latents). HINT: drop --clip.",
                EXIT_USAGE,
            )
        print(
            f"chai eval quality: {len(pairs)} pairs, {about['pipeline']} ({about['model']}), {args.device}, "
            f"{args.threads_note}, {runner.full_steps}/{runner.hit_steps} steps, {quality.RUNS_PER_PAIR} runs per pair",
            flush=True,
        )
        quiet_bar = args.no_progress or not report.is_tty()
        bar = stack.enter_context(_progress(len(pairs) * quality.RUNS_PER_PAIR, "eval quality", quiet_bar, unit="run"))
        records, rows = quality.evaluate(
            runner, pairs, clip_scorer=scorer, sheet_rows=args.sheet_rows if sheet else 0,
            frames_per_tile=args.sheet_frames, on_run=(lambda name: bar.update(1)) if bar is not None else None,
        )  # fmt: skip
        described = runner.describe()
    summary = quality.summarize(records, settings)
    doc = {
        "schema": quality.SCHEMA,
        "command": "eval quality",
        "created": report.now_iso(),
        "environment": report.environment(args.device),
        "setup": {
            "pairs_file": args.pairs,
            **about,
            "runner": _jsonable(described),
            "full_steps": runner.full_steps,
            "hit_steps": runner.hit_steps,
            "embedder": getattr(embedder, "name", type(embedder).__name__),
            "threshold": args.threshold,
            "clip": args.clip,
        },
        "pairs": records,
        "summary": summary,
    }
    print()
    print(_eval_table(summary, runner.full_steps, runner.hit_steps))
    print(f"hits: {summary['hits']} of {summary['pairs']} pairs")
    for miss in summary["not_hit"]:
        print(f"  line {miss['line']}: not a hit ({miss['reason']}); compared all the same")
    report.write_json(args.report, doc)
    print(f"report: {args.report}")
    if sheet:
        from chai.evaluation.sheet import write_sheet

        title = f"chai eval quality ({about['pipeline']}, {about['model']})"
        out = write_sheet(sheet, rows, total_pairs=len(records), full_steps=runner.full_steps,
                          hit_steps=runner.hit_steps, title=title, latent=runner.space == "latent")  # fmt: skip
        print(f"sheet: {out}")
    return EXIT_OK


# --------------------------------------------------------------------------------------------- cache


def _cmd_cache(args: argparse.Namespace) -> int:
    from chai.cache import LatentCache

    scheme = _location_scheme(args.location, "location")
    shown = _redacted(args.location)
    if scheme == "dir":
        d = Path(args.location.removeprefix("dir://")).expanduser()
        if not d.exists():
            raise CLIError(
                f"cache directory {str(d)!r} does not exist. HINT: pass the --cache of an earlier run.", EXIT_USAGE
            )
        if not d.is_dir():
            raise CLIError(f"{str(d)!r} is not a directory. HINT: pass the --cache of an earlier run.", EXIT_USAGE)
    try:
        if args.cache_command == "stats":
            if args.namespace is not None and args.namespace not in _listed(args.location, args.namespace):
                raise CLIError(
                    f"namespace {args.namespace!r} not found in {shown!r}. HINT: chai cache stats {shown} lists them.",
                    EXIT_USAGE,
                )
            info = LatentCache.open_stats(args.location, namespace=args.namespace)
            info["location"] = shown
            if args.json:
                import json

                print(json.dumps(_jsonable(info), indent=2))
            else:
                _print_dir_stats(shown, info)
            return EXIT_OK
        removed = LatentCache.clear_location(args.location, namespace=args.namespace)
    except (ImportError, PermissionError) as exc:  # PermissionError: a tenant user of a shared server
        raise CLIError(str(exc).replace("\n", " "), EXIT_USAGE) from None
    except _connection_errors() as exc:
        raise CLIError(f"cannot reach {shown}: {exc}. HINT: is the server running?", EXIT_RUNTIME) from None
    print(f"cleared {shown}: {removed} entries removed" + (f" (namespace {args.namespace})" if args.namespace else ""))
    return EXIT_OK


def _listed(location: str, namespace: str) -> list[str]:
    """The namespaces at ``location``; a user who may not list them (a Redis tenant) gets its own namespace
    back, and reading it then tells whether it may use it."""
    from chai.cache import LatentCache

    try:
        return LatentCache.list_namespaces(location)
    except PermissionError:
        return [namespace]


#: Columns of ``chai cache stats``: (header, key of a namespace's open_stats dict).
_STATS_COLUMNS = (
    ("namespace", None),
    ("entries", "entries"),
    ("bytes", "bytes_used"),
    ("on disk", "record_bytes"),
    ("corrupt", "corrupt"),
    ("partial", "partial"),
    ("matching", "matching"),
    ("embedder", "embedder"),
)


def _connection_errors() -> tuple[type[BaseException], ...]:
    try:
        import redis
    except ImportError:
        return (OSError,)
    return (OSError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def _print_dir_stats(d: Any, info: Any) -> None:
    from chai import report
    from chai.sizes import format_size

    per = info["namespaces"] if "namespaces" in info else {info["namespace"]: info}
    rows = []
    for ns, s in per.items():
        row: list[Any] = []
        for _, key in _STATS_COLUMNS:
            v = ns if key is None else s.get(key)
            if v is None:
                row.append("-")  # not kept by this backend (Redis has no files)
            else:
                row.append(format_size(int(v)) if key in ("bytes_used", "record_bytes") else v)
        rows.append(row)
    total = sum(int(s.get("entries") or 0) for s in per.values())
    print(f"cache {d}: {total} entries in {len(per)} namespace{'s' if len(per) != 1 else ''}")
    if rows:
        print(report.format_table([h for h, _ in _STATS_COLUMNS], rows, align="lrrrrrll"))


# --------------------------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``chai`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = os.environ.get("CHAI_DEBUG", "") not in ("", "0")
    try:
        if hasattr(args, "threads"):
            args.threads_note = _set_torch_threads(args.threads)
        if args.command in ("demo", "run"):
            return _cmd_generate(args)
        if args.command == "trace":
            return _cmd_trace(args)
        if args.command == "cache":
            return _cmd_cache(args)
        if args.command == "eval":
            return _cmd_eval_quality(args)
        parser.error(f"unknown command {args.command!r}")
    except CLIError as exc:
        if debug:
            raise
        print(f"chai: error: {exc}", file=sys.stderr)
        return exc.code
    except BrokenPipeError:
        # stdout closed early (e.g. piped into `head`): stop quietly, without a second error at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_RUNTIME
    except KeyboardInterrupt:
        print("chai: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, ImportError, OSError, RuntimeError) as exc:
        if debug:
            raise
        msg = str(exc).strip().replace("\n", " ")
        print(f"chai: error: {type(exc).__name__}: {msg}", file=sys.stderr)
        return EXIT_RUNTIME
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

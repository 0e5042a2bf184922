"""The ``chai`` command line (also ``python -m chai``).

Commands::

    chai demo  [options]                      built-in prompts, mini STDiT3 on CPU, 64MB cache
    chai run   --prompts FILE [options]       the same on any prompt file
    chai trace --prompts FILE --budgets 16MB,64MB,256MB,1GB --matching entity,prompt
                                              hit rate against budget without running the model
    chai cache stats DIR | chai cache clear DIR

Every failure the user can cause (bad flag, missing or empty prompt file, bad size, missing optional
package) prints one ``chai: error: ...`` line with a hint and exits non-zero (2 for usage errors, 1 for
runtime errors); tracebacks are shown only with ``CHAI_DEBUG=1``. See ``docs/cli.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

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

    try:
        n = parse_size(text, name="size")
    except (ValueError, TypeError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"size must be > 0 bytes, got {text!r}. HINT: e.g. 64MB.")
    return n


def _size_list_arg(text: str) -> list[int]:
    from chai.sizes import parse_size_list

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


# --------------------------------------------------------------------------------------------- parser


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _add_generation_args(p: argparse.ArgumentParser, *, demo: bool) -> None:
    g = p.add_argument_group("generation")
    g.add_argument("--preset", default="mini", help="STDiT3 preset with fixed random weights (default: mini)")
    g.add_argument("--seed", type=int, default=0, help="weights seed; request i uses noise seed SEED+i (default 0)")
    g.add_argument("--device", type=_device_arg, default="cpu", help="torch device (default: cpu)")
    g.add_argument("--steps-full", type=_positive_int, default=30, help="steps on a miss (default 30)")
    g.add_argument("--steps-hit", type=_positive_int, default=8, help="steps on a hit (default 8)")
    g.add_argument(
        "--resolution",
        type=_resolution_arg,
        default="144p" if demo else "240p",
        help=f"144p, 240p, 360p, ... or HxW pixels (default {'144p' if demo else '240p'})",
    )
    g.add_argument(
        "--frames",
        type=_positive_int,
        default=68 if not demo else 51,
        help=f"frames per clip (default {51 if demo else 68})",
    )
    g.add_argument("--mode", choices=("joint", "replace"), default="joint", help="Cache Attention mode (default joint)")
    g.add_argument("--cfg-scale", type=float, default=7.0, help="classifier-free guidance scale (default 7.0)")
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
        help="torch CPU threads (default: torch's choice; 1 helps on an oversubscribed machine)",
    )
    c = p.add_argument_group("cache")
    c.add_argument(
        "--budget", type=_size_arg, default=_size_arg("64MB"), help="cache byte budget, e.g. 64MB, 1GiB (default 64MB)"
    )
    c.add_argument("--cache-dir", default=None, help="persist the cache in DIR (default: in memory)")
    c.add_argument("--namespace", default="default", help="cache namespace (tenant) (default: default)")
    c.add_argument(
        "--matching", choices=("entity", "prompt"), default="entity", help="entity (CHAI) or prompt matching"
    )
    c.add_argument("--threshold", type=float, default=None, help="cosine threshold for a hit (default: the cache's)")
    c.add_argument("--embedder", choices=("minilm", "hash"), default="minilm", help="cache embedder (default minilm)")
    o = p.add_argument_group("output")
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
        help="built-in prompts on the mini STDiT3 (CPU, a few minutes)",
        description="Run the built-in prompt list through CHAI on the mini STDiT3 with a 64MB cache.",
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
        help="hit rate against cache budget, without the model",
        description="Replay a prompt trace through real caches (extractor, embedder, index, entry sizes) "
        "at several budgets and matchings; project latency from a per-step cost.",
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
        help="seconds per denoising step (CFG included); default: measured on --preset",
    )
    tr.add_argument(
        "--fixed-cost",
        type=_nonneg_float,
        default=0.0,
        help="seconds per request outside denoising (text encoder, VAE); default 0",
    )
    tr.add_argument("--preset", default="mini", help="STDiT3 preset timed when --step-cost is not given")
    tr.add_argument("--device", type=_device_arg, default="cpu", help="device for the step-cost measurement")
    tr.add_argument("--steps-full", type=_positive_int, default=30)
    tr.add_argument("--steps-hit", type=_positive_int, default=8)
    tr.add_argument("--threshold", type=float, default=None, help="cosine threshold (default: the cache's)")
    tr.add_argument("--embedder", choices=("minilm", "hash"), default="minilm")
    tr.add_argument(
        "--quant", choices=("int8", "fp8", "fp32"), default="int8", help="latent storage dtype (default int8)"
    )
    tr.add_argument("--warmup", type=_nonneg_int, default=0, help="first N requests fill the cache, not counted")
    tr.add_argument("--limit", type=_positive_int, default=None, help="use only the first N prompts")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--threads", type=_positive_int, default=None, help="torch CPU threads (default: torch's choice)")
    tr.add_argument("--report", default=None, help="write the JSON report (schema chai.trace/1) to FILE")
    tr.add_argument("--plot", default=None, help="write a PNG of hit rate and latency against budget to FILE")
    tr.add_argument("--no-progress", action="store_true")

    cache = sub.add_parser("cache", help="inspect or clear a persistent cache directory")
    csub = cache.add_subparsers(dest="cache_command", metavar="ACTION", parser_class=_Parser)
    csub.required = True
    st = csub.add_parser("stats", help="print the statistics of a cache directory")
    st.add_argument("dir")
    st.add_argument("--namespace", default=None, help="one namespace (default: all)")
    st.add_argument("--json", action="store_true", help="print JSON")
    cl = csub.add_parser("clear", help="delete every entry of a cache directory")
    cl.add_argument("dir")
    cl.add_argument("--namespace", default=None, help="one namespace (default: all)")

    from chai.eval.__main__ import add_subcommands as _add_eval_subcommands

    ev = sub.add_parser("eval", help="quality evidence: train the synthetic STDiT3, run the quality benchmark")
    esub = ev.add_subparsers(dest="eval_command", metavar="ACTION", parser_class=_Parser)
    esub.required = True
    _add_eval_subcommands(esub)
    return parser


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


def build_text_encoder(kind: str, *, hidden_size: int, model_max_length: int, device: str):
    """The caption encoder of the CLI: MiniLM (default) or the hash encoder."""
    from chai.text_encoder import HashTextEncoder, MiniLMTextEncoder

    if kind == "hash":
        return HashTextEncoder(hidden_size, model_max_length, device=device)
    try:
        return MiniLMTextEncoder(model_max_length, device=device)
    except ImportError as exc:
        raise CLIError(f"{exc} (or run with --text-encoder hash)") from None


def build_embedder(kind: str):
    from chai.cache.embedder import HashingEmbedder, MiniLMEmbedder

    if kind == "hash":
        return HashingEmbedder(256)
    from chai.text_encoder import quiet_transformers

    quiet_transformers()
    emb = MiniLMEmbedder()
    try:
        emb.check_available()
    except ImportError as exc:
        raise CLIError(f"{exc} (or run with --embedder hash)") from None
    return emb


def build_model(preset: str, *, seed: int, device: str, caption_channels: int | None = None):
    """STDiT3 ``preset`` with fixed random weights from ``seed`` (zero-initialised projections re-drawn).

    OpenSora zero-initialises the temporal blocks' output projections and the fps embedder's last
    layer, which would make them no-ops; the demo model re-draws those with std 0.02 so every branch
    takes part. ``caption_channels`` overrides the preset's width to match the text encoder.
    """
    import torch

    from chai.models import PRESETS, STDiT3, STDiT3Config

    if preset not in PRESETS:
        raise CLIError(f"unknown preset {preset!r}. HINT: choose one of {', '.join(sorted(PRESETS))}.", EXIT_USAGE)
    overrides = {}
    if caption_channels is not None and PRESETS[preset].get("caption_channels") != caption_channels:
        overrides["caption_channels"] = caption_channels
    cfg = STDiT3Config.preset(preset, **overrides)
    torch.manual_seed(seed)
    model = STDiT3(cfg)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for block in model.temporal_blocks:
            for lin in (block.attn.proj, block.cross_attn.proj, block.mlp.fc2):
                lin.weight.copy_(torch.randn(lin.weight.shape, generator=gen) * 0.02)
        last = model.fps_embedder.mlp[2]
        last.weight.copy_(torch.randn(last.weight.shape, generator=gen) * 0.02)
    return model.to(device).eval()


def open_cache(
    budget: int,
    *,
    directory: str | None,
    namespace: str,
    matching: str,
    threshold: float | None,
    embedder: Any,
    extractor: Any = None,
    quant_dtype: Any = None,
):
    """A ``chai.cache.LatentCache`` with the CLI's options (threshold only when given)."""
    from chai.cache import LatentCache

    kw: dict[str, Any] = {"directory": directory, "namespace": namespace, "matching": matching, "embedder": embedder}
    if extractor is not None:
        kw["extractor"] = extractor
    if threshold is not None:
        kw["threshold"] = threshold
    if quant_dtype is not None:
        kw["quant_dtype"] = quant_dtype
    return LatentCache(budget, **kw)


def _check_output_path(path: str | None, flag: str) -> None:
    if path is None:
        return
    parent = Path(path).resolve().parent
    if not parent.exists():
        raise CLIError(f"{flag} {path!r}: directory {str(parent)!r} does not exist. HINT: create it first.", EXIT_USAGE)
    if Path(path).is_dir():
        raise CLIError(f"{flag} {path!r} is a directory. HINT: pass a file name.", EXIT_USAGE)


def _request_line(i: int, n: int, rec: dict[str, Any]) -> str:
    width = len(str(n))
    t = rec["timings"]
    if rec["hit"]:
        what = f"HIT   {rec['prompt_entity']!s} -> {rec['cached_entity']!s} ({rec['score']:.2f})"
    else:
        ents = len(rec.get("entities") or [])
        ins = rec.get("inserted_entry")
        what = f"MISS  inserted {ins} ({ents} entities)" if ins is not None else "MISS"
    prompt = rec["prompt"] if len(rec["prompt"]) <= 60 else rec["prompt"][:57] + "..."
    return f"[{i + 1:>{width}}/{n}] {what:<48} {rec['steps']:>3} steps {t['total']:7.2f}s  {prompt}"


# --------------------------------------------------------------------------------------------- demo / run


def _cmd_generate(args: argparse.Namespace) -> int:
    import torch

    from chai import report
    from chai.pipeline import CHAIPipeline, PipelineConfig, image_size

    if args.command == "demo" and args.prompts is None:
        prompts = read_prompts(None, builtin="demo_prompts.txt")
    else:
        prompts = read_prompts(args.prompts)
    if args.limit:
        prompts = prompts[: args.limit]
    _check_output_path(args.report, "--report")
    _check_output_path(args.plot, "--plot")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise CLIError(
            f"--device {args.device}: CUDA is not available on this machine. HINT: use --device cpu.", EXIT_USAGE
        )
    if args.steps_hit > args.steps_full:
        raise CLIError(
            f"--steps-hit {args.steps_hit} exceeds --steps-full {args.steps_full}. HINT: e.g. 8 and 30.", EXIT_USAGE
        )
    if max(PipelineConfig.cache_steps) > args.steps_hit:
        raise CLIError(
            f"--steps-hit {args.steps_hit} is below {max(PipelineConfig.cache_steps)}: "
            f"Cache Attention runs at hit steps {', '.join(map(str, PipelineConfig.cache_steps))}.",
            EXIT_USAGE,
        )
    height, width = image_size(args.resolution)
    quiet_bar = args.no_progress or not report.is_tty()

    t_setup = time.perf_counter()
    from chai.models import PRESETS

    if args.preset not in PRESETS:
        raise CLIError(f"unknown preset {args.preset!r}. HINT: choose one of {', '.join(sorted(PRESETS))}.", EXIT_USAGE)
    max_len = int(PRESETS[args.preset].get("model_max_length", 300))
    if args.text_encoder == "hash":
        channels = int(PRESETS[args.preset].get("caption_channels", 4096))
        encoder = build_text_encoder("hash", hidden_size=channels, model_max_length=max_len, device=args.device)
    else:
        encoder = build_text_encoder("minilm", hidden_size=384, model_max_length=max_len, device=args.device)
    model = build_model(args.preset, seed=args.seed, device=args.device, caption_channels=encoder.hidden_size)
    embedder = build_embedder(args.embedder)
    cache = open_cache(
        args.budget,
        directory=args.cache_dir,
        namespace=args.namespace,
        matching=args.matching,
        threshold=args.threshold,
        embedder=embedder,
    )
    config = PipelineConfig(
        full_steps=args.steps_full, hit_steps=args.steps_hit, mode=args.mode, cfg_scale=args.cfg_scale
    )
    setup_s = time.perf_counter() - t_setup
    records: list[dict[str, Any]] = []
    n = len(prompts)
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"chai {args.command}: {n} prompts, preset {args.preset} ({n_params / 1e6:.1f}M params), "
        f"{args.resolution} x {args.frames} frames, {args.device}, cache {args.budget / 1e6:.0f}MB "
        f"({args.matching} matching), {args.steps_full}/{args.steps_hit} steps; setup {setup_s:.1f}s",
        flush=True,
    )
    with contextlib.ExitStack() as stack:
        stack.enter_context(cache)
        pipe = stack.enter_context(CHAIPipeline(model, encoder, cache, config=config, device=args.device))
        bar = stack.enter_context(_progress(n, "requests", quiet_bar, unit="req"))
        step_bar = stack.enter_context(_progress(args.steps_full, "steps", quiet_bar, unit="step", position=1))

        def on_step(step: int, total: int) -> None:
            if step_bar is not None:
                if step == 1:
                    step_bar.reset(total=total)
                step_bar.update(1)

        for i, prompt in enumerate(prompts):
            res = pipe.generate(
                prompt, seed=args.seed + i, num_frames=args.frames, height=height, width=width, on_step=on_step
            )
            rec = res.to_record(index=i)
            records.append(rec)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(hits=sum(r["hit"] for r in records))
            if not args.quiet:
                _emit(_request_line(i, n, rec), bar)
        stats = cache.stats()
    summary = report.summarize_run(records)
    print()
    print(report.run_table(summary))
    doc = {
        "schema": report.RUN_SCHEMA,
        "command": args.command,
        "created": report.now_iso(),
        "environment": report.environment(args.device),
        "config": {
            "preset": args.preset,
            "seed": args.seed,
            "resolution": args.resolution,
            "height": height,
            "width": width,
            "num_frames": args.frames,
            "budget_bytes": args.budget,
            "cache_dir": args.cache_dir,
            "namespace": args.namespace,
            "matching": args.matching,
            "threshold": args.threshold,
            "text_encoder": repr(encoder),
            "embedder": getattr(embedder, "name", type(embedder).__name__),
            "pipeline": config.to_dict(),
            "setup_s": setup_s,
        },
        "requests": records,
        "summary": summary,
        "cache": _jsonable(stats),
    }
    title = f"chai {args.command} ({args.preset}, {args.resolution})"
    _write_outputs(args, doc, lambda path: report.plot_run(path, records, title=title))
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


class _MemoExtractor:
    """Wraps an extractor so a prompt replayed at several budgets is parsed once."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.name = getattr(inner, "name", type(inner).__name__)
        self._memo: dict[str, list[str]] = {}

    def extract(self, prompt: str) -> list[str]:
        out = self._memo.get(prompt)
        if out is None:
            out = list(self.inner.extract(prompt))
            self._memo[prompt] = out
        return list(out)


def measure_step_cost(
    preset: str,
    shape: tuple[int, ...],
    *,
    height: int,
    width: int,
    num_frames: int,
    device: str,
    seed: int = 0,
    repeats: int = 2,
) -> float:
    """Seconds per denoising step of ``preset`` at latent ``shape`` (C, T, H, W), CFG batch of 2, median of repeats."""
    import torch

    from chai.models import PRESETS

    cfg = PRESETS.get(preset)
    if cfg is None:
        raise CLIError(f"unknown preset {preset!r}. HINT: choose one of {', '.join(sorted(PRESETS))}.", EXIT_USAGE)
    model = build_model(preset, seed=seed, device=device)
    c_cap, L = int(model.config.caption_channels), int(model.config.model_max_length)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((2, *shape), generator=g).to(device)
    y = torch.randn((2, 1, L, c_cap), generator=g).to(device)
    mask = torch.ones(1, L, dtype=torch.long, device=device)
    kw = dict(
        mask=mask,
        fps=torch.full((2,), 24.0, device=device),
        height=torch.full((2,), float(height), device=device),
        width=torch.full((2,), float(width), device=device),
    )
    t = torch.full((2,), 900.0, device=device)
    times = []
    with torch.no_grad():
        model(x, t, y, **kw)  # warm-up
        for _ in range(repeats):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            model(x, t, y, **kw)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
    return float(statistics.median(times))


def _pct(xs: Sequence[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    k = min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))
    return float(s[k])


def _cmd_trace(args: argparse.Namespace) -> int:
    import torch

    from chai import report
    from chai.cache.entities import default_extractor
    from chai.pipeline import image_size, latent_shape

    prompts = read_prompts(args.prompts) if args.prompts else read_prompts(None, builtin="trace_prompts.txt")
    if args.limit:
        prompts = prompts[: args.limit]
    if args.warmup >= len(prompts):
        raise CLIError(f"--warmup {args.warmup} leaves no request to count ({len(prompts)} prompts).", EXIT_USAGE)
    _check_output_path(args.report, "--report")
    _check_output_path(args.plot, "--plot")
    if args.steps_hit > args.steps_full:
        raise CLIError(f"--steps-hit {args.steps_hit} exceeds --steps-full {args.steps_full}.", EXIT_USAGE)
    height, width = image_size(args.resolution)
    shape = latent_shape(args.frames, height, width)
    quiet_bar = args.no_progress or not report.is_tty()

    if args.step_cost is None:
        if args.device.startswith("cuda") and not torch.cuda.is_available():
            raise CLIError(
                f"--device {args.device}: CUDA is not available. HINT: use --device cpu or --step-cost.", EXIT_USAGE
            )
        print(
            f"measuring the per-step cost of preset {args.preset} at {args.resolution} x {args.frames} frames ...",
            flush=True,
        )
        step_cost = measure_step_cost(
            args.preset, shape, height=height, width=width, num_frames=args.frames, device=args.device, seed=args.seed
        )
        step_source = f"measured ({args.preset}, {args.device}, CFG batch 2)"
    else:
        step_cost, step_source = float(args.step_cost), "given"

    extractor = _MemoExtractor(default_extractor())
    embedder = build_embedder(args.embedder)
    gen = torch.Generator().manual_seed(args.seed)
    # Three noisy latents of the request shape stand in for the captured ones: the cache stores and
    # quantizes them exactly as in the pipeline, so entry sizes are real.
    latents = [torch.randn((1, *shape), generator=gen) for _ in range(3)]
    T, S = shape[1], (-(-shape[2] // 2)) * (-(-shape[3] // 2))
    mask_template = torch.rand((T, S), generator=gen) < 0.5

    full_s = args.fixed_cost + args.steps_full * step_cost
    hit_s = args.fixed_cost + args.steps_hit * step_cost
    results = []
    total_jobs = len(args.budgets) * len(args.matching) * len(prompts)
    with _progress(total_jobs, "trace", quiet_bar, unit="req") as bar:
        for matching in args.matching:
            for budget in args.budgets:
                res = _replay(
                    prompts,
                    budget=budget,
                    matching=matching,
                    args=args,
                    extractor=extractor,
                    embedder=embedder,
                    latents=latents,
                    mask_template=mask_template,
                    shape=shape,
                    full_s=full_s,
                    hit_s=hit_s,
                    bar=bar,
                )
                results.append(res)
    # Entity vs prompt ratio per budget.
    ratios = {}
    for budget in args.budgets:
        by = {r["matching"]: r for r in results if r["budget_bytes"] == budget}
        if "entity" in by and "prompt" in by:
            pe, pp = by["entity"]["hit_rate"], by["prompt"]["hit_rate"]
            ratios[str(budget)] = (pe / pp) if pp > 0 else None
    entry_bytes = next((r["entry_bytes"] for r in results if r["entry_bytes"]), None)
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
            "step_cost_s": step_cost,
            "step_cost_source": step_source,
            "fixed_cost_s": args.fixed_cost,
            "steps_full": args.steps_full,
            "steps_hit": args.steps_hit,
            "all_miss_latency_s": full_s,
            "hit_latency_s": hit_s,
            "extractor": extractor.name,
            "embedder": getattr(embedder, "name", type(embedder).__name__),
            "threshold": args.threshold,
        },
        "results": results,
        "entity_vs_prompt": ratios,
    }
    print(
        f"chai trace: {len(prompts)} prompts ({args.warmup} warm-up), {args.resolution} x {args.frames} frames, "
        f"latent {tuple(shape)}, entry {entry_bytes / 1e6 if entry_bytes else 0:.2f}MB, step {step_cost:.3f}s "
        f"({step_source}), all-miss {full_s:.2f}s/request"
    )
    print()
    print(report.trace_table(results))
    for b, r in ratios.items():
        from chai.sizes import format_size

        print(f"entity / prompt hit rate at {format_size(int(b))}: " + ("-" if r is None else f"{r:.2f}x"))
    title = f"chai trace ({len(prompts)} prompts, {args.resolution})"
    _write_outputs(args, doc, lambda path: report.plot_trace(path, results, title=title))
    return EXIT_OK


def _replay(prompts, *, budget, matching, args, extractor, embedder, latents, mask_template, shape, full_s, hit_s, bar):
    hits = misses = 0
    lookups, inserts, lat = [], [], []
    ents: Counter[str] = Counter()
    refused = 0
    with open_cache(
        budget,
        directory=None,
        namespace="trace",
        matching=matching,
        threshold=args.threshold,
        embedder=embedder,
        extractor=extractor,
        quant_dtype=_quant_dtype(args.quant),
    ) as cache:
        entry_bytes = None
        for i, prompt in enumerate(prompts):
            counted = i >= args.warmup
            t0 = time.perf_counter()
            m = cache.lookup(prompt, shape=(1, *shape))
            t_lookup = time.perf_counter() - t0
            if m is not None:
                if counted:
                    hits += 1
                    ents[str(m.cached_entity)] += 1
                    lat.append(hit_s + t_lookup)
                    lookups.append(t_lookup)
            else:
                # One (T, S) mask per key, as the pipeline stores them, so entry sizes are real.
                masks = {k: mask_template for k in cache.entities(prompt)}
                t0 = time.perf_counter()
                try:
                    cache.insert(prompt, latents, entity_masks=masks or None)
                except ValueError:
                    refused += 1  # an entry larger than the whole budget
                t_insert = time.perf_counter() - t0
                if entry_bytes is None and len(cache):
                    entry_bytes = cache.stats()["bytes_used"] / len(cache)
                if counted:
                    misses += 1
                    lat.append(full_s + t_lookup + t_insert)
                    lookups.append(t_lookup)
                    inserts.append(t_insert)
            if bar is not None:
                bar.update(1)
        stats = cache.stats()
    n = hits + misses
    mean_lat = float(statistics.fmean(lat)) if lat else 0.0
    return {
        "budget_bytes": budget,
        "matching": matching,
        "requests": n,
        "hits": hits,
        "misses": misses,
        "hit_rate": hits / n if n else 0.0,
        "evictions": int(stats.get("evictions", 0)),
        "refused": refused,
        "entries_end": int(stats.get("entries", 0)),
        "bytes_used_end": int(stats.get("bytes_used", 0)),
        "entry_bytes": entry_bytes,
        "mean_latency_s": mean_lat,
        "all_miss_latency_s": full_s,
        "speedup": (full_s / mean_lat) if mean_lat > 0 else None,
        "lookup_ms_p50": None if not lookups else 1e3 * _pct(lookups, 0.5),
        "lookup_ms_p95": None if not lookups else 1e3 * _pct(lookups, 0.95),
        "insert_ms_p50": None if not inserts else 1e3 * _pct(inserts, 0.5),
        "hit_entities": dict(ents.most_common(15)),
    }


# --------------------------------------------------------------------------------------------- cache


def _cmd_cache(args: argparse.Namespace) -> int:
    from chai.cache import LatentCache

    d = Path(args.dir)
    if not d.exists():
        raise CLIError(
            f"cache directory {str(d)!r} does not exist. HINT: pass the --cache-dir of an earlier run.", EXIT_USAGE
        )
    if not d.is_dir():
        raise CLIError(f"{str(d)!r} is not a directory. HINT: pass the --cache-dir of an earlier run.", EXIT_USAGE)
    if args.cache_command == "stats":
        if args.namespace is not None and args.namespace not in LatentCache.list_namespaces(d):
            raise CLIError(
                f"namespace {args.namespace!r} not found in {str(d)!r}. HINT: chai cache stats {d} lists them.",
                EXIT_USAGE,
            )
        info = LatentCache.open_stats(d, namespace=args.namespace)
        if args.json:
            import json

            print(json.dumps(_jsonable(info), indent=2))
        else:
            _print_dir_stats(d, info)
        return EXIT_OK
    removed = LatentCache.clear_directory(d, namespace=args.namespace)
    print(f"cleared {d}: {removed} entries removed" + (f" (namespace {args.namespace})" if args.namespace else ""))
    return EXIT_OK


def _print_dir_stats(d: Path, info: Any) -> None:
    from chai import report
    from chai.sizes import format_size

    if isinstance(info, dict) and "namespaces" in info:
        rows = []
        for ns, s in info["namespaces"].items():
            rows.append([ns, s.get("entries", 0), format_size(s.get("bytes_used", 0)), s.get("dropped", 0)])
        print(f"cache {d}")
        print(report.format_table(["namespace", "entries", "bytes", "dropped"], rows, align="lrrr"))
        for k, v in info.items():
            if k != "namespaces":
                print(f"{k}: {v}")
    else:
        print(f"cache {d}")
        print(report.format_table(["key", "value"], [[k, v] for k, v in dict(info).items()], align="ll"))


# --------------------------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``chai`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = os.environ.get("CHAI_DEBUG", "") not in ("", "0")
    try:
        if getattr(args, "threads", None):
            import torch

            torch.set_num_threads(args.threads)
        if args.command in ("demo", "run"):
            return _cmd_generate(args)
        if args.command == "trace":
            return _cmd_trace(args)
        if args.command == "cache":
            return _cmd_cache(args)
        if args.command == "eval":
            from chai.eval.__main__ import run as _run_eval

            return _run_eval(args, parser)
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

"""Generate ``trace_prompts.txt``: a deterministic synthetic request trace with recurring entities.

Real text-to-video traces (VidProM) repeat subjects and scenes far more often than whole prompts:
people ask for "a tiger" many times, each time with a different action, place and style. This script
imitates that: subjects are drawn from a Zipf-like popularity law, each paired with a random action,
scene and framing/style phrase in one of many sentence templates, plus a long tail of one-off
subjects. The output is committed as ``chai/data/trace_prompts.txt`` (the built-in trace of ``chai trace``);
rerun from a source checkout with ``python -m research.make_trace`` (same seed, same file).

Usage: ``python -m research.make_trace [--n 240] [--seed 2602] [--out chai/data/trace_prompts.txt]``
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

SUBJECTS = [
    ["a tiger", "a large tiger", "a bengal tiger"],
    ["a golden retriever", "a golden retriever dog", "a fluffy golden retriever"],
    ["a red fox", "a young red fox", "a red fox"],
    ["a lighthouse", "an old lighthouse", "a white lighthouse"],
    ["a sailboat", "a small sailboat", "a wooden sailboat"],
    ["a hot air balloon", "a colorful hot air balloon", "a hot air balloon"],
    ["a vintage car", "a vintage red car", "a classic vintage car"],
    ["an astronaut", "a lone astronaut", "an astronaut in a white suit"],
    ["a panda", "a giant panda", "a baby panda"],
    ["a steam train", "an old steam train", "a black steam train"],
    ["a robot", "a small robot", "a humanoid robot"],
    ["a horse", "a white horse", "a wild horse"],
    ["an elephant", "an african elephant", "a baby elephant"],
    ["a dragon", "a green dragon", "a fire-breathing dragon"],
    ["a ballerina", "a young ballerina", "a ballerina in a white tutu"],
    ["a samurai", "an old samurai", "a samurai warrior"],
    ["a penguin", "an emperor penguin", "a little penguin"],
    ["a cat", "a black cat", "a ginger cat"],
    ["a jellyfish", "a glowing jellyfish", "a translucent jellyfish"],
    ["a skateboarder", "a teenage skateboarder", "a skateboarder"],
    ["an owl", "a snowy owl", "a barn owl"],
    ["a chef", "a busy chef", "an italian chef"],
    ["a motorcycle", "a vintage motorcycle", "a black motorcycle"],
    ["a whale", "a humpback whale", "a blue whale"],
    ["a windmill", "an old windmill", "a dutch windmill"],
    ["a butterfly", "a monarch butterfly", "a blue butterfly"],
    ["a violinist", "a street violinist", "a young violinist"],
    ["a castle", "a medieval castle", "a ruined castle"],
    ["a surfer", "a professional surfer", "a surfer"],
    ["a deer", "a young deer", "a red deer"],
    ["a spaceship", "a sleek spaceship", "an alien spaceship"],
    ["a koala", "a sleepy koala", "a koala"],
    ["a firefighter", "a brave firefighter", "a firefighter"],
    ["a bicycle", "a red bicycle", "an old bicycle"],
    ["a wolf", "a grey wolf", "a lone wolf"],
    ["a parrot", "a scarlet macaw parrot", "a green parrot"],
    ["a submarine", "a yellow submarine", "a research submarine"],
    ["a bonsai tree", "a tiny bonsai tree", "a bonsai tree"],
    ["a jazz band", "a small jazz band", "a jazz band"],
    ["a polar bear", "a polar bear cub", "a hungry polar bear"],
]

# Used once each: the long tail of the trace (guaranteed misses unless a scene matches).
# Used once each: the long tail of the trace (misses unless another entity of the prompt matches).
RARE_SUBJECTS = [
    "a porcelain teapot",
    "a chess grandmaster",
    "a tap-dancing mailman",
    "a glass harmonica",
    "a clockwork beetle",
    "an origami crane",
    "a sand sculpture",
    "a marching band drummer",
    "a retro arcade cabinet",
    "a paper lantern",
    "a knitting grandmother",
    "a racing pigeon",
    "a steampunk airship",
    "a rubber duck",
    "a beekeeper",
    "a hedge maze",
    "a street magician",
    "a lava lamp",
    "a mountain goat",
    "a hummingbird",
    "a snow plow",
    "a carousel horse",
    "a pottery wheel",
    "a tugboat",
    "a flamenco dancer",
    "a totem pole",
    "a crystal chandelier",
    "an ice sculptor",
    "a cactus",
    "a vending machine",
    "a sea turtle",
    "a glassblower",
    "a llama",
    "a tram",
    "a tornado",
    "a scarecrow",
    "a violin maker",
    "a hermit crab",
    "a pipe organ",
    "a zeppelin",
    "a meerkat",
    "a blacksmith",
    "a typewriter",
    "a chameleon",
    "a sumo wrestler",
    "a gondolier",
    "a lighthouse keeper's cat",
    "a kite surfer",
    "a tea ceremony master",
    "a jukebox",
    "a flock of flamingos",
    "a stained glass window",
    "a bumblebee",
    "a cuckoo clock",
    "a puppeteer",
    "a rickshaw",
    "a pinball machine",
    "a taxidermist",
    "an accordion player",
    "a fire juggler",
    "a narwhal",
    "a hovercraft",
    "a sushi chef",
    "a snowboarder",
    "a sloth",
    "a mime",
    "an antique globe",
    "a trapeze artist",
    "a bamboo raft",
    "a weather balloon",
    "a hedgehog",
    "a calligrapher",
    "a lumberjack",
    "a tarantula",
    "a gyroscope",
    "a quokka",
    "a sand dune buggy",
    "a clock tower",
    "a falconer",
    "a mandolin",
]

ACTIONS = [
    "running",
    "walking slowly",
    "resting",
    "looking around curiously",
    "jumping",
    "turning around",
    "moving slowly",
    "standing still",
    "approaching the camera",
    "circling slowly",
    "playing",
    "exploring",
    "drifting",
    "waiting patiently",
    "appearing slowly",
    "gliding gracefully",
    "spinning around",
    "wandering aimlessly",
    "charging forward",
    "pausing for a moment",
]

SCENES = [
    "in a dense jungle",
    "on a snowy mountain",
    "in a busy city street",
    "on a sandy beach at sunset",
    "in a misty forest",
    "inside an abandoned warehouse",
    "under a starry night sky",
    "in a field of sunflowers",
    "on a frozen lake",
    "in a neon-lit alley",
    "beside a rushing waterfall",
    "in a desert canyon",
    "on a rainy rooftop",
    "in a quiet library",
    "near an erupting volcano",
    "in a cherry blossom garden",
    "on the moon",
    "in a crowded market",
    "on a foggy pier",
    "in an underwater coral reef",
    "across rolling green hills",
    "in a dark cave",
    "at a train station",
    "in a wheat field at dawn",
    "on a windswept cliff",
    "in a snowy village",
    "inside a glass greenhouse",
    "along a river at dusk",
    "in a bamboo grove",
    "on a tropical island",
    "inside a cathedral",
    "in a subway car",
    "on a golf course",
    "in a lavender field",
    "at a carnival",
    "in a junkyard",
    "on a mossy log",
    "in an art gallery",
    "inside a space station",
    "in a vineyard",
    "on a suspension bridge",
    "at a gas station at night",
    "in a rice terrace",
    "on a houseboat",
    "in a candle-lit kitchen",
    "in a thunderstorm",
    "in a salt flat",
    "inside a greenhouse dome",
    "in a mangrove swamp",
    "at a rooftop party",
    "in a laundromat",
    "on an ice floe",
    "in a sunflower maze",
    "in a redwood forest",
    "at an airport gate",
    "on a rooftop garden",
    "in a sandstorm",
    "inside a submarine cabin",
    "in a tulip field",
    "on a frozen waterfall",
]

STYLES = [
    "cinematic shot",
    "4k, highly detailed",
    "in the style of an oil painting",
    "shot on 35mm film",
    "slow motion",
    "aerial drone footage",
    "golden hour lighting",
    "watercolor style",
    "hyperrealistic",
    "anime style",
    "documentary footage",
    "tilt-shift photography",
    "dramatic lighting",
    "pastel colors",
    "black and white film",
    "wide angle lens",
    "handheld camera",
    "time-lapse",
    "vibrant colors",
    "studio ghibli style",
]

TEMPLATES = [
    "{subj} {act} {scene}, {style}",
    "{Style} of {subj} {act} {scene}",
    "{Scene}, {subj} is {act}. {Style}.",
    "A tranquil tableau of {subj} {act} {scene}",
    "{Subj} {act} {scene}",
    "Close-up of {subj} {act}, {style}",
    "{subj} {act}. The camera pans slowly. {Style}.",
    "In a still frame, {subj} {act}",
    "Wide shot: {subj} {act} {scene}, {style}",
    "{Subj} seen {act} while the light changes, {style}",
    "A short clip of {subj} {act}",
    "Beautiful footage of {subj} {act} {scene}, {style}",
]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def make_trace(n: int = 240, seed: int = 2602, rare_fraction: float = 0.3) -> list[str]:
    """Return ``n`` distinct prompts (deterministic in ``seed``)."""
    rng = random.Random(seed)
    weights = [1.0 / (rank + 1) ** 0.9 for rank in range(len(SUBJECTS))]
    rare = list(RARE_SUBJECTS)
    rng.shuffle(rare)
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        if rare and rng.random() < rare_fraction:
            subj = rare.pop()
        else:
            subj = rng.choice(rng.choices(SUBJECTS, weights=weights)[0])
        scene = rng.choice(SCENES)
        style = rng.choice(STYLES)
        text = rng.choice(TEMPLATES).format(
            subj=subj,
            Subj=_cap(subj),
            act=rng.choice(ACTIONS),
            scene=scene,
            Scene=_cap(scene),
            style=style,
            Style=_cap(style),
        )
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=240, help="prompts in the trace (default 240)")
    parser.add_argument("--seed", type=int, default=2602, help="random seed (default 2602, the committed trace)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent.parent / "chai" / "data" / "trace_prompts.txt",
        help="output file (default: chai/data/trace_prompts.txt of this checkout)",
    )
    args = parser.parse_args()
    prompts = make_trace(args.n, args.seed)
    header = (
        f"# Synthetic request trace for `chai trace` ({len(prompts)} prompts, recurring entities).\n"
        f"# Generated by python -m research.make_trace --n {args.n} --seed {args.seed}; do not edit by hand.\n"
    )
    args.out.write_text(header + "\n".join(prompts) + "\n", encoding="utf-8")
    print(f"wrote {len(prompts)} prompts to {args.out}")


if __name__ == "__main__":
    main()

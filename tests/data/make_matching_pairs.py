"""Write ``matching_pairs.jsonl``: labelled (request entity, cached entity) pairs for the entity-matching rules.

Run ``python tests/data/make_matching_pairs.py`` after editing the lists below; the JSONL is committed.

Each line: ``{"request": str, "cached": str, "label": 1 | 0, "class": str}``. ``label`` 1 means the cached entity's
latent may serve the request (a right hit), 0 that reusing it would put a wrong subject or attribute in the
video. Entities are written as the extractor produces them (lower case, head last, head lemmatised). Labelling
policy (docs/matching.md):

* a request less specific than the cached entity is served by it (``car`` <- ``red vintage car``, ``dog`` <-
  ``golden retriever``);
* a request more specific than the cached entity is served only by a detail any such entity shows or that does
  not change its look much (size, mood: ``large tiger`` <- ``tiger``); a colour, material, pattern, age, number,
  setting or weather the cached string does not state is a wrong hit (``red car`` <- ``car``: the cached car has
  some colour, and nothing says it is red);
* different kinds of thing, parts, containers, scenes and their objects, conflicting attributes and non-subjects
  never match.

The pairs of the embedder's threshold study (``csrc_bench/bench_lookup.py``, class ``threshold_study_*``) are
included unchanged except where their label contradicts this policy (listed in ``RELABELLED``).
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parent / "matching_pairs.jsonl"

P, N = 1, 0


def _pairs(text: str) -> list[tuple[str, str]]:
    out = []
    for line in text.strip().splitlines():
        for item in line.split(";"):
            if item.strip():
                a, b = item.split("|")
                out.append((a.strip(), b.strip()))
    return out


CLASSES: dict[str, tuple[int, list[tuple[str, str]]]] = {
    # ---------------------------------------------------------------- right hits
    "exact": (P, _pairs("""
        tiger|tiger; golden retriever|golden retriever; red vintage car|red vintage car; lighthouse|lighthouse
        eiffel tower|eiffel tower; snowy mountain|snowy mountain; old man|old man; hot air balloon|hot air balloon
        sunset|sunset; cherry blossom garden|cherry blossom garden; teddy bear|teddy bear; iron man|iron man
        panda|panda; frozen waterfall|frozen waterfall; neon-lit alley|neon-lit alley; steam train|steam train
        mangrove swamp|mangrove swamp; sea lion|sea lion; wooden sailboat|wooden sailboat; white horse|white horse
        northern lights|northern lights; traffic light|traffic light
    """)),
    "less_specific": (P, _pairs("""
        car|red vintage car; car|classic vintage car; car|vintage red car; car|red sports car; car|blue car
        tiger|bengal tiger; tiger|large tiger; tiger|white tiger; dog|golden retriever dog; dog|small brown dog
        horse|white horse; horse|wild horse; wolf|lone wolf; wolf|grey wolf; fox|young red fox; red fox|young red fox
        waterfall|frozen waterfall; waterfall|tall waterfall; lake|frozen lake; mountain|snowy mountain
        mountain|snow-capped mountain; lighthouse|white lighthouse; lighthouse|old stone lighthouse
        sailboat|small sailboat; sailboat|wooden sailboat; boat|wooden fishing boat; submarine|yellow submarine
        train|black steam train; steam train|black steam train; robot|small robot; robot|humanoid robot
        dragon|green dragon; dragon|fire-breathing dragon; windmill|dutch windmill; windmill|old windmill
        bicycle|red bicycle; bicycle|old bicycle; motorcycle|vintage motorcycle; astronaut|lone astronaut
        panda|giant panda; panda|baby panda; elephant|baby elephant; samurai|old samurai; castle|medieval castle
        forest|misty forest; forest|redwood forest; forest|dense forest; beach|sandy beach; jungle|dense jungle
        village|snowy village; cave|dark cave; kitchen|modern kitchen; kitchen|candle-lit kitchen; owl|snowy owl
        guitar|acoustic guitar; guitar|electric guitar; jellyfish|glowing jellyfish; butterfly|colorful butterfly
        woman|young woman; man|old man; skateboarder|teenage skateboarder; ballerina|young ballerina
        balloon|red balloon; chair|wooden chair; table|glass table; house|red brick house; city|futuristic city
        street|busy city street; field|lavender field; field|wheat field; garden|cherry blossom garden
        cathedral|gothic cathedral; bridge|suspension bridge; bridge|old stone bridge; tower|clock tower
        teapot|porcelain teapot; lantern|paper lantern; chandelier|crystal chandelier; cliff|windswept cliff
        island|tropical island; tower|eiffel tower; statue|statue of liberty; rooftop|rainy rooftop; pier|foggy pier; swamp|mangrove swamp; hill|green hill
    """)),
    "more_specific_soft": (P, _pairs("""
        large tiger|tiger; bengal tiger|tiger; small sailboat|sailboat; small robot|robot; hungry polar bear|polar bear
        fluffy golden retriever|golden retriever; playful puppy|puppy; sleepy cat|cat; majestic eagle|eagle
        curious fox|fox; huge elephant|elephant; tiny kitten|kitten; giant panda|panda; little robot|robot
        big dog|dog; proud lion|lion; fierce dragon|dragon; friendly dolphin|dolphin; cute puppy|puppy
        lone astronaut|astronaut; lone wolf|wolf; fluffy cat|cat; graceful swan|swan; busy chef|chef
        brave firefighter|firefighter; lonely lighthouse keeper|lighthouse keeper; angry bull|bull
    """)),
    "reworded": (P, _pairs("""
        snowy mountain|snow-capped mountain; old man|elderly man; small robot|little robot; golden retriever|golden retriever dog
        cup of coffee|coffee cup; street in the city|city street; field of sunflowers|sunflower field
        large dog|big dog; tiny house|small house; grey wolf|gray wolf; colourful parrot|colorful parrot
        vintage car|classic car; antique clock|old clock; sunny beach|sunlit beach; misty forest|foggy forest
        oak tree|oak; palm tree|palm; pine tree|pine; samurai warrior|samurai; tabby cat|tabby
    """)),
    "synonym": (P, _pairs("""
        car|automobile; automobile|car; bike|bicycle; bicycle|bike; motorbike|motorcycle; motorcycle|motorbike
        airplane|plane; plane|airplane; aeroplane|airplane; sea|ocean; ocean|sea; spaceship|spacecraft
        spacecraft|spaceship; rabbit|bunny; bunny|rabbit; kid|child; child|kid; zeppelin|airship; airship|blimp
        astronaut|cosmonaut; firefighter|fireman; policeman|police officer; cop|policeman; chef|cook; cook|chef
        lady|woman; sofa|couch; couch|sofa; woods|forest; forest|woodland; rainforest|jungle; jungle|rainforest
        truck|lorry; taxi|cab; burger|hamburger; television|tv; grandma|grandmother; mom|mother; nyc|new york city
        new york city|nyc; red bike|red bicycle; old motorbike|old motorcycle; small bunny|small rabbit
        killer whale|orca; orca|killer whale; creek|stream; twilight|dusk; sundown|sunset; daybreak|sunrise
    """)),
    "hypernym": (P, _pairs("""
        dog|golden retriever; dog|puppy; dog|labrador; dog|german shepherd; dog|fluffy corgi; dog|husky
        cat|kitten; cat|tabby cat; bird|pigeon; bird|racing pigeon; bird|hummingbird; bird|owl; bird|flamingo
        bird|scarlet macaw parrot; parrot|scarlet macaw; fish|goldfish; fish|koi; horse|pony; horse|stallion
        bear|grizzly bear; bear|polar bear; whale|humpback whale; whale|orca; insect|butterfly; insect|bumblebee
        bee|bumblebee; spider|tarantula; animal|tiger; animal|elephant; animal|meerkat; snake|cobra; lizard|chameleon
        car|convertible; car|vintage sedan; car|taxi; boat|sailboat; boat|canoe; boat|tugboat; boat|houseboat
        ship|galleon; airplane|biplane; aircraft|helicopter; vehicle|car; vehicle|tram
        house|cottage; house|wooden cabin; building|skyscraper; building|cathedral; church|cathedral
        tree|oak tree; tree|bonsai tree; tree|old oak; flower|sunflower; flower|red rose; flower|tulip
        instrument|violin; instrument|pipe organ; person|old man; person|young woman; child|little girl
        warrior|samurai; musician|young violinist; dancer|ballerina; dinosaur|t-rex; road|highway; field|meadow
        ape|gorilla; deer|reindeer; robot|android; city|new york city
    """)),
    # ---------------------------------------------------------------- wrong hits
    "colour_across_kinds": (N, _pairs("""
        orange car|orange; orange|orange car; purple car|purple bicycle; purple bicycle|purple car
        red car|red apple; red apple|red car; yellow submarine|yellow bus; yellow bus|yellow taxi
        green dragon|green dinosaur; blue whale|blue car; white horse|white tiger; white tiger|white horse
        black cat|black dog; black dog|black cat; pink flamingo|pink flower; golden retriever|golden eagle
        red fox|red panda; red panda|red fox; silver car|silver robot; white lighthouse|white windmill
        red bicycle|red motorcycle; blue bird|blue butterfly; golden crown|golden statue; pink dress|pink chair
        orange cat|orange; lavender field|lavender; lemon tree|lemon; rose garden|rose; cherry blossom|cherry
        red balloon|red ball; green hill|green field; white snow|white sand; brown bear|brown horse
        yellow taxi|yellow school bus; purple car|purple; black steam train|black car; orange bicycle|orange
    """)),
    "attribute_conflict": (N, _pairs("""
        pink chair|purple chair; purple chair|pink chair; orange bicycle|yellow bicycle; yellow bicycle|orange bicycle
        red car|blue car; blue car|red car; white horse|black horse; black horse|brown horse; red dress|blue dress
        green dragon|red dragon; golden retriever|black retriever; red rose|white rose; white tiger|orange tiger
        wooden chair|metal chair; glass table|wooden table; stone bridge|wooden bridge; marble statue|bronze statue
        plastic bottle|glass bottle; leather jacket|denim jacket; paper lantern|glass lantern; brick house|wooden house
        striped shirt|plaid shirt; spotted dog|striped dog; checkered flag|striped flag; floral dress|polka-dot dress
        old man|young man; young woman|elderly woman; baby elephant|old elephant; vintage car|futuristic car
        modern kitchen|medieval kitchen; ancient temple|modern temple; young ballerina|old ballerina
        snowy mountain|sunny mountain; frozen lake|sunny lake; rainy street|sunny street; foggy pier|sunny pier
        winter forest|autumn forest; summer beach|winter beach; night city|sunrise city; stormy sea|calm sea
        large tiger|small tiger; tiny house|huge house; dark cave|bright cave; big dog|little dog
        twin towers|lone tower; two dogs|many dogs; happy child|sad child; angry bull|calm bull
        city street|country street; forest road|desert road; mountain lake|city lake; underwater city|space city
        red sports car|blue sports car; white sailboat|black sailboat; black steam train|red steam train
        rooftop garden|cherry blossom garden; gas station|train station
        vintage red car|classic vintage car; electric guitar|acoustic guitar; weather balloon|hot air balloon
        racing pigeon|homing pigeon; fishing boat|speed boat; grizzly bear|polar bear
    """)),
    "unverified_attribute": (N, _pairs("""
        red car|car; red vintage car|car; blue bicycle|bicycle; white horse|horse; black cat|cat; golden retriever|retriever
        wooden chair|chair; glass vase|vase; stone bridge|bridge; wooden sailboat|sailboat; marble table|table
        striped cat|cat; spotted horse|horse; plaid shirt|shirt; baby panda|panda; old samurai|samurai warrior
        baby elephant|elephant; vintage car|car; futuristic city|city; medieval castle|castle; frozen lake|lake
        snowy mountain|mountain; rainy street|street; foggy forest|forest; night city|city; forest road|road
        city street|street; mountain lake|lake; underwater city|city; twin tower|tower; red fox|fox
        vintage red car|vintage car; yellow submarine|submarine; purple bicycle|old bicycle
        misty forest|redwood forest
    """)),
    "part_container_scene": (N, _pairs("""
        bathroom|toilet; toilet|bathroom; ski slope|ski; ski|ski slope; forest road|forest; forest|forest road
        firework|fire; fire|firework; iron man|ironwork; ironwork|iron man; sunrise|sunset; sunset|sunrise
        kitchen|stove; stove|kitchen; forest|tree; tree|forest; car|car wheel; car wheel|car; house|front door
        front door|house; beach|sand; sand|beach; lighthouse|lighthouse beam; lighthouse beam|lighthouse
        clock tower|clock; clock|clock tower; garden|flower; flower|garden; library|book; book|library
        aquarium|fish; fish|aquarium; stadium|football; football|stadium; bedroom|bed; bed|bedroom
        city|skyscraper; skyscraper|city; harbor|boat; boat|harbor; train station|train; train|train station
        airport gate|airplane; airplane|airport; space station|space; space|space station; gas station|gas
        fireplace|fire; fire|fireplace; snow|snowman; snowman|snow; ice|ice floe; ice floe|ice; sea|seashell
        mountain|mountain goat; mountain goat|mountain; lamp|lamp post; lamp post|lamp; tea|tea ceremony master
        volcano|lava; lava|lava lamp; lava lamp|lava; moon|moonlight; sun|sunflower; sunflower|sun
        rain|rainbow; rainbow|rain; star|starfish; starfish|star; horse|horseshoe; horseshoe|horse
        dog|dog house; dog house|dog; bird|birdhouse; birdhouse|bird; fish|fishbowl; sky|skyline
        salt|salt flat; salt flat|salt; sand dune|sand sculpture; desert canyon|desert; night|starry night sky
        dawn|dusk; dusk|dawn; pottery wheel|pottery; rice terrace|rice; paper|paper lantern; glass|stained glass window
    """)),
    "different_kind": (N, _pairs("""
        tiger|lion; lion|tiger; dog|cat; cat|dog; motorcycle|bicycle; bicycle|motorcycle; wolf|fox; fox|wolf
        rabbit|squirrel; owl|eagle; horse|cow; sheep|goat; car|bus; bus|truck; train|tram; tram|train
        bear|teddy bear; teddy bear|bear; lion|sea lion; sea lion|lion; panda|red panda; red panda|panda
        car|toy car; toy car|car; dog|robot dog; robot dog|dog; dog|hot dog; hot dog|dog; horse|carousel horse
        carousel horse|horse; duck|rubber duck; rubber duck|duck; crane|origami crane; origami crane|crane
        lion|stone lion; stone lion|lion; horse|wooden horse; car|cable car; cable car|car; car|subway car
        subway car|car; man|iron man; iron man|man; man|snowman; spider|spider man; leopard|snow leopard
        snow leopard|leopard; pig|guinea pig; guinea pig|pig; boat|paper boat; paper boat|boat; balloon|hot air balloon
        hot air balloon|balloon; houseboat|sailboat; sailboat|houseboat
        dusk|sunset; sunset|dusk; samurai|sumo wrestler
        beetle|clockwork beetle; clockwork beetle|beetle; beetle|car; skateboarder|snowboarder
        penguin|emperor penguin robot; dragon|dragonfly; butterfly|moth; bee|wasp; violin|cello; guitar|mandolin
        piano|pipe organ; chef|sushi chef robot; man|woman; boy|girl; grandmother|granddaughter
        cathedral|mosque; castle|palace
        tiger|tiger shark; tiger shark|tiger; cat|catfish; jellyfish|fish; starfish|fish; seahorse|horse
    """)),
    "cached_more_general": (N, _pairs("""
        golden retriever|dog; puppy|dog; labrador|dog; kitten|cat; pigeon|bird; racing pigeon|bird; hummingbird|bird
        sailboat|boat; canoe|boat; convertible|car; taxi|car; pony|horse; grizzly bear|bear; polar bear|bear
        cottage|house; cathedral|church; skyscraper|building; oak tree|tree; rose|flower; sunflower|flower
        violin|instrument; samurai|warrior; ballerina|dancer; humpback whale|whale; tarantula|spider; tiger|animal
        old man|person; little girl|child; highway|road; biplane|airplane; cobra|snake; eiffel tower|tower
    """)),
    "non_subject": (N, _pairs("""
        time|time; time|clock; extreme|extreme; extreme|extreme sport; backdrop|backdrop; city backdrop|forest backdrop
        corner|corner; corner|room; reflection|reflection; reflection|mirror; same time|real time; split second|second
        silhouette|silhouette; distance|distance; fast motion|slow motion; seamless loop|loop; transition|transition
        background|background; white background|white wall; lens|camera; footage|video; close-up|close-up
        time-lapse|time-lapse; style|style; anime|anime; golden hour|sunset; lighting|light; view|view
        golden hour|golden hour; afternoon light|morning light; corner of a room|room; fast motion|motion
    """)),
    "unknown_symbols": (N, _pairs("""
        🚗|🍕; 🍕|🚗; 🐯|🐶; 🌅|🌃; 🚀|⛵; 🔥|💧; ❤️|⭐; 🐱|🐱🐱; ✨|🌈; 🎸|🎹; 🦊|🐺; 🌲|🌴
        ★|☆; ♥|♦; ∞|∑; ░░░|▓▓▓; ---|+++; 12345|67890; 1980s|1990s; 4k|8k
    """)),
}

# Over-long "words": the tokenizer maps a word over 100 characters to one unknown token.
CLASSES["unknown_symbols"][1].extend([
    ("a" * 120, "b" * 120), ("x" * 150 + " car", "y" * 150 + " car"), ("q" * 101, "z" * 101),
    ("supercalifragilistic" * 6, "antidisestablishment" * 6), ("car " + "w" * 110, "car " + "v" * 110),
])

# Threshold-study pairs of csrc_bench/bench_lookup.py. Relabelled under this set's policy (request more specific
# than the cached entity in a class the latent must show): e.g. ("red sports car", "red car") asks for a sports
# car the cached "red car" need not be; ("snowman", "snowman in the snow") is fine either way, kept positive.
RELABELLED = {
    ("red sports car", "red car"): "unverified_attribute",
    ("golden retriever", "retriever"): "unverified_attribute",
    ("snowy mountain", "snow-capped mountain"): "reworded",
}


def threshold_study_pairs() -> list[dict]:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from csrc_bench.bench_lookup import NEGATIVE_PAIRS, POSITIVE_PAIRS

    rows = []
    for (a, b), label in [(p, 1) for p in POSITIVE_PAIRS] + [(p, 0) for p in NEGATIVE_PAIRS]:
        cls = RELABELLED.get((a, b))
        if cls == "unverified_attribute":
            rows.append({"request": a, "cached": b, "label": 0, "class": "threshold_study_relabelled"})
        elif cls is None:
            rows.append({"request": a, "cached": b, "label": label,
                         "class": "threshold_study_same" if label else "threshold_study_different"})
    return rows


def main() -> None:
    rows = []
    seen = set()
    for cls, (label, pairs) in CLASSES.items():
        for a, b in pairs:
            if (a, b) in seen:
                raise SystemExit(f"duplicate pair {(a, b)} in class {cls}")
            seen.add((a, b))
            rows.append({"request": a, "cached": b, "label": label, "class": cls})
    for r in threshold_study_pairs():
        if (r["request"], r["cached"]) not in seen:
            seen.add((r["request"], r["cached"]))
            rows.append(r)
    with OUT.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["class"]] = counts.get(r["class"], 0) + 1
    print(f"{len(rows)} pairs -> {OUT}")
    for k, v in counts.items():
        print(f"  {k}: {v}")


if __name__ == "__main__":
    main()

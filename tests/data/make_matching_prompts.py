"""Labelled request/cached prompt pairs for CHAI's cache matcher.

This set was written BEFORE the new matcher rules it will score, by someone who
had not read the matcher, entity or agreement code. The labels say what is true
for a user, not what any algorithm is expected to do.

Labelling policy (label 1 = reusing the cached video for the request is right):

* Find the request's main subject: the object, animal, person or scene the
  prompt is about. Backgrounds, containers, layout words (left of, on top of),
  camera words (aerial, close-up, tracking shot), style words (cinematic, 4k),
  idioms and measure words are never the subject.
* Label 1 only if the cached video shows that subject, as the same kind of
  thing, and nothing the request states is visibly contradicted or left
  unknown by the cached prompt. Any entity in the cached prompt may serve.
* A general request is served by a more specific cached prompt of the same
  kind ("a dog" <- "a golden retriever"). A specific request is not served by
  a general or different cached prompt ("a golden retriever" <- "a dog", "a red
  car" <- "a car"): the cached video may show another breed or colour. Mood and
  size words may be extra ("a hungry tiger" <- "a tiger").
* Synonyms name the same thing (fridge / refrigerator).
* Compounds and lexicalised phrases name other things (dog / corn dog, panda /
  red panda, chair / rocking chair in both directions), and so do other word
  senses (animal horns / French horn).
* In "N of N" phrases the subject is usually the second noun (a bowl of ramen is
  not a bowl of cereal); collectives of the same animal serve a general
  request, but a request for one alone is not served by a herd.
* Attributes that look different conflict: colours (named colours included,
  near-identical shades such as crimson/red do not), materials, age, setting,
  weather, time of day and number.
* Negations and counts are part of the subject (a street with no cars is not a
  street full of cars; two cats is not one cat).
* The same head noun in different scenes is not the same subject (an alpine
  canyon is not a desert canyon).
* Long prompts: the main subject decides; sharing only a background, container
  or secondary noun is a 0.

Pairs whose right label was unclear were left out rather than guessed.

Data format (literal text blocks per domain, parsed below):
  @group                      sets the group of the following pairs
  > request prompt            sets the request for following short lines
  L family | cached           pair with the current request
  L family | request | cached full pair
Run:  python tests/data/make_matching_prompts.py
Writes tests/data/matching_prompts.jsonl next to this script.
"""
import collections
import json
import os

FAMILIES = (
    "exact", "less_specific", "more_specific_soft", "synonym", "hypernym",
    "unstated_attribute", "attribute_conflict_colour", "attribute_conflict_material",
    "attribute_conflict_other", "compound_head", "lexicalised_adj_noun", "word_sense",
    "partitive_container_collective", "layout_camera_idiom_time", "negation_count",
    "bare_head_across_scenes", "different_subject", "long_prompt_subject",
    "long_prompt_background",
)

REQUIRED_DOMAINS = (
    "kitchen", "medical", "sports", "insects", "clothing_fabrics", "food", "drinks",
    "bakery_desserts", "fruits_vegetables", "musical_instruments", "weather", "vehicles",
    "pets", "farm_animals", "wild_animals", "marine_life", "birds", "reptiles",
    "plants_flowers", "furniture", "tools", "electronics", "toys", "professions_people",
    "office", "school", "household", "garden", "space", "city_street", "architecture",
    "landscapes", "jewelry_accessories", "crafts", "festivals", "historic_military",
    "fantasy", "science_lab", "camping", "water_sports", "winter_sports", "industry",
    "farming",
)

BLOCKS = []  # (domain, text)


def add(domain, text):
    BLOCKS.append((domain, text))


def parse(domain, text):
    rows = []
    group = request = None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{domain} line {n}: {line!r}"
        if line.startswith("@"):
            group, request = line[1:].strip(), None
            continue
        if line.startswith(">"):
            request = line[1:].strip()
            continue
        head, *parts = [p.strip() for p in line.split("|")]
        label, family = head.split()
        if len(parts) == 2:
            req, cached = parts
        elif len(parts) == 1 and request:
            req, cached = request, parts[0]
        else:
            raise ValueError(f"bad line in {where}")
        if label not in ("0", "1") or family not in FAMILIES or not group:
            raise ValueError(f"bad label/family/group in {where}")
        rows.append({"request": req, "cached": cached, "label": int(label),
                     "domain": domain, "family": family, "group": group})
    return rows


add("kitchen", """
@kettle
> a kettle boiling on a stove
1 exact | a kettle boiling on a gas stove
1 less_specific | a copper kettle whistling on a stove top
0 different_subject | a saucepan of water boiling on a stove
0 unstated_attribute | a copper kettle on a stove | a kettle boiling on a stove top
0 attribute_conflict_material | a glass kettle boiling water | a stainless steel kettle boiling water
0 attribute_conflict_colour | a red enamel kettle on a counter | a white enamel kettle on a counter
@fridge
1 synonym | a fridge with its door open | a refrigerator standing open in a dark kitchen
1 synonym | a refrigerator full of vegetables | a fridge stocked with fresh vegetables
0 negation_count | an empty fridge | a fridge packed with food and drinks
@toaster
0 compound_head | a toaster on a kitchen counter | a toaster oven on a kitchen counter
0 compound_head | a toaster oven baking a small pizza | a toaster with two slices of bread in it
1 exact | toast popping out of a toaster | a toaster popping up two golden slices of toast
@knife
1 hypernym | a knife slicing tomatoes | a chef's knife slicing ripe tomatoes
0 hypernym | a bread knife cutting a baguette | a knife cutting a baguette
@pan
1 hypernym | a pan on the stove | a cast iron skillet on the stove
0 hypernym | a cast iron skillet searing steak | a pan searing steak
0 compound_head | a pan on a stove | a dustpan and brush on a kitchen floor
0 word_sense | a pan sizzling with butter | a slow pan across a mountain valley
@sink
1 exact | a kitchen sink full of dirty dishes | dirty dishes piled in a kitchen sink
0 negation_count | an empty kitchen sink | a kitchen sink piled high with dirty dishes
0 compound_head | water running into a sink | a heat sink on a circuit board
@oven
0 compound_head | bread baking in an oven | soup heating in a microwave oven
0 lexicalised_adj_noun | an oven with a roast chicken inside | a dutch oven of stew on a campfire
@dishwasher
0 word_sense | a dishwasher being loaded with plates | a dishwasher scrubbing pots by hand in a restaurant kitchen
@mug
1 less_specific | a mug on a table | a white ceramic mug on a wooden table
0 unstated_attribute | a white ceramic mug on a table | a mug on a table
0 partitive_container_collective | a mug of hot chocolate | a mug of black coffee
1 partitive_container_collective | a mug of coffee | a steaming mug of black coffee on a desk
@blender
1 exact | a blender making a smoothie | a blender blending a strawberry smoothie
0 attribute_conflict_colour | a red blender | a black blender on a marble counter
@spatula
1 exact | a spatula flipping pancakes | a pancake being flipped with a spatula
0 different_subject | a wooden cutting board | a wooden rolling pin dusted with flour
@jar
0 layout_camera_idiom_time | a jar on top of the fridge | a cat on top of the fridge
0 layout_camera_idiom_time | a spoon to the left of a fork | a cup to the left of a plate
0 layout_camera_idiom_time | close-up of a kettle | close-up of a frying pan
@kitchen_room
1 less_specific | a kitchen | a rustic farmhouse kitchen with copper pots
0 bare_head_across_scenes | a cramped galley kitchen on a sailboat | a spacious open-plan kitchen in a villa
0 attribute_conflict_other | a kitchen at night lit by one lamp | a sunny kitchen at noon
@chef_onions
> A chef's hands dicing red onions on a wooden cutting board in a busy restaurant kitchen, shallow depth of field, slow motion, cinematic lighting
1 long_prompt_subject | Close-up of a chef's hands finely dicing red onions with a large knife, steam in the background, warm tungsten light, 4k, handheld camera
0 long_prompt_background | A wooden cutting board holding a loaf of sourdough and a bread knife in a busy restaurant kitchen, overhead shot, soft daylight, 4k
@kettle
> A copper kettle whistling on an old gas stove, steam curling up through morning sunlight in a cosy cottage kitchen, 35mm film look, static shot
1 long_prompt_subject | An old gas stove with a copper kettle whistling loudly, steam drifting past the window, warm morning light, shallow focus, film grain, slow push in
0 long_prompt_background | A cosy cottage kitchen in morning sunlight, a cat sleeping on the windowsill next to potted herbs, 35mm film look, static wide shot
@stand_mixer
> Overhead shot of a stand mixer whipping egg whites into stiff peaks in a glass bowl on a marble counter, bright natural light, 4k
1 long_prompt_subject | A stand mixer whipping egg whites into glossy stiff peaks, seen from above on a marble counter, crisp daylight, commercial style, 4k
0 long_prompt_background | A glass bowl of fresh salad with cherry tomatoes on a marble counter, overhead shot, bright natural light, food photography style, 4k
@sink
> A messy kitchen sink overflowing with dirty dishes and soapy water after a dinner party, late night, dim yellow light, handheld documentary style
1 long_prompt_subject | Dirty plates, pans and glasses piled in an overflowing kitchen sink with soap suds, dim light late at night, handheld documentary footage, grainy
0 long_prompt_background | A dinner party around a long table with candles and wine glasses, friends laughing, late night, dim yellow light, handheld documentary style
""")

add("medical", """
@doctor
1 hypernym | a doctor talking to a patient | a pediatrician examining a child in a clinic
0 hypernym | a pediatrician examining a child | a doctor examining a patient
1 synonym | a physician listening with a stethoscope | a doctor listening to a patient's chest with a stethoscope
0 different_subject | a dentist at work | an optometrist testing a patient's eyes
0 layout_camera_idiom_time | a doctor to the right of a nurse | a teacher to the right of a student
@nurse
1 less_specific | a nurse checking blood pressure | a nurse measuring the blood pressure of an elderly patient
0 attribute_conflict_colour | a nurse in blue scrubs | a nurse in pink scrubs
0 unstated_attribute | a nurse in green scrubs | a nurse walking down a hospital corridor
@ambulance
1 exact | an ambulance with flashing lights | an ambulance speeding through traffic with lights flashing
0 attribute_conflict_other | an ambulance at night | an ambulance parked outside a hospital at noon
@stethoscope
1 less_specific | a stethoscope | a doctor's stethoscope lying on a desk
@xray
1 synonym | an X-ray of a hand | a radiograph of a human hand
0 different_subject | an X-ray of a chest | an X-ray of a knee
@hospital_bed
1 less_specific | a hospital bed | an empty hospital bed by a window
0 negation_count | an empty hospital bed | a patient sleeping in a hospital bed
0 attribute_conflict_other | a baby in a hospital crib | an elderly man in a hospital bed
@surgery
1 less_specific | surgeons operating | a team of surgeons performing heart surgery under bright lights
0 attribute_conflict_other | a surgeon operating on a horse | a surgeon operating on a human patient
0 layout_camera_idiom_time | aerial shot of a hospital | aerial shot of a stadium
@pill
0 compound_head | a pill on a table | a pill bug curling up on a table
1 hypernym | pills spilling from a bottle | capsules spilling out of a pill bottle
0 word_sense | a tablet dissolving in water | a tablet computer on a desk
@wheelchair
1 exact | a wheelchair on a ramp | a person in a wheelchair rolling up a ramp
0 attribute_conflict_colour | a red wheelchair | a black wheelchair in a hallway
@syringe
0 unstated_attribute | a syringe filled with blue liquid | a syringe on a metal tray
1 less_specific | a syringe | a nurse holding a syringe filled with vaccine
@dentist
1 exact | a dentist examining teeth | a dentist checking a patient's teeth with a small mirror
@cast
0 word_sense | a plaster cast on a broken arm | the cast of a play bowing on stage
@mask
1 synonym | a surgical mask | a medical face mask
0 attribute_conflict_colour | a black face mask | a light blue surgical mask
@blood
0 lexicalised_adj_noun | a vial of blood | a blood orange cut in half
0 word_sense | a model of a human heart | a heart-shaped balloon
@bandage
1 synonym | a band-aid on a knee | an adhesive bandage on a knee
0 different_subject | an elastic bandage wrapped around an ankle | a band-aid on an ankle
@nurse_iv
> A nurse in blue scrubs gently adjusting an IV drip beside a sleeping elderly patient in a quiet hospital room at night, soft monitor glow, cinematic
1 long_prompt_subject | A quiet hospital room at night, a nurse in blue scrubs adjusting an IV bag next to an elderly patient asleep, monitor light, slow dolly shot
0 long_prompt_background | A quiet hospital room at night with an empty bed and a beeping heart monitor, soft blue glow, cinematic wide shot, slow dolly in
@surgery
> Close-up of a surgeon's gloved hands stitching a wound in a bright operating theatre, surgical lamps overhead, shallow depth of field, 4k documentary
1 long_prompt_subject | Gloved hands of a surgeon suturing an incision under bright surgical lamps in an operating theatre, macro close-up, shallow focus, documentary style
0 long_prompt_background | A bright empty operating theatre with surgical lamps overhead and instruments laid out on a steel tray, wide shot, clinical lighting, 4k
@dentist
> A dentist in a white coat showing a young girl how to brush her teeth with a big model of a mouth, bright clinic, friendly, handheld shot
1 long_prompt_subject | In a bright dental clinic, a dentist wearing a white coat demonstrates tooth brushing on a large model mouth for a little girl, handheld camera
0 long_prompt_background | A young girl brushing her teeth in front of a bathroom mirror at home, morning light, handheld shot, warm and friendly mood, 4k
@ambulance
> An ambulance racing through a rainy city street at night with red and blue lights flashing, reflections on wet asphalt, tracking shot, cinematic
1 long_prompt_subject | Tracking shot of an ambulance speeding down a wet city street at night, emergency lights flashing red and blue, rain, reflections, cinematic look
0 long_prompt_background | A rainy city street at night with neon reflections on wet asphalt and people holding umbrellas, tracking shot, cinematic, moody colour grade
""")

add("sports", """
@basketball
1 exact | a basketball player dunking | a basketball player slam dunking in an arena
1 less_specific | a basketball game | a high school basketball game in a packed gym
0 word_sense | a ball bouncing on a court | a woman in a ball gown at a dance
@tennis
1 exact | a tennis player serving | a tennis player serving on a clay court
0 compound_head | a tennis match | a table tennis match in a school hall
0 layout_camera_idiom_time | a tennis racket to the left of a ball | a baseball bat to the left of a glove
@golf
1 exact | a golfer swinging a club | a golfer taking a swing on a green fairway
0 lexicalised_adj_noun | a golf course | a mini golf course with a windmill obstacle
0 different_subject | a golf cart | a golf ball on a tee
@boxing
1 exact | two boxers sparring in a ring | two boxers exchanging punches in a boxing ring
0 word_sense | a boxer throwing punches | a boxer dog playing in a yard
0 negation_count | two boxers in a ring | a single boxer shadowboxing alone in a ring
@running
1 hypernym | a runner on a track | a sprinter bursting out of the starting blocks on a track
0 hypernym | a sprinter on a track | a runner jogging in a park
0 layout_camera_idiom_time | slow motion of a sprinter | slow motion of a skateboarder
@baseball
0 word_sense | a baseball bat | a bat flying out of a cave
1 exact | a baseball pitcher throwing | a pitcher throwing a fastball from the mound
0 word_sense | a pitcher on the mound | a pitcher of lemonade on a picnic table
@cycling
1 hypernym | a cyclist racing | a road cyclist sprinting up a mountain pass in a race
0 attribute_conflict_colour | a cyclist in a yellow jersey | a cyclist in a pink jersey
@stadium
1 less_specific | a stadium full of fans | a packed football stadium with cheering fans
0 negation_count | an empty stadium | a stadium full of cheering fans
0 attribute_conflict_other | a stadium at night under floodlights | a stadium in bright afternoon sun
@gymnastics
1 exact | a gymnast on a balance beam | a gymnast doing a flip on a balance beam
0 different_subject | a gymnast on the rings | a gymnast on a balance beam
@weightlifting
1 hypernym | a weightlifter lifting a barbell | a powerlifter lifting a heavy barbell
@hockey
0 lexicalised_adj_noun | a field hockey match | an ice hockey game
@skateboarding
1 exact | a skateboarder doing a kickflip | a teenager doing a kickflip on a skateboard
@archery
1 less_specific | an archer aiming a bow | an archer drawing a longbow in a field
0 word_sense | a woman drawing a bow | a red bow tied on a gift box
@basketball
> Slow motion of a basketball player leaping for a slam dunk in a packed arena, sweat flying, dramatic spotlights, low angle shot, cinematic 4k
1 long_prompt_subject | A basketball player soaring toward the hoop for a dunk, low angle, crowd blurred behind, dramatic arena lights, slow motion, cinematic
0 long_prompt_background | A packed arena with fans waving flags and dramatic spotlights sweeping the crowd before a concert, low angle shot, slow motion, 4k
@tennis
> A female tennis player serving on a sunlit grass court, ball tossed high against a blue sky, tracking shot, shallow depth of field, broadcast style
1 long_prompt_subject | Broadcast footage of a woman serving on a grass tennis court in bright sunshine, the ball tossed high, tracking camera, shallow depth of field
0 long_prompt_background | A sunlit grass lawn with a picnic blanket and a wicker basket under a blue sky, tracking shot, shallow depth of field, summer mood
@running
> Aerial drone shot of a marathon winding through city streets at dawn, thousands of runners in colourful shirts, golden light, cinematic wide angle
1 long_prompt_subject | Thousands of runners in bright shirts streaming through downtown streets during a city marathon at dawn, seen from a drone, golden light, wide angle
0 long_prompt_background | Aerial drone shot of empty city streets at dawn with traffic lights blinking, golden hour, cinematic wide angle, slow forward movement
@boxing
> Two boxers trading punches under harsh ring lights, sweat spraying in slow motion, smoky gym, handheld close-up, gritty black and white film
1 long_prompt_subject | Gritty black and white slow motion of two boxers exchanging blows in a ring, sweat flying under harsh lights, handheld close-up, smoky atmosphere
0 long_prompt_background | A smoky old gym with punching bags hanging from chains and harsh overhead lights, empty, handheld camera, gritty black and white film
""")

add("insects", """
@insect
1 hypernym | an insect on a leaf | a cockroach on a leaf
0 hypernym | a ladybug on a leaf | an insect crawling on a leaf
1 hypernym | a bug crawling on a windowsill | a beetle crawling on a windowsill
@fly
0 compound_head | a fly on a window | a crane fly on a window
0 compound_head | a fly buzzing around fruit | a dragonfly hovering over a pond
0 compound_head | a fly on a flower | a butterfly resting on a flower
1 hypernym | a fly on a sandwich | a housefly landing on a sandwich
@bee
1 hypernym | a bee collecting pollen | a honeybee gathering pollen from a sunflower
0 compound_head | a bee on a flower | a spelling bee in a school gym
0 different_subject | a bumblebee on clover | a wasp on clover
0 layout_camera_idiom_time | macro shot of a bee | macro shot of a snowflake
@butterfly
1 hypernym | a butterfly on a flower | a monarch butterfly on a purple flower
0 hypernym | a monarch butterfly | a butterfly fluttering in a garden
0 attribute_conflict_colour | a blue butterfly on a leaf | a yellow butterfly on a leaf
0 word_sense | butterflies in a meadow | a swimmer doing the butterfly stroke
@ant
1 partitive_container_collective | ants carrying leaves | a colony of leafcutter ants carrying leaf pieces
0 negation_count | a single ant on a crumb | a swarm of ants covering a crumb
0 compound_head | an ant on a log | an anteater on a log
@spider
1 less_specific | a spider spinning a web | a garden spider spinning its web at dawn
0 compound_head | a spider on a wall | a spider monkey on a wall
0 negation_count | an empty spider web covered in dew | a spider sitting in a web covered in dew
@mosquito
1 exact | a mosquito biting an arm | a mosquito feeding on a person's arm, macro
@firefly
1 synonym | fireflies glowing in a field | lightning bugs blinking over a field at dusk
@cricket_insect
0 different_subject | a grasshopper on a stem | a cricket on a stem
0 word_sense | a cricket chirping at night | a cricket match on a village green
@caterpillar
0 different_subject | a caterpillar on a leaf | a butterfly emerging from a chrysalis
1 less_specific | a caterpillar eating a leaf | a fuzzy striped caterpillar munching a milkweed leaf
@beetle
0 word_sense | a beetle on a log | a Volkswagen Beetle parked on a street
1 hypernym | a beetle crawling | a stag beetle crawling across moss
@moth
0 compound_head | a moth in a drawer | a mothball in a drawer
1 exact | moths circling a lamp | moths fluttering around a porch lamp at night
0 layout_camera_idiom_time | a ladybug on top of a mushroom | a frog on top of a mushroom
@bee
> Extreme macro shot of a honeybee covered in yellow pollen crawling over a lavender flower, soft morning light, shallow depth of field, 4k nature documentary
1 long_prompt_subject | Nature documentary macro of a honeybee dusted with pollen moving across lavender blossoms in soft morning light, creamy bokeh, 4k detail
0 long_prompt_background | A field of purple lavender flowers swaying in the breeze at sunrise, soft morning light, shallow depth of field, 4k nature documentary
@ant
> A line of leafcutter ants carrying bright green leaf pieces across a rainforest floor, low angle macro, dappled light, slow motion documentary style
1 long_prompt_subject | Low macro shot of leafcutter ants marching in a line with green leaf fragments over the forest floor, dappled jungle light, slow motion
0 long_prompt_background | A rainforest floor covered with fallen leaves and mushrooms in dappled light, a frog sitting still, low angle macro, documentary style
@firefly
> Fireflies blinking over a tall grass meadow at dusk beside an old wooden fence, long exposure feel, dreamy warm tones, static wide shot, cinematic
1 long_prompt_subject | Hundreds of fireflies glowing in a meadow of tall grass at dusk, dreamy warm colours, static wide shot, slight haze, cinematic atmosphere
0 long_prompt_background | An old wooden fence along a tall grass meadow at dusk with a horse grazing nearby, warm dreamy tones, static wide shot, cinematic
@butterfly
> A monarch butterfly slowly emerging from its chrysalis on a milkweed stem, time-lapse, macro lens, neutral studio background, crisp detail, educational style
1 long_prompt_subject | Time-lapse macro of a monarch butterfly breaking out of a green chrysalis hanging from milkweed, clean background, crisp educational footage
0 long_prompt_background | A milkweed stem with a striped caterpillar munching a leaf, macro lens, neutral studio background, crisp detail, educational time-lapse
""")

add("clothing_fabrics", """
@dress
0 attribute_conflict_colour | a coral dress | a navy dress on a mannequin
1 less_specific | a woman in a dress | a woman in a red silk dress twirling
0 unstated_attribute | a woman in a red silk dress | a woman wearing a dress
0 attribute_conflict_material | a silk dress on a hanger | a denim dress on a hanger
0 attribute_conflict_colour | a woman in a mint green dress | a woman in a lavender dress
@scarf
1 attribute_conflict_colour | a crimson scarf | a red scarf blowing in the wind
0 attribute_conflict_material | a wool scarf | a silk scarf
1 less_specific | a scarf | a knitted wool scarf on a coat rack
@jacket
1 less_specific | a leather jacket | a black leather jacket hanging on a chair
0 attribute_conflict_material | a man in a leather jacket | a man in a denim jacket
0 compound_head | a jacket on a hanger | a life jacket on a boat deck
0 compound_head | a jacket on a chair | a jacket potato with beans
@shoes
1 hypernym | shoes by the door | sneakers lined up by the door
0 hypernym | sneakers on a shelf | shoes on a shelf
0 compound_head | a shoe on the floor | a horseshoe nailed above a door
@hat
0 hypernym | a cowboy hat | a man wearing a hat
@sweater
1 synonym | a sweater folded on a bed | a pullover folded on a bed
0 attribute_conflict_colour | a beige sweater | a maroon sweater
@jeans
1 less_specific | a pair of jeans | faded blue denim jeans folded on a shelf
0 attribute_conflict_colour | faded blue jeans | black jeans on a chair
@tie
0 compound_head | a silk tie | a silk bow tie
0 attribute_conflict_colour | a teal tie | a maroon tie
@fabric
0 attribute_conflict_material | a bolt of velvet fabric | a bolt of linen fabric
1 less_specific | a roll of denim fabric | a roll of indigo denim fabric on a cutting table
@suit
0 word_sense | a man in a suit | a suit of armour in a museum
0 compound_head | a suit hanging up | a wetsuit hanging up to dry
0 compound_head | a man in a suit | a man in a spacesuit
@sock
1 exact | socks on a clothesline | a pair of socks drying on a clothesline
0 compound_head | a sock | a windsock at an airfield
0 compound_head | a button on a coat | a belly button
@raincoat
1 less_specific | a yellow raincoat | a child in a yellow raincoat splashing in puddles
0 different_subject | a yellow raincoat | a yellow umbrella
1 less_specific | a kimono | a woman in a silk kimono in a garden
0 layout_camera_idiom_time | a shirt to the right of a pair of trousers | a lamp to the right of a sofa
@gown
> A model walking down a runway in a flowing emerald silk gown, camera flashes popping, slow motion, fashion week, dramatic spotlight, 4k cinematic
1 long_prompt_subject | Fashion week runway, a model in a flowing emerald green silk gown striding toward the camera in slow motion, flashes popping, dramatic spotlight
0 long_prompt_background | A fashion week runway lined with photographers and camera flashes before the show begins, empty catwalk, dramatic spotlight, slow motion, 4k cinematic
@suit
> A tailor measuring a man's shoulders for a navy wool suit in a wood-panelled shop, warm lamplight, shallow depth of field, 35mm film
1 long_prompt_subject | In a wood-panelled tailor's shop, an old tailor measures a customer's shoulders for a navy wool suit, warm lamplight, 35mm film grain, shallow focus
0 long_prompt_background | A wood-panelled shop with rolls of fabric stacked on shelves and a vintage cash register, warm lamplight, shallow depth of field, 35mm film
@sweater
> Close-up of hands knitting a chunky cream wool sweater with wooden needles by a crackling fireplace, cosy winter evening, soft focus, slow camera drift
1 long_prompt_subject | Hands knitting a thick cream wool sweater on wooden needles beside a fireplace on a winter evening, close-up, cosy warm light, soft focus
0 long_prompt_background | A crackling fireplace with stockings hung on the mantel on a cosy winter evening, warm glow, soft focus, slow camera drift, festive mood
@raincoat
> A child in a bright yellow raincoat and red rubber boots jumping into puddles on a rainy street, playful mood, low angle, slow motion, 4k
1 long_prompt_subject | Slow motion low angle of a little kid wearing a yellow raincoat and red boots splashing in puddles on a wet street, playful, 4k
0 long_prompt_background | A rainy street with puddles reflecting shop signs and people hurrying under umbrellas, low angle, slow motion, moody grey light, 4k
""")

add("food", """
@ramen
0 partitive_container_collective | a bowl of ramen | a bowl of cereal with milk
1 less_specific | a bowl of ramen | steaming ramen noodles in a bowl with a soft egg
0 unstated_attribute | a bowl of miso ramen | a bowl of ramen
@hot_dog
0 lexicalised_adj_noun | a hot dog with mustard | a dog panting in the hot sun
0 compound_head | a dog on a lawn | a corn dog on a paper plate
1 exact | a hot dog with ketchup | a grilled hot dog with ketchup in a bun
@pizza
1 less_specific | a pizza | a pepperoni pizza fresh from the oven
0 unstated_attribute | a pepperoni pizza | a pizza on a table
0 partitive_container_collective | a slice of pizza | a whole pizza on a wooden board
0 different_subject | a margherita pizza | a pepperoni pizza
0 layout_camera_idiom_time | overhead shot of a pizza | overhead shot of a salad
@burger
1 synonym | a hamburger on a plate | a burger with lettuce and tomato on a plate
@sushi
1 hypernym | sushi on a plate | salmon nigiri on a plate
0 hypernym | salmon nigiri | a sushi platter
@sandwich
1 exact | a sandwich being cut in half | a club sandwich cut diagonally in half
0 compound_head | a sandwich | a sandwich board outside a cafe
@soup
0 partitive_container_collective | a bowl of tomato soup | a bowl of pea soup
1 less_specific | soup simmering in a pot | chicken noodle soup simmering in a big pot
@steak
1 exact | a steak sizzling on a grill | a ribeye steak sizzling on a charcoal grill
0 attribute_conflict_other | a raw steak on a board | a cooked steak sliced on a board
@taco
1 exact | tacos on a plate | three beef tacos with salsa on a plate
0 negation_count | a single taco | three tacos on a plate
@egg
0 attribute_conflict_other | a fried egg in a pan | a boiled egg in an egg cup
0 compound_head | an egg on a counter | an eggplant on a counter
@pasta
1 hypernym | pasta on a plate | spaghetti with tomato sauce on a plate
0 hypernym | spaghetti on a fork | pasta on a plate
@curry
1 less_specific | a curry | a bowl of chicken curry with rice
@dumplings
1 synonym | potstickers in a pan | pan-fried dumplings sizzling in a skillet
1 hypernym | dumplings in a steamer | xiaolongbao in a bamboo steamer
@fries
1 synonym | fries in a paper cone | french fries in a paper cone
@salad
0 compound_head | a green salad | a fruit salad in a bowl
@ramen
> A steaming bowl of tonkotsu ramen with a soft-boiled egg and sliced pork, chopsticks lifting noodles, warm restaurant light, slow motion, shallow depth of field
1 long_prompt_subject | Slow motion of chopsticks pulling noodles from a bowl of tonkotsu ramen topped with a halved soft egg and chashu pork, steam, warm light, shallow focus
0 long_prompt_background | Chopsticks resting on a ceramic bowl of white rice beside a cup of green tea, warm restaurant light, slow motion, shallow depth of field
@skewers
> A street vendor grilling skewers of chicken over glowing charcoal at a night market, smoke drifting through neon signs, handheld, cinematic colour grade
1 long_prompt_subject | Night market vendor turning chicken skewers on a charcoal grill, thick smoke glowing under neon signs, handheld shot, cinematic colour grade, shallow focus
0 long_prompt_background | A busy night market with neon signs, paper lanterns and crowds of shoppers walking between stalls, handheld, cinematic colour grade, light rain
@pizza
> Overhead shot of a Neapolitan pizza coming out of a wood-fired oven on a peel, bubbling mozzarella and basil, rustic pizzeria, 4k food commercial
1 long_prompt_subject | A Neapolitan pizza with bubbling mozzarella and fresh basil being pulled from a wood-fired oven on a wooden peel, overhead view, rustic pizzeria, 4k
0 long_prompt_background | A wood-fired oven glowing in a rustic pizzeria with loaves of bread baking inside, overhead shot, warm flames, 4k food commercial style
@paella
> A family sharing a huge paella pan on a sunny terrace by the sea, saffron rice, prawns and mussels, golden hour, slow dolly shot, film look
1 long_prompt_subject | A giant pan of seafood paella with saffron rice, prawns and mussels served to a family on a seaside terrace at golden hour, slow dolly, film look
0 long_prompt_background | A sunny terrace by the sea with white chairs, potted lemon trees and waves below at golden hour, slow dolly shot, film look, 4k
""")

add("drinks", """
@tea
0 partitive_container_collective | a cup of tea | a cup of coffee
1 less_specific | a cup of tea | a cup of green tea on a saucer
0 unstated_attribute | a cup of green tea | a cup of tea
0 layout_camera_idiom_time | a teapot on the left of a cup | a vase on the left of a book
@coffee
1 exact | espresso pouring into a cup | espresso pouring from a machine into a small cup
0 attribute_conflict_other | an iced coffee | a hot coffee steaming in a mug
0 hypernym | a latte with latte art | a cup of coffee
1 hypernym | a coffee on a cafe table | a cappuccino with foam on a cafe table
@wine
0 attribute_conflict_colour | a glass of red wine | a glass of white wine
1 less_specific | wine being poured | red wine being poured into a crystal glass
0 partitive_container_collective | a bottle of wine | a bottle of olive oil
0 layout_camera_idiom_time | drone shot of a vineyard | drone shot of a tea plantation
@beer
1 hypernym | a pint of beer | a pint of lager with foam on a bar
0 compound_head | a glass of beer | a glass of root beer with ice
@juice
0 different_subject | a glass of orange juice | a glass of apple juice
@soda
1 synonym | a glass of soda with ice | a fizzy soft drink with ice in a glass
@milk
0 compound_head | a glass of milk | a milkshake with a straw
1 exact | milk poured into a glass | fresh milk being poured into a tall glass
@cocktail
1 hypernym | a cocktail | a margarita with a salted rim
0 hypernym | a margarita | a cocktail on a bar
0 attribute_conflict_colour | a blue cocktail | a pink cocktail
@water
0 negation_count | an empty glass on a table | a glass full of water on a table
1 less_specific | a bottle of water | a plastic bottle of mineral water
@smoothie
0 attribute_conflict_colour | a green smoothie | a pink strawberry smoothie
@whisky
1 synonym | a glass of whisky | a tumbler of whiskey on the rocks
@sparkling
1 hypernym | sparkling wine in a flute | champagne bubbling in a flute
@lemonade
1 exact | a pitcher of lemonade | a glass pitcher of lemonade with lemon slices
0 partitive_container_collective | a pitcher of lemonade | a pitcher of iced tea
@latte
> A barista pouring steamed milk into a latte to draw a heart, close-up, warm cafe light, steam rising, shallow depth of field, slow motion, 4k
1 long_prompt_subject | Slow motion close-up of a barista pouring milk into a latte and forming a heart pattern, rising steam, warm cafe lighting, shallow depth of field
0 long_prompt_background | A cosy cafe with warm lights, customers reading by the window and a chalkboard menu on the wall, shallow depth of field, slow motion, 4k
@cocktail
> A bartender shaking a cocktail and straining a bright blue drink into a coupe glass on a dim speakeasy bar, moody lighting, cinematic, handheld
1 long_prompt_subject | In a dim speakeasy, a bartender strains a vivid blue cocktail from a shaker into a coupe glass, moody light, handheld cinematic shot
0 long_prompt_background | A dim speakeasy bar with rows of whisky bottles glowing on backlit shelves and empty stools, moody lighting, cinematic, slow handheld pan
@wine
> Red wine being poured into a crystal glass on a wooden table in a vineyard at sunset, vines in the background, slow motion, golden light, cinematic
1 long_prompt_subject | Slow motion pour of red wine into a crystal wine glass on a rustic wooden table at sunset, blurred vineyard behind, golden light, cinematic
0 long_prompt_background | A vineyard at sunset with long rows of vines and a farmhouse on the hill, golden light, slow drone push in, cinematic colour grade
@juice
> Fresh orange juice being squeezed by hand into a tall glass on a sunny breakfast table, droplets flying, bright morning light, macro, 4k commercial
1 long_prompt_subject | Bright morning commercial shot of oranges squeezed by hand into a tall glass of fresh orange juice on a breakfast table, droplets, macro, 4k
0 long_prompt_background | A sunny breakfast table with croissants, butter, a pot of jam and a bowl of berries, bright morning light, macro details, 4k commercial style
""")

add("bakery_desserts", """
@cake
1 less_specific | a birthday cake with candles | a chocolate birthday cake with lit candles
0 unstated_attribute | a chocolate birthday cake | a birthday cake with candles
0 compound_head | a cake on a plate | a crab cake on a plate
0 compound_head | a cake cooling on a rack | pancakes stacked on a plate
0 partitive_container_collective | a slice of cake | a whole cake on a stand
0 negation_count | a three-tier wedding cake | a two-tier wedding cake
@croissant
1 less_specific | a croissant | a flaky butter croissant on a plate
0 layout_camera_idiom_time | a croissant on the left of a coffee cup | a newspaper on the left of a coffee cup
@bread
1 hypernym | a loaf of bread | a sourdough loaf on a board
0 hypernym | a sourdough loaf | a loaf of bread
0 compound_head | bread on a board | shortbread cookies on a board
0 compound_head | a house in the snow | a gingerbread house dusted with sugar
@donut
1 synonym | a doughnut | a donut with pink icing
0 attribute_conflict_colour | a donut with pink icing | a donut with chocolate icing
@ice_cream
1 exact | an ice cream cone | a child licking an ice cream cone
0 attribute_conflict_colour | a mint ice cream cone | a strawberry ice cream cone
@cookie
0 word_sense | a cookie on a plate | a browser cookie consent popup on a screen
1 hypernym | cookies on a tray | chocolate chip cookies cooling on a tray
@pie
0 word_sense | a pie on a windowsill | a pie chart on a slide
0 different_subject | an apple pie | a cherry pie
@cupcake
1 exact | cupcakes with sprinkles | a tray of cupcakes topped with rainbow sprinkles
@baker
1 exact | a baker kneading dough | a baker kneading bread dough on a floured counter
@pudding
0 lexicalised_adj_noun | a chocolate pudding | a Yorkshire pudding
@churros
1 exact | churros dipped in chocolate | churros with a cup of chocolate sauce for dipping
@sourdough
> A baker pulling golden sourdough loaves out of a stone oven at dawn, flour dust floating in the light, rustic bakery, slow motion, cinematic warm tones
1 long_prompt_subject | Slow motion of a baker sliding crusty golden sourdough loaves out of a stone oven, floating flour dust in early dawn light, warm cinematic tones
0 long_prompt_background | A rustic bakery at dawn with wicker baskets of baguettes, a chalkboard menu and flour dust in the light, slow motion, warm cinematic tones
@cake
> Chocolate ganache being poured over a three-layer cake on a rotating stand, glossy drips running down, studio lighting, macro close-up, 4k dessert commercial
1 long_prompt_subject | Macro close-up of glossy chocolate ganache pouring over a three-layer cake on a turntable and dripping down the sides, studio light, 4k commercial
0 long_prompt_background | A rotating cake stand holding a glass jar of cookies in a bright studio, macro close-up, soft shadows, clean 4k dessert commercial style
> A child blowing out candles on a pink birthday cake at a party, friends cheering, confetti, warm home video look, handheld, shallow depth of field
1 long_prompt_subject | Handheld home video of a little kid blowing out the candles on a pink birthday cake while friends cheer and confetti falls, warm light
0 long_prompt_background | A kids' birthday party with balloons, confetti and friends cheering as a magician performs, warm home video look, handheld, shallow depth of field
@croissant
> Close-up of a croissant being torn apart to reveal flaky buttery layers, crumbs falling in slow motion, Parisian cafe table, morning light, film grain
1 long_prompt_subject | Slow motion close-up of hands tearing a buttery croissant apart, flaky layers and crumbs falling onto a Paris cafe table in morning light, film grain
0 long_prompt_background | A Parisian cafe table in morning light with a newspaper, a small espresso and a vase of tulips, gentle film grain, static close-up shot
""")

add("fruits_vegetables", """
@watermelon
0 partitive_container_collective | a slice of watermelon | a whole watermelon in a field
1 less_specific | a watermelon | a ripe watermelon split open on a picnic table
1 less_specific | a slice of watermelon | a juicy slice of watermelon on a plate
@eggplant
1 synonym | an aubergine | an eggplant on a cutting board
1 synonym | an eggplant being sliced | an aubergine being sliced into rounds
@apple
1 less_specific | an apple on a table | a shiny red apple on a wooden table
0 attribute_conflict_colour | a green apple | a red apple
0 compound_head | an apple on a counter | a pineapple on a counter
0 word_sense | an apple on a desk | an Apple laptop on a desk
0 partitive_container_collective | a basket of apples | a basket of pears
1 partitive_container_collective | a basket of apples | a wicker basket overflowing with red apples
@banana
1 less_specific | a bunch of bananas | a bunch of ripe yellow bananas hanging from a hook
0 attribute_conflict_colour | a green banana | a ripe yellow banana
@tomato
1 hypernym | tomatoes on the vine | cherry tomatoes on the vine
0 hypernym | cherry tomatoes in a bowl | tomatoes in a bowl
@pepper
0 word_sense | a bell pepper on a board | black pepper being ground on a board
0 attribute_conflict_colour | a yellow bell pepper | a red bell pepper
@corn
1 exact | an ear of corn | corn on the cob dripping with butter
0 compound_head | corn growing in a field | popcorn spilling from a bowl
0 compound_head | corn on a plate | a corn dog on a plate
@lemon
0 different_subject | a lemon on a table | a lime on a table
1 exact | a lemon cut in half | a halved lemon on a cutting board
0 layout_camera_idiom_time | a lemon to the left of a knife | a lime to the left of a knife
@orange
0 word_sense | an orange on the road | an orange sports car on the road
@strawberry
1 exact | strawberries in a bowl | fresh strawberries in a white bowl
0 compound_head | a strawberry | a strawberry milkshake
@carrot
1 exact | carrots being chopped | a cook chopping carrots on a board
0 attribute_conflict_colour | purple carrots | orange carrots
@potato
0 lexicalised_adj_noun | a potato | a sweet potato
@pumpkin
1 less_specific | a pumpkin in a field | a big orange pumpkin in a pumpkin patch
0 hypernym | a jack-o'-lantern glowing | a pumpkin in a field
@mushroom
1 hypernym | mushrooms in a pan | chanterelle mushrooms frying in a pan
@grape
1 partitive_container_collective | a bunch of grapes | a bunch of purple grapes on a vine
0 attribute_conflict_colour | green grapes | purple grapes
@cucumber
0 lexicalised_adj_noun | a cucumber | a sea cucumber on the seabed
@avocado
1 exact | an avocado cut in half | a halved avocado with the pit still in
@pineapple
0 compound_head | a pineapple | a pineapple upside-down cake
0 compound_head | cherries in a bowl | cherry blossoms on a branch
0 layout_camera_idiom_time | top-down view of sliced kiwi | top-down view of sliced oranges
@tomato
> A farmer's hands picking ripe red tomatoes from the vine in a sunny greenhouse, dew on the leaves, shallow depth of field, golden light, documentary
1 long_prompt_subject | Documentary close-up of a farmer's hands picking ripe red tomatoes off the vine inside a sunny greenhouse, dewy leaves, golden light, shallow depth of field
0 long_prompt_background | A sunny greenhouse full of potted orchids and misting sprinklers, dew on the leaves, golden light, shallow depth of field, documentary style
@watermelon
> Slow motion of a watermelon being split open with a knife on a picnic table, juice splashing, bright summer sun, close-up, vibrant colours, 4k
1 long_prompt_subject | A ripe watermelon cracking open under a knife on a picnic table, red juice splashing in slow motion, bright summer sunlight, vibrant close-up, 4k
0 long_prompt_background | A picnic table in a sunny park with a checkered cloth, sandwiches and a jug of lemonade, bright summer sun, vibrant colours, 4k
@vegetables
> An overflowing wooden crate of colourful vegetables at a farmers market, carrots, beets and leeks, shoppers passing by, handheld, natural morning light, documentary
1 long_prompt_subject | Handheld documentary shot of a wooden crate piled with carrots, beets and leeks at a farmers market, shoppers walking past, morning light
0 long_prompt_background | A busy farmers market with shoppers browsing stalls of honey jars and handmade soap, handheld camera, natural morning light, documentary style
@apple
> Macro shot of water droplets falling on fresh green apples in a wicker basket, studio lighting, slow motion, dark background, high detail, commercial
1 long_prompt_subject | Slow motion macro of droplets splashing onto fresh green apples piled in a wicker basket against a dark background, studio light, commercial
0 long_prompt_background | A wicker basket holding rolled white towels against a dark background, studio lighting, slow motion, high detail, clean commercial product shot
""")

add("musical_instruments", """
@horn
0 word_sense | a goat with curved horns | a musician playing a French horn
1 less_specific | a French horn | a musician playing a French horn in an orchestra
@keyboard
0 word_sense | typing on a keyboard at a desk | fingers playing a piano keyboard
0 word_sense | a house key on a ring | a piano key being pressed
@piano
1 exact | a pianist playing a grand piano | a pianist performing on a grand piano on stage
0 lexicalised_adj_noun | a piano in a living room | a toy piano in a living room
0 attribute_conflict_colour | a white grand piano | a black grand piano
1 hypernym | a piano in a room | an upright piano in a living room
0 hypernym | a grand piano | a piano in a hall
0 layout_camera_idiom_time | low angle shot of a pianist | low angle shot of a juggler
@guitar
1 hypernym | a man playing guitar | a man playing an acoustic guitar by a campfire
0 different_subject | an electric guitar | an acoustic guitar
0 lexicalised_adj_noun | a man playing guitar | a man playing air guitar at a concert
0 different_subject | a guitar | a ukulele
@violin
1 synonym | a violin | a fiddle played at a folk festival
0 different_subject | a violin | a cello
@drum
1 exact | a drummer playing a drum kit | a drummer playing drums at a rock concert
0 compound_head | a drum on stage | an oil drum rusting in a yard
0 layout_camera_idiom_time | a trumpet to the left of a drum | a cat to the left of a drum
@bass
0 word_sense | a bass guitar | a bass fish jumping from a lake
@flute
0 word_sense | a flute being played | a champagne flute on a table
1 less_specific | a girl playing the flute | a young girl playing a silver flute
@organ
0 word_sense | a church organ | human organs in jars in a lab
@harp
1 less_specific | a harp | a woman plucking a golden harp
0 compound_head | a harp | a harp seal on the ice
@trumpet
1 hypernym | a trumpet player | a jazz trumpeter playing in a smoky club
0 compound_head | a trumpet | a trumpet vine flower
0 different_subject | a tuba | a trombone
@saxophone
1 synonym | a saxophone | a sax player on a street corner
@orchestra
1 less_specific | an orchestra playing | a symphony orchestra performing in a concert hall
0 negation_count | a solo violinist on stage | an orchestra on stage
@bell
0 compound_head | a bell ringing | a bell pepper on a board
@accordion
1 less_specific | an accordion | a street musician playing an accordion in Paris
@saxophone
> A street musician playing a saxophone under a bridge at night, warm streetlight, light rain, passers-by dropping coins, cinematic, shallow depth of field, slow push in
1 long_prompt_subject | Cinematic slow push in on a saxophonist playing under a bridge in the night rain, warm streetlight, people tossing coins into his case
0 long_prompt_background | A stone bridge at night in light rain, warm streetlights reflecting on the river below, passers-by with umbrellas, cinematic, slow push in
@piano
> A young pianist practising on a black grand piano in an empty concert hall, single spotlight, dust in the air, wide shot, melancholic film look
1 long_prompt_subject | Wide shot of a young pianist alone at a black grand piano in an empty concert hall, one spotlight, dust floating, melancholic cinematic look
0 long_prompt_background | An empty concert hall with rows of red velvet seats and a single spotlight on the bare stage, dust in the air, wide shot, film look
@drum
> Close-up of a drummer's sticks hitting a snare drum at a rock concert, sweat flying, strobe lights, slow motion, high contrast, handheld
1 long_prompt_subject | Slow motion close-up of drumsticks smashing a snare drum during a rock concert, sweat spraying, strobe lights flashing, high contrast, handheld
0 long_prompt_background | A crowd at a rock concert jumping with hands raised under strobe lights, confetti falling, slow motion, high contrast, handheld camera
@violin
> An old violin maker varnishing a violin in a cluttered workshop, sunlight through dusty windows, tools on the walls, macro details, warm documentary style
1 long_prompt_subject | Warm documentary of an elderly luthier brushing varnish onto a violin in his cluttered workshop, dusty sunbeams through the window, macro details
0 long_prompt_background | A cluttered woodworking workshop with chisels and saws on the walls, sunlight through dusty windows, macro details, warm documentary style, slow pan
""")

add("weather", """
@storm
0 compound_head | a storm rolling in | a dust storm rolling across a desert
1 hypernym | a storm over a city | a thunderstorm with lightning over a city
0 hypernym | a thunderstorm with lightning | a storm over the hills
@rain
1 exact | rain falling on a window | raindrops running down a window pane
0 attribute_conflict_other | heavy rain pouring on a street | a light drizzle on a street
0 compound_head | rain in a forest | a rainforest at dawn
0 layout_camera_idiom_time | heavy rain, raining cats and dogs over a street | cats and dogs playing on a street
@rainbow
1 less_specific | a rainbow over a field | a double rainbow over a green field
0 negation_count | a double rainbow | a single rainbow over a field
@sky
0 attribute_conflict_other | a stormy sky | a sky with white clouds
1 less_specific | clouds in the sky | fluffy white cumulus clouds drifting across a blue sky
0 attribute_conflict_other | a sky at sunset | a clear blue midday sky
0 layout_camera_idiom_time | time-lapse of clouds over a city | time-lapse of traffic in a city
@snow
1 less_specific | snow falling | heavy snow falling in a pine forest
0 compound_head | snow falling on a street | a snowman on a street
@lightning
1 exact | lightning striking | a bolt of lightning striking a lone tree
0 compound_head | lightning in the sky | a lightning bug glowing on a leaf
@fog
1 synonym | fog over a lake | mist hanging over a lake
0 attribute_conflict_other | fog over a city at night | fog over a city at sunrise
@tornado
1 synonym | a tornado | a twister tearing across farmland
@hurricane
1 synonym | a hurricane hitting a coast | a typhoon hitting a coast
0 compound_head | a hurricane | a hurricane lamp on a table
@hail
1 exact | hail | hailstones bouncing on a car hood
@sun
0 compound_head | the sun over a field | sunflowers in a field
0 attribute_conflict_other | a sunrise on Mars | a sunrise on a beach
@wind
0 compound_head | wind blowing through grass | a windmill in a grass field
@heat
1 exact | a heat haze over a road | a road shimmering in a heat haze
@frost
1 less_specific | frost on a window | frost patterns on a car window
0 layout_camera_idiom_time | a man feeling under the weather in bed | stormy weather over the sea
@storm
> Time-lapse of towering storm clouds rolling over the Great Plains, lightning flashing inside them, a lone farmhouse below, dramatic wide shot, cinematic 4k
1 long_prompt_subject | Dramatic wide time-lapse of huge thunderclouds with lightning flickering inside them rolling across the plains above a single farmhouse, cinematic 4k
0 long_prompt_background | A lone farmhouse on the Great Plains under a clear blue sky with wheat swaying in the breeze, dramatic wide shot, cinematic 4k
@snow
> Heavy snow falling on a quiet village street at night, warm glowing windows, footprints in fresh powder, slow motion, static shot, cosy film look
1 long_prompt_subject | A quiet village street at night under heavy falling snow, footprints in fresh powder, windows glowing warmly, slow motion, static camera, cosy film look
0 long_prompt_background | A quiet village street on a summer evening with warm glowing windows and flower boxes, people strolling, static shot, cosy film look
@rainbow
> A double rainbow arching over green hills after a rain shower, sunlight breaking through dark clouds, wide angle, drone shot, vivid colours, 4k nature footage
1 long_prompt_subject | Drone footage of a vivid double rainbow stretching across green hills as sunlight breaks through dark rain clouds, wide angle, 4k nature film
0 long_prompt_background | Rolling green hills after a rain shower with sheep grazing and mist in the valleys, wide angle drone shot, vivid colours, 4k nature footage
@fog
> Thick morning fog drifting over a calm lake surrounded by pine trees, a wooden rowboat at the shore, soft pastel light, slow pan, atmospheric cinematic
1 long_prompt_subject | Slow pan across a calm lake blanketed in thick morning fog among pine trees, a rowboat tied at the shore, pastel light, atmospheric cinematic
0 long_prompt_background | A wooden rowboat with oars resting on a sunny beach next to a lifeguard tower, bright midday light, slow pan, cinematic colour grade
""")

add("vehicles", """
@car
1 less_specific | a car | a red vintage car
0 unstated_attribute | a red car | a car driving on a highway
0 attribute_conflict_colour | a red car | a blue car parked on a street
1 synonym | an automobile on a road | a car driving down a country road
0 compound_head | a car going up a hill | a cable car climbing a hill
0 attribute_conflict_other | a brand-new car in a showroom | a rusty abandoned car in a field
0 negation_count | two cars racing side by side | a single car on a racetrack
0 attribute_conflict_other | a car driving at night with headlights on | a car driving on a sunny afternoon
0 layout_camera_idiom_time | a bike on the left of a car | a cat on the left of a dog
0 layout_camera_idiom_time | aerial view of a highway | aerial view of a river
1 less_specific | an SUV | a red SUV on a mountain road
@truck
1 synonym | a lorry on a motorway | a truck driving on a motorway
0 compound_head | a truck being loaded | a hand truck moving boxes
@bus
1 less_specific | a double-decker bus in London | a red double-decker bus driving through London
0 different_subject | a school bus | a city bus
@bicycle
1 synonym | a bicycle leaning on a wall | a bike leaning against a brick wall
0 hypernym | a mountain bike | a bicycle on a street
@motorcycle
1 synonym | a motorcycle on a highway | a motorbike cruising along a highway
@train
1 hypernym | a train crossing a bridge | a steam locomotive crossing a stone viaduct
0 hypernym | a steam train | a train at a station
0 word_sense | a train passing by | the long train of a wedding dress
@plane
1 synonym | an airplane taking off | a plane taking off from a runway
0 word_sense | a plane on a workbench | a carpenter using a hand plane on a workbench
@boat
1 hypernym | a boat on a lake | a canoe on a calm lake
0 hypernym | a sailboat on a lake | a boat on a lake
@helicopter
1 less_specific | a helicopter hovering | a rescue helicopter hovering over the sea
@taxi
1 synonym | a yellow taxi in New York | a yellow cab driving through Manhattan
@car
> A red vintage convertible driving along a coastal highway at sunset, ocean waves below, drone tracking shot, warm golden light, cinematic 4k
1 long_prompt_subject | Drone tracking shot following a classic red convertible cruising a winding coastal road at sunset above crashing waves, golden light, cinematic 4k
0 long_prompt_background | A winding coastal highway at sunset with ocean waves crashing on the cliffs below, no traffic, drone shot, warm golden light, cinematic 4k
@train
> A steam locomotive puffing white smoke as it crosses a stone viaduct in the Scottish highlands, autumn colours, aerial wide shot, epic cinematic
1 long_prompt_subject | Aerial wide shot of a steam train billowing white smoke across a curved stone viaduct in the Scottish highlands, autumn colours, epic cinematic look
0 long_prompt_background | A curved stone viaduct in the Scottish highlands surrounded by autumn forests and a river below, no train, aerial wide shot, epic cinematic
@taxi
> A yellow taxi splashing through a puddle on a busy Manhattan avenue at dusk, neon reflections, pedestrians with umbrellas, low angle, slow motion, film look
1 long_prompt_subject | Low angle slow motion of a yellow New York cab driving through a puddle on a crowded Manhattan avenue at dusk, neon reflections, film look
0 long_prompt_background | A busy Manhattan avenue at dusk with pedestrians holding umbrellas and neon signs reflecting in puddles, low angle, slow motion, film look
@seaplane
> A small seaplane landing on a turquoise lake surrounded by snowy mountains, spray behind the floats, tracking shot from a boat, bright daylight, 4k travel film
1 long_prompt_subject | Tracking shot of a seaplane touching down on a turquoise mountain lake, spray trailing from its floats, snowy peaks around, bright daylight, 4k
0 long_prompt_background | A turquoise lake surrounded by snowy mountains with kayakers paddling near the shore, bright daylight, tracking shot from a boat, 4k travel film
""")

add("pets", """
@dog
1 less_specific | a dog running | a golden retriever running on a beach
0 hypernym | a golden retriever | a dog playing in a park
0 lexicalised_adj_noun | a dog sleeping | a hot dog on a grill
0 lexicalised_adj_noun | a dog sitting upright in a field | a prairie dog standing upright in a field
1 more_specific_soft | a happy dog wagging its tail | a dog wagging its tail
1 more_specific_soft | a sleepy puppy | a puppy napping on a blanket
0 attribute_conflict_other | a puppy playing | an old dog lying on a porch
0 attribute_conflict_colour | a black labrador | a yellow labrador
1 synonym | a puppy | a young pup chewing a toy
0 negation_count | two dogs playing | a lone dog in a field
1 hypernym | dogs running in snow | a team of huskies pulling a sled through snow
1 less_specific | a dog on a leash | a woman walking a beagle on a leash
0 compound_head | a dog bed | a dog sleeping on a human bed
1 synonym | a vet examining a dog | a veterinarian examining a dog on a table
@cat
1 hypernym | a cat on a sofa | a tabby cat curled up on a sofa
0 hypernym | a siamese cat | a cat on a windowsill
1 less_specific | a kitten | a tiny kitten playing with yarn
0 attribute_conflict_other | a kitten | a large adult cat sleeping
0 compound_head | a cat in the water | a catfish in the water
0 layout_camera_idiom_time | a cat on the left of a dog | a bike on the left of a car
1 more_specific_soft | a fat lazy cat lounging | a cat lounging in the sun
0 attribute_conflict_colour | a ginger cat | a black cat
@hamster
1 exact | a hamster in a wheel | a hamster running on an exercise wheel
0 different_subject | a hamster | a guinea pig
@goldfish
1 exact | a goldfish in a bowl | a goldfish swimming in a round glass bowl
0 partitive_container_collective | a goldfish in a bowl | a bowl of goldfish crackers
@budgie
1 hypernym | a pet bird in a cage | a budgie chirping in a cage
0 hypernym | a budgie | a bird in a cage
@rabbit
1 synonym | a rabbit | a bunny nibbling a carrot
0 attribute_conflict_colour | a white rabbit | a brown rabbit
@puppy
> A golden retriever puppy sleeping in a wicker basket on a porch, soft morning light, 4k
1 long_prompt_subject | A golden retriever puppy chasing a red ball across a sunny garden lawn, cinematic slow motion, shallow depth of field
0 long_prompt_background | A wicker basket full of shiny apples on a kitchen table by the window, soft morning light, static shot, 4k
@cat
> A fluffy orange cat stretching on a sunny windowsill while raindrops streak the glass, cosy apartment, shallow depth of field, slow motion, warm film look
1 long_prompt_subject | Warm film look of a fluffy ginger cat stretching lazily on a windowsill in a cosy apartment, rain streaking the glass, slow motion, shallow focus
0 long_prompt_background | Raindrops streaking down a window of a cosy apartment with potted plants on the sill, shallow depth of field, slow motion, warm film look
@rabbit
> A little boy feeding his pet rabbit a carrot in a backyard hutch, afternoon sun, handheld home video, gentle and warm, shallow depth of field
1 long_prompt_subject | Handheld home video of a young boy giving a carrot to his pet bunny at its backyard hutch, warm afternoon sun, gentle mood, shallow focus
0 long_prompt_background | A young boy playing with a toy car in a sunny backyard with a swing set, handheld home video, gentle and warm, shallow depth of field
@goldfish
> A goldfish swimming slowly in a round glass bowl on a cluttered desk, light refracting through the water, macro lens, soft colours, calm mood, static shot
1 long_prompt_subject | Static macro of a single goldfish gliding around a round glass fishbowl on a messy desk, light bending through the water, soft colours, calm mood
0 long_prompt_background | A cluttered desk with a laptop, scattered papers, coffee mugs and a desk lamp, soft colours, calm mood, macro lens, static shot
""")

add("farm_animals", """
@cow
1 hypernym | a cow in a field | a Holstein cow grazing in a field
0 hypernym | a Highland cow | a cow grazing
0 lexicalised_adj_noun | a cow near the water | a sea cow grazing on seagrass
0 attribute_conflict_other | a calf feeding | an adult cow feeding
1 partitive_container_collective | cows grazing | a herd of cattle grazing on a hillside
0 negation_count | a lone cow on a hill | a herd of cows on a hill
@pig
1 synonym | a pig in mud | a hog rolling in mud
1 partitive_container_collective | piglets nursing | a litter of piglets nursing from a sow
0 compound_head | a pig on a shelf | a piggy bank on a shelf
0 attribute_conflict_other | piglets in straw | a huge adult pig lying in straw
1 more_specific_soft | a big fat pig eating | a pig eating from a trough
0 compound_head | a pig in a pen | a guinea pig in a cage
@sheep
1 partitive_container_collective | sheep grazing | a flock of sheep grazing on a green hill
0 attribute_conflict_other | a newly shorn sheep | a fluffy sheep with thick wool
1 less_specific | a lamb | a young lamb bouncing in a meadow
0 attribute_conflict_colour | a black sheep | a white sheep
@chicken
1 hypernym | a chicken in a yard | a hen pecking in a yard
0 different_subject | a rooster crowing | a hen sitting on eggs
0 attribute_conflict_other | chicks in a box | adult hens in a coop
0 compound_head | a chicken walking | chicken nuggets in a box
0 layout_camera_idiom_time | close-up of a rooster | close-up of a parrot
@horse
1 hypernym | a horse galloping | a stallion galloping across a field
0 hypernym | a white stallion | a horse galloping
0 compound_head | a horse in a nursery | a rocking horse in a nursery
0 compound_head | a horse on a farm | a horsefly on a farm gate
0 attribute_conflict_other | a foal | an adult horse
@goat
1 less_specific | a goat eating grass | a white goat eating grass on a farm
1 more_specific_soft | a curious goat | a goat sniffing a camera
@duck
1 less_specific | ducks in a pond | a family of ducks swimming in a pond
0 attribute_conflict_other | ducklings | adult ducks
@donkey
1 synonym | a donkey carrying bags | a burro carrying packs
@turkey
0 attribute_conflict_other | a turkey gobbling | a roast turkey on a platter
@cows
> A herd of black and white dairy cows walking home across a misty meadow at sunrise, a farmer with a stick behind them, wide shot, golden pastoral film look
1 long_prompt_subject | Wide pastoral shot of black and white dairy cows ambling across a misty meadow at sunrise with a farmer following behind, golden film look
0 long_prompt_background | A misty meadow at sunrise with dew on the grass and a wooden gate, a farmer walking alone with a stick, wide shot, golden film look
@pig
> Piglets tumbling over each other in fresh straw inside a sunny barn, dust in the light beams, playful, handheld close-up, warm documentary style
1 long_prompt_subject | Handheld close-up of playful piglets tumbling together in fresh straw in a sunlit barn, dust floating in light beams, warm documentary style
0 long_prompt_background | A sunny barn with bales of fresh straw stacked high and dust drifting through light beams, empty stalls, handheld close-up, warm documentary style
@chicken
> A rooster crowing on top of a wooden fence at dawn, mist over the farm behind him, low angle, slow motion, vivid colours, cinematic
1 long_prompt_subject | Low angle slow motion of a colourful rooster perched on a wooden fence crowing at dawn, misty farmland behind, vivid cinematic colours
0 long_prompt_background | A wooden fence across a misty farm at dawn with a tractor parked in the distance, low angle, slow motion, vivid colours, cinematic
@horse
> A girl brushing a chestnut horse in a stable, sunlight through the slats, hay in the air, close-up, shallow depth of field, warm film grain
1 long_prompt_subject | Close-up of a young girl grooming a chestnut horse inside a stable as sunlight streams through wooden slats, floating hay, warm film grain
0 long_prompt_background | A girl feeding a goat in a stable, sunlight through the slats, hay floating in the air, close-up, shallow depth of field, warm film grain
""")

add("wild_animals", """
@tiger
1 more_specific_soft | a hungry tiger | a tiger prowling through grass
1 less_specific | a tiger | a deer and a tiger at a river
0 attribute_conflict_colour | a white tiger | an orange tiger in the jungle
0 compound_head | a tiger swimming | a tiger shark swimming
0 attribute_conflict_other | a tiger cub | a full-grown tiger resting
1 more_specific_soft | a huge tiger | a tiger drinking at a pond
@elephant
0 unstated_attribute | a baby elephant | an elephant walking
1 partitive_container_collective | a herd of elephants | elephants at a waterhole
0 negation_count | an elephant alone | a herd of elephants
1 less_specific | an elephant | an African elephant spraying water
0 compound_head | an elephant on a beach | an elephant seal on a beach
0 layout_camera_idiom_time | aerial video from a drone of elephants | aerial video from a drone of a forest
@panda
0 lexicalised_adj_noun | a panda | a red panda
1 synonym | a giant panda eating bamboo | a panda munching bamboo
@lion
1 hypernym | a big cat resting | a lion resting on a rock
0 compound_head | a lion on rocks | a sea lion on rocks
0 lexicalised_adj_noun | a lion on a rock | a mountain lion on a rock
1 synonym | a mountain lion | a cougar on a rocky ledge
0 layout_camera_idiom_time | in the heart of the savanna, a lion | in the heart of the savanna, a giraffe
@bear
0 different_subject | a polar bear | a brown bear
0 compound_head | a bear on a bed | a teddy bear on a bed
1 hypernym | a bear fishing | a grizzly bear catching salmon in a river
0 hypernym | a grizzly bear | a bear in the woods
@deer
1 less_specific | a deer in a forest | a deer grazing in a misty forest
@monkey
0 different_subject | a chimpanzee | a monkey in a tree
1 hypernym | a monkey in a tree | a capuchin monkey in a tree
0 compound_head | a monkey | a monkey wrench
@giraffe
1 less_specific | a giraffe eating leaves | a tall giraffe eating acacia leaves
@zebra
0 compound_head | a zebra | a zebra crossing on a street
1 partitive_container_collective | zebras running | a herd of zebras galloping
@wolf
1 less_specific | a wolf howling | a grey wolf howling at the moon
0 negation_count | a lone wolf | a wolf pack
@fox
0 lexicalised_adj_noun | an arctic fox | a red fox
1 more_specific_soft | a curious fox | a fox sniffing around a campsite
@kangaroo
1 exact | a kangaroo hopping | a kangaroo bounding across the outback
@tiger
> A hungry tiger stalking through tall golden grass at dusk, eyes fixed on the camera, low angle, slow motion, shallow depth of field, nature documentary 4k
1 long_prompt_subject | Nature documentary footage of a tiger creeping through tall golden grass at dusk, staring into the lens, low angle slow motion, 4k
0 long_prompt_background | Tall golden grass waving in the wind at dusk on an open plain with a lone acacia tree, low angle, slow motion, nature documentary 4k
@elephant
> A herd of elephants crossing a muddy river in the Serengeti, a calf holding its mother's tail, aerial drone shot, golden hour, epic cinematic
1 long_prompt_subject | Aerial drone footage at golden hour of an elephant herd wading across a muddy river in the Serengeti, a young calf clinging to its mother's tail
0 long_prompt_background | A muddy river in the Serengeti at golden hour with crocodiles resting on the banks, aerial drone shot, epic cinematic, slow forward movement
@bear
> A grizzly bear catching a leaping salmon at a waterfall in Alaska, spray everywhere, telephoto lens, slow motion, crisp detail, wildlife documentary
1 long_prompt_subject | Wildlife documentary telephoto shot of a grizzly snatching a jumping salmon at an Alaskan waterfall in slow motion, spray flying, crisp detail
0 long_prompt_background | Salmon leaping up a waterfall in Alaska, spray and foam everywhere, telephoto lens, slow motion, crisp detail, wildlife documentary style
@panda
> A red panda curled up asleep on a mossy branch in a misty bamboo forest, soft diffused light, close-up, gentle camera drift, calm nature film
1 long_prompt_subject | Close-up of a sleeping red panda curled on a mossy tree branch inside a misty bamboo forest, soft diffused light, gentle drift, calm nature film
0 long_prompt_background | A giant panda chewing bamboo in a misty bamboo forest, soft diffused light, close-up, gentle camera drift, calm nature documentary film
""")

add("marine_life", """
@whale
1 hypernym | a whale breaching | a humpback whale breaching off the coast
0 hypernym | a blue whale | a whale swimming
0 compound_head | a whale feeding | a whale shark feeding
0 attribute_conflict_other | a baby whale | a huge adult whale
1 synonym | an orca | a killer whale hunting seals
@shark
1 hypernym | a shark swimming | a great white shark swimming near the surface
0 hypernym | a hammerhead shark | a shark in the ocean
@dolphin
1 partitive_container_collective | dolphins jumping | a pod of dolphins leaping out of the waves
0 negation_count | a single dolphin | a pod of dolphins
@octopus
1 less_specific | an octopus | an octopus crawling over coral
0 different_subject | an octopus | a squid
@jellyfish
1 less_specific | a jellyfish | a glowing jellyfish drifting in dark water
0 attribute_conflict_colour | a pink jellyfish | a blue jellyfish
@starfish
1 synonym | a starfish | a sea star on the sand
@seahorse
0 compound_head | a horse swimming | a seahorse swimming among seagrass
@crab
1 less_specific | a crab on the beach | a red crab scuttling on the beach
0 compound_head | a crab | crab apples on a branch
@coral
0 word_sense | a coral reef | a coral-coloured dress
1 less_specific | a coral reef | a vibrant coral reef with tropical fish
0 attribute_conflict_colour | a bleached white coral reef | a vibrant colourful coral reef
@seal
0 word_sense | a seal on the rocks | a wax seal on a letter
1 less_specific | a seal basking | a harbour seal basking on a rock
@fish
1 hypernym | a fish in a reef | a clownfish in an anemone
0 hypernym | a clownfish | a fish swimming
0 word_sense | a school of fish | a school building
1 partitive_container_collective | a school of fish | a shoal of sardines swirling
@lobster
0 attribute_conflict_other | a live lobster crawling | a cooked red lobster on a plate
@ray
0 different_subject | a manta ray | a stingray
0 layout_camera_idiom_time | underwater shot of a turtle | underwater shot of a diver
0 lexicalised_adj_noun | a sea otter | an otter in a river
@whale
> A humpback whale breaching off the coast of Hawaii at sunset, water cascading off its fins, aerial drone shot, epic slow motion, golden light, 4k
1 long_prompt_subject | Epic slow motion drone footage of a humpback whale launching out of the sea near Hawaii at sunset, water pouring off its fins, golden light
0 long_prompt_background | The coast of Hawaii at sunset with surfers riding gentle waves and palm trees on the shore, aerial drone shot, golden light, 4k
@manta
> A diver swimming beside a giant manta ray over a vibrant coral reef, sun rays piercing the blue water, underwater wide shot, calm and majestic
1 long_prompt_subject | Underwater wide shot of a giant manta ray gliding over a colourful coral reef next to a scuba diver, sunbeams in blue water, majestic
0 long_prompt_background | A vibrant coral reef with clownfish hiding in anemones, sun rays piercing the blue water, underwater wide shot, calm and majestic mood
@dolphin
> A pod of dolphins racing alongside a sailboat bow in clear turquoise water, spray flying, tracking shot from the deck, bright sunny day, cheerful travel film
1 long_prompt_subject | Tracking shot from a sailboat deck of a pod of dolphins riding the bow wave in clear turquoise water, spray flying, sunny, cheerful travel film
0 long_prompt_background | A sailboat gliding across clear turquoise water on a bright sunny day with a couple relaxing on deck, tracking shot, cheerful travel film
@jellyfish
> A glowing jellyfish pulsing slowly through dark deep water, tentacles trailing, bioluminescent blue light, macro, black background, ambient slow motion
1 long_prompt_subject | Ambient slow motion macro of a bioluminescent jellyfish drifting through pitch black water, trailing tentacles, glowing blue, dark background
0 long_prompt_background | Dark deep water with tiny bioluminescent plankton sparkling blue around a diver's hand, macro, black background, ambient slow motion
""")

add("birds", """
@bird
1 hypernym | a bird on a branch | a robin perched on a branch
0 hypernym | a robin singing | a bird singing
1 hypernym | a bird flying over the sea | a seagull gliding over the sea
0 layout_camera_idiom_time | silhouette of a bird against the sunset | silhouette of a windmill against the sunset
@eagle
1 less_specific | an eagle soaring | a bald eagle soaring over a canyon
0 attribute_conflict_other | an eaglet in a nest | an adult eagle in a nest
0 different_subject | an eagle on a branch | a hawk on a branch
@owl
1 less_specific | an owl at night | a barn owl perched in a barn at night
0 attribute_conflict_colour | a white snowy owl | a brown tawny owl
@penguin
1 partitive_container_collective | penguins on the ice | a colony of emperor penguins on the ice
0 negation_count | a lone penguin on the ice | a colony of penguins on the ice
@crane_bird
0 word_sense | a crane wading in a marsh | a construction crane lifting steel
@parrot
1 hypernym | a parrot | a scarlet macaw on a branch
0 attribute_conflict_colour | a green parrot | a red parrot
@flamingo
1 partitive_container_collective | flamingos in a lake | a flock of pink flamingos wading in a lake
0 compound_head | a flamingo in a pool | a flamingo pool float in a pool
@swan
1 less_specific | a swan on a lake | a white swan gliding on a lake
0 attribute_conflict_colour | a black swan | a white swan
@hummingbird
1 less_specific | a hummingbird hovering | a hummingbird hovering at a red flower
@peacock
1 exact | a peacock spreading its tail | a peacock fanning out its colourful tail feathers
@pigeon
1 partitive_container_collective | pigeons in a square | a flock of pigeons in a city square
@raven
0 different_subject | a raven | a crow on a fence
@robin
0 word_sense | a robin in the snow | Robin Hood shooting an arrow in the snow
@kiwi
0 word_sense | a kiwi bird | a sliced kiwi fruit
@nest
0 negation_count | an empty bird nest | a nest with three chicks
1 less_specific | a bird's nest with eggs | a bird's nest holding four blue eggs
@feeder
1 exact | a bird feeder | small birds pecking at a garden bird feeder
@ostrich
0 different_subject | an ostrich running | an emu running
@woodpecker
1 exact | a woodpecker pecking | a woodpecker drumming on a tree trunk
@hawk
0 different_subject | a hawk diving | a falcon diving
@eagle
> A bald eagle swooping down to snatch a fish from a misty lake at dawn, talons extended, telephoto slow motion, crisp detail, wildlife documentary
1 long_prompt_subject | Telephoto slow motion of a bald eagle diving to grab a fish out of a misty lake at dawn, talons out, crisp detail, documentary style
0 long_prompt_background | A misty lake at dawn with a fisherman casting from a small boat and reeds along the shore, telephoto, slow motion, documentary style
@hummingbird
> A hummingbird hovering to drink nectar from a bright red hibiscus flower, wings a blur, macro lens, high frame rate, vivid colours, green bokeh background
1 long_prompt_subject | Macro high frame rate footage of a hummingbird sipping nectar from a red hibiscus with blurred wings, vivid colours, soft green bokeh behind
0 long_prompt_background | A bright red hibiscus flower swaying in a tropical garden with a bee crawling inside, macro lens, vivid colours, green bokeh background
@penguin
> Thousands of emperor penguins huddled together on Antarctic ice during a blizzard, snow blowing sideways, wide shot, cold blue tones, nature documentary
1 long_prompt_subject | Wide nature documentary shot of a huge colony of emperor penguins huddling on the Antarctic ice as a blizzard blows snow sideways, cold blue tones
0 long_prompt_background | Antarctic ice during a blizzard with a research station half buried in snow, snow blowing sideways, wide shot, cold blue tones, documentary
@flamingo
> A flock of pink flamingos taking off from a shallow salt lake at sunrise, reflections in the water, aerial drone shot, pastel colours, slow motion
1 long_prompt_subject | Aerial drone slow motion of hundreds of pink flamingos lifting off a shallow salt lake at sunrise, mirrored in the water, soft pastel colours
0 long_prompt_background | A shallow salt lake at sunrise with white salt crusts and perfect reflections of the sky, aerial drone shot, pastel colours, slow motion
""")

add("reptiles", """
@snake
1 hypernym | a snake slithering | a python slithering across rocks
0 hypernym | a king cobra | a snake in the grass
0 compound_head | a snake in a pot | a snake plant in a pot
0 attribute_conflict_colour | a green snake | a yellow snake
1 hypernym | a cobra raising its hood | a king cobra raising its hood
0 layout_camera_idiom_time | night vision footage of a snake | night vision footage of an owl
@lizard
1 hypernym | a lizard on a rock | a gecko on a rock
0 hypernym | a chameleon | a lizard on a branch
1 more_specific_soft | a tiny gecko on a wall | a gecko clinging to a wall
@crocodile
0 different_subject | a crocodile | an alligator
1 less_specific | a crocodile in a river | a crocodile lurking in a muddy river
0 compound_head | a crocodile | a crocodile clip on a wire
@turtle
1 hypernym | a turtle swimming | a sea turtle swimming over a reef
0 different_subject | a tortoise walking | a sea turtle swimming
0 attribute_conflict_other | turtle hatchlings on the sand | an old sea turtle on the sand
1 synonym | turtle hatchlings racing to the sea | dozens of baby sea turtles scrambling toward the ocean
0 compound_head | a turtle | a turtleneck sweater
1 exact | a tortoise eating lettuce | a tortoise munching a lettuce leaf
@iguana
1 less_specific | an iguana basking | a green iguana basking on a rock
@chameleon
1 exact | a chameleon changing colour | a chameleon slowly changing colour on a branch
@dragon
0 lexicalised_adj_noun | a dragon | a Komodo dragon
@dinosaur
1 hypernym | a dinosaur | a T. rex roaring
0 hypernym | a T. rex | a dinosaur walking
@frog
1 less_specific | a frog on a lily pad | a green tree frog on a lily pad
0 compound_head | a frog | a frogman diving
@chameleon
> A chameleon slowly stalking a cricket along a mossy branch, eyes swivelling, then shooting out its tongue, macro lens, slow motion, vivid greens, nature documentary
1 long_prompt_subject | Nature documentary macro of a chameleon creeping along a mossy branch toward a cricket and firing its tongue in slow motion, swivelling eyes, vivid greens
0 long_prompt_background | A cricket chirping on a mossy branch in a rainforest after the rain, water droplets, macro lens, slow motion, vivid greens, documentary
@turtle
> Baby sea turtles scrambling across a moonlit beach toward the waves, tiny flippers in the sand, low angle, night vision tones, hopeful nature documentary
1 long_prompt_subject | Low angle footage of tiny turtle hatchlings racing across a moonlit beach to the surf, flippers digging into sand, night tones, nature documentary
0 long_prompt_background | A moonlit beach with gentle waves rolling in and a crab scuttling across the sand, low angle, night vision tones, calm nature documentary
@crocodile
> A huge crocodile bursting out of a muddy river to snap at a wildebeest, water exploding, telephoto lens, slow motion, dramatic wildlife documentary
1 long_prompt_subject | Dramatic telephoto slow motion of a large crocodile lunging out of a brown river at a wildebeest, water exploding everywhere, wildlife documentary
0 long_prompt_background | Wildebeest crossing a muddy river in a massive herd, dust and splashing water, telephoto lens, slow motion, dramatic wildlife documentary
@snake
> A python coiled around a tree branch in a humid jungle, scales glistening after the rain, close-up, shallow depth of field, moody green light
1 long_prompt_subject | Close-up of a python wrapped around a jungle branch, wet scales glistening after rainfall, humid air, shallow depth of field, moody green light
0 long_prompt_background | A humid jungle after the rain with a toucan perched on a tree branch, close-up, shallow depth of field, moody green light, slow drift
""")

add("plants_flowers", """
@rose
1 less_specific | a rose | a red rose with dew drops
0 attribute_conflict_colour | a yellow rose | a red rose
0 unstated_attribute | a white rose | a rose in a vase
0 layout_camera_idiom_time | close-up of a rose | close-up of an eye
@bouquet
0 partitive_container_collective | a bouquet of roses | a bouquet of lilies
1 partitive_container_collective | a bouquet of flowers | a bride holding a bouquet of white roses
@sunflower
1 partitive_container_collective | a field of sunflowers | sunflowers swaying in a field
1 hypernym | a flower in a vase | a sunflower in a vase
@flower
1 hypernym | a flower blooming | a tulip blooming in time-lapse
0 compound_head | a flower on a table | a cauliflower on a table
0 layout_camera_idiom_time | time-lapse of a flower opening | time-lapse of a city at night
@tulip
0 attribute_conflict_colour | purple tulips | orange tulips
1 less_specific | tulips | rows of tulips in a Dutch field
@tree
1 hypernym | a tree in a field | an oak tree standing alone in a field
0 hypernym | an oak tree | a tree in a park
0 compound_head | a tree | a family tree diagram
0 attribute_conflict_other | a tree in autumn | a tree in spring bloom
1 more_specific_soft | a majestic oak | an oak tree on a hill
@cactus
1 less_specific | a cactus in the desert | a saguaro cactus in the desert
0 unstated_attribute | a flowering cactus | a cactus in a pot
@orchid
1 less_specific | an orchid | a white orchid in a pot
@lotus
0 word_sense | a lotus flower | a woman sitting in the lotus position
@lily
0 compound_head | a lily | a lily pad with a frog
@moss
1 exact | moss on a rock | green moss covering a rock
@bonsai
1 more_specific_soft | a tiny bonsai tree | a bonsai tree on a table
@dandelion
0 attribute_conflict_other | a dandelion clock | a yellow dandelion flower
@leaf
0 attribute_conflict_colour | a green leaf | a red autumn leaf
1 less_specific | a leaf floating on water | a maple leaf floating on a pond
@lotus
> Time-lapse of a pink lotus flower opening on a still pond at sunrise, dew on the petals, lily pads around it, macro lens, soft pastel light, 4k
1 long_prompt_subject | A pink lotus blossom unfolding in time-lapse on a calm pond at sunrise, dewy petals, lily pads nearby, macro, soft pastel light, 4k
0 long_prompt_background | A still pond at sunrise covered with lily pads and a frog sitting on one, macro lens, soft pastel light, 4k, gentle ripples
@tree
> An ancient oak tree alone on a hill in autumn, golden leaves falling in the wind, drone orbit shot, warm late afternoon light, cinematic
1 long_prompt_subject | Cinematic drone orbit around a huge old oak standing alone on a hilltop in autumn, golden leaves blowing off in the wind, warm afternoon light
0 long_prompt_background | A hill in autumn with a flock of sheep grazing and golden grass rippling in the wind, drone orbit shot, warm late afternoon light, cinematic
@tulip
> Endless rows of red and yellow tulips in a Dutch field with a windmill in the distance, spring morning, low drone flight, vivid colours, 4k travel film
1 long_prompt_subject | Low drone flight over endless striped rows of red and yellow tulips in the Netherlands, a windmill far behind, spring morning, vivid colours, 4k
0 long_prompt_background | A traditional Dutch windmill beside a canal on a spring morning, cyclists riding past on a path, low drone flight, vivid colours, 4k travel film
@rose
> A single red rose in a glass vase on a windowsill, petals slowly dropping, rain on the window behind, shallow depth of field, moody melancholic film
1 long_prompt_subject | A lone red rose in a clear glass vase by a rainy window losing its petals one by one, shallow depth of field, moody melancholic film look
0 long_prompt_background | A glass vase of white daisies on a windowsill with rain running down the window behind, shallow depth of field, moody melancholic film
""")

add("furniture", """
@chair
0 compound_head | a chair | a rocking chair
0 compound_head | a rocking chair | a chair
1 less_specific | a chair by a window | a wooden dining chair by a window
0 compound_head | a chair in a hallway | a wheelchair in a hallway
0 compound_head | a chair in a kitchen | a high chair with a baby in a kitchen
@sofa
1 synonym | a sofa | a couch in a living room
1 synonym | a couch with cushions | a sofa with throw cushions
0 attribute_conflict_material | a leather sofa | a velvet sofa
0 attribute_conflict_colour | a green velvet sofa | a pink velvet sofa
0 layout_camera_idiom_time | a sofa in front of a TV | a dog in front of a TV
@table
0 word_sense | a table in a dining room | a table of numbers in a spreadsheet
1 less_specific | a table | a round oak dining table
0 attribute_conflict_material | a glass coffee table | a wooden coffee table
@bed
1 less_specific | a bed in a bedroom | a king-size bed with white sheets
0 compound_head | a bed in the garden | a flower bed in the garden
0 compound_head | a bed | a dry riverbed
0 attribute_conflict_other | an unmade bed | a neatly made bed
@wardrobe
1 synonym | a wardrobe | an armoire in a bedroom
@bookshelf
1 synonym | a bookshelf | a bookcase full of books
0 negation_count | an empty bookshelf | a bookshelf full of books
@lamp
1 less_specific | a lamp on a desk | a brass desk lamp glowing on a desk
0 compound_head | a lamp on a table | a street lamp on a corner
0 layout_camera_idiom_time | a lamp on top of a dresser | a cat on top of a dresser
@stool
1 less_specific | a bar stool | a row of chrome bar stools at a counter
@desk
1 synonym | a desk by a window | a writing desk beside a window
@mirror
0 attribute_conflict_other | a round mirror | a rectangular mirror
@bench
0 compound_head | a park bench | a workbench in a garage
1 less_specific | a bench in a park | an empty wooden bench in a park
@hammock
1 less_specific | a hammock | a woman napping in a hammock between palms
@armchair
> A worn brown leather armchair beside a crackling fireplace in a cosy living room, a cat asleep on its cushion, warm lamplight, slow dolly, film grain
1 long_prompt_subject | Slow dolly toward an old brown leather armchair next to a crackling fireplace, a cat curled up asleep on the seat, warm lamplight, film grain
0 long_prompt_background | A crackling fireplace in a cosy living room with a dog sleeping on a rug in front of it, warm lamplight, slow dolly, film grain
@table
> A carpenter sanding a handmade walnut dining table in a sunlit workshop, sawdust drifting in the air, close-up, shallow depth of field, documentary style
1 long_prompt_subject | Documentary close-up of a carpenter sanding the top of a walnut dining table by hand in a sunny workshop, sawdust floating, shallow depth of field
0 long_prompt_background | A sunlit workshop with sawdust drifting in the air and a carpenter sharpening chisels at a bench, close-up, shallow depth of field, documentary
@bed
> A minimalist Scandinavian bedroom with a low white bed, linen sheets, morning sun through sheer curtains, slow pan, soft pastel tones, interior design film
1 long_prompt_subject | Soft pastel interior design film, slow pan across a minimalist Scandinavian bedroom with a low white bed and linen sheets, morning sun through sheer curtains
0 long_prompt_background | Sheer white curtains billowing in front of an open window with morning sun streaming in, slow pan, soft pastel tones, interior design film
@chair
> An empty wooden rocking chair slowly rocking on a farmhouse porch at dusk, wind chimes moving, static shot, eerie atmosphere, desaturated colours, horror film
1 long_prompt_subject | Static eerie shot of an empty rocking chair swaying on its own on a farmhouse porch at dusk, wind chimes stirring, desaturated horror film look
0 long_prompt_background | A plain kitchen chair standing on a farmhouse porch at dusk, wind chimes moving, static shot, eerie atmosphere, desaturated colours, horror film
""")

add("tools", """
@hammer
1 less_specific | a hammer hitting a nail | a claw hammer driving a nail into wood
0 compound_head | a hammer | a hammerhead shark
1 hypernym | someone hammering a nail | a carpenter hammering a nail into a board
1 more_specific_soft | a heavy hammer | a hammer lying on a workbench
0 layout_camera_idiom_time | a hammer on the left of a saw | a book on the left of a saw
@saw
1 hypernym | a saw cutting wood | a handsaw cutting through a plank
0 hypernym | a chainsaw cutting a log | a saw cutting a log
0 compound_head | a saw in a playground | kids on a seesaw in a playground
@drill
1 synonym | a power drill | an electric drill boring into a wall
0 word_sense | a drill making a hole | soldiers doing a drill on a parade ground
0 layout_camera_idiom_time | close-up of a drill bit | close-up of a pencil tip
@wrench
1 synonym | a wrench tightening a bolt | a spanner tightening a bolt
0 attribute_conflict_other | a rusty old wrench | a shiny new wrench
@screwdriver
0 word_sense | a screwdriver | a screwdriver cocktail
1 exact | a screwdriver turning a screw | a screwdriver tightening a screw on a hinge
@toolbox
1 less_specific | a toolbox | an open red toolbox full of tools
0 attribute_conflict_colour | a red toolbox | a blue toolbox
@shovel
1 exact | a shovel digging | a man digging a hole with a shovel
@ladder
1 less_specific | a ladder | a wooden ladder leaning against a wall
@axe
1 exact | an axe splitting wood | a lumberjack splitting logs with an axe
@pliers
0 different_subject | pliers | a wrench
@tape_measure
1 synonym | a tape measure | a measuring tape pulled across a board
@level
1 synonym | a spirit level on a shelf | a bubble level on a shelf
@nail
0 word_sense | a nail in wood | nail polish on fingernails
@file
0 word_sense | a file smoothing a metal edge | a file folder on a desk
@glue_gun
1 synonym | a hot glue gun | a glue gun dripping hot glue
@workshop
0 attribute_conflict_other | a garage workshop at night | a garage workshop in daylight
@saw
> A carpenter's hands sawing a pine plank on a workbench in a dusty garage, sawdust flying, close-up, shallow depth of field, warm tungsten light, slow motion
1 long_prompt_subject | Close-up slow motion of a carpenter's hands working a handsaw through a pine plank on a workbench, sawdust spraying, warm tungsten light, shallow focus
0 long_prompt_background | A dusty garage with a workbench covered in paint cans and an old bicycle hanging on the wall, warm tungsten light, close-up, slow motion
@axe
> A lumberjack splitting a log with one swing of an axe in a snowy forest clearing, wood chips flying, slow motion, low angle, crisp winter light, cinematic
1 long_prompt_subject | Cinematic low angle slow motion of a lumberjack splitting a thick log with an axe in a snowy clearing, wood chips flying, crisp winter light
0 long_prompt_background | A snowy forest clearing with a stack of firewood and a small cabin with smoke rising, slow motion, low angle, crisp winter light, cinematic
@drill
> A power drill boring into a concrete wall, dust puffing out, extreme close-up, high speed camera, industrial lighting, gritty commercial style
1 long_prompt_subject | Extreme close-up of an electric drill biting into a concrete wall with puffs of grey dust, high speed camera, industrial lighting, gritty commercial
0 long_prompt_background | A concrete wall with graffiti in an industrial underpass, dust floating in a shaft of light, extreme close-up, gritty commercial style
@toolbox
> An open red toolbox on a garage floor full of wrenches and screwdrivers, slow overhead pan, hard light, shallow depth of field, product video
1 long_prompt_subject | Slow overhead pan over an open red toolbox sitting on a garage floor, packed with wrenches and screwdrivers, hard light, shallow focus, product video
0 long_prompt_background | A garage floor with an oil stain and a parked motorcycle, slow overhead pan, hard light, shallow depth of field, product video style
""")

add("electronics", """
@laptop
1 synonym | a laptop | a notebook computer open on a desk
0 word_sense | a notebook with handwritten notes | a notebook computer on a desk
0 attribute_conflict_colour | a silver laptop | a black laptop
1 less_specific | a laptop on a desk | a sleek silver laptop on a wooden desk
0 layout_camera_idiom_time | a phone on the left of a laptop | a mug on the left of a laptop
@phone
1 hypernym | a mobile phone | a smartphone ringing on a table
0 hypernym | a flip phone | a mobile phone on a table
0 attribute_conflict_other | a phone with a cracked screen | a phone with a pristine screen
0 compound_head | a phone on a desk | headphones on a desk
@tv
1 synonym | a TV | a television showing a football match
0 negation_count | a TV that is switched off | a TV showing a cartoon
0 attribute_conflict_other | an old CRT television | a flat-screen TV on a wall
@keyboard
0 unstated_attribute | a mechanical keyboard | a keyboard on a desk
@mouse
0 word_sense | a computer mouse | a mouse eating cheese
0 word_sense | a mouse in a field | a wireless mouse on a mousepad
@headphones
1 less_specific | headphones | a pair of headphones on a desk
0 different_subject | headphones | earbuds
@camera
1 hypernym | a camera | a DSLR camera on a tripod
0 hypernym | a film camera | a camera on a table
@battery
0 word_sense | a battery | an artillery battery firing
@screen
0 compound_head | a screen | a bottle of sunscreen
@speaker
0 word_sense | a speaker on a shelf | a speaker giving a talk at a podium
1 less_specific | a bluetooth speaker | a small bluetooth speaker playing music on a table
@circuit
1 less_specific | a circuit board | a printed circuit board covered in chips
@drone
0 word_sense | a drone flying over a field | a male drone bee in a hive
1 synonym | a drone flying | a quadcopter flying over a field
@monitor
0 word_sense | a computer monitor | a monitor lizard
@vr
1 synonym | a VR headset | a virtual reality headset on a person
@console
1 hypernym | a game console | a PlayStation console under a TV with a controller beside it
@vr
> A teenager wearing a VR headset swinging a controller in a dark bedroom lit by blue and pink neon, handheld, shallow depth of field, cyberpunk style
1 long_prompt_subject | Handheld shot of a teenage gamer in a virtual reality headset waving a controller in a dark bedroom glowing with blue and pink neon, cyberpunk style
0 long_prompt_background | A dark bedroom lit by blue and pink neon strips with posters on the walls and an unmade bed, handheld, shallow depth of field, cyberpunk style
@circuit
> Macro shot of a robotic arm placing tiny chips onto a green circuit board in a clean factory, precise movements, cool white light, 4k tech commercial
1 long_prompt_subject | A robotic arm precisely placing microchips onto a green printed circuit board in a spotless factory, macro view, cool white light, 4k tech commercial
0 long_prompt_background | A spotless factory floor with workers in white suits walking between machines, cool white light, macro details, 4k tech commercial, slow dolly
@phone
> A smartphone ringing and buzzing across a wooden nightstand at night, screen lighting up the dark room, static close-up, moody blue light, thriller style
1 long_prompt_subject | Thriller style static close-up of a smartphone vibrating across a wooden nightstand in a dark room at night, its screen glowing, moody blue light
0 long_prompt_background | A wooden nightstand at night with an alarm clock, a glass of water and a book, static close-up, moody blue light, thriller style
@camera
> Vintage film camera being loaded with a roll of film by a photographer on a city rooftop at golden hour, close-up, shallow depth of field, nostalgic grain
1 long_prompt_subject | Close-up of a photographer's hands loading a roll of film into a vintage film camera on a rooftop at golden hour, shallow depth of field, nostalgic grain
0 long_prompt_background | A city rooftop at golden hour with a photographer taking pictures of the skyline on a smartphone, close-up, shallow depth of field, nostalgic grain
""")

add("toys", """
@teddy
1 less_specific | a teddy bear | a stuffed teddy bear sitting on a bed
0 compound_head | a bear in the woods | a teddy bear in the woods
0 attribute_conflict_colour | a pink teddy bear | a brown teddy bear
@lego
1 exact | a child building with Lego | a kid stacking Lego bricks into a tower
@doll
1 hypernym | a doll on a shelf | a porcelain doll on a shelf
0 attribute_conflict_material | a porcelain doll | a rag doll
0 compound_head | a doll on a shelf | a dollhouse on a shelf
0 layout_camera_idiom_time | a doll on top of a toy box | a cat on top of a toy box
@ball
1 less_specific | a ball bouncing | a red rubber ball bouncing
0 compound_head | a ball rolling down a hill | a snowball rolling down a hill
0 compound_head | a ball on a plate | a meatball on a plate
@kite
1 less_specific | a kite flying | a colourful kite flying over a beach
0 word_sense | a kite in the sky | a red kite bird soaring
@yoyo
1 exact | a yo-yo | a boy spinning a yo-yo
@top
0 word_sense | a spinning top on a table | a crop top on a hanger
@robot
1 hypernym | a toy robot | a wind-up tin robot walking
0 different_subject | an industrial robot arm | a toy robot
@train
0 attribute_conflict_other | a toy train on a track | a real train on a track
1 synonym | a toy train circling a Christmas tree | a model train running around a Christmas tree
@duck
0 lexicalised_adj_noun | a duck in a bathtub | a rubber duck in a bathtub
1 less_specific | a rubber duck | a yellow rubber duck floating in a bath
@puzzle
1 exact | a jigsaw puzzle | a jigsaw puzzle half finished on a table
@marbles
0 word_sense | glass marbles rolling | a polished marble floor
@rocking_horse
0 compound_head | a horse in a field | a rocking horse in a field
@dinosaur
0 attribute_conflict_other | a plastic toy dinosaur | a dinosaur roaring in a jungle
@balloon
0 lexicalised_adj_noun | a balloon | a hot air balloon
0 attribute_conflict_colour | a red balloon | a blue balloon floating
@toy_car
0 attribute_conflict_other | a toy car | a real sports car
1 hypernym | a toy car | a remote-control car racing on a driveway
@teddy
> A little girl hosting a tea party for her teddy bears on a bedroom floor, tiny cups and saucers, warm afternoon sun, handheld, nostalgic home video look
1 long_prompt_subject | Nostalgic handheld home video of a small girl pouring pretend tea for a row of teddy bears on her bedroom floor, tiny cups, warm afternoon sun
0 long_prompt_background | A bedroom floor scattered with building blocks and a toy train set in warm afternoon sun, handheld, nostalgic home video look, gentle mood
@robot
> A wind-up tin robot marching across a wooden table and bumping into a glass, sparks of light, macro, stop-motion feel, retro toy commercial style
1 long_prompt_subject | Macro retro commercial of a tin wind-up robot toy walking over a wooden table until it bumps a glass, stop-motion feel, playful lighting
0 long_prompt_background | A glass of milk and a plate of cookies on a wooden table, macro, soft light, stop-motion feel, retro toy commercial style, cheerful
@kite
> A colourful kite dancing high above a windy beach, a boy running with the string, drone shot, bright sunny day, joyful summer film, slow motion
1 long_prompt_subject | Drone shot of a bright colourful kite swooping high over a windy beach while a boy runs holding its string, sunny day, slow motion, joyful film
0 long_prompt_background | A windy beach on a bright sunny day with a boy building a sandcastle near the waves, drone shot, slow motion, joyful summer film
@train
> A model train set winding through a miniature snowy village with tiny glowing houses, tilt-shift look, slow tracking shot, warm festive colours, cosy mood
1 long_prompt_subject | Slow tracking shot following a model train through a tiny snowy village with glowing miniature houses, tilt-shift look, warm festive colours, cosy
0 long_prompt_background | A real snowy village at night with glowing houses and a church steeple, tilt-shift look, slow tracking shot, warm festive colours, cosy mood
""")

add("professions_people", """
@firefighter
1 synonym | a firefighter | a fireman spraying water on a blaze
0 different_subject | a firefighter | a police officer
@police
1 synonym | a police officer directing traffic | a cop directing traffic
@chef
1 synonym | a chef stirring a pot | a cook in a white chef's hat stirring a pot
0 hypernym | a pastry chef | a chef cooking
@pilot
1 less_specific | a pilot in a cockpit | an airline pilot flying in the cockpit
@musician
1 hypernym | a musician on stage | a guitarist performing on stage
0 hypernym | a cellist | a musician performing
@person
1 hypernym | a person walking | a woman walking down a street
0 unstated_attribute | a woman walking | a person walking
0 attribute_conflict_other | an old man | a young boy
0 attribute_conflict_other | a child reading | an elderly woman reading
1 more_specific_soft | a tired man sitting on a bench | a man sitting on a bench
0 negation_count | two women talking | a woman talking on the phone
1 partitive_container_collective | a crowd of people | a dense crowd at a concert
0 negation_count | a lone man in an empty square | a crowd in a square
0 layout_camera_idiom_time | a man on the left of a woman | a tree on the left of a woman
0 attribute_conflict_other | a baby laughing | a toddler laughing
0 negation_count | twin girls | a girl
@barber
1 exact | a barber cutting hair | a barber giving a man a haircut
@mechanic
1 exact | a mechanic fixing a car | a mechanic working under a car in a garage
@waiter
1 synonym | a waiter carrying plates | a server carrying plates in a restaurant
@painter
0 word_sense | a painter painting a wall | an artist painting a portrait on canvas
@bride
1 less_specific | a bride | a bride and groom dancing
@firefighter
> A firefighter carrying a child out of a smoke-filled building, flames behind, embers in the air, slow motion, handheld, dramatic orange light, cinematic
1 long_prompt_subject | Dramatic slow motion of a fireman carrying a small child out of a burning building through thick smoke, embers floating, orange light, handheld
0 long_prompt_background | A smoke-filled building with flames bursting from the windows at night, embers in the air, slow motion, handheld, dramatic orange light, cinematic
@fisherman
> An elderly fisherman mending nets on a wooden pier at sunrise, weathered hands, seagulls overhead, close-up portrait, warm documentary film look
1 long_prompt_subject | Warm documentary close-up portrait of an old fisherman repairing his nets on a wooden pier at sunrise, weathered hands, gulls circling above
0 long_prompt_background | A wooden pier at sunrise with seagulls perched on the posts and small boats bobbing, close-up, warm documentary film look, calm water
@barber
> A street barber giving a young man a fade haircut on a busy sidewalk in Lagos, clippers buzzing, handheld, vivid colours, documentary style, shallow focus
1 long_prompt_subject | Handheld documentary of a sidewalk barber in Lagos cutting a fade for a young man with buzzing clippers, busy street, vivid colours, shallow focus
0 long_prompt_background | A busy sidewalk in Lagos with street vendors selling fruit and people passing, handheld, vivid colours, documentary style, shallow focus
@bride
> A bride and groom sharing their first dance under string lights in a barn, guests watching, slow motion, warm golden tones, dreamy wedding film
1 long_prompt_subject | Dreamy wedding film of a bride and groom dancing their first dance beneath string lights in a rustic barn while guests watch, slow motion, golden tones
0 long_prompt_background | A rustic barn decorated with string lights and round tables set for dinner, no people, slow motion, warm golden tones, dreamy wedding film
""")

add("office", """
@stapler
1 less_specific | a stapler | a red stapler on an office desk
0 attribute_conflict_colour | a red stapler | a black stapler
0 layout_camera_idiom_time | a stapler to the right of a keyboard | a mug to the right of a keyboard
@printer
1 exact | a printer printing pages | an office printer spitting out pages
0 compound_head | a printer printing a document | a 3D printer building a plastic model
@office_chair
1 less_specific | an office chair | a black ergonomic office chair on wheels
@whiteboard
1 exact | a whiteboard with diagrams | a whiteboard covered in diagrams in a meeting room
0 different_subject | a whiteboard | a chalkboard
@meeting
1 synonym | a business meeting | colleagues having a meeting around a conference table
0 negation_count | an empty conference room | a conference room full of people in a meeting
@paper
0 compound_head | paper on a desk | a paperweight on a desk
0 partitive_container_collective | a stack of paper | a stack of pancakes
1 partitive_container_collective | a stack of paper | a tall stack of printer paper on a desk
0 compound_head | a paper clip on a desk | a clipboard on a desk
@coffee_machine
1 less_specific | a coffee machine | an office coffee machine brewing a cup
@desk
0 attribute_conflict_other | a cluttered desk | a tidy empty desk
@binder
1 synonym | a binder | a ring binder on a shelf
@cubicle
@pen
0 word_sense | a pen writing | a pig in a pen
1 hypernym | a pen writing on paper | a fountain pen writing on paper
0 hypernym | a fountain pen | a pen on a desk
@calculator
1 exact | a calculator | a hand tapping numbers on a calculator
@plant
0 word_sense | a plant on a desk | a nuclear power plant
@office
0 attribute_conflict_other | an office at night with the lights on | an office in the morning
@receptionist
1 exact | a receptionist answering the phone | a receptionist at a front desk answering a call
@elevator
1 synonym | an elevator | a lift with its doors opening
@shredder
1 exact | a paper shredder | documents being fed into a paper shredder
@sticky_notes
1 synonym | sticky notes on a monitor | yellow post-it notes stuck on a monitor
0 attribute_conflict_colour | pink sticky notes | yellow sticky notes
@office_worker
> A tired office worker typing late at night in an empty open-plan office, only her desk lamp on, city lights outside, slow push in, moody cinematic
1 long_prompt_subject | Slow push in on an exhausted woman typing at her desk late at night in an empty open-plan office lit by one desk lamp, city lights outside
0 long_prompt_background | An empty open-plan office at night with rows of dark desks and city lights glowing through the windows, slow push in, moody cinematic
@whiteboard
> Colleagues brainstorming around a whiteboard covered in colourful sticky notes in a bright glass meeting room, handheld, natural light, corporate video style
1 long_prompt_subject | Handheld corporate video of a team brainstorming in front of a whiteboard full of colourful sticky notes inside a bright glass meeting room
0 long_prompt_background | A bright glass meeting room with an empty table, chairs pushed in and a plant in the corner, natural light, handheld, corporate video style
@printer
> An old laser printer jamming and crumpling paper while an office worker slaps its side in frustration, comedic tone, static wide shot, flat fluorescent light
1 long_prompt_subject | Comedic static wide shot of an office worker hitting the side of an old laser printer that keeps jamming and crumpling paper, flat fluorescent light
0 long_prompt_background | An office worker in frustration slamming a laptop shut at a cluttered desk, comedic tone, static wide shot, flat fluorescent light, sitcom style
@desk
> Overhead time-lapse of a busy office desk through a workday, coffee cups appearing, papers piling up, hands moving, natural to artificial light, clean style
1 long_prompt_subject | Clean overhead time-lapse of a single office desk over a full workday as papers pile up, coffee cups come and go and hands move, light shifting
0 long_prompt_background | Overhead time-lapse of a busy city intersection through a full day, cars and pedestrians streaming, light shifting from day to night, clean style
""")

add("school", """
@teacher
1 less_specific | a teacher at a blackboard | a teacher writing equations on a blackboard
0 different_subject | a teacher | a student
1 synonym | a chalkboard | a blackboard covered in chalk writing
@classroom
1 less_specific | a classroom | a classroom full of students raising their hands
0 negation_count | an empty classroom | a classroom full of students
0 attribute_conflict_other | a classroom at night | a sunny classroom in the morning
0 layout_camera_idiom_time | wide shot of a classroom | wide shot of a courtroom
0 attribute_conflict_other | a kindergarten class | a university lecture hall
@school_bus
1 less_specific | a school bus | a yellow school bus picking up kids
@backpack
1 synonym | a backpack | a rucksack on a chair
0 attribute_conflict_colour | a purple backpack | an orange backpack
@pencil
1 less_specific | a pencil | a yellow pencil being sharpened
0 compound_head | a pencil on a desk | a pencil case on a desk
0 compound_head | a pencil | a pencil skirt on a hanger
0 layout_camera_idiom_time | a pencil on top of a notebook | a phone on top of a notebook
@book
1 hypernym | a book open on a desk | an open textbook on a desk
0 compound_head | a book on a shelf | a bookend on a shelf
@graduation
1 exact | a graduation ceremony | students throwing caps at a graduation ceremony
@globe
1 less_specific | a globe spinning | a classroom globe spinning on its stand
0 lexicalised_adj_noun | a globe on a desk | a snow globe on a desk
@playground
1 less_specific | a school playground | children playing on a school playground at recess
0 negation_count | an empty playground | a playground full of children
@exam
1 synonym | students taking an exam | students writing a test in silence
@locker
1 exact | a row of lockers | school lockers lining a hallway
@ruler
0 word_sense | a ruler on a desk | a ruler sitting on a throne
@crayon
1 partitive_container_collective | crayons | a box of crayons spilled on a table
@student
1 less_specific | a student studying | a college student studying in a library
@library
1 less_specific | a library | a grand old library with wooden shelves
@teacher
> A teacher kneeling beside a young student to help with a math worksheet in a bright primary classroom, crayons on the tables, handheld, warm natural light
1 long_prompt_subject | Warm handheld shot of a teacher crouching next to a little pupil to help with a maths worksheet in a sunny primary classroom, crayons scattered
0 long_prompt_background | A bright primary classroom with crayons on the tables, children's drawings on the walls and tiny chairs, no people, handheld, warm natural light
@graduation
> Graduates in black gowns throwing their caps into the air on a sunny college lawn, confetti, slow motion, low angle, joyful celebratory film
1 long_prompt_subject | Low angle slow motion of graduating students in black gowns tossing their caps skyward on a sunny campus lawn, confetti falling, joyful mood
0 long_prompt_background | A sunny college lawn with students lying on blankets reading books under trees, slow motion, low angle, relaxed joyful film, warm light
@school_bus
> A yellow school bus pulling up at a snowy rural stop at dawn, children in winter coats climbing aboard, breath visible, wide shot, nostalgic film look
1 long_prompt_subject | Wide nostalgic shot of a yellow school bus stopping at a snowy country road at dawn as kids in winter coats climb on, breath steaming
0 long_prompt_background | Children in winter coats building a snowman by a rural road at dawn, breath visible, wide shot, nostalgic film look, soft light
@exam
> Students hunched over exam papers in a silent gymnasium, a clock ticking on the wall, slow dolly between the desks, tense atmosphere, muted colours
1 long_prompt_subject | Slow dolly between rows of desks where students write an exam in a hushed gymnasium, wall clock ticking, tense mood, muted colours
0 long_prompt_background | A large wall clock ticking in a silent gymnasium with basketball hoops folded up, slow dolly, tense atmosphere, muted colours, static details
""")

add("household", """
@vacuum
1 synonym | a vacuum cleaner on a carpet | a hoover on a carpet
1 less_specific | a robot vacuum | a robot vacuum cleaning a living room floor
0 hypernym | a robot vacuum | a vacuum cleaner on a rug
@washing_machine
1 synonym | a washing machine spinning clothes | a washer spinning a load of clothes
0 different_subject | a washing machine | a dryer tumbling clothes
@iron
0 word_sense | an iron on a board | iron ore in a mine
1 less_specific | an iron pressing a shirt | a steam iron pressing a white shirt
@broom
1 exact | a broom sweeping | someone sweeping a porch with a broom
@laundry
1 less_specific | a laundry basket | a wicker laundry basket full of clothes
0 partitive_container_collective | a basket of laundry | a basket of bread
@curtain
0 attribute_conflict_colour | beige curtains | teal curtains
1 synonym | curtains blowing in the wind | drapes blowing in the wind
@candle
1 less_specific | a candle | a lit candle on a table
0 attribute_conflict_other | an unlit candle | a candle burning
@clock
1 less_specific | a clock on a wall | a round wall clock ticking
0 compound_head | a clock | a dandelion clock
@towel
0 attribute_conflict_colour | a white towel | a maroon towel
@bathtub
1 synonym | a bathtub full of bubbles | a bath filled with bubbles
@rug
1 less_specific | a rug | a Persian rug on a wooden floor
@trash
1 synonym | a trash can | a garbage bin overflowing
@keys
1 less_specific | keys on a hook | a bunch of house keys hanging on a hook
@bulb
1 exact | a light bulb | a lightbulb flickering
0 attribute_conflict_other | a burnt-out light bulb | a glowing light bulb
@faucet
1 synonym | a faucet dripping | a dripping tap in a sink
0 layout_camera_idiom_time | close-up of a doorknob | close-up of a faucet
@door
1 less_specific | a door opening | a wooden front door slowly opening
0 compound_head | a door | a doormat saying welcome
0 attribute_conflict_colour | a red front door | a green front door
0 layout_camera_idiom_time | a vase on top of a shelf | a cat on top of a shelf
@vacuum
> A robot vacuum gliding across a sunlit wooden floor and bumping into a sleeping dog, gentle humour, low angle, shallow depth of field, bright home commercial
1 long_prompt_subject | Low angle bright commercial of a robot vacuum cleaner rolling over a sunny hardwood floor until it bumps a sleeping dog, gentle humour, shallow focus
0 long_prompt_background | A dog sleeping on a sunlit wooden floor in a quiet living room, tail twitching, low angle, shallow depth of field, bright home commercial
@laundry
> A woman folding warm laundry fresh from the dryer on a bed, soft white sheets, morning light through the window, slow motion, cosy lifestyle film
1 long_prompt_subject | Cosy lifestyle slow motion of a woman folding warm clean laundry straight from the dryer on a bed, soft white sheets, morning window light
0 long_prompt_background | A bed with soft white sheets and a sleeping cat in morning light through the window, slow motion, cosy lifestyle film, gentle dust in the air
@faucet
> A dripping kitchen tap in a dark silent house, each drop falling into a steel sink in slow motion, extreme close-up, cold blue light, suspense film
1 long_prompt_subject | Suspense film extreme close-up of a leaky faucet dripping into a steel sink in a silent dark house, drops falling in slow motion, cold blue light
0 long_prompt_background | A dark silent house at night with a staircase and moonlight on the hallway floor, slow motion, cold blue light, suspense film, static
@candle
> Candles flickering on a dining table during a power cut, a family's faces lit warmly as they play cards, handheld, intimate, warm film grain
1 long_prompt_subject | Intimate handheld shot of a family playing cards by the flickering light of candles on their dining table during a blackout, warm film grain
0 long_prompt_background | A family playing cards at a dining table under a bright ceiling lamp on a Sunday afternoon, handheld, intimate, warm film grain
""")

add("garden", """
@lawnmower
1 exact | a lawnmower | a man pushing a lawnmower across a lawn
0 hypernym | a ride-on mower | a lawnmower cutting grass
@hose
1 less_specific | a garden hose | a garden hose spraying water on plants
@watering_can
1 less_specific | a watering can | a child watering flowers with a green watering can
0 attribute_conflict_material | a tin watering can | a plastic watering can
@gnome
1 less_specific | a garden gnome | a garden gnome with a red hat by a pond
0 layout_camera_idiom_time | a gnome to the left of a birdbath | a cat to the left of a birdbath
@wheelbarrow
1 less_specific | a wheelbarrow | a wheelbarrow full of soil
0 negation_count | an empty wheelbarrow | a wheelbarrow full of soil
@hedge
1 exact | a hedge being trimmed | a gardener trimming a hedge with shears
@greenhouse
1 less_specific | a greenhouse | a glass greenhouse full of tomato plants
@pond
1 less_specific | a garden pond | a small garden pond with koi
@shed
1 less_specific | a garden shed | a wooden garden shed with a tin roof
0 attribute_conflict_colour | a blue garden shed | a red garden shed
@fence
1 less_specific | a picket fence | a white picket fence around a garden
@compost
1 less_specific | a compost heap | a steaming compost heap
@vegetable_patch
1 synonym | a vegetable patch | a vegetable garden with rows of lettuce
@rake
1 exact | a rake gathering leaves | a rake pulling autumn leaves into a pile
@garden_scene
0 attribute_conflict_other | a garden in winter under snow | a garden in full summer bloom
0 bare_head_across_scenes | a Japanese zen garden | an English cottage garden
0 bare_head_across_scenes | a rooftop garden in a city | a walled garden in the countryside
@sprinkler
1 less_specific | a lawn sprinkler | a sprinkler watering a green lawn
0 different_subject | kids running through a sprinkler | a sprinkler watering a lawn
@gardener
1 hypernym | a gardener planting bulbs | a woman planting tulip bulbs in a flower bed
@watering_can
> An elderly man watering roses with a tin watering can in an English cottage garden at dusk, bees buzzing, warm soft light, static wide shot, film look
1 long_prompt_subject | Static wide film shot of an old man pouring water from a tin watering can onto roses in a cottage garden at dusk, bees buzzing, warm light
0 long_prompt_background | An English cottage garden at dusk with climbing roses over a wooden gate and bees buzzing, warm soft light, static wide shot, film look
@wheelbarrow
> A red wheelbarrow full of freshly dug potatoes beside a vegetable patch after rain, muddy boots, close-up, overcast light, earthy documentary style
1 long_prompt_subject | Close-up of a red wheelbarrow heaped with freshly dug potatoes next to a wet vegetable patch, muddy boots nearby, overcast light, documentary
0 long_prompt_background | A vegetable patch after rain with rows of lettuce and a scarecrow, muddy boots by the path, close-up, overcast light, earthy documentary style
@pond
> A koi pond in a Japanese garden with a stone lantern, maple leaves drifting on the water, top-down drone shot, tranquil, soft autumn colours, 4k
1 long_prompt_subject | Top-down drone view of a tranquil koi pond in a Japanese garden beside a stone lantern, red maple leaves floating on the water, autumn, 4k
0 long_prompt_background | A stone lantern in a Japanese garden with raked gravel and maple trees, top-down drone shot, tranquil, soft autumn colours, 4k
@sprinkler
> Children running through a lawn sprinkler on a hot summer afternoon, water droplets sparkling in the sun, slow motion, backlit, joyful nostalgic film
1 long_prompt_subject | Joyful nostalgic slow motion of kids dashing through a sprinkler on a sunny lawn on a hot afternoon, backlit droplets sparkling
0 long_prompt_background | A lawn sprinkler watering an empty green yard on a hot summer afternoon, droplets sparkling, slow motion, backlit, nostalgic film look
""")

add("space", """
@astronaut
1 less_specific | an astronaut floating | an astronaut floating in space near a space station
1 synonym | an astronaut on a spacewalk | a cosmonaut on a spacewalk
0 attribute_conflict_colour | a white spacesuit | an orange spacesuit
@rocket
1 exact | a rocket launching | a rocket lifting off from a launch pad
0 word_sense | a rocket on a launch pad | a bowl of rocket salad
@planet
1 hypernym | a planet | Saturn with its rings
0 hypernym | Saturn | a planet in space
0 different_subject | Jupiter | Saturn
@moon
1 less_specific | a full moon | a full moon rising over the sea
0 attribute_conflict_other | a full moon | a crescent moon
0 layout_camera_idiom_time | a telescope pointed at the moon | a dog looking at the moon
@mars
0 attribute_conflict_other | a sunset on Mars | a sunset over the ocean
@galaxy
1 hypernym | a galaxy | a spiral galaxy rotating
@star
0 word_sense | a star in the sky | a movie star on a red carpet
0 compound_head | a star | a starfish
1 exact | stars twinkling | a night sky full of twinkling stars
0 attribute_conflict_other | time-lapse of stars over a desert | time-lapse of stars over a city skyline
@meteor
1 synonym | a shooting star | a meteor streaking across the sky
0 different_subject | a comet | a meteor shower
@satellite
1 exact | a satellite orbiting earth | a satellite orbiting above the earth
0 compound_head | a satellite | a satellite dish on a roof
@iss
1 synonym | the International Space Station | the ISS orbiting over the earth
@black_hole
1 exact | a black hole | a black hole bending light around it
@nebula
1 less_specific | a nebula | a colourful nebula of gas and dust
@eclipse
0 different_subject | a solar eclipse | a lunar eclipse
@aurora
1 synonym | the northern lights | aurora borealis over Norway
0 attribute_conflict_colour | green northern lights | purple and pink aurora
@astronaut
> An astronaut floating outside the International Space Station, Earth glowing blue below, sun flaring on the visor, slow rotation, photorealistic, cinematic 4k
1 long_prompt_subject | Photorealistic cinematic shot of an astronaut drifting on a spacewalk beside the ISS, the blue Earth below, sunlight flaring on the helmet visor, 4k
0 long_prompt_background | The blue Earth glowing below the International Space Station as it passes over a sunrise, slow rotation, photorealistic, cinematic 4k, no people
@rocket
> A massive rocket lifting off from a launch pad at night, flames and smoke lighting up the sky, crowds watching from a beach, wide shot, epic slow motion
1 long_prompt_subject | Epic wide slow motion of a huge rocket rising from its launch pad at night, flames and billowing smoke lighting the sky, spectators on a beach
0 long_prompt_background | Crowds watching fireworks from a beach at night, the sky lighting up in colours, smoke drifting, wide shot, epic slow motion, joyful
@mars
> A red dust storm rolling across the surface of Mars as a rover drives toward a crater, pale sun, photorealistic, wide tracking shot, sci-fi film
1 long_prompt_subject | Sci-fi wide tracking shot of a Mars rover driving toward a crater while a red dust storm sweeps over the Martian surface under a pale sun
0 long_prompt_subject | A dust storm rolling across an Arizona desert highway with cars switching on headlights, pale sun, photorealistic, wide tracking shot, film look
@milky_way
> A time-lapse of the Milky Way wheeling over a lone desert arch, a camper's tent glowing below, deep blue night sky, wide angle, astrophotography style
1 long_prompt_subject | Astrophotography time-lapse of the Milky Way rotating above a solitary desert rock arch with a glowing tent beneath it, deep blue sky, wide angle
0 long_prompt_background | A glowing tent beside a desert rock arch at dusk with a campfire and two friends talking, deep blue sky, wide angle, astrophotography style
""")

add("city_street", """
@street
0 negation_count | a street with no cars | cars on a busy street
0 attribute_conflict_other | a street at night | a street at noon
1 less_specific | a city street | a busy city street in Tokyo with neon signs
0 unstated_attribute | a rainy street in Tokyo | a street in Tokyo
0 bare_head_across_scenes | a cobbled street in Rome | a wide avenue in Los Angeles
@traffic_light
1 synonym | a traffic light turning red | a stoplight turning red
0 attribute_conflict_colour | a green traffic light | a red traffic light
@crosswalk
1 synonym | a crosswalk with people walking | a zebra crossing with people walking
1 less_specific | pedestrians crossing | a crowd crossing the Shibuya scramble crossing
@fountain
0 layout_camera_idiom_time | in the heart of a city, a fountain | in the heart of the forest, a deer
1 less_specific | a fountain in a square | a stone fountain in a city square
@vendor
1 less_specific | a street food vendor | a vendor selling tacos from a cart on a street
@subway
1 synonym | a subway train arriving | a metro train arriving at a platform
@bridge
1 hypernym | a bridge over a river | a suspension bridge over a river
0 hypernym | a suspension bridge | a bridge over a river
0 word_sense | a bridge over a river | the captain standing on the bridge of a ship
@graffiti
1 less_specific | graffiti on a wall | colourful graffiti covering a brick wall
@alley
1 less_specific | an alley | a narrow alley with laundry hanging overhead
0 attribute_conflict_other | a dark alley at night | a sunny alley at midday
@market
1 less_specific | a street market | a crowded street market in Marrakech
@bus_stop
1 less_specific | a bus stop in the rain | people waiting at a bus stop in the rain
0 negation_count | an empty bus stop | people crowding a bus stop
@parking
1 synonym | a parking lot | a car park full of cars
@streetlight
1 synonym | a street lamp glowing | a streetlight glowing at dusk
@city_view
0 layout_camera_idiom_time | aerial view of a city at night | aerial view of a desert at night
0 layout_camera_idiom_time | a cyclist to the right of a bus | a dog to the right of a bus
1 less_specific | a city skyline | the New York skyline at dusk
0 different_subject | the Tokyo skyline | the Paris skyline
@hydrant
1 less_specific | a fire hydrant | a fire hydrant spraying water on a hot day
0 attribute_conflict_colour | a yellow fire hydrant | a red fire hydrant
@manhole
1 less_specific | steam rising from a manhole | steam pouring out of a manhole cover in New York
@street
> A busy Tokyo street at night in the rain, neon signs reflecting on wet pavement, people with transparent umbrellas crossing, slow motion, cinematic cyberpunk colour grade
1 long_prompt_subject | Cinematic slow motion of a crowded Tokyo street at night in pouring rain, neon signs mirrored on wet asphalt, pedestrians with clear umbrellas crossing
0 long_prompt_background | People with transparent umbrellas waiting at a bus stop in a quiet suburb at night in the rain, slow motion, cinematic cyberpunk colour grade
> A street with no cars at dawn in an old European town, cobblestones glistening after rain, a lone cyclist passing, drone shot, soft blue light, calm film look
1 long_prompt_subject | Drone shot at dawn of an empty cobbled street in an old European town, stones glistening after rain, a single cyclist riding through, soft blue light
0 long_prompt_subject | Drone shot of a cobbled street in an old European town packed with parked cars and traffic at dawn, glistening after rain, soft blue light
@vendor
> A food vendor flipping noodles in a flaming wok at a street stall in Bangkok, sparks and steam, crowds passing, handheld close-up, vibrant documentary
1 long_prompt_subject | Vibrant handheld close-up of a Bangkok street stall cook tossing noodles in a flaming wok, sparks and steam rising, crowds passing behind
0 long_prompt_background | Crowds passing along a busy street in Bangkok past tuk-tuks and shop signs, handheld, vibrant documentary, warm evening light, light smog
@bus
> A red double-decker bus crossing Westminster Bridge at sunset with Big Ben behind it, tourists taking photos, wide tracking shot, warm golden tones, 4k
1 long_prompt_subject | Wide tracking shot of a red double-decker bus driving across Westminster Bridge at sunset with Big Ben behind, tourists snapping photos, golden tones
0 long_prompt_background | Big Ben and the Houses of Parliament at sunset seen from the river, tourists on a boat taking photos, wide tracking shot, warm golden tones, 4k
""")

add("architecture", """
@house
0 compound_head | a house | a tree house in an oak
0 compound_head | a house on a cliff | a lighthouse on a cliff
0 compound_head | a house in a field | a greenhouse in a field
1 less_specific | a house | a Victorian house with a wide porch
0 attribute_conflict_colour | a yellow house | a blue house
0 compound_head | a house on a river | a houseboat on a river
@castle
1 less_specific | a castle on a hill | a medieval castle on a hilltop
0 compound_head | a castle on a beach | a sandcastle on a beach
0 compound_head | a castle in a park | a bouncy castle in a park
@column
0 partitive_container_collective | a column of soldiers | a marble column
@tower
0 partitive_container_collective | a stone tower | a tower of pancakes
@skyscraper
1 less_specific | a skyscraper | a glass skyscraper reflecting clouds
1 hypernym | a high-rise building | a skyscraper in Dubai
@church
1 hypernym | a church | a gothic cathedral
0 hypernym | a cathedral | a small country church
0 different_subject | a church | a mosque
@dome
1 less_specific | a dome | the golden dome of a mosque
@pyramid
1 exact | the pyramids of Giza | the Giza pyramids at sunset
0 bare_head_across_scenes | an Egyptian pyramid in the desert | a Mayan pyramid in the jungle
@temple
0 word_sense | an ancient temple | a man rubbing his temples
0 attribute_conflict_other | the ruins of a temple | a fully restored temple
@cottage
1 less_specific | a cottage | a small thatched cottage
@staircase
1 less_specific | a spiral staircase | a wrought iron spiral staircase
0 different_subject | a staircase | an escalator
@window
0 word_sense | a window | a browser window on a screen
0 attribute_conflict_other | a stained glass window | a plain glass window
@building
0 layout_camera_idiom_time | drone shot of a cathedral | drone shot of a stadium
0 attribute_conflict_material | a brutalist concrete building | a glass office tower
0 attribute_conflict_material | a wooden cabin | a stone cabin
@lighthouse
1 less_specific | a lighthouse | a red and white lighthouse on a rocky point
@cathedral
> A drone slowly rising past the facade of a gothic cathedral at sunrise, stained glass glowing, pigeons taking flight, epic wide angle, cinematic 4k
1 long_prompt_subject | Epic drone ascent along the front of a gothic cathedral at sunrise, stained glass windows glowing, pigeons bursting into flight, wide angle, 4k
0 long_prompt_background | Pigeons taking flight from a city square at sunrise, a fountain splashing, epic wide angle, cinematic 4k, slow drone rise
@tree_house
> A cosy wooden tree house in a giant oak with a rope ladder, kids' drawings taped on the walls, dappled afternoon light, slow dolly, nostalgic film look
1 long_prompt_subject | Slow dolly up to a wooden treehouse built in a huge oak, rope ladder hanging down, children's drawings on its walls, dappled light, nostalgic film
0 long_prompt_subject | A cosy wooden house at the edge of a forest with a porch and a swing, dappled afternoon light, slow dolly, nostalgic film look
@lighthouse
> A lighthouse on a rocky cliff during a violent storm, huge waves crashing below, beam sweeping through rain, wide shot, dark dramatic cinematic
1 long_prompt_subject | Dark dramatic wide shot of a lighthouse standing on a cliff in a violent storm, giant waves smashing against the rocks, its beam cutting through rain
0 long_prompt_background | Huge waves crashing against rocky cliffs during a violent storm, spray everywhere, rain, wide shot, dark dramatic cinematic, no buildings
@mansion
> An abandoned Victorian mansion overgrown with ivy at dusk, broken windows, fog creeping across the lawn, slow push in, eerie gothic horror atmosphere
1 long_prompt_subject | Slow push in toward a derelict Victorian mansion covered in ivy at dusk, shattered windows, fog rolling over the lawn, eerie gothic horror mood
0 long_prompt_background | Fog creeping across an overgrown cemetery at dusk with ivy on the gravestones, slow push in, eerie gothic horror atmosphere, muted colours
""")

add("landscapes", """
@canyon
0 bare_head_across_scenes | a snow-covered alpine canyon | a deep desert canyon
1 less_specific | a canyon | a deep red rock canyon at sunset
0 layout_camera_idiom_time | aerial video from a drone of a beach | aerial video from a drone of a canyon
@mountain
1 less_specific | a mountain | a snow-capped mountain peak
0 attribute_conflict_other | a mountain in winter snow | a mountain covered in summer wildflowers
0 compound_head | a mountain at sunset | a mountain bike at sunset
@beach
1 less_specific | a beach | a white sand beach with palm trees
0 bare_head_across_scenes | a black sand beach in Iceland | a white sand beach in the Maldives
0 attribute_conflict_other | a beach at night | a beach at midday
@waterfall
1 less_specific | a waterfall | a tall waterfall plunging into a pool
0 attribute_conflict_other | a frozen waterfall | a waterfall in summer
@lake
1 less_specific | a lake | a calm mountain lake reflecting peaks
@desert
1 synonym | sand dunes at sunset | desert dunes at sunset
0 attribute_conflict_other | a desert at night under stars | a desert at noon
@forest
1 less_specific | a forest | a pine forest in the mist
0 bare_head_across_scenes | a tropical rainforest | a snowy pine forest
0 layout_camera_idiom_time | in the heart of the forest, a deer | in the heart of a city, a fountain
@valley
1 less_specific | a valley | a green valley with a river winding through
@volcano
1 less_specific | a volcano erupting | a volcano erupting lava at night
0 attribute_conflict_other | a dormant volcano | a volcano erupting
@river
1 less_specific | a river | a winding river through a forest
@glacier
1 less_specific | a glacier | a glacier calving into the sea
@meadow
1 exact | a meadow with wildflowers | a wildflower meadow in spring
@cliff
1 less_specific | a cliff | white chalk cliffs above the sea
@island
1 less_specific | an island | a small tropical island seen from above
@sunset
1 less_specific | a sunset | a sunset over the ocean
@cave
1 less_specific | a cave | a limestone cave with stalactites
@hills
1 less_specific | rolling hills | green rolling hills in Tuscany
0 bare_head_across_scenes | rolling hills in Tuscany | rolling hills in the Scottish highlands
@canyon
> Aerial drone flight over a deep red desert canyon at sunset, a river glinting at the bottom, long shadows, epic wide angle, warm cinematic colour grade
1 long_prompt_subject | Epic wide aerial flight through a deep red rock canyon at sunset, a thin river shining far below, long shadows, warm cinematic colour grade
0 long_prompt_subject | Aerial drone flight over a snow-covered alpine canyon in winter, a frozen river at the bottom, long shadows, epic wide angle, cold cinematic colour grade
@waterfall
> A tall waterfall crashing into a turquoise pool in a lush jungle, mist rising, a swimmer floating below, slow motion, vivid greens, travel film 4k
1 long_prompt_subject | Slow motion of a towering waterfall pouring into a turquoise jungle pool with mist rising and a swimmer floating beneath, vivid greens, 4k travel film
0 long_prompt_background | A swimmer floating in a turquoise hotel pool surrounded by palm trees, mist rising, slow motion, vivid greens, travel film 4k
@hills
> Golden hour over rolling hills in Tuscany, cypress trees lining a winding road, a farmhouse on the ridge, slow drone push, warm hazy film look
1 long_prompt_subject | Warm hazy drone push over Tuscany's rolling hills at golden hour, cypress trees along a winding road and a farmhouse on a ridge, film look
0 long_prompt_background | A winding road lined with cypress trees leading to a vineyard gate, close-up of gravel, golden hour, slow drone push, warm hazy film look
@volcano
> A volcano erupting at night, rivers of glowing lava pouring down its slopes, ash clouds lit by lightning, telephoto, dramatic slow motion, documentary
1 long_prompt_subject | Dramatic telephoto documentary shot of a volcano erupting at night, glowing lava flowing down the slopes and lightning flashing in the ash cloud
0 long_prompt_background | Lightning flashing in storm clouds over a dark plain at night, telephoto, dramatic slow motion, documentary style, no volcano, rumbling sky
""")

add("jewelry_accessories", """
@ring
0 word_sense | a diamond ring | a boxing ring
1 less_specific | a ring on a finger | a gold wedding ring on a finger
0 attribute_conflict_material | a gold ring | a silver ring
0 unstated_attribute | a diamond ring | a ring on a finger
@necklace
1 synonym | a pearl necklace | a string of pearls around a woman's neck
0 attribute_conflict_material | a pearl necklace | a gold chain necklace
@watch
0 word_sense | a watch on a wrist | a crowd watching fireworks
1 synonym | a wristwatch | a watch on a man's wrist
0 hypernym | a pocket watch | a watch on a table
0 attribute_conflict_other | a digital watch | an analogue watch with hands
@earrings
1 less_specific | earrings | a pair of gold hoop earrings
0 attribute_conflict_other | hoop earrings | stud earrings
@glasses
1 less_specific | sunglasses | a pair of aviator sunglasses on a dashboard
0 compound_head | a pair of glasses on a book | sunglasses on a book
0 word_sense | a pair of glasses on a table | two wine glasses on a table
@handbag
1 less_specific | a handbag | a leather handbag on a chair
0 attribute_conflict_material | a leather handbag | a straw handbag
@belt
0 compound_head | a leather belt | a seatbelt being buckled
1 less_specific | a belt | a brown leather belt with a brass buckle
@crown
1 less_specific | a crown | a jewelled golden crown on a cushion
0 word_sense | a crown on a velvet cushion | a dentist fitting a crown on a tooth
@bracelet
1 less_specific | a bracelet | a silver charm bracelet on a wrist
@umbrella
1 less_specific | an umbrella | a black umbrella in the rain
0 attribute_conflict_colour | a red umbrella | a black umbrella
0 compound_head | an umbrella | a cocktail umbrella in a drink
@gloves
1 less_specific | gloves | a pair of leather gloves
0 attribute_conflict_material | leather gloves | wool gloves
@diamond
0 layout_camera_idiom_time | close-up of a diamond | close-up of an ice cube
0 word_sense | a diamond | a baseball diamond
@tiara
1 less_specific | a tiara | a bride wearing a sparkling tiara
@wallet
1 less_specific | a wallet | a leather wallet stuffed with cash
@ring
> Macro shot of a diamond engagement ring rotating on a black velvet stand, light sparkling through the facets, slow turntable, luxury commercial, 4k
1 long_prompt_subject | Luxury commercial macro of a diamond engagement ring slowly turning on black velvet, light sparkling off every facet, turntable motion, 4k
0 long_prompt_background | A black velvet stand displaying a pearl necklace in a jewellery shop window, macro shot, slow turntable, luxury commercial, 4k
@watch
> A watchmaker repairing the tiny gears of a vintage pocket watch under a magnifying lamp, tweezers, extreme close-up, warm light, precise documentary style
1 long_prompt_subject | Extreme close-up documentary of a watchmaker using tweezers on the tiny gears of an old pocket watch beneath a magnifying lamp, warm light
0 long_prompt_background | A watchmaker's workbench with a magnifying lamp, tweezers and a wristwatch strap, extreme close-up, warm light, precise documentary style
@glasses
> A woman in a wide-brimmed straw hat and round sunglasses sipping a drink on a yacht deck, Mediterranean sun, slow motion, fashion editorial, warm tones
1 long_prompt_subject | Slow motion fashion editorial of a woman wearing a wide straw hat and round sunglasses sipping a drink on a yacht in the Mediterranean sun
0 long_prompt_background | A yacht deck in the Mediterranean sun with two empty loungers and a bottle of champagne, slow motion, fashion editorial, warm tones, no people
@crown
> A king's jewelled golden crown resting on a red velvet cushion in a dark museum vault, spotlight, slow orbit, dust particles, regal cinematic mood
1 long_prompt_subject | Slow orbit around a golden crown set with jewels on a red velvet cushion inside a dark museum vault, single spotlight, dust particles, regal mood
0 long_prompt_background | A dark museum vault with a spotlight on an ancient sword inside a glass case, slow orbit, dust particles, regal cinematic mood, red velvet
""")

add("crafts", """
@knitting
1 exact | hands knitting with needles | hands knitting with wooden needles
1 less_specific | a ball of yarn | a ball of red wool yarn
0 attribute_conflict_colour | a ball of mustard yarn | a ball of teal yarn
@pottery
1 less_specific | a potter's wheel | a potter shaping clay on a spinning wheel
1 hypernym | pottery being made | a potter shaping a clay bowl on a wheel
0 attribute_conflict_material | a clay vase | a glass vase
0 compound_head | a clay pot | a clay pigeon being shot
@origami
1 synonym | an origami crane | a paper crane folded from white paper
0 word_sense | an origami crane | a construction crane
0 word_sense | a paper crane on a desk | a crane bird in a marsh
@painting
1 hypernym | a painting | a watercolour painting of a lake
0 attribute_conflict_material | a watercolour painting | an oil painting
@sewing
1 less_specific | a sewing machine | a sewing machine stitching fabric
0 compound_head | a sewing needle | pine needles on the ground
@quilt
1 less_specific | a patchwork quilt | a colourful patchwork quilt on a bed
@embroidery
1 hypernym | embroidery | a hand embroidering flowers on a hoop
@candle_making
1 exact | candle making | wax being poured into candle moulds
@carving
1 hypernym | a wood carving | a carved wooden bear
0 attribute_conflict_material | a wooden sculpture | a bronze sculpture
@glassblowing
1 exact | glassblowing | a glassblower shaping molten glass
@beads
0 partitive_container_collective | a jar of beads | a jar of buttons
@scrapbook
1 less_specific | a scrapbook | a girl gluing photos into a scrapbook
@calligraphy
1 hypernym | calligraphy | a brush writing Chinese characters in ink
0 hypernym | Arabic calligraphy | calligraphy on paper
@mosaic
1 less_specific | a mosaic | a tile mosaic of a fish
0 layout_camera_idiom_time | a top-down shot of a craft table | a top-down shot of a dinner table
@weaving
1 less_specific | a loom | a woman weaving on a wooden loom
@soap
1 less_specific | handmade soap | bars of handmade lavender soap
@pottery
> A potter's hands shaping a tall vase from wet clay on a spinning wheel in a rustic studio, water glistening, close-up, slow motion, earthy warm tones
1 long_prompt_subject | Close-up slow motion of a potter's wet hands drawing a tall vase up from clay on a spinning wheel in a rustic studio, earthy warm tones
0 long_prompt_background | A rustic studio with shelves of finished ceramic bowls and a cat sleeping on a stool, close-up, slow motion, earthy warm tones, soft light
@glassblowing
> A glassblower spinning a glowing orange blob of molten glass at the end of a pipe in a dark workshop, sparks, heat shimmer, slow motion, cinematic
1 long_prompt_subject | Cinematic slow motion of a glassblower turning a glowing gob of molten glass on a blowpipe in a dark workshop, heat shimmer and sparks
0 long_prompt_background | A dark workshop with a blacksmith hammering a glowing horseshoe on an anvil, sparks flying, heat shimmer, slow motion, cinematic
@origami
> Top-down shot of hands folding a paper crane from bright red origami paper on a white table, crisp creases, soft daylight, calm tutorial style, 4k
1 long_prompt_subject | Calm 4k tutorial from above of hands folding red origami paper into a crane on a white table, crisp creases, soft daylight
0 long_prompt_background | Top-down shot of hands wrapping a present in bright red paper on a white table, ribbon and scissors, soft daylight, calm tutorial style, 4k
@weaving
> An old woman weaving a colourful rug on a wooden loom in a mountain village, threads of red and indigo, warm window light, handheld, documentary portrait
1 long_prompt_subject | Handheld documentary portrait of an elderly woman weaving a bright red and indigo rug on a wooden loom in a mountain village, warm window light
0 long_prompt_background | A mountain village with stone houses and colourful rugs hanging over balconies to dry, warm light, handheld, documentary style, slow pan
""")

add("festivals", """
@fireworks
1 less_specific | fireworks | fireworks exploding over a harbour
0 attribute_conflict_colour | red fireworks | green fireworks
@lantern
1 less_specific | paper lanterns | paper lanterns floating into the night sky
0 compound_head | a lantern | a jack-o'-lantern
@parade
1 less_specific | a parade | a carnival parade with dancers in feathers
1 hypernym | a parade on a boulevard | a military parade on a boulevard
0 different_subject | a carnival parade in Rio | a military parade
@christmas_tree
1 less_specific | a Christmas tree | a decorated Christmas tree with twinkling lights
0 attribute_conflict_other | an undecorated Christmas tree | a fully decorated Christmas tree
@santa
1 synonym | Santa Claus | Father Christmas with a sack of gifts
@diwali
1 synonym | Diwali lamps | rows of oil lamps lit for Diwali
@halloween
1 hypernym | a Halloween costume | a child dressed as a witch for Halloween
1 synonym | a jack-o'-lantern | a carved pumpkin glowing with a candle
@confetti
1 less_specific | confetti falling | colourful confetti raining down on a crowd
0 layout_camera_idiom_time | slow motion of confetti | slow motion of snow
@oktoberfest
1 less_specific | beer steins at Oktoberfest | people clinking beer steins in a tent at Oktoberfest
@holi
1 exact | the Holi festival | people throwing coloured powder at each other at Holi
@dragon_dance
0 compound_head | a dragon dance | a dragon flying over mountains
0 compound_head | a dragon in the water | a dragon boat race
0 compound_head | a lion dance | a lion hunting
@carnival
1 less_specific | a carnival mask | a Venetian carnival mask
@easter
1 less_specific | Easter eggs | painted Easter eggs in a basket
0 attribute_conflict_material | chocolate Easter eggs | painted Easter eggs
@ferris_wheel
1 less_specific | a Ferris wheel | a Ferris wheel lit up at night at a fair
0 compound_head | a wheel | a Ferris wheel
@bonfire
1 less_specific | a bonfire | a huge bonfire on a beach at midsummer
@music_festival
1 synonym | a music festival crowd | a crowd at an outdoor music festival
@christmas_market
0 attribute_conflict_other | a Christmas market at night | a Christmas market in daylight
@menorah
0 negation_count | a menorah with all candles lit | a menorah with two candles lit
@maypole
1 less_specific | dancing around a maypole | children dancing around a maypole with ribbons
@lantern
> Thousands of glowing paper lanterns rising into the night sky over a river during a festival in Thailand, crowds watching, slow motion, dreamy warm tones, 4k
1 long_prompt_subject | Dreamy 4k slow motion of thousands of paper lanterns floating up into the night sky above a river during a Thai festival, crowds gazing upward
0 long_prompt_background | A river at night during a festival in Thailand with decorated boats and crowds on the banks, slow motion, dreamy warm tones, 4k
@parade
> Dancers in huge feathered costumes leading a samba parade through Rio at night, confetti and drums, tracking shot, vibrant saturated colours, energetic festival film
1 long_prompt_subject | Energetic tracking shot of samba dancers in giant feather costumes parading through Rio at night with drums and confetti, vibrant saturated colours
0 long_prompt_background | Drummers practising samba rhythms in a small backyard in Rio in the afternoon, tracking shot, vibrant saturated colours, energetic festival film
@christmas_tree
> A family decorating a Christmas tree in a cosy living room, a child placing the star on top, fireplace glowing, warm bokeh lights, handheld, nostalgic holiday film
1 long_prompt_subject | Nostalgic handheld holiday film of a family trimming their Christmas tree by a glowing fireplace as a little child puts the star on top, warm bokeh
0 long_prompt_background | A cosy living room with a glowing fireplace, stockings and a sleeping dog on the rug, warm bokeh lights, handheld, nostalgic holiday film
@holi
> People throwing clouds of pink, yellow and green powder at each other during Holi, laughing faces, slow motion, bright sunlight, vivid colours, documentary
1 long_prompt_subject | Vivid slow motion documentary of revellers hurling pink, yellow and green colour powder at each other during Holi, laughing, bright sunlight
0 long_prompt_background | Bowls of pink, yellow and green powder pigments for sale on a market stall in bright sunlight, slow motion, vivid colours, documentary style
""")

add("historic_military", """
@soldier
1 exact | a column of soldiers | soldiers marching in a long column
1 hypernym | a soldier with a shield | a Roman legionary with a shield
0 hypernym | a Roman legionary | a soldier marching
0 attribute_conflict_other | a World War I soldier in a trench | a modern soldier with night vision goggles
0 attribute_conflict_colour | a redcoat soldier | a soldier in a blue uniform
0 layout_camera_idiom_time | black and white archive footage of soldiers | black and white archive footage of a train
1 less_specific | a military parade | soldiers marching in a military parade on a wide boulevard
@knight
1 less_specific | a knight in armour | a knight in shining armour on horseback
0 word_sense | a knight | a knight chess piece on a board
0 negation_count | a single knight | a group of knights on horseback
0 attribute_conflict_other | a suit of armour standing in a museum hall | a knight in armour riding into battle
@tank
0 word_sense | a tank rolling forward | a fish tank with bubbles
1 less_specific | a tank rolling across a field | a WWII tank rolling through a muddy field
@cannon
1 less_specific | a cannon firing | an old cannon firing from a fort wall
0 compound_head | a cannon | a water cannon spraying protesters
@sword
1 hypernym | a sword being drawn | a katana being drawn
0 hypernym | a katana | a sword
0 compound_head | a sword | a swordfish
@warship
1 hypernym | a warship at sea | a battleship firing its guns at sea
@viking
1 less_specific | a Viking longship | a Viking longship rowing through a fjord
0 different_subject | Vikings in a longship | Romans in a galley
@samurai
1 less_specific | a samurai | a samurai in full armour in a bamboo forest
@gladiator
1 less_specific | gladiators fighting | two gladiators fighting in the Colosseum
@helmet
0 attribute_conflict_material | a bronze helmet | a steel helmet
@musket
0 different_subject | a musket | a modern assault rifle
@fort
1 less_specific | a fort | a star-shaped stone fort seen from above
@trench
1 less_specific | a WWI trench | soldiers waiting in a muddy WWI trench
@general
1 hypernym | a general on a horse | Napoleon on horseback
@flag
1 less_specific | a flag waving | a tattered flag waving over a battlefield
@longbow
1 synonym | a longbow archer | an English longbowman loosing arrows
@chariot
1 synonym | a chariot race | chariots racing in a Roman circus
@legion
> Roman legionaries marching in formation along a stone road at dawn, shields and red cloaks, dust rising, low angle tracking shot, epic historical film
1 long_prompt_subject | Epic historical film, low angle tracking shot of Roman legionaries marching in tight formation on a stone road at dawn, red cloaks, shields, dust
0 long_prompt_background | An ancient Roman stone road at dawn winding through cypress trees, dust rising in the light, low angle tracking shot, epic historical film
@knight
> A medieval knight in shining armour charging on a white horse across a misty battlefield, banners flying, slow motion, desaturated colours, cinematic
1 long_prompt_subject | Cinematic slow motion of an armoured knight galloping on a white horse across a misty battlefield, banners streaming, desaturated colours
0 long_prompt_background | A white horse grazing alone in a misty meadow at dawn, banners of a distant camp fluttering, slow motion, desaturated colours, cinematic
@trench
> Black and white archive-style footage of soldiers climbing out of a muddy WWI trench under smoke, barbed wire, flickering film, handheld, grim documentary
1 long_prompt_subject | Grim flickering black and white documentary footage of First World War soldiers scrambling out of a muddy trench into smoke past barbed wire, handheld
0 long_prompt_background | Black and white archive footage of a steam train arriving at a station with crowds waving, flickering film, handheld, grim documentary style
@viking
> A Viking longship rowing through a misty Norwegian fjord, warriors with round shields along the sides, drone shot, cold grey light, epic saga atmosphere
1 long_prompt_subject | Drone shot of a Viking longship rowed through a fog-filled Norwegian fjord, warriors' round shields lining the hull, cold grey light, epic saga mood
0 long_prompt_background | A misty Norwegian fjord with a modern cruise ship gliding past steep cliffs, drone shot, cold grey light, epic atmosphere, slow forward movement
""")

add("fantasy", """
@dragon
1 less_specific | a dragon flying | a red dragon flying over mountains
0 attribute_conflict_colour | a green dragon | a red dragon
0 compound_head | a dragon over a pond | a dragonfly over a pond
0 lexicalised_adj_noun | a dragon on a rock | a bearded dragon lizard on a rock
1 more_specific_soft | a fierce dragon | a dragon breathing fire
@unicorn
1 less_specific | a unicorn | a white unicorn in an enchanted forest
0 compound_head | a unicorn in a pool | a unicorn pool float in a pool
0 layout_camera_idiom_time | in the heart of an enchanted forest, a unicorn | in the heart of an enchanted forest, a fairy
@mermaid
1 less_specific | a mermaid | a mermaid sitting on a rock in the sea
@wizard
1 synonym | a wizard casting a spell | a sorcerer casting a spell
0 different_subject | a wizard | a witch on a broomstick
1 less_specific | a magic wand | a wizard waving a glowing wand
@fairy
1 less_specific | a fairy | a tiny fairy with glowing wings
0 compound_head | a fairy in a garden | fairy lights in a garden
@elf
1 exact | an elf archer | an elf archer aiming in a forest
0 word_sense | an elf archer | a Christmas elf wrapping presents
@troll
0 word_sense | a troll under a bridge | an internet troll typing at a computer
@ghost
1 less_specific | a ghost | a translucent ghost drifting down a hallway
@phoenix
1 less_specific | a phoenix | a phoenix rising from flames
0 word_sense | a phoenix | the Phoenix, Arizona skyline
@griffin
1 synonym | a griffin soaring | a gryphon soaring
@centaur
0 different_subject | a centaur | a horse
@castle
0 attribute_conflict_other | a floating castle in the clouds | a castle on a hill
@vampire
1 less_specific | a vampire | a vampire with fangs in a dark castle
0 lexicalised_adj_noun | a vampire | a vampire bat
@zombie
1 partitive_container_collective | zombies | a horde of zombies shambling down a street
@goblin
0 different_subject | a goblin | an orc
0 compound_head | a werewolf | a wolf howling at the moon
@potion
1 less_specific | a bubbling potion | a green potion bubbling in a cauldron
0 attribute_conflict_colour | a purple potion | a green potion
@alien
1 less_specific | an alien | a little green alien stepping out of a UFO
@yeti
1 synonym | a yeti | an abominable snowman in a blizzard
@dragon
> A massive red dragon circling a ruined castle at sunset, breathing fire onto the towers, knights fleeing below, epic wide shot, fantasy film, cinematic 4k
1 long_prompt_subject | Epic wide fantasy shot of a huge red dragon wheeling around a ruined castle at sunset and scorching its towers with fire as knights flee, 4k
0 long_prompt_background | A ruined castle at sunset on a hill with crows circling the broken towers, epic wide shot, fantasy film, cinematic 4k, no creatures
@unicorn
> A white unicorn drinking from a glowing stream in an enchanted forest at night, fireflies and floating spores, soft magical light, slow dolly, dreamy fantasy
1 long_prompt_subject | Dreamy slow dolly toward a white unicorn sipping from a softly glowing stream in an enchanted night forest, fireflies and floating spores
0 long_prompt_subject | A white horse drinking from a stream in a forest at night, fireflies drifting, soft magical light, slow dolly, dreamy fantasy film look
@wizard
> An old wizard in a star-covered robe brewing a bubbling green potion in a cauldron in a cluttered tower room, candlelight, close-up, whimsical fantasy film
1 long_prompt_subject | Whimsical close-up of an elderly wizard in a starry robe stirring a bubbling green potion in a cauldron inside a cluttered tower room, candlelight
0 long_prompt_background | A cluttered tower room full of dusty books, scrolls and a telescope by the window, candlelight, close-up, whimsical fantasy film, no people
@mermaid
> A mermaid with a shimmering teal tail resting on a rock as waves crash around her at dusk, mist, slow motion, painterly colours, fantasy cinematic
1 long_prompt_subject | Fantasy cinematic slow motion of a mermaid with a glittering teal tail lounging on a sea rock at dusk, waves crashing around her, mist, painterly colours
0 long_prompt_background | Waves crashing around a sea rock at dusk with seals resting on it, mist, slow motion, painterly colours, fantasy cinematic look
""")

add("science_lab", """
@microscope
1 less_specific | a microscope | a scientist looking through a microscope
0 hypernym | an electron microscope | a microscope on a bench
0 layout_camera_idiom_time | macro shot of a cell dividing | macro shot of a raindrop
@test_tube
1 less_specific | a test tube | a test tube bubbling with blue liquid
0 attribute_conflict_colour | a test tube with red liquid | a test tube with blue liquid
@beaker
1 less_specific | a beaker | a glass beaker with boiling liquid
0 different_subject | a beaker | a conical flask
@petri_dish
1 less_specific | a petri dish | bacteria colonies growing in a petri dish
@scientist
1 hypernym | a scientist in a lab | a chemist mixing chemicals in a lab
0 hypernym | a chemist | a scientist at a computer
1 synonym | a lab coat on a hook | a white laboratory coat on a hook
0 negation_count | an empty lab at night | a busy lab full of scientists
@pipette
1 less_specific | a pipette | a pipette dropping liquid into a tube
@dna
1 less_specific | a DNA double helix | a rotating model of a DNA double helix
@bunsen
1 less_specific | a Bunsen burner | a blue flame from a Bunsen burner
@periodic_table
1 less_specific | a periodic table | a periodic table poster on a lab wall
@reaction
1 hypernym | a chemical reaction | two liquids reacting and foaming over a beaker
@centrifuge
1 less_specific | a centrifuge spinning | a lab centrifuge spinning samples
@goggles
0 compound_head | safety goggles | swimming goggles
@lab_mouse
1 less_specific | a lab mouse | a white mouse in a lab cage
0 word_sense | a science lab | a labrador retriever
@telescope
0 compound_head | a telescope | a radio telescope dish
@accelerator
0 different_subject | a particle accelerator tunnel | a subway tunnel
@crystals
1 less_specific | crystals growing | blue copper sulfate crystals forming
0 attribute_conflict_colour | purple crystals | blue crystals
@cleanroom
1 less_specific | a cleanroom | workers in bunny suits in a cleanroom
@magnifier
1 less_specific | a magnifying glass | a magnifying glass held over a map
@pipette
> A scientist in a white coat and goggles pipetting glowing green liquid into test tubes in a dark lab, blue rim light, macro close-up, sci-fi thriller mood
1 long_prompt_subject | Sci-fi thriller macro close-up of a researcher in a lab coat and goggles pipetting glowing green fluid into test tubes in a dark lab, blue rim light
0 long_prompt_background | A dark lab at night with rows of empty test tubes on a rack and blue rim light on steel benches, macro close-up, sci-fi thriller mood
@cell
> Time-lapse through a microscope of a single cell dividing into two, soft purple stain, shallow focus, scientific documentary style, clean and crisp 4k
1 long_prompt_subject | Crisp 4k microscope time-lapse of one cell splitting into two daughter cells, soft purple stain, shallow focus, scientific documentary style
0 long_prompt_background | Time-lapse through a microscope of pollen grains drifting in water, soft purple stain, shallow focus, scientific documentary style, clean 4k
@reaction
> A high school chemistry teacher demonstrating a foaming elephant toothpaste reaction, students cheering behind safety glass, handheld, bright classroom lab, fun educational video
1 long_prompt_subject | Fun educational handheld video of a chemistry teacher setting off a huge foaming elephant toothpaste reaction while students cheer in a bright school lab
0 long_prompt_background | Students in a bright classroom lab writing notes behind safety glass while a teacher lectures at a whiteboard, handheld, fun educational video
@lab_robot
> Robotic arms moving racks of sample vials in an automated genetics lab, cool white light, slow tracking shot, sterile futuristic mood, shallow depth of field
1 long_prompt_subject | Slow tracking shot of robotic arms shuffling racks of sample vials inside an automated genetics lab, cool white light, sterile futuristic mood
0 long_prompt_background | A sterile white corridor in a genetics institute with glass doors and a scientist walking, cool white light, slow tracking shot, futuristic mood
""")

add("camping", """
@tent
1 less_specific | a tent | a green tent pitched by a lake
0 attribute_conflict_colour | an orange tent | a green tent
0 negation_count | a single tent in a field | a field full of tents at a festival
0 layout_camera_idiom_time | a tent to the left of a car | a bike to the left of a car
0 hypernym | a glamping yurt | a tent in a meadow
@campfire
1 less_specific | a campfire | friends roasting marshmallows over a campfire
0 attribute_conflict_other | a roaring campfire | the smouldering embers of a dying campfire
@marshmallow
1 synonym | marshmallows roasting | marshmallows toasting on sticks over a fire
@sleeping_bag
1 less_specific | a sleeping bag | a person in a sleeping bag under the stars
@lantern
1 less_specific | a camping lantern | a camping lantern glowing on a picnic table
@hiker
1 hypernym | a hiker on a trail | a backpacker hiking a mountain trail
@rv
1 synonym | an RV at a campsite | a motorhome parked at a campsite
@canoe
1 less_specific | a canoe on a lake | a red canoe on a misty lake
0 different_subject | a canoe | a kayak
@cabin
1 less_specific | a log cabin | a log cabin in the woods
@compass
1 less_specific | a compass | a hand holding a compass on a trail
0 word_sense | a compass | a drawing compass making a circle
@map
1 less_specific | a paper map | hikers studying a paper map
@stargazing
1 less_specific | stargazing | campers stargazing beside their tent
@stove
1 less_specific | a camp stove | a small camp stove boiling water
@hammock
1 synonym | a hammock between trees | a camping hammock strung between pines
@bear
1 less_specific | a bear at a campsite | a bear rummaging through a campsite cooler
@campsite
0 layout_camera_idiom_time | a wide shot of a campsite | a wide shot of a parking lot
@backpack
0 unstated_attribute | a hiking backpack | a backpack on a desk
@fishing
1 less_specific | fishing from a dock | a man fishing from a wooden dock at dawn
@campfire
> Friends sitting around a crackling campfire under a starry sky, roasting marshmallows and laughing, a tent glowing behind them, warm firelight, handheld, nostalgic film
1 long_prompt_subject | Nostalgic handheld film of a group of friends around a crackling campfire beneath the stars, toasting marshmallows and laughing, a lit tent behind
0 long_prompt_background | A lit tent glowing under a starry sky in a quiet forest clearing, no people, long exposure, warm light, nostalgic film look, static shot
@hiker
> A lone hiker with a big backpack walking a ridge trail above the clouds at sunrise, wind in the grass, drone orbit, epic wide angle, adventure film
1 long_prompt_subject | Epic drone orbit around a solitary backpacker trekking along a mountain ridge above a sea of clouds at sunrise, grass blowing, wide angle adventure film
0 long_prompt_background | A sea of clouds below a mountain ridge at sunrise with wind in the grass and no people, drone orbit, epic wide angle, adventure film
@canoe
> A red canoe gliding across a glassy misty lake at dawn, a paddler in a flannel shirt, loons calling, reflections, slow tracking shot, calm wilderness film
1 long_prompt_subject | Calm wilderness film, slow tracking shot of a red canoe paddled by a man in a flannel shirt across a misty mirror-still lake at dawn
0 long_prompt_background | A glassy misty lake at dawn with loons floating and pine reflections, slow tracking shot, calm wilderness film, soft pastel light
@bear
> A black bear sniffing around a campsite at night and knocking over a cooler, tent in the background, trail camera look, grainy infrared footage
1 long_prompt_subject | Grainy infrared trail camera footage of a black bear nosing around a campsite at night and tipping over a cooler, a tent in the background
0 long_prompt_background | A raccoon knocking over a cooler at a campsite at night, tent in the background, trail camera look, grainy infrared footage, static frame
""")

add("water_sports", """
@surfing
1 less_specific | a surfer riding a wave | a surfer riding a big wave in Hawaii
0 compound_head | a surfer on a wave | a windsurfer skimming across a bay
0 compound_head | surfing | kitesurfing
0 layout_camera_idiom_time | aerial shot of surfers | aerial shot of sheep
1 less_specific | a surfboard | a surfboard leaning on a beach hut
0 attribute_conflict_colour | a yellow surfboard | a white surfboard
@kayak
1 hypernym | a kayak in rapids | a kayaker paddling through rapids
0 negation_count | a tandem kayak | a single kayak
@swimming
1 hypernym | a swimmer in a pool | an Olympic swimmer doing freestyle in a pool
0 hypernym | a swimmer doing backstroke | a swimmer in a pool
0 layout_camera_idiom_time | underwater shot of a swimmer | underwater shot of a shark
@diving
1 synonym | a diver jumping off a high board | a diver leaping from a ten metre platform
0 word_sense | a diver on a high board | a scuba diver by a reef
1 exact | cliff diving | a man diving off a cliff into the sea
@sailing
1 synonym | a sailboat race | yachts racing with white sails
@waterski
1 less_specific | a water skier | a water skier carving behind a speedboat
@rowing
1 synonym | a rowing team | a rowing crew on a river at dawn
@jet_ski
1 synonym | a jet ski | a personal watercraft spraying water
@paddleboard
1 less_specific | a paddleboarder | a woman on a stand-up paddleboard at sunset
@snorkel
1 less_specific | snorkelling | a snorkeller floating over a reef
@water_polo
0 compound_head | water polo | polo on horseback
@wetsuit
0 attribute_conflict_colour | a black wetsuit | a blue wetsuit
@lifeguard
1 less_specific | a lifeguard | a lifeguard watching from a tall chair
@rafting
0 attribute_conflict_other | white water rafting | a raft floating on a calm lake
@surfing
> A surfer carving through the barrel of a huge turquoise wave at sunrise, spray backlit by the sun, slow motion, water-level camera, epic surf film
1 long_prompt_subject | Epic slow motion surf film shot at water level of a surfer threading the barrel of a massive turquoise wave at sunrise, backlit spray
0 long_prompt_background | A huge turquoise wave breaking on an empty reef at sunrise, spray backlit by the sun, slow motion, water-level camera, epic surf film
@rowing
> A rowing crew of eight gliding across a glassy river at dawn, oars dipping in sync, mist on the water, drone tracking shot, calm cinematic
1 long_prompt_subject | Calm cinematic drone tracking shot of an eight-person rowing team skimming a mirror-like river at dawn, oars moving in unison, mist on the water
0 long_prompt_background | A glassy river at dawn with mist on the water and swans drifting past a boathouse, drone tracking shot, calm cinematic, soft light
@kayak
> A kayaker plunging over a waterfall in a red kayak, whitewater exploding, GoPro helmet camera, slow motion, adrenaline sports film, crisp 4k
1 long_prompt_subject | Adrenaline 4k slow motion from a helmet camera as a kayaker in a red kayak drops over a waterfall into exploding whitewater
0 long_prompt_background | A waterfall with whitewater exploding into a rocky pool in a canyon, slow motion, crisp 4k, adrenaline sports film feel, no people
@paddleboard
> A woman on a stand-up paddleboard gliding across a calm lagoon at sunset with her dog sitting on the front, aerial drone shot, pastel colours, relaxed travel film
1 long_prompt_subject | Aerial drone shot of a woman paddleboarding over a calm lagoon at sunset, her dog sitting at the front of the board, pastel colours, relaxed mood
0 long_prompt_background | A dog sitting on a wooden dock by a calm lagoon at sunset, aerial drone shot, pastel colours, relaxed travel film, gentle ripples
""")

add("winter_sports", """
@skiing
1 less_specific | a skier | a skier carving down a powder slope
0 different_subject | a cross-country skier | a downhill skier racing
0 compound_head | a skier | a water skier
0 layout_camera_idiom_time | slow motion of a skier | slow motion of a surfer
0 attribute_conflict_other | night skiing under floodlights | skiing on a sunny afternoon
0 attribute_conflict_colour | a skier in a red jacket | a skier in a yellow jacket
0 negation_count | a group of skiers | a lone skier
@snowboard
1 less_specific | a snowboarder jumping | a snowboarder launching off a jump
0 different_subject | a snowboarder | a skier
@skating
1 hypernym | an ice skater | a figure skater spinning
0 hypernym | a figure skater spinning | an ice skater on a pond
@hockey
1 exact | an ice hockey game | ice hockey players battling for the puck
@sled
1 synonym | a sled racing down a hill | a sledge racing down a hill
0 compound_head | a sled | a bobsled
1 less_specific | a dog sled | huskies pulling a sled
@curling
0 word_sense | curling on ice | curling hair with an iron
@ski_lift
1 hypernym | a ski lift | a chairlift carrying skiers
@igloo
1 less_specific | an igloo | an igloo glowing at night
@ski_jump
1 less_specific | a ski jumper | a ski jumper soaring through the air
@avalanche
1 less_specific | an avalanche | an avalanche rushing down a mountainside
@goggles
0 different_subject | ski goggles | swimming goggles
@snowshoe
1 hypernym | snowshoeing | hikers in snowshoes crossing a snowfield
@chalet
1 less_specific | a ski chalet | a wooden ski chalet in the snow
@ice_fishing
1 synonym | ice fishing | a man fishing through a hole in the ice
@skiing
> A freeride skier plunging down a steep powder face in the Alps, huge spray of snow, helicopter shot, bright blue sky, slow motion, epic ski film
1 long_prompt_subject | Epic ski film helicopter shot of a skier blasting down a steep powder slope in the Alps, enormous snow spray, bright blue sky, slow motion
0 long_prompt_background | A steep powder face in the Alps under a bright blue sky with an avalanche rolling down, helicopter shot, slow motion, epic mountain film
@skating
> Kids skating on a frozen village pond at dusk, fairy lights strung in the trees, breath visible, handheld, warm nostalgic winter film, soft snowfall
1 long_prompt_subject | Warm nostalgic handheld film of children ice skating on a frozen pond in a village at dusk, fairy lights in the trees, soft snow falling
0 long_prompt_background | A frozen village pond at dusk with fairy lights strung in the trees and ducks standing on the ice, handheld, warm nostalgic winter film
@sled
> A team of huskies pulling a musher on a sled across a snowy tundra under the northern lights, tracking shot, cold blue tones, epic adventure film
1 long_prompt_subject | Epic adventure tracking shot of a husky team hauling a musher's sled over the snowy tundra beneath dancing northern lights, cold blue tones
0 long_prompt_background | The northern lights dancing over a snowy tundra with a lone cabin glowing, tracking shot, cold blue tones, epic adventure film, no animals
@snowboard
> A snowboarder launching off a huge kicker in a terrain park, spinning a 720 against a sunset sky, low angle, slow motion, action sports film, 4k
1 long_prompt_subject | Low angle 4k slow motion of a snowboarder spinning a 720 off a big kicker in a terrain park against a sunset sky, action sports film
0 long_prompt_background | A terrain park at sunset with skiers riding a chairlift above empty jumps, low angle, slow motion, action sports film, 4k
""")

add("industry", """
@factory
1 less_specific | a factory | a car factory with robotic arms welding
0 attribute_conflict_other | an abandoned factory | a busy working factory
0 layout_camera_idiom_time | drone shot of a factory | drone shot of a farm
0 attribute_conflict_other | a factory at night with its lights on | a factory in daylight
@robot_arm
1 less_specific | a robotic arm welding | an industrial robot arm welding a car frame
1 less_specific | an assembly line | workers on a car assembly line
@crane
1 hypernym | a construction crane | a tower crane lifting steel beams
0 word_sense | a crane lifting beams | a crane standing in a marsh
@smokestack
1 synonym | a smokestack belching smoke | a factory chimney belching smoke
@conveyor
1 less_specific | a conveyor belt | boxes moving along a conveyor belt
0 partitive_container_collective | a conveyor belt of bottles | a conveyor belt of bread loaves
@steel
1 less_specific | molten steel | molten steel pouring from a ladle
@oil_rig
1 less_specific | an oil rig | an offshore oil rig in a storm
@power_plant
1 less_specific | a nuclear power plant | the cooling towers of a nuclear power plant
0 different_subject | a coal power plant | a nuclear power plant
@wind
1 synonym | wind turbines | a wind farm with turning turbines
0 different_subject | an old windmill | wind turbines on a hill
@forklift
1 less_specific | a forklift | a forklift lifting pallets in a warehouse
@warehouse
1 less_specific | a warehouse | rows of shelves in a huge warehouse
@welder
1 less_specific | a welder | a welder in a mask with sparks flying
@mine
1 less_specific | a coal mine | miners with headlamps in a coal mine tunnel
0 word_sense | a gold mine | a landmine in the sand
@ship
1 less_specific | a container ship | a huge container ship entering port
@excavator
1 synonym | an excavator | a digger scooping earth
0 attribute_conflict_colour | a yellow excavator | a red excavator
@pipeline
1 less_specific | a pipeline | an oil pipeline crossing the tundra
@hard_hat
1 less_specific | a worker in a hard hat | a construction worker in a yellow hard hat
@mill
0 different_subject | a textile mill | a paper mill
0 word_sense | a mill by a river | a pepper mill on a table
@welder
> Sparks showering from a welder's torch as he joins steel beams on a skyscraper frame at dusk, city lights below, slow motion, gritty cinematic
1 long_prompt_subject | Gritty cinematic slow motion of a welder fusing steel beams high on a skyscraper frame at dusk, sparks raining down, city lights far below
0 long_prompt_background | A skyscraper frame under construction at dusk with a tower crane and city lights below, no workers visible, slow motion, gritty cinematic
@robot_arm
> Robotic arms assembling car bodies on a bright automated production line, orange sparks, synchronized movement, slow dolly, clean industrial commercial, 4k
1 long_prompt_subject | Clean 4k industrial commercial, slow dolly along an automated car production line where robot arms weld car bodies in sync, orange sparks
0 long_prompt_background | A finished red car parked in a bright showroom with spotlights, slow dolly, clean industrial commercial, 4k, glossy reflections
@steel
> Molten steel pouring from a giant ladle into moulds inside a dark steel mill, glowing orange, workers in silver suits, slow motion, epic documentary
1 long_prompt_subject | Epic documentary slow motion of glowing molten steel flowing from a huge ladle into moulds in a dark steel mill, workers in silver heat suits
0 long_prompt_background | Workers in silver heat suits walking through a dark steel mill corridor during a shift change, slow motion, epic documentary, orange glow
@ship
> A massive container ship being loaded by gantry cranes at night in a busy port, floodlights, time-lapse, aerial drone view, industrial cinematic look
1 long_prompt_subject | Industrial cinematic aerial time-lapse of gantry cranes loading containers onto a giant cargo ship at night in a floodlit port
0 long_prompt_background | A busy port at night with trucks queuing at floodlit gates and stacks of containers, aerial drone view, time-lapse, industrial cinematic look
""")

add("farming", """
@tractor
1 less_specific | a tractor plowing | a red tractor plowing a field
0 attribute_conflict_colour | a green tractor | a red tractor
0 compound_head | a tractor in a field | a tractor-trailer on a highway
@combine
1 synonym | a combine harvester | a combine harvesting wheat
@wheat
1 synonym | a wheat field | golden wheat swaying in a field
0 attribute_conflict_colour | green young wheat | golden ripe wheat
0 word_sense | a field of wheat | a football field
@barn
1 less_specific | a barn | a red barn in a green field
0 attribute_conflict_colour | a red barn | a white barn
0 compound_head | a barn at night | a barn owl at night
@scarecrow
1 less_specific | a scarecrow | a scarecrow in a cornfield
@hay
1 synonym | hay bales | bales of hay in a field
0 attribute_conflict_other | round hay bales | square hay bales
@rice
1 less_specific | a rice paddy | terraced rice paddies in Bali
@farmer
1 hypernym | a farmer | a rice farmer planting seedlings
0 hypernym | a dairy farmer milking a cow | a farmer in a field
@orchard
1 less_specific | an orchard | an apple orchard in blossom
0 attribute_conflict_other | an orchard in blossom | an orchard at autumn harvest
@irrigation
1 hypernym | crop irrigation | sprinklers irrigating a field of crops
@silo
1 less_specific | a grain silo | tall grain silos at sunset
@vineyard
1 synonym | a grape harvest | workers picking grapes in a vineyard
@fields
0 bare_head_across_scenes | a lavender field in Provence | a sunflower field in Ukraine
0 layout_camera_idiom_time | aerial view of farmland | aerial view of a parking lot
@plough
0 different_subject | a plough pulled by oxen | a tractor ploughing
@beekeeper
1 less_specific | a beekeeper | a beekeeper in a veil holding a honeycomb frame
@milking
0 different_subject | milking a cow by hand | a milking machine in a dairy
@seedlings
1 less_specific | seedlings sprouting | time-lapse of bean seedlings sprouting
@pumpkin_harvest
1 synonym | a pumpkin harvest | farmers loading pumpkins onto a trailer
@crop_duster
1 synonym | a crop duster plane | a small plane spraying a field of crops
@combine
> A red combine harvester cutting golden wheat at sunset, dust glowing in the light, a grain truck alongside, aerial drone tracking shot, warm cinematic 4k
1 long_prompt_subject | Warm cinematic aerial tracking shot of a red combine harvester reaping golden wheat at sunset with glowing dust and a grain truck driving alongside
0 long_prompt_background | A field of golden wheat at sunset with a deer standing at its edge, dust glowing in the light, aerial drone tracking shot, warm cinematic 4k
@rice
> Farmers in conical hats planting rice seedlings in a flooded paddy at sunrise, reflections of clouds in the water, wide shot, soft pastel light, documentary
1 long_prompt_subject | Wide documentary shot of farmers wearing conical hats transplanting rice seedlings into a flooded paddy at sunrise, clouds reflected in water, pastel light
0 long_prompt_background | A flooded rice paddy at sunrise with a white egret standing still and clouds reflected in the water, wide shot, soft pastel light, documentary
@beekeeper
> A beekeeper in a white veil lifting a honeycomb frame covered with bees from a hive in a lavender field, close-up, golden light, slow motion, calm documentary
1 long_prompt_subject | Calm golden slow motion close-up of a beekeeper in a white veil raising a bee-covered honeycomb frame out of a hive beside lavender rows
0 long_prompt_background | A lavender field at golden hour with wooden beehives in a row and no people, close-up, golden light, slow motion, calm documentary
@tractor
> An old farmer driving a vintage green tractor down a dirt road between cornfields, dust trailing, late summer afternoon, tracking shot from a truck, nostalgic film
1 long_prompt_subject | Nostalgic tracking shot of an elderly farmer on a vintage green tractor rolling down a dusty dirt road between cornfields on a late summer afternoon
0 long_prompt_subject | An old farmer driving a vintage red tractor down a dirt road between cornfields, dust trailing, late summer afternoon, tracking shot, nostalgic film
""")

# Extra pairs per domain, mostly for the rarer families.
add("kitchen", """
@fridge
0 unstated_attribute | a stainless steel fridge | a fridge in a kitchen
@spoon
0 attribute_conflict_material | a wooden spoon stirring soup | a metal spoon stirring soup
@soup_pot
1 more_specific_soft | a huge pot of soup | a pot of soup simmering on a stove
@eggs
0 negation_count | a single egg frying in a pan | three eggs frying in a pan
""")
add("medical", """
@nurse
0 unstated_attribute | a nurse holding a newborn baby | a nurse in a hospital ward
@doctor
1 more_specific_soft | a worried doctor reading an X-ray | a doctor reading an X-ray
@crutch
0 attribute_conflict_material | a wooden crutch | an aluminium crutch
@incubator
0 negation_count | twin babies in incubators | a baby in an incubator
""")
add("sports", """
@basketball
0 unstated_attribute | a basketball player in a yellow jersey | a basketball player dribbling
@running
1 more_specific_soft | an exhausted marathon runner crossing the finish line | a marathon runner crossing the finish line
@pitch
0 bare_head_across_scenes | a football pitch in a favela | a football pitch in a huge stadium
@golf
0 negation_count | three golf balls on a green | a single golf ball on a green
@football
0 lexicalised_adj_noun | a football being kicked | a game of table football
""")
add("insects", """
@bee
0 unstated_attribute | a bee covered in pollen | a bee on a flower
@ant
1 more_specific_soft | a tiny ant carrying a crumb | an ant carrying a crumb
@ladybug
1 synonym | a ladybug on a leaf | a ladybird on a leaf
@stick_insect
0 word_sense | a walking stick leaning on a chair | a stick insect on a twig
""")
add("clothing_fabrics", """
@shirt
0 unstated_attribute | a striped shirt | a shirt on a hanger
@hat
0 attribute_conflict_material | a knitted wool hat | a straw hat
@trousers
0 attribute_conflict_material | corduroy trousers | linen trousers
@sweater
1 more_specific_soft | a cosy sweater on a chair | a sweater draped over a chair
@gloves
0 negation_count | a single glove on a bench | a pair of gloves on a bench
@coat
0 word_sense | a coat on a hook | a fresh coat of paint on a wall
""")
add("food", """
@steak
0 unstated_attribute | a well-done steak | a steak on a plate
@burger
1 more_specific_soft | a huge burger | a burger with fries
@toast
0 lexicalised_adj_noun | French toast on a plate | toast with butter on a plate
@dumplings
0 negation_count | a plate with a single dumpling | a plate of ten dumplings
""")
add("drinks", """
@coffee
0 attribute_conflict_colour | a black coffee | a coffee with lots of milk
0 negation_count | two cups of coffee | one cup of coffee
0 attribute_conflict_material | a paper coffee cup | a ceramic coffee cup
@lemonade
1 more_specific_soft | a refreshing lemonade | a glass of lemonade with ice
@latte
0 unstated_attribute | a latte in a tall glass | a latte on a table
""")
add("bakery_desserts", """
@tart
0 unstated_attribute | a strawberry tart | a tart on a plate
@cake
1 more_specific_soft | a delicious chocolate cake | a chocolate cake on a stand
0 compound_head | cheese on a board | a cheesecake on a board
@danish
0 word_sense | a Danish pastry | a Danish flag waving
@macaron
0 negation_count | a single macaron | a tower of macarons
""")
add("fruits_vegetables", """
@banana
0 unstated_attribute | a peeled banana | a banana on a table
@peach
1 more_specific_soft | a juicy peach | a peach on a plate
@orange
0 lexicalised_adj_noun | an orange cut in half | a blood orange cut in half
@apple
0 attribute_conflict_other | a rotten apple | a fresh apple
@cherry
0 negation_count | a single cherry | a bowl of cherries
""")
add("musical_instruments", """
@guitar
0 unstated_attribute | a red electric guitar | an electric guitar on a stand
@violin
1 more_specific_soft | a passionate violinist | a violinist playing on stage
@flute
0 attribute_conflict_material | a wooden flute | a silver flute
@quartet
0 negation_count | a string quartet | a solo cellist
@drum
0 lexicalised_adj_noun | a steel drum | a drum kit
""")
add("weather", """
@storm
0 unstated_attribute | a thunderstorm at night | a thunderstorm
1 more_specific_soft | a dramatic lightning storm | lightning striking over the plains
@snow
0 bare_head_across_scenes | snow falling on a Tokyo street | snow falling in a mountain forest
@fog
0 bare_head_across_scenes | fog rolling over the Golden Gate Bridge | fog in a forest
0 compound_head | a storm over a lake | a team brainstorming at a whiteboard
""")
add("vehicles", """
@convertible
0 unstated_attribute | a convertible with the top down | a convertible parked
@motorcycle
1 more_specific_soft | a fast motorcycle | a motorcycle speeding down a road
@boat
0 attribute_conflict_material | a wooden rowing boat | an inflatable rubber boat
@bus
0 negation_count | a bus full of passengers | an empty bus
@truck
0 lexicalised_adj_noun | a truck on a highway | a monster truck crushing cars
""")
add("pets", """
@dog
0 unstated_attribute | a dog wearing a raincoat | a dog walking in the rain
0 attribute_conflict_other | a wet dog after a bath | a dry fluffy dog on a couch
@kitten
0 negation_count | a litter of kittens | a single kitten
1 more_specific_soft | a playful kitten | a kitten chasing a string
""")
add("farm_animals", """
@horse
0 unstated_attribute | a brown horse | a horse in a stable
@goat
1 more_specific_soft | a grumpy goat | a goat standing on a rock
@chicken
0 negation_count | a hen with her chicks | a lone hen
""")
add("wild_animals", """
@bear
1 hypernym | a bear in a forest | a black bear in a forest
@leopard
0 lexicalised_adj_noun | a leopard on a cliff | a snow leopard on a cliff
0 compound_head | a leopard in the water | a leopard seal in the water
@lion
0 unstated_attribute | a lion with a huge mane | a lion
""")
add("marine_life", """
@shark
0 unstated_attribute | a shark with its mouth open | a shark swimming
@octopus
1 more_specific_soft | a giant octopus | an octopus on the seabed
@urchin
0 word_sense | a sea urchin on a rock | a street urchin begging on a corner
@clownfish
0 negation_count | a single clownfish | a pair of clownfish
""")
add("birds", """
@owl
0 unstated_attribute | an owl with its eyes closed | an owl on a branch
@peacock
1 more_specific_soft | a proud peacock | a peacock in a garden
@bird
0 lexicalised_adj_noun | a bird | a bird of paradise flower
@swan
0 negation_count | a pair of swans | a single swan
""")
add("reptiles", """
@snake
0 unstated_attribute | a snake shedding its skin | a snake on a rock
@crocodile
1 more_specific_soft | a sleepy crocodile | a crocodile resting on a riverbank
@turtle
0 negation_count | a single turtle on a log | a row of turtles on a log
""")
add("plants_flowers", """
@bonsai
0 unstated_attribute | a bonsai with red leaves | a bonsai on a table
@palm
0 word_sense | a palm tree | an open palm of a hand
@rose
0 attribute_conflict_other | a wilted rose | a fresh rose
@tulip
0 negation_count | a single tulip | a bouquet of tulips
""")
add("furniture", """
@armchair
0 unstated_attribute | a velvet armchair | an armchair in a living room
@sofa
1 more_specific_soft | a comfy sofa | a sofa with cushions
@bed
0 attribute_conflict_material | a metal bed frame | a wooden bed frame
@chair
0 negation_count | a set of four chairs | a single chair
""")
add("tools", """
@drill
0 unstated_attribute | a cordless yellow drill | a drill on a workbench
@mallet
0 attribute_conflict_material | a wooden mallet | a rubber mallet
@saw
0 compound_head | a saw on a table | a jigsaw puzzle on a table
""")
add("electronics", """
@controller
0 unstated_attribute | a white game controller | a game controller on a couch
@drone
1 more_specific_soft | a tiny drone | a drone hovering over a field
@tv
0 negation_count | a wall of TV screens | a single TV
""")
add("toys", """
@teddy
0 unstated_attribute | a teddy bear with a bow tie | a teddy bear on a shelf
1 more_specific_soft | a cute teddy bear | a teddy bear on a pillow
@train
0 attribute_conflict_material | a wooden toy train | a plastic toy train
@dice
0 negation_count | a pile of dice | a single die
""")
add("professions_people", """
@person
0 unstated_attribute | a man with a beard | a man walking
@grandmother
1 more_specific_soft | a cheerful old woman knitting | an old woman knitting
""")
add("office", """
@desk
0 unstated_attribute | a glass office desk | an office desk
0 negation_count | a desk with three monitors | a desk with one monitor
@office_chair
0 attribute_conflict_material | a leather office chair | a mesh office chair
@office
1 more_specific_soft | a busy office | an office full of people working
""")
add("school", """
@uniform
0 unstated_attribute | a girl in a school uniform with a tie | a girl in a school uniform
@school
0 bare_head_across_scenes | a village school in Kenya | a boarding school in England
@student
1 more_specific_soft | a nervous student taking an exam | a student taking an exam
""")
add("household", """
@bathtub
0 unstated_attribute | a white bathtub with claw feet | a bathtub in a bathroom
@laundry
0 attribute_conflict_material | a wicker laundry basket | a plastic laundry basket
""")
add("garden", """
@wheelbarrow
0 unstated_attribute | a wheelbarrow full of leaves | a wheelbarrow
@bench
0 attribute_conflict_material | a stone bench in a garden | a wooden bench in a garden
""")
add("space", """
@astronaut
0 unstated_attribute | an astronaut with a gold visor | an astronaut floating
@crater
0 bare_head_across_scenes | a crater on the moon | a meteor crater in Arizona
""")
add("city_street", """
@street
0 unstated_attribute | a street lined with cherry blossoms | a street in spring
0 attribute_conflict_other | a street flooded after rain | a dry street in the sun
@market
0 bare_head_across_scenes | a night market in Taipei | a flea market in Paris
""")
add("architecture", """
@white_house
0 lexicalised_adj_noun | the White House | a white house by the sea
@castle
0 unstated_attribute | a castle with a moat | a castle on a hill
@temple
0 bare_head_across_scenes | a Japanese temple in Kyoto | a Greek temple in Athens
""")
add("landscapes", """
@lake
0 bare_head_across_scenes | a lake in the Scottish highlands | a crater lake in Oregon
@island
0 bare_head_across_scenes | a tropical island with palms | an icy island in the Arctic
@waterfall
0 unstated_attribute | a waterfall with a rainbow | a waterfall in a forest
""")
add("jewelry_accessories", """
@ring
0 unstated_attribute | an emerald ring | a ring on a finger
0 compound_head | a ring on a plate | onion rings on a plate
@necklace
1 more_specific_soft | an elegant necklace | a necklace on a velvet stand
""")
add("crafts", """
@pottery
0 unstated_attribute | a blue pottery bowl | a pottery bowl
@paper_plane
0 lexicalised_adj_noun | a plane in the sky | a paper plane flying across a classroom
""")
add("festivals", """
@confetti
0 unstated_attribute | gold confetti | confetti falling
@candy_cane
0 compound_head | a walking cane | a candy cane on a tree
""")
add("historic_military", """
@knight
0 unstated_attribute | a knight with a red plume | a knight in armour
@shield
0 attribute_conflict_material | a wooden shield | a metal shield
""")
add("fantasy", """
@dragon
0 compound_head | a dragon | a dragon fruit cut open
0 unstated_attribute | a dragon with blue scales | a dragon flying
0 negation_count | a two-headed dragon | a dragon
@unicorn
1 more_specific_soft | a majestic unicorn | a unicorn galloping
""")
add("science_lab", """
@microscope
0 unstated_attribute | a microscope with a slide of blood | a microscope
@beaker
0 attribute_conflict_material | a plastic beaker | a glass beaker
""")
add("camping", """
@tent
0 unstated_attribute | a tent with the door open | a tent in the woods
@campsite
0 attribute_conflict_other | a campsite in the rain | a campsite on a sunny day
@campfire
1 more_specific_soft | a cozy campfire | a campfire crackling
""")
add("water_sports", """
@surfing
0 unstated_attribute | a surfer in a red wetsuit | a surfer riding a wave
1 more_specific_soft | a confident surfer | a surfer catching a wave
""")
add("winter_sports", """
@skiing
0 unstated_attribute | a skier with a camera on their helmet | a skier on a slope
@rink
0 bare_head_across_scenes | an ice rink in Central Park | an ice rink in a shopping mall
""")
add("industry", """
@oil_rig
0 unstated_attribute | a rusty oil rig | an oil rig at sea
@wind
0 negation_count | a single wind turbine | a wind farm
""")
add("farming", """
@tractor
0 unstated_attribute | a tractor with a plough attached | a tractor
0 negation_count | two tractors in a field | a tractor in a field
@farmer
1 more_specific_soft | a busy farmer | a farmer working in a field
""")


def main():
    rows = [r for domain, text in BLOCKS for r in parse(domain, text)]
    seen = set()
    for r in rows:
        key = (r["request"], r["cached"])
        assert key not in seen, f"duplicate pair: {key}"
        seen.add(key)
        assert r["request"] != r["cached"], f"request equals cached: {key}"
    domains = collections.Counter(r["domain"] for r in rows)
    families = collections.Counter(r["family"] for r in rows)
    labels = collections.Counter(r["label"] for r in rows)
    print(f"pairs: {len(rows)}")
    print(f"domains ({len(domains)}):")
    for d, c in sorted(domains.items()):
        ones = sum(r["label"] for r in rows if r["domain"] == d)
        print(f"  {d:24s} {c:4d}  (label 1: {ones})")
    print("families:")
    for f in FAMILIES:
        ones = sum(r["label"] for r in rows if r["family"] == f)
        print(f"  {f:32s} {families[f]:4d}  (label 1: {ones})")
    print(f"labels: 1={labels[1]} ({labels[1] / len(rows):.1%})  0={labels[0]} ({labels[0] / len(rows):.1%})")

    long_rows = [r for r in rows if r["family"].startswith("long_prompt_")]
    for r in long_rows:
        for side in ("request", "cached"):
            words = len(r[side].split())
            assert 15 <= words <= 40, f"long prompt has {words} words: {r[side]!r}"
    assert len(rows) >= 1700, len(rows)
    assert len(domains) >= 32, len(domains)
    missing = set(REQUIRED_DOMAINS) - set(domains)
    assert not missing, f"missing domains: {sorted(missing)}"
    missing = set(FAMILIES) - set(families)
    assert not missing, f"missing families: {sorted(missing)}"
    assert len(long_rows) >= 300, len(long_rows)
    share = labels[1] / len(rows)
    assert 0.40 <= share <= 0.50, f"label-1 share {share:.1%} outside 40-50 %"

    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "matching_prompts.jsonl")
    with open(out, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

"""tinytales: the built-in corpus, a procedural generator of short children's stories.

Every random choice goes through `Draw`, which adds the log-probability of what it picked, so each
story comes with the exact log-probability (nats) of its derivation. Different derivations give
different texts almost always, so the corpus entropy -- the best loss any model could reach -- is
known: `entropy_floor` turns it into nats per token and a perplexity floor for a tokenizer.
(Where two derivations happen to spell the same text, the text is more likely than its derivation,
so the floor reported is an upper bound on the true one, off by a tiny amount.)

Word lists are ordered from common to rare and drawn with Zipf weights (1/rank), so that after
"Once upon a time there was a little" the next word has many continuations with graded odds.
"""

from __future__ import annotations

import bisect
import math
import random
import re
from dataclasses import dataclass
from functools import lru_cache

# ---------------------------------------------------------------------------------------------
# Vocabulary. Each list: common words first. "_" joins a two-word item.


def _words(text: str) -> tuple[str, ...]:
    items = tuple(w.replace("_", " ") for w in text.split())
    assert len(set(items)) == len(items), [w for w in items if items.count(w) > 1]
    return items


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    """'run/ran jump/jumped' -> (('run', 'ran'), ('jump', 'jumped'))"""
    items = tuple(tuple(p.replace("_", " ").split("/")) for p in text.split())
    assert len(set(items)) == len(items)
    return items  # type: ignore[return-value]


GIRL_NAMES = _words("""
Lily Mia Emma Ava Sophie Lucy Ella Zoe Anna Rosie Ruby Grace Chloe Maya Nora Ivy Hannah Clara
Alice Daisy Molly Sara Lena Amy Julia Eva Olivia Isla Poppy Hazel Freya Luna Stella Violet Jade
Iris Bella Millie Kate Tess Nina Leah Mila Elsie Maisie Amelia Holly Willow Pearl Gemma Fern Dora
Greta Hattie Ada Lola Rita Wendy Josie Bea Nell Tilly Edie Maud Hope Joy Faith Dawn Kira Yara
Amara Priya Aisha Mei Sofia Elena Lara Rosa Ana Noor Fiona Harriet Imogen Beatrix Orla Sienna
""")
BOY_NAMES = _words("""
Tom Ben Max Sam Leo Jack Tim Finn Jake Oliver Noah Luke Theo Oscar Henry Charlie Alfie Harry
Leon Ollie Eli Milo Hugo Felix Toby Jamie Ryan Adam Dan Joe Ned Ted Rory Ezra Owen Ethan Liam
Lucas Arlo Jude Kai Reuben Isaac Otis Rafi Omar Ravi Hiro Kofi Tariq Carlos Mateo Pablo Ivan Nico
Marco Luca Bruno Igor Pete Bob Bill Fred George Arthur Alex Ian Sid Gus Zack Cody Dylan Evan
Seth Abe Hal Lenny Mo Ray Caleb Declan Elliot Jasper Rowan Silas Wilbur Xavier Yusuf
""")
PET_NAMES = _words("""
Pip Biscuit Coco Patch Button Pepper Ginger Sunny Bubbles Fluffy Whiskers Nibbles Buddy Rusty
Shadow Snowy Muffin Peanut Pickles Waffles Noodle Pebble Twinkle Bramble Thistle Hopper Squeak
Tuffy Dot Spot Boots Mittens Ziggy Pudding Cookie Maple Clover Acorn Puddle Scamp Bingo Rolo
Fudge Toffee Jelly Sprout Dusty Wiggles Bouncer Paddy Sooty Flick Chip Tinker Blossom Marble
Taffy Dumpling Sparky Zippy Nutmeg Cinnamon Kipper Mopsy Tumble Fizz
""")
ANIMALS = _words("""
cat dog rabbit bird mouse duck frog bear fox owl puppy kitten pig cow horse sheep goat hen chick
squirrel deer hedgehog turtle fish bunny lamb pony butterfly bee ladybug snail worm spider ant
beetle caterpillar dragonfly elephant lion tiger monkey giraffe zebra hippo panda koala kangaroo
penguin seal whale dolphin octopus crab starfish parrot peacock swan goose robin sparrow crow
eagle badger otter beaver mole raccoon skunk wolf moose camel donkey llama lizard snake dinosaur
dragon goldfish hamster bat firefly gecko toad pelican flamingo walrus yak ferret chipmunk
""")
PLACES = _words("""
park garden forest woods beach lake river pond meadow field farm barn hill mountain valley cave
island village town city school library kitchen bedroom attic backyard playground zoo market
bakery shop castle tower bridge harbor lighthouse jungle desert orchard swamp marsh stream
waterfall cliff shore museum circus fair station street road path lane hospital theater treehouse
camp tunnel pier dock greenhouse cottage palace stable henhouse mill canyon glade clearing
cellar courtyard hillside riverbank seaside workshop
""")
OBJECTS = _words("""
ball kite doll teddy book box boat car train truck hat scarf shoe sock coat mitten umbrella
balloon drum flute whistle bell cup bowl plate spoon basket bucket shovel rope ladder key lock
map compass lamp lantern candle clock watch ring necklace crown wand stick stone shell feather
leaf flower pinecone blanket pillow quilt chair table bed door window gate fence wagon bike sled
swing slide puzzle crayon pencil pen paintbrush paper letter card picture photo mirror jar
bottle button marble coin purse bag backpack suitcase robot rocket spaceship puppet yo-yo top
trumpet guitar violin piano harp kettle teapot pot pan broom brush comb ribbon bow hammer seed
pumpkin toothbrush towel net rod glove helmet boot jacket sweater dress skirt cape mask flag
banner trophy medal sticker notebook envelope parcel present gift treasure chest crystal jewel
diamond pearl telescope magnet xylophone tambourine harmonica scooter skateboard
wheelbarrow birdhouse snow_globe music_box jigsaw spinning_top
""")
FOODS = _words("""
apple banana cake cookie pie bread cheese soup carrot berry cherry grape orange pear peach plum
lemon muffin pancake waffle sandwich pizza noodles cupcake candy honey jam toast egg potato corn
peas beans tomato cucumber melon watermelon strawberry blueberry raspberry biscuit cracker popcorn
pudding porridge rice salad pretzel donut lollipop ice_cream nuts figs dates mango pineapple
coconut apricot kiwi broccoli spinach pumpkin_pie gingerbread marshmallow
""")
DRINKS = _words("milk juice tea cocoa water lemonade smoothie soda broth cider")
ADJECTIVES = _words("""
big small little tiny huge happy sad kind brave shy funny silly clever quiet loud gentle friendly
curious sleepy hungry busy lazy fast slow strong soft warm cold bright dark shiny old new young
pretty beautiful fluffy furry smooth rough round tall short long fuzzy sparkly colorful cheerful
grumpy jolly lucky lonely proud wise wild tame noisy calm messy neat clean dirty wet dry sticky
spotty striped wobbly bouncy squeaky magical mysterious strange special secret golden wooden
muddy sandy rainy windy cozy tidy chubby skinny giant enormous gigantic fancy plain simple heavy
light empty full broken crooked twisty spiky prickly sweet sour salty crunchy juicy delicious
tasty fresh ripe brand-new ancient sleek elegant humble bold eager nervous playful patient polite
rude naughty honest generous greedy selfish helpful careful careless glittery lumpy bumpy soggy
shaggy speckled dainty sturdy rusty dusty creaky glowing velvety
""")
COLORS = _words("""
red blue green yellow purple pink brown black white gray orange silver gold teal crimson scarlet
turquoise lavender beige amber coral navy maroon indigo
""")
FEELINGS = _words("""
happy glad sad scared excited proud worried upset afraid nervous calm cheerful grateful thankful
hopeful jealous embarrassed confused curious bored brave sorry safe loved joyful delighted
thrilled amazed puzzled relieved ashamed annoyed cross miserable peaceful content uneasy gloomy
merry determined lonely tired surprised
""")
SAD_FEELINGS = _words("sad grumpy tired upset lonely worried gloomy cross shy sleepy")
PLAY_VERBS = _pairs("""
play/played run/ran jump/jumped dance/danced sing/sang swim/swam climb/climbed skip/skipped
hop/hopped race/raced paint/painted draw/drew explore/explored laugh/laughed giggle/giggled
spin/spun twirl/twirled dig/dug splash/splashed bake/baked hum/hummed whistle/whistled fly/flew
roll/rolled slide/slid swing/swung wander/wandered march/marched tiptoe/tiptoed crawl/crawled
paddle/paddled skate/skated sail/sailed ride/rode hide/hid search/searched nap/napped rest/rested
clap/clapped wave/waved stomp/stomped gallop/galloped scamper/scampered waddle/waddled
zoom/zoomed dash/dashed leap/leaped bounce/bounced wiggle/wiggled somersault/somersaulted
cartwheel/cartwheeled juggle/juggled
""")
ACT_VERBS = _pairs("""
find/found carry/carried hold/held hug/hugged fix/fixed clean/cleaned share/shared take/took
push/pushed pull/pulled throw/threw catch/caught kick/kicked drop/dropped open/opened wash/washed
paint/painted build/built make/made bring/brought hide/hid show/showed borrow/borrowed keep/kept
fold/folded wrap/wrapped polish/polished decorate/decorated mend/mended shake/shook
squeeze/squeezed lift/lifted drag/dragged chase/chased follow/followed watch/watched
touch/touched smell/smelled bury/buried spot/spotted grab/grabbed toss/tossed fill/filled
stack/stacked tie/tied color/colored balance/balanced cuddle/cuddled sniff/sniffed count/counted
""")
SPEECH = _words("""
said asked shouted whispered cried called replied yelled exclaimed answered sighed squeaked
muttered cheered giggled chirped
""")
ADVERBS = _words("""
quickly slowly happily sadly quietly loudly carefully gently softly bravely proudly sleepily
eagerly excitedly nervously kindly politely patiently calmly cheerfully silently swiftly clumsily
gracefully playfully secretly merrily wildly busily lazily neatly hungrily curiously shyly boldly
gladly noisily
""")
TIMES = _words("morning afternoon evening night day weekend summer winter spring autumn holiday")
WEATHER_ADJ = _words("sunny rainy windy snowy foggy cloudy stormy bright chilly warm frosty misty")
FAMILY = _words("mom dad grandma grandpa sister brother aunt uncle cousin granny nana")
SOUNDS = _words("Buzz Boom Bang Splash Crash Pop Whoosh Thud Crunch Squeak Ding Tweet Moo Quack Woof")
WATERS = _words("river pond lake puddle stream well fountain sea")
BODY = _words("knee foot arm hand toe nose elbow leg finger chin")
SHELTERS = _words("barn house tent cave treehouse shed cottage hut")
TOOLS = _words("stick branch rope net pole ladder spoon hook")
HELPERS = _words("farmer owl baker lady man woman ranger fisherman shepherd postman")
MATERIALS = _words("sand clay paper wood snow leaves stones blocks boxes mud string twigs")
FIXERS = _words("glue tape string thread wire")
SPOTS = _words("""
tree bush rock log bed chair table sofa stairs door car bench blanket bucket hedge cushion
flowerpot wheelbarrow haystack
""")
NUMBERS = _words("two three four five six seven eight nine ten eleven twelve")
DAYS = _words("Monday Tuesday Wednesday Thursday Friday Saturday Sunday")
WEATHERS = _words("storm rain wind snow thunderstorm hailstorm")
FLOWERS = _words("""
rose tulip sunflower daffodil bluebell buttercup dandelion orchid marigold snowdrop pansy peony
magnolia carnation honeysuckle foxglove primrose heather
""")
TREES = _words("oak pine birch elm cedar palm beech chestnut fir spruce sycamore redwood poplar alder yew")
JOBS = _words("""
teacher doctor pilot painter builder singer nurse firefighter astronaut chef sailor gardener
inventor explorer scientist knight pirate wizard vet dancer
""")
VEHICLES = _words("bus tractor airplane helicopter submarine ship canoe rowboat ferry van taxi caravan")
GAMES = _words("hide-and-seek tag hopscotch marbles dominoes checkers chess cards leapfrog charades")
MONTHS = _words("""
January February March April May June July August September October November December
""")
MORALS = (
    "sharing makes everyone happy",
    "being kind is the best thing of all",
    "friends help each other",
    "it is good to be brave",
    "it is okay to ask for help",
    "waiting is hard but worth it",
    "small things can make a big difference",
    "being honest is always right",
    "every mistake can be fixed",
    "it is fun to try new things",
    "a good friend is a great treasure",
    "listening is as important as talking",
)

# ---------------------------------------------------------------------------------------------
# Sentence patterns. Slots in braces: capitalised ones are story state (hero, friend, ...);
# lower-case ones are drawn fresh each time from the word list of the same name.

OPENINGS = (
    "Once upon a time, there was a {adj} {kind} named {Hero}.",
    "Once upon a time there was a little {kind} called {Hero}.",
    "There was once a {adj} {kind} named {Hero} who lived near the {Place}.",
    "{Hero} was a {adj} {kind} who lived by the {Place}.",
    "One {wadj} {time}, a {kind} named {Hero} woke up very early.",
    "Long ago, in a {adj} village, there lived a {kind} named {Hero}.",
    "Once upon a time, near a {adj} {Place}, there lived a little {kind} called {Hero}.",
    "Once there was a {kind} named {Hero} who loved to eat {food}.",
)
SETTINGS = (
    "{He} lived with {his} {family} in a {color} house.",
    "{Hero} loved to {play} every day.",
    "{His} favorite toy was a {color} {Thing}.",
    "Every morning, {Hero} liked to {play} {adverb} in the {Place}.",
    "{He} had a {adj} {Thing} that {he} carried everywhere.",
    "{Hero} was very {adj} and always helped others.",
    "{He} liked {food} more than anything.",
    "Every {time}, {he} went to the {Place} with {his} {family}.",
    "{Hero} had a {color} {Thing} and a {adj} hat.",
    "{His} {family} gave {him} a {adj} {Thing} for {his} birthday.",
    "{Hero} wanted to be a {job} one day.",
    "In {month}, {his} {family} planted a {flower} in the garden.",
)
MEETINGS = (
    "One day, {Hero} met a {adj} {fkind} named {Friend} in the {Place}.",
    "{Hero} had a best friend called {Friend}.",
    "At the {Place}, {Hero} saw {Friend}, a {adj} {fkind} with a {color} {object}.",
    "One {time}, {Friend} the {fkind} came to visit.",
    "Near the {Place} lived a {adj} {fkind} named {Friend}.",
)
EVENTS = (
    "{Hero} and {Friend} went to the {place} to {play}.",
    '"Let\'s {play} together!" {speech} {Hero}.',
    '"Can I {act} your {Thing}?" {speech} {Friend}.',
    "{Friend} {acted} the {object} {adverb}.",
    "They {played} until the sun went down.",
    "{Hero} found a {adj} {object} under the {spots}.",
    '"Look, a {adj} {Stranger}!" {speech} {Friend}.',
    "The {Stranger} {played} {adverb} around the {Place}.",
    "{He} gave {Friend} a piece of {food}.",
    '"{sound}!" went the {Stranger}.',
    "{Hero} {played} {adverb} across the {place}.",
    "{Fhe} laughed and {played} too.",
    "They ate {food} and drank {drink} under a {adj} tree.",
    "{Hero} showed {Friend} {his} {Thing}.",
    '"Your {Thing} is so {adj}!" {speech} {Friend}.',
    "The sky was {color} and the air smelled of {food}.",
    "{Hero} felt {feeling} when {he} saw the {adj} {object}.",
    "Together they built a {adj} {object} out of {material}.",
    '"I want to {play} in the {place}," {speech} {Hero}.',
    '"That sounds fun!" {speech} {Friend}.',
    "{Friend} told {Hero} a story about a {adj} {animal} who could {play}.",
    "They counted {number} stars in the sky.",
    "A {adj} wind blew through the {place}.",
    "{Hero} {acted} {his} {Thing} and smiled.",
    "{Friend} helped {Hero} {act} the {object}.",
    "They rode in a {color} {vehicle} to the {place}.",
    "They played {game} in the {place} all afternoon.",
    "{Friend} picked a {color} {flower} for {Hero}.",
    "They sat under an old {tree} tree and rested.",
)
# Each problem comes with the resolutions that answer it.
PROBLEMS = (
    ("But then, {Hero} could not find {his} {Thing}!", (
        "{Friend} helped {him} look, and they found it under the {spots}.",
        "{He} looked everywhere and at last found it behind the {spots}.",
    )),
    ("Suddenly, a big {weather} came and the {Place} became wet and cold.", (
        "They ran to the {shelter} and waited until it was over.",
    )),
    ("Oh no! The {Thing} fell into the {water}.", (
        "{Friend} used a long {tool} to get it out.",
        "{Hero} reached in {adverb} and pulled it out.",
    )),
    ("Then a {adj} {Stranger} took the {Thing} and ran away.", (
        "They chased the {Stranger} and it dropped the {Thing}.",
        '"Please give it back," {speech} {Hero}, and the {Stranger} did.',
    )),
    ("Suddenly, {Friend} tripped and hurt {fhis} {body}.", (
        "{Hero} gave {fhim} a hug and a {color} bandage.",
    )),
    ("But the {Thing} was stuck high up in a tree.", (
        "{Hero} climbed the tree {adverb} and got it down.",
    )),
    ("Then {Hero} and {Friend} got lost in the {place}.", (
        "A kind {helper} showed them the way home.",
    )),
    ("But {Friend} felt {sad} and did not want to play.", (
        "{Hero} shared {his} {food} and {Friend} smiled again.",
    )),
    ("Oh no, the {Thing} was broken!", (
        "{Hero}'s {family} fixed it with some {fixer}.",
    )),
)
FEELING_LINES = (
    "{Hero} felt {feeling}.",
    "Everyone was {feeling} again.",
    "{Hero} and {Friend} laughed and hugged.",
)
ENDINGS = (
    "From that day on, {Hero} and {Friend} were best friends.",
    "{Hero} learned that {moral}.",
    "That night, {Hero} went to sleep with a big smile.",
    "And {Hero} never forgot that {adj} day at the {Place}.",
    "Now {Hero} always takes care of {his} {Thing}.",
    "{Hero} and {Friend} went home, tired but {feeling}.",
    "It was the best day ever.",
    "After that, {Hero} visited the {Place} every {day}.",
)
PATTERNS = (OPENINGS + SETTINGS + MEETINGS + EVENTS + tuple(p for p, _ in PROBLEMS)
            + tuple(r for _, rs in PROBLEMS for r in rs) + FEELING_LINES + ENDINGS)

# Fresh slots: name -> word list (a verb slot takes one form of a (base, past) pair).
FRESH = {
    "adj": ADJECTIVES, "color": COLORS, "food": FOODS, "drink": DRINKS, "feeling": FEELINGS,
    "sad": SAD_FEELINGS, "adverb": ADVERBS, "time": TIMES, "wadj": WEATHER_ADJ, "family": FAMILY,
    "sound": SOUNDS, "water": WATERS, "body": BODY, "shelter": SHELTERS, "tool": TOOLS,
    "helper": HELPERS, "material": MATERIALS, "fixer": FIXERS, "spots": SPOTS, "number": NUMBERS,
    "day": DAYS, "weather": WEATHERS, "moral": MORALS, "object": OBJECTS,
    "place": PLACES, "animal": ANIMALS, "speech": SPEECH, "flower": FLOWERS, "tree": TREES,
    "job": JOBS, "vehicle": VEHICLES, "game": GAMES, "month": MONTHS,
}
VERB_SLOTS = {"play": (PLAY_VERBS, 0), "played": (PLAY_VERBS, 1),
              "act": (ACT_VERBS, 0), "acted": (ACT_VERBS, 1)}


# ---------------------------------------------------------------------------------------------
# Drawing with a log-probability ledger.


@lru_cache(maxsize=None)
def _zipf_cdf(n: int) -> tuple[list[float], float]:
    cdf, total = [], 0.0
    for rank in range(1, n + 1):
        total += 1.0 / rank
        cdf.append(total)
    return cdf, total


class Draw:
    """Random choices that keep the sum of their log-probabilities (nats) in `logp`."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.logp = 0.0

    def zipf(self, items, exclude=None):
        """An item with probability proportional to 1/rank; `exclude` removes one item."""
        cdf, total = _zipf_cdf(len(items))
        skip = items.index(exclude) if exclude in items else None
        if skip is not None:
            total -= 1.0 / (skip + 1)
        while True:
            i = bisect.bisect_right(cdf, self.rng.random() * cdf[-1])
            i = min(i, len(items) - 1)
            if i != skip:
                break
        self.logp += math.log((1.0 / (i + 1)) / total)
        return items[i]

    def uniform(self, items):
        self.logp -= math.log(len(items))
        return items[self.rng.randrange(len(items))]

    def weighted(self, items, weights):
        i = self.rng.choices(range(len(items)), weights=weights)[0]
        self.logp += math.log(weights[i] / sum(weights))
        return items[i]


@dataclass
class Character:
    name: str
    kind: str  # "girl", "boy" or an animal
    girl: bool


def _character(draw: Draw, exclude: str | None = None) -> Character:
    kind = draw.weighted(("girl", "boy", "animal"), (4, 4, 2))
    if kind == "animal":
        girl = draw.uniform((True, False))
        return Character(draw.zipf(PET_NAMES, exclude), draw.zipf(ANIMALS), girl)
    names = GIRL_NAMES if kind == "girl" else BOY_NAMES
    return Character(draw.zipf(names, exclude), kind, kind == "girl")


_SLOT = re.compile(r"\{(\w+)\}")
_A_AN = re.compile(r"\b([Aa]) (?=[aeiouAEIOU])")


class _Story:
    def __init__(self, draw: Draw):
        self.draw = draw
        self.hero = _character(draw)
        self.friend = _character(draw, exclude=self.hero.name)
        self.place = draw.zipf(PLACES)
        self.thing = draw.zipf(OBJECTS)
        self.stranger = draw.zipf(ANIMALS)

    def fill(self, pattern: str) -> str:
        hero, friend, draw = self.hero, self.friend, self.draw
        state = {
            "Hero": hero.name, "kind": hero.kind, "Friend": friend.name, "fkind": friend.kind,
            "Place": self.place, "Thing": self.thing, "Stranger": self.stranger,
            "he": "she" if hero.girl else "he", "He": "She" if hero.girl else "He",
            "his": "her" if hero.girl else "his", "His": "Her" if hero.girl else "His",
            "him": "her" if hero.girl else "him",
            "Fhe": "She" if friend.girl else "He", "fhis": "her" if friend.girl else "his",
            "fhim": "her" if friend.girl else "him",
        }

        def slot(m: re.Match) -> str:
            name = m.group(1)
            if name in state:
                return state[name]
            if name in VERB_SLOTS:
                pairs, form = VERB_SLOTS[name]
                return draw.zipf(pairs)[form]
            return draw.zipf(FRESH[name])

        text = _SLOT.sub(slot, pattern)
        return _A_AN.sub(lambda m: m.group(1) + "n ", text)

    def tell(self) -> str:
        d = self.draw
        lines = [self.fill(d.uniform(OPENINGS))]
        for _ in range(d.weighted((1, 2), (3, 2))):
            lines.append(self.fill(d.uniform(SETTINGS)))
        lines.append(self.fill(d.uniform(MEETINGS)))
        for _ in range(d.weighted((2, 3, 4, 5), (2, 4, 3, 1))):
            lines.append(self.fill(d.uniform(EVENTS)))
        problem, resolutions = d.uniform(PROBLEMS)
        lines.append(self.fill(problem))
        lines.append(self.fill(d.uniform(resolutions)))
        if d.weighted((True, False), (1, 1)):
            lines.append(self.fill(d.uniform(FEELING_LINES)))
        lines.append(self.fill(d.uniform(ENDINGS)))
        if d.weighted((True, False), (3, 7)):
            lines.append("The end.")
        return " ".join(lines)


def story(rng: random.Random) -> tuple[str, float]:
    """One story and its log-probability in nats under this generator."""
    draw = Draw(rng)
    text = _Story(draw).tell()
    return text, draw.logp


def generate(n: int, seed: int = 0, split: str = "train") -> list[tuple[str, float]]:
    """`n` stories, the same for the same (seed, split) on every machine."""
    rng = random.Random(f"tinytales/{seed}/{split}")
    return [story(rng) for _ in range(n)]


def load(train_stories: int = 20000, validation_stories: int = 1000, seed: int = 0):
    """A `datasets.DatasetDict` with train and validation splits; columns text, logprob (nats)."""
    from datasets import Dataset, DatasetDict

    def split(n: int, name: str) -> Dataset:
        stories = generate(n, seed, name)
        return Dataset.from_dict({"text": [t for t, _ in stories],
                                  "logprob": [lp for _, lp in stories]})

    return DatasetDict(train=split(train_stories, "train"),
                       validation=split(validation_stories, "validation"))


def entropy_floor(split, tokenizer) -> dict:
    """The best loss any model could reach on `split` with this tokenizer.

    Each story is followed by one end-of-text token (as `data.pack_blocks` does), which the
    story's log-probability already covers (the generator decides where a story stops).
    Returns nats per token, the perplexity floor, and the counts behind them.
    """
    texts, logprobs = list(split["text"]), list(split["logprob"])
    n_tokens = sum(len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"])
    n_tokens += len(texts)  # one end-of-text token per story
    nats = -sum(logprobs) / n_tokens
    return {"nats_per_token": nats, "ppl": math.exp(nats), "tokens": n_tokens,
            "stories": len(texts)}


def vocabulary(texts) -> set[str]:
    """Distinct lower-case words (letters, apostrophes and hyphens) in some texts."""
    words: set[str] = set()
    for t in texts:
        words.update(re.findall(r"[a-z][a-z'-]*", t.lower()))
    return words

"""``diagnostic``: synthetic objects whose ground truth says which modality a query needs.

Each object of the knowledge base is a (shape, colour, pattern) triple with an invented name
and two facts (where it lives, what it feeds on); its one passage states all of them. Images
are rendered with PIL at a random size, position and background. Queries come in three types,
in equal numbers, each object the target of the same number of queries of every type:

* ``image-needed``: the question never names the object ("Where does the creature in this
  picture live?"); only the image (shape, colour and pattern drawn) identifies it.
* ``text-sufficient``: the question names the object ("Where does the Velmora live?"); the
  image shows it too, but the text alone identifies the passage.
* ``both-needed``: the image shows the shape and colour drawn plain (no pattern), the question
  names the pattern ("... the striped kind of the creature pictured ..."); only together do
  they identify one passage.

Chance levels are exact, not estimated, because of that balance. There are
``N = shapes x colours x patterns`` passages (48 by default). A retriever that ignores the
image ranks the passages by the question alone; image-needed questions are a handful of
templates each paired with every object equally often, so whatever fixed ranking a template
gets, hit_rate@k on image-needed queries is exactly ``k / N`` (1/48 at k=1). On both-needed
queries the best a text-only retriever can do is pick among the ``N / patterns`` objects with
the named pattern (1/16 at k=1); an image-only one among the ``patterns`` objects sharing
shape and colour (1/3). These numbers are written into ``diagnostic.json`` and ``meta``.

The registered task generates itself into ``cache_home()/diagnostic`` on first use (about a
second) and is then read by the local-format loader; ``mire-eval make-diagnostic --out DIR``
writes the same files anywhere, readable as ``local:DIR``. queries.jsonl carries an extra
``type`` field per query; ``TaskData.meta["query_types"]`` maps query id -> type.
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.core.cache import stable_hash
from harness.core.errors import MireEvalError
from harness.core.fingerprint import fingerprint_file
from harness.core.outputs import check_output_dir
from harness.core.types import TaskData
from tasks.base import LoadOptions, TaskSpec
from tasks.local import load_local

QUERY_TYPES = ("image-needed", "text-sufficient", "both-needed")

COLOURS = {
    "red": (214, 39, 40), "green": (44, 160, 44), "blue": (31, 90, 200), "yellow": (240, 200, 20),
    "purple": (148, 63, 189), "orange": (255, 127, 14),
}
SHAPES = ("circle", "square", "triangle", "star", "hexagon", "cross")
PATTERNS = ("striped", "dotted", "checkered")
BACKGROUNDS = [(250, 250, 250), (236, 232, 222), (225, 232, 238), (238, 226, 236), (226, 238, 226), (60, 60, 66)]
HABITATS = ("marsh", "glacier", "canyon", "reef", "meadow", "cavern", "dune", "forest", "lagoon", "tundra", "volcano", "orchard")
FOODS = ("moss", "pollen", "krill", "acorns", "beetles", "lichen", "seaweed", "nectar", "pebbles", "mushrooms", "berries", "plankton")
SYLLABLES = ("ka", "lo", "mi", "ra", "zu", "ten", "vor", "bel", "qui", "dra", "nim", "sol", "fex", "gor", "pha", "wen")

# Two facts per object, so two question templates per type; each template is paired with
# every object equally often, which makes text-only chance exact. Every passage says
# "creature" and so does every question, so no text-only retriever is left with no match.
TEMPLATES = {
    "text-sufficient": ("Where does the {name} live?", "What does the {name} feed on?"),
    "image-needed": ("Where does the creature in this picture live?", "What does the creature shown here feed on?"),
    "both-needed": (
        "Where does the {pattern} kind of the creature pictured live?",
        "What does the {pattern} variety of the creature in the image feed on?",
    ),
}
FACTS = ("habitat", "food")  # template i asks for fact i


@dataclass(frozen=True)
class DiagnosticConfig:
    """What the generated task depends on; its hash names the generated copy."""

    seed: int = 0
    shapes: tuple[str, ...] = ("circle", "square", "triangle", "star")
    colours: tuple[str, ...] = ("red", "green", "blue", "yellow")
    patterns: tuple[str, ...] = PATTERNS
    image_size: int = 128
    train_per_object: int = 6  # queries of each type per object (a multiple of 2 keeps balance)
    test_per_object: int = 2
    version: int = 1  # bump when the generator changes what it writes

    def __post_init__(self):
        for name, values, known in [("shapes", self.shapes, SHAPES), ("colours", self.colours, COLOURS),
                                    ("patterns", self.patterns, PATTERNS)]:
            unknown = [v for v in values if v not in known]
            if unknown or not values:
                raise MireEvalError(f"diagnostic config: {name}: unknown or empty {unknown}; known: {', '.join(known)}")
        for name in ("train_per_object", "test_per_object"):
            if getattr(self, name) % len(FACTS):
                raise MireEvalError(f"diagnostic config: {name} must be a multiple of {len(FACTS)} (template balance)")

    @property
    def n_objects(self) -> int:
        return len(self.shapes) * len(self.colours) * len(self.patterns)

    def fingerprint(self) -> str:
        return stable_hash(asdict(self))


@dataclass(frozen=True)
class SyntheticObject:
    id: str
    name: str
    shape: str
    colour: str
    pattern: str
    habitat: str
    food: str

    def passage(self) -> dict:
        text = (f"The {self.name} is a {self.colour} {self.shape} creature with a {self.pattern} pattern. "
                f"The {self.name} lives in the {self.habitat} and feeds on {self.food}.")
        return {"_id": self.id, "title": self.name, "text": text}


# --------------------------------------------------------------------------------------------
# Chance levels
# --------------------------------------------------------------------------------------------
def chance_levels(config: DiagnosticConfig, ks=(1, 5, 10)) -> dict:
    """Exact hit_rate@k of reference retrievers, per query type.

    >>> c = chance_levels(DiagnosticConfig())
    >>> c["n_objects"], c["random"]["hit_rate@1"], c["text-only"]["image-needed"]["hit_rate@1"]
    (48, 0.020833333333333332, 0.020833333333333332)
    >>> c["text-only-best"]["both-needed"]["hit_rate@1"], c["image-only-best"]["both-needed"]["hit_rate@1"]
    (0.0625, 0.3333333333333333)
    """
    n, p = config.n_objects, len(config.patterns)
    at = lambda pool: {f"hit_rate@{k}": min(k, pool) / pool for k in ks}  # noqa: E731
    return {
        "n_objects": n,
        "random": at(n),
        "text-only": {"image-needed": at(n)},  # exact for ANY text-only retriever (balanced design)
        "text-only-best": {"both-needed": at(n // p), "text-sufficient": at(1)},
        "image-only-best": {"both-needed": at(p), "image-needed": at(1)},
    }


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------
def _outline(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]] | None:
    """Polygon vertices of ``shape`` centred at (cx, cy) with radius r (None: a circle)."""
    import math

    def ring(n, radius_at, phase=-math.pi / 2):
        return [(cx + radius_at(i) * math.cos(phase + 2 * math.pi * i / n),
                 cy + radius_at(i) * math.sin(phase + 2 * math.pi * i / n)) for i in range(n)]

    if shape == "circle":
        return None
    if shape == "square":
        return [(cx - r * 0.8, cy - r * 0.8), (cx + r * 0.8, cy - r * 0.8), (cx + r * 0.8, cy + r * 0.8), (cx - r * 0.8, cy + r * 0.8)]
    if shape == "triangle":
        return ring(3, lambda i: r)
    if shape == "star":
        return ring(10, lambda i: r if i % 2 == 0 else r * 0.45)
    if shape == "hexagon":
        return ring(6, lambda i: r, phase=0.0)
    if shape == "cross":
        a = r * 0.33
        return [(cx - a, cy - r), (cx + a, cy - r), (cx + a, cy - a), (cx + r, cy - a), (cx + r, cy + a), (cx + a, cy + a),
                (cx + a, cy + r), (cx - a, cy + r), (cx - a, cy + a), (cx - r, cy + a), (cx - r, cy - a), (cx - a, cy - a)]
    raise ValueError(shape)


def render(obj: SyntheticObject, rng: random.Random, size: int, show_pattern: bool = True):
    """Draw ``obj`` at a random scale and position on a random background (PIL RGB image)."""
    from PIL import Image, ImageDraw

    background = rng.choice(BACKGROUNDS)
    image = Image.new("RGB", (size, size), background)
    r = rng.uniform(0.22, 0.42) * size
    cx, cy = rng.uniform(r, size - r), rng.uniform(r, size - r)
    mask = Image.new("L", (size, size), 0)
    outline = _outline(obj.shape, cx, cy, r)
    if outline is None:
        ImageDraw.Draw(mask).ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    else:
        ImageDraw.Draw(mask).polygon(outline, fill=255)

    fill = Image.new("RGB", (size, size), COLOURS[obj.colour])
    if show_pattern:
        draw, step = ImageDraw.Draw(fill), max(4, int(r / 3))
        white = (255, 255, 255)
        if obj.pattern == "striped":
            for y in range(0, size, step):
                draw.rectangle([0, y, size, y + step // 2 - 1], fill=white)
        elif obj.pattern == "dotted":
            for y in range(step // 2, size, step):
                for x in range(step // 2, size, step):
                    draw.ellipse([x - step / 4, y - step / 4, x + step / 4, y + step / 4], fill=white)
        elif obj.pattern == "checkered":
            for y in range(0, size, step):
                for x in range(0, size, step):
                    if (x // step + y // step) % 2:
                        draw.rectangle([x, y, x + step - 1, y + step - 1], fill=white)
    image.paste(fill, (0, 0), mask)
    # A border in a darker shade keeps the silhouette visible where white pattern meets a pale background.
    edge = tuple(c * 3 // 5 for c in COLOURS[obj.colour])
    draw = ImageDraw.Draw(image)
    width = max(2, size // 48)
    if outline is None:
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=edge, width=width)
    else:
        draw.polygon(outline, outline=edge, width=width)
    return image


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------
def make_objects(config: DiagnosticConfig, rng: random.Random) -> list[SyntheticObject]:
    names: set[str] = set()
    objects = []
    for shape in config.shapes:
        for colour in config.colours:
            for pattern in config.patterns:
                while True:
                    name = "".join(rng.choice(SYLLABLES) for _ in range(3)).capitalize()
                    if name not in names:
                        break
                names.add(name)
                objects.append(SyntheticObject(
                    id=f"obj{len(objects):03d}", name=name, shape=shape, colour=colour, pattern=pattern,
                    habitat=rng.choice(HABITATS), food=rng.choice(FOODS),
                ))
    return objects


def _query(obj: SyntheticObject, qtype: str, template: int, qid: str) -> dict:
    text = TEMPLATES[qtype][template].format(name=obj.name, pattern=obj.pattern)
    answer = obj.habitat if FACTS[template] == "habitat" else obj.food
    return {"_id": qid, "text": text, "image": f"images/{qid}.png", "answers": [answer], "type": qtype}


def generate(out: str | Path, config: DiagnosticConfig = DiagnosticConfig()) -> Path:
    """Write the task in the local format into ``out``; returns ``out``.

    Everything follows from ``config.seed``: the same config gives byte-identical files.
    """
    out = check_output_dir(out)
    for sub in ("images", "qrels"):
        check_output_dir(out / sub)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "qrels").mkdir(exist_ok=True)
    rng = random.Random(config.seed)
    objects = make_objects(config, rng)

    queries: list[dict] = []
    qrels: dict[str, list[tuple[str, str]]] = {"train": [], "test": []}
    for split, per_object in (("train", config.train_per_object), ("test", config.test_per_object)):
        for qtype in QUERY_TYPES:
            for j in range(per_object):
                for obj in objects:
                    qid = f"{split}-{qtype}-{obj.id}-{j}"
                    queries.append(_query(obj, qtype, j % len(FACTS), qid))
                    qrels[split].append((qid, obj.id))
                    image = render(obj, rng, config.image_size, show_pattern=qtype != "both-needed")
                    image.save(out / "images" / f"{qid}.png", optimize=False)

    with open(out / "corpus.jsonl", "w") as f:
        for obj in objects:
            f.write(json.dumps(obj.passage()) + "\n")
    with open(out / "queries.jsonl", "w") as f:
        for q in queries:
            f.write(json.dumps(q) + "\n")
    for split, pairs in qrels.items():
        with open(out / "qrels" / f"{split}.tsv", "w") as f:
            f.write("query-id\tcorpus-id\tscore\n")
            f.writelines(f"{q}\t{p}\t1\n" for q, p in pairs)
    info = {
        "config": asdict(config), "fingerprint": config.fingerprint(), "chance": chance_levels(config),
        "objects": [asdict(o) for o in objects],
        "counts": {s: len(p) for s, p in qrels.items()},
    }
    (out / "diagnostic.json").write_text(json.dumps(info, indent=1))
    return out


def query_types(queries) -> dict[str, str]:
    """``{query id: type}`` from each query's ``type`` field (``Query.extra``), where it has one.

    >>> from harness.core.types import Query
    >>> query_types([Query("a", "x", extra={"type": "image-needed"}), Query("b", "y")])
    {'a': 'image-needed'}
    """
    return {q.id: q.extra["type"] for q in queries if q.extra.get("type")}


def ensure_generated(directory: Path, config: DiagnosticConfig = DiagnosticConfig()) -> Path:
    """Generate into ``directory`` unless a copy from the same config is already there."""
    stamp = directory / "diagnostic.json"
    if stamp.exists():
        try:
            if json.loads(stamp.read_text()).get("fingerprint") == config.fingerprint():
                return directory
        except json.JSONDecodeError:
            pass
    tmp = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    generate(tmp, config)
    shutil.rmtree(directory, ignore_errors=True)
    tmp.rename(directory)
    return directory


def load(options: LoadOptions) -> TaskData:

    directory = Path(options.data_dir) if options.data_dir else options.cache_dir / "diagnostic"
    if options.data_dir is None:
        ensure_generated(directory)
    elif not (directory / "diagnostic.json").exists():
        raise MireEvalError(f"{directory}/diagnostic.json: not found (write it with `mire-eval make-diagnostic --out {directory}`)")
    data = load_local(directory, options)
    fingerprint_file(directory / "diagnostic.json")  # read below: part of the run's inputs
    info = json.loads((directory / "diagnostic.json").read_text())
    data.meta.update({
        "diagnostic_fingerprint": info["fingerprint"],
        "chance": info["chance"],
        "query_types": query_types(data.queries),
    })
    data.name = "diagnostic"
    return data


TASK = TaskSpec(
    name="diagnostic",
    description="Synthetic objects (shape, colour, pattern); queries that need the image, the text, or both",
    source="generated by tasks/diagnostic.py (seed 0); `mire-eval make-diagnostic --out DIR`",
    relevance="qrels",
    main_metric="hit_rate@1",
    paper_metric="hit_rate@1",
    splits=("test", "train"),
    load=load,
)

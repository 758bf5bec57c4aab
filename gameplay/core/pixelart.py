"""Pixel art for the player's character, their dog and the shop's items, drawn as SVG <rect> pixels.

Each sprite is a list of rows of palette letters ('.' is transparent) placed at a position on a 32 x 24
canvas: the character stands on the left, the dog sits on the right, hats sit on the character's head
and pet items on the dog. `character_svg(equipped)` composes them; `item_svg(slug)` draws one item on
its own for the shop. The shop's static files (gameplay/static/gameplay/items/*.svg) are written from the
same sprites by `python -m gameplay.core.pixelart`, and a test checks they are up to date.

No Django here.
"""

from dataclasses import dataclass
from html import escape
from pathlib import Path

from .catalogue import CATALOGUE

CANVAS_WIDTH, CANVAS_HEIGHT = 32, 24

PALETTE = {
    "o": "#1f2328",  # outline
    "w": "#ffffff",
    "k": "#1f2328",  # pupils
    "m": "#7c2d12",  # mouth
    "c": "#f9a8d4",  # cheeks
    "d": "#d6a46b",  # dog fur
    "e": "#8b5a2b",  # dog ears
    "n": "#1f2328",  # dog nose
    "t": "#f472b6",  # tongue
    "r": "#dc2626",  # red
    "R": "#991b1b",  # dark red
    "y": "#facc15",  # gold
    "Y": "#ca8a04",  # dark gold
    "p": "#7c3aed",  # purple
    "P": "#5b21b6",  # dark purple
    "g": "#16a34a",  # green
    "B": "#2563eb",  # blue
    "s": "#f3f4f6",  # bone white
    "S": "#9ca3af",  # bone shade
    "i": "#bae6fd",  # ice
    "I": "#38bdf8",  # ice edge
}
BODY_COLOURS = {"default": "#60a5fa", "mint": "#6ee7b7", "violet": "#a78bfa", "sunset": "#fb923c"}


@dataclass(frozen=True)
class Sprite:
    rows: tuple[str, ...]
    x: int
    y: int

    def pixels(self):
        for dy, row in enumerate(self.rows):
            for dx, letter in enumerate(row):
                if letter != ".":
                    yield self.x + dx, self.y + dy, letter


CHARACTER = Sprite(
    (
        "....oooooo....",
        "..oobbbbbboo..",
        ".obbbbbbbbbbo.",
        ".obwwbbbbwwbo.",
        "obbwkbbbbwkbbo",
        "obbwkbbbbwkbbo",
        "obcbbbbbbbbcbo",
        "obbbbmbbmbbbbo",
        "obbbbbmmbbbbbo",
        ".obbbbbbbbbbo.",
        ".obbbbbbbbbbo.",
        "..oobbbbbboo..",
        "...oo....oo...",
    ),
    x=1,
    y=11,
)

DOG = Sprite(
    (
        "oo........oo",
        "oeooooooooeo",
        "oeddddddddeo",
        "oddkddddkddo",
        "oddddddddddo",
        "oddddnnddddo",
        ".oddddtdddo.",
        "..oooooooo..",
        "..oddddddo..",
        "..oddddddo..",
        "..odo..odo..",
        "..oo....oo..",
    ),
    x=19,
    y=12,
)

HATS = {
    "cap": Sprite(
        (
            "....rrrrrr",
            "...rrrrrrrr",
            "..rrrrwrrrrr",
            "..RRRRRRRRRRRRR",
        ),
        x=1,
        y=8,
    ),
    "propeller": Sprite(
        (
            "..yyyy.yyyy",
            "......o",
            "....gBgBgB",
            "...BgBgBgBg",
            "..gBgBgBgBgB",
        ),
        x=2,
        y=6,
    ),
    "wizard": Sprite(
        (
            ".......p",
            "......pp",
            "......ppp",
            ".....ppyp",
            ".....pppp",
            "....ppppp",
            "....ppyppp",
            "...pppppppp",
            "..ppppppppp",
            "PPPPPPPPPPPPPP",
        ),
        x=1,
        y=2,
    ),
    "crown": Sprite(
        (
            "y..y..y..y",
            "yy.yy.yy.y",
            "yyyyyyyyyy",
            "yRyyByyRyy",
            "YYYYYYYYYY",
        ),
        x=3,
        y=7,
    ),
}

PET_ITEMS = {
    "collar": Sprite(("BBBBBBBB", "...yy..."), x=21, y=19),
    "bandana": Sprite(("rrrrrrrr", ".rrwrrr.", "..rrrr..", "...rr..."), x=21, y=19),
    "bone": Sprite(("ss.....ss", "sSsssssSs", "ss.....ss"), x=20, y=17),
}

CONSUMABLES = {
    "hint": Sprite(
        (
            "..yyyy..",
            ".yyyyyy.",
            "yywyyyyy",
            "yywyyyyy",
            ".yyyyyy.",
            "..yyyy..",
            "..SSSS..",
            "..SSSS..",
            "...oo...",
        ),
        x=0,
        y=0,
    ),
    "streak-freeze": Sprite(
        (
            "IIIIIIII",
            "IiiiiiwI",
            "IiiiiwiI",
            "IiiiiiiI",
            "IiwiiiiI",
            "IiiiiiiI",
            "IIIIIIII",
        ),
        x=0,
        y=0,
    ),
}


def _colour(letter: str, body: str) -> str:
    return body if letter == "b" else PALETTE[letter]


def _rects(sprites: list[Sprite], body: str) -> list[str]:
    """Pixels as <rect>s, merging horizontal runs of one colour; later sprites draw over earlier ones."""
    grid: dict[tuple[int, int], str] = {}
    for sprite in sprites:
        for x, y, letter in sprite.pixels():
            grid[(x, y)] = _colour(letter, body)
    rects = []
    for y in sorted({y for _, y in grid}):
        xs = sorted(x for x, row in grid if row == y)
        start = previous = xs[0]
        for x in [*xs[1:], None]:
            if x is not None and x == previous + 1 and grid[(x, y)] == grid[(start, y)]:
                previous = x
                continue
            rects.append(
                f'<rect x="{start}" y="{y}" width="{previous - start + 1}" height="1" fill="{grid[(start, y)]}"/>'
            )
            if x is not None:
                start = previous = x
    return rects


def _svg(rects: list[str], width: int, height: int, *, title: str, x0: int = 0, y0: int = 0) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{x0} {y0} {width} {height}" class="pixel-art" '
        f'shape-rendering="crispEdges" role="img"><title>{escape(title)}</title>{"".join(rects)}</svg>'
    )


def character_svg(equipped: dict[str, str], *, title: str = "Your character and dog") -> str:
    """The character (in the equipped colour, wearing the equipped hat) and the dog (with its item)."""
    body = BODY_COLOURS.get(equipped.get("colour", ""), BODY_COLOURS["default"])
    sprites = [CHARACTER, DOG]
    if equipped.get("pet") in PET_ITEMS:
        sprites.append(PET_ITEMS[equipped["pet"]])
    if equipped.get("hat") in HATS:
        sprites.append(HATS[equipped["hat"]])
    return _svg(_rects(sprites, body), CANVAS_WIDTH, CANVAS_HEIGHT, title=title)


def _sprite_for(slug: str) -> tuple[list[Sprite], str]:
    if slug in HATS:
        return [HATS[slug]], BODY_COLOURS["default"]
    if slug in PET_ITEMS:
        return [PET_ITEMS[slug]], BODY_COLOURS["default"]
    if slug in CONSUMABLES:
        return [CONSUMABLES[slug]], BODY_COLOURS["default"]
    if slug in BODY_COLOURS:
        return [CHARACTER], BODY_COLOURS[slug]
    raise KeyError(f"no pixel art for {slug!r}")


def item_svg(slug: str, *, title: str = "") -> str:
    """One item alone, cropped to its pixels with a pixel of margin, on a square canvas."""
    sprites, body = _sprite_for(slug)
    pixels = [(x, y) for sprite in sprites for x, y, _ in sprite.pixels()]
    left, right = min(x for x, _ in pixels) - 1, max(x for x, _ in pixels) + 1
    top, bottom = min(y for _, y in pixels) - 1, max(y for _, y in pixels) + 1
    side = max(right - left + 1, bottom - top + 1)
    # Centre the item in a square.
    x0 = left - (side - (right - left + 1)) // 2
    y0 = top - (side - (bottom - top + 1)) // 2
    return _svg(_rects(sprites, body), side, side, title=title or slug, x0=x0, y0=y0)


STATIC_DIR = Path(__file__).resolve().parents[1] / "static" / "gameplay"


def character_layers(equipped: dict[str, str]) -> list[str]:
    """The static pictures that, stacked, show a character wearing `equipped` (paths under the static root):
    the body in its colour with the dog, then the hat, then the dog's item, each on the full canvas. Pages
    show characters as stacked <img>s of these files, never as inline SVG next to what people typed."""
    colour = equipped.get("colour") if equipped.get("colour") in BODY_COLOURS else "default"
    layers = [f"gameplay/characters/body-{colour}.svg"]
    if equipped.get("hat") in HATS:
        layers.append(f"gameplay/characters/hat-{equipped['hat']}.svg")
    if equipped.get("pet") in PET_ITEMS:
        layers.append(f"gameplay/characters/pet-{equipped['pet']}.svg")
    return layers


def _layer_svg(sprites: list[Sprite], body: str, title: str) -> str:
    return _svg(_rects(sprites, body), CANVAS_WIDTH, CANVAS_HEIGHT, title=title) + "\n"


def static_files() -> dict[Path, str]:
    """Every static SVG the game serves, by path: one per shop item, and the character's layers."""
    files = {
        STATIC_DIR / "items" / f"{item.slug}.svg": item_svg(item.slug, title=item.name) + "\n" for item in CATALOGUE
    }
    layers = STATIC_DIR / "characters"
    for colour, body in BODY_COLOURS.items():
        files[layers / f"body-{colour}.svg"] = _layer_svg([CHARACTER, DOG], body, "A player and their dog")
    for slug, sprite in HATS.items():
        files[layers / f"hat-{slug}.svg"] = _layer_svg([sprite], BODY_COLOURS["default"], slug)
    for slug, sprite in PET_ITEMS.items():
        files[layers / f"pet-{slug}.svg"] = _layer_svg([sprite], BODY_COLOURS["default"], slug)
    return files


def write_static_files() -> list[Path]:
    written = []
    for path, text in static_files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_static_files():
        print(written_path)

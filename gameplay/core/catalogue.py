"""The shop: what can be bought, for how many Bones, and where it goes. Cosmetics are drawn as pixel art
(gameplay/core/pixelart.py) and owned once; consumables (hints, streak freezes) are counts on the profile."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ShopItem:
    slug: str
    name: str
    kind: str  # hat, pet, colour or consumable
    price: int
    description: str

    @property
    def is_cosmetic(self) -> bool:
        return self.kind != "consumable"

    @property
    def slot(self) -> str:
        return self.kind

    @property
    def static_path(self) -> str:
        return f"gameplay/items/{self.slug}.svg"


CATALOGUE: tuple[ShopItem, ...] = (
    ShopItem("cap", "Baseball cap", "hat", 30, "A red cap, brim to the front. Classic."),
    ShopItem("propeller", "Propeller hat", "hat", 60, "Spins when you think hard. (It does not spin.)"),
    ShopItem("wizard", "Wizard hat", "hat", 90, "For explaining the inexplicable."),
    ShopItem("crown", "Crown", "hat", 150, "For the top of the leaderboard, or anyone with 150 Bones."),
    ShopItem("collar", "Blue collar", "pet", 20, "A collar with a tag for your dog."),
    ShopItem("bandana", "Bandana", "pet", 35, "A red bandana for your dog."),
    ShopItem("bone", "Chew bone", "pet", 25, "Your dog holds a bone. Naturally."),
    ShopItem("mint", "Mint colour", "colour", 25, "Paint your character mint green."),
    ShopItem("violet", "Violet colour", "colour", 25, "Paint your character violet."),
    ShopItem("sunset", "Sunset colour", "colour", 40, "Paint your character orange."),
    ShopItem("hint", "Hint", "consumable", 15, "In a Predict round, reveal one card whose token is silent."),
    ShopItem(
        "streak-freeze", "Streak freeze", "consumable", 40, "Covers one missed day of your daily streak, automatically."
    ),
)
BY_SLUG = {item.slug: item for item in CATALOGUE}
SLOTS = ("hat", "pet", "colour")

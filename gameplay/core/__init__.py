"""The game's functional core: plain Python with no Django import. How a Predict round is scored, how XP
becomes levels, how many Bones a round earns, how reliable a verifier is and how verdicts become an
explanation's `human` score, streaks, the daily pick, achievements, the training camp's planted-rule
features, and the shop's catalogue with its pixel art.

The services (gameplay/services/) read and write the database and call these; the benchmark
(bench/game_quality.py) runs the same functions on simulated players. A test imports every module here
and checks that Django was not loaded.

predict.py       0-10 scaling, the skill of a round (1 - SSE / SSE of the best constant guess), card glyphs
progression.py   XP from skill, the level curve
bones.py         Bones per scored round: skill x base, diminishing returns on replays, daily cap
reliability.py   verifiers' reliability from gold items; gold-weighted human score via the scoring core
gold.py          gold Verify cards: a planted rule on real windows, with its certain answers
cards.py         which tokens of held-out windows a real-feature round asks about: high, mid, look-alike, silent
explain.py       an Explain answer scored by the offline scorers, with the windows it missed
streaks.py       daily streaks with freezes that are used up automatically
daily.py         the feature of the day, deterministic per date
achievements.py  milestones and when they are earned
camp.py          the training camp: rungs of planted-rule features, their items, lessons and progress
catalogue.py     the shop's items, their prices and slots
pixelart.py      the character, the dog and the shop's items as SVG pixels; `python -m gameplay.core.pixelart`
                 writes the static SVGs
"""

"""Writes of the game, one module per thing they change; views, commands and tasks only call these, and
import each function from the module that holds it (nothing is re-exported here). Reads are in
gameplay/selectors.py, the game's rules as plain Python in gameplay/core/.

profiles.py      a player's profile: created on first use, the one lock, what it has unlocked
ledger.py        the Bones ledger: grants and spends, once per idempotency key, never below zero
rounds.py        rounds of cards: building them, answering a card, finishing and paying a round, hints
predict.py       Predict rounds: training camp, real features, and the daily feature
verify.py        Verify rounds: other players' explanations on held-out cards, with gold cards mixed in
held_out.py      held-out pools: the windows real features' cards come from, with their true values, stored
explain.py       Explain answers, scored at once (camp rungs and real features, which go on the wiki)
human_scores.py  the scores the game writes to the wiki: human scores from Verify, an Explain answer's scores
shop.py          buying from the shop, and wearing what was bought
achievements.py  awarding achievements with their Bones

Money and truth rules, enforced here for every caller:
- The ledger is append-only; a player's balance is the sum of their entries and never negative. Every grant
  and every purchase carries an idempotency key (unique in the database), and every change to a balance
  happens with the player's profile row locked, in the same transaction as its ledger entry.
- A round's truth is written when it starts and read when an answer comes in. An answer is stored once per
  player and item; a round is finished, scored and paid once (its ledger key is derived from the round).
- Bones and XP come only from scored play against ground truth: never from agreeing with other players.
"""

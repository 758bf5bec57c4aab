"""Small closed word classes that explanations name ("after a colour word", "when negated") and that the
offline explainer uses to summarise contexts. Deliberately small: exact, readable, and easy to extend."""

WORD_CLASSES: dict[str, frozenset[str]] = {
    "colour": frozenset(
        "black white grey gray red green blue yellow orange purple pink brown violet silver golden gold "
        "crimson scarlet beige ginger tabby".split()
    ),
    "number": frozenset(
        "zero one two three four five six seven eight nine ten eleven twelve twenty thirty hundred thousand "
        "million 0 1 2 3 4 5 6 7 8 9 10 100 1000".split()
    ),
    # English's negators: the adverbs and determiners (not, no, never) and the negative pronouns (none, nothing).
    "negation": frozenset(
        "not no never n't nor neither none nothing nobody nowhere without cannot isn't wasn't don't doesn't "
        "didn't".split()
    ),
    "weekday": frozenset("monday tuesday wednesday thursday friday saturday sunday".split()),
    "month": frozenset("january february march april may june july august september october november december".split()),
    "pronoun": frozenset("i you he she it we they me him her us them".split()),
    "article": frozenset("a an the".split()),
}

# Words that name a class in an explanation ("colour word", "colors", "numbers", "a negation").
CLASS_NAMES: dict[str, str] = {
    "colour": "colour",
    "colours": "colour",
    "color": "colour",
    "colors": "colour",
    "number": "number",
    "numbers": "number",
    "numeral": "number",
    "numerals": "number",
    "digit": "number",
    "digits": "number",
    "negation": "negation",
    "negations": "negation",
    "negative": "negation",
    "weekday": "weekday",
    "weekdays": "weekday",
    "day": "weekday",
    "days": "weekday",
    "month": "month",
    "months": "month",
    "pronoun": "pronoun",
    "pronouns": "pronoun",
    "article": "article",
    "articles": "article",
}

NEGATIONS = WORD_CLASSES["negation"]


def word_class_of(words: set[str] | frozenset[str], *, min_size: int = 2) -> str | None:
    """The class that contains every one of `words` (at least `min_size` of them), if there is one."""
    if len(words) < min_size:
        return None
    for name, members in WORD_CLASSES.items():
        if words <= members:
            return name
    return None

"""The semantic judge (scoring/core/semantic.py) on unambiguous cases, through simulate, detect and fuzz, with
the real MiniLM that the project ships; and the explanation's parts read as they are written."""

import pytest

from scoring.core.examples import ExampleSet
from scoring.core.judges import LiteralJudge
from scoring.core.offline_judges import DEFAULT_JUDGE, JUDGE_NAMES, offline_judge
from scoring.core.records import ActivationRecord
from scoring.core.scorers import get_scorer
from scoring.core.semantic import SemanticJudge, read_explanation, token_words

GOOD_UNLESS = "the word good, except when preceded by not, never or no"


def words(text: str) -> list[str]:
    return text.split()


@pytest.fixture(scope="module")
def judge() -> SemanticJudge:
    return SemanticJudge()


def test_the_default_offline_judge_is_the_semantic_one_and_the_literal_one_stays():
    assert DEFAULT_JUDGE == "semantic" and {"semantic", "literal", "openai-compatible"} <= set(JUDGE_NAMES)
    assert isinstance(offline_judge(), SemanticJudge)
    assert isinstance(offline_judge("literal"), LiteralJudge)
    assert isinstance(offline_judge("offline"), LiteralJudge)  # what scores stored as `offline` were


def test_an_explanation_is_read_in_parts():
    reading = read_explanation(GOOD_UNLESS)
    assert reading.thing.sequences == (("good",),)
    assert [e.words for e in reading.exceptions] == [frozenset({"not", "never", "no"})]
    context = read_explanation("the word cat right after a colour word")
    assert context.thing.sequences == (("cat",),) and context.after is not None and context.after.sequences is None
    assert read_explanation("words for colours").thing.sequences is None  # describes, does not name
    assert read_explanation("the phrase ice cream").thing.sequences == (("ice", "cream"),)
    assert read_explanation("cat").thing.sequences == (("cat",),)


def test_word_pieces_and_spaced_tokens_are_read_as_whole_words():
    assert token_words(["the", "crim", "##son", "cat"]) == [0, 1, 1, 2]
    assert token_words(["The", " crim", "son", " cat", "."]) == [0, 1, 1, 2, 3]


def test_colour_words_fire_on_colours_the_lexicon_does_not_list(judge):
    window = words("the wall was turquoise and the door was magenta .")
    simulated = dict(zip(window, judge.simulate("colour words", [window])[0], strict=True))
    # Calibrated for text, where colours are rare: the clearest unlisted colour fires, the other ranks next.
    assert simulated["turquoise"] >= 5
    others = [value for token, value in simulated.items() if token not in {"turquoise", "magenta"}]
    assert simulated["magenta"] > 3 * max(others)
    assert not any(LiteralJudge().predict("colour words", window))  # the word list misses both
    coloured, plain = judge.detect("colour words", [window, words("the wall was old and the door was shut .")])
    assert coloured >= 0.5 and plain == pytest.approx(0.0, abs=0.1)


def test_numbers_fire_on_digits_and_number_words(judge):
    window = words("there were 42 cats and seven dogs in 1999 .")
    p = judge.probabilities("numbers", window)
    assert [token for token, value in zip(window, p, strict=True) if value >= 0.5] == ["42", "seven", "1999"]
    assert judge.fuzz("numbers", [(window, [2, 5]), (window, [3, 6])]) == [
        pytest.approx(1.0, abs=0.05),
        pytest.approx(0.0, abs=0.1),
    ]


def test_an_exception_for_negation_silences_the_word_it_names(judge):
    assert max(judge.probabilities(GOOD_UNLESS, words("no good came of it ."))) < 0.5
    assert max(judge.probabilities(GOOD_UNLESS, words("not very good ."))) < 0.5
    assert judge.probabilities(GOOD_UNLESS, words("a good day ."))[1] > 0.9
    negations = judge.probabilities("negation words", words("it was not good , never bad ."))
    assert [round(v) for v in negations] == [0, 0, 1, 0, 0, 1, 0, 0]


def test_every_answer_is_a_probability(judge):
    windows = [words("the crimson cat sat on 3 mats , not 4 ."), words("chapter one begins here .")]
    for explanation in ("colour words", "numbers", GOOD_UNLESS, "words about rivers", "the phrase ice cream", "x"):
        assert all(0.0 <= v <= 10.0 for row in judge.simulate(explanation, windows) for v in row)
        assert all(0.0 <= v <= 1.0 for v in judge.detect(explanation, windows))
        assert all(0.0 <= v <= 1.0 for v in judge.fuzz(explanation, [(windows[0], [1, 2])]))


def test_the_scorers_use_it_by_default_and_rank_the_plain_words_first():
    active = [
        ActivationRecord(words("a turquoise coat and a magenta hat ."), (0, 5, 0, 0, 0, 6, 0, 0)),
        ActivationRecord(words("the sky turned violet ."), (0, 0, 0, 7, 0)),
    ]
    silent = [ActivationRecord(words("the dog ran home ."), (0,) * 5)] * 3
    examples = ExampleSet(top=active, random=silent)
    plain = get_scorer("detection").score("colour words", examples)
    listed = get_scorer("detection").score("the tokens turquoise, magenta", examples)  # misses violet
    assert plain.details["judge"] == "semantic"
    assert plain.value == 1.0 and listed.value < plain.value


def test_the_words_that_describe_a_class_are_not_its_members(judge):
    window = words("the colour of the color field is red .")
    fired = [t for t, p in zip(window, judge.probabilities("colour words", window), strict=True) if p >= 0.5]
    assert fired == ["red"]
    months = words("each month of the year , june was monthly .")
    fired = [t for t, p in zip(months, judge.probabilities("names of months", months), strict=True) if p >= 0.5]
    assert fired == ["june"]
    # Examples given after "such as" are members; a bare plural still names its own word.
    assert read_explanation("words for colours such as red or teal").thing.named("teal")
    assert judge.probabilities("cats", words("a cat sat ."))[1] > 0.9


def test_plural_nouns_are_told_by_their_form(judge):
    window = words("the files and their entries is a file class .")
    p = judge.probabilities("plural nouns", window)
    assert [t for t, value in zip(window, p, strict=True) if value >= 0.5] == ["files", "entries"]
    assert p[window.index("file")] == 0.0 and p[window.index("class")] == 0.0


def test_python_keywords_are_the_ones_python_lists(judge):
    window = words("def parse ( text ) : return none if the value is empty")
    p = judge.probabilities("Python keywords and built-in names", window)
    fired = [t for t, value in zip(window, p, strict=True) if value >= 0.5]
    assert fired == ["def", "return", "none"]  # if and is are English function words here
    # Saying Python without keywords or built-ins names no closed class: "return" is then judged by meaning.
    assert not read_explanation("python code").thing.known
    assert not read_explanation("keywords of a search").thing.known


def test_a_compound_that_holds_the_class_word_is_not_a_member(judge):
    # "pencolor" and "fillcolor" (turtle's docstrings) name a colour setting, not a colour; MiniLM puts them
    # next to "colour" all the same.
    window = words("set the pen ##color to red and the fill ##color to blue .")
    p = judge.probabilities("colour words", window)
    assert [t for t, value in zip(window, p, strict=True) if value >= 0.5] == ["red", "blue"]
    assert p[window.index("pen")] == 0.0 and p[window.index("fill")] == 0.0
    # A member that happens to hold a class word still fires: the phrase names it.
    assert judge.probabilities("words for colours such as redcolour", ["redcolour"])[0] > 0.9


def test_the_negative_pronouns_are_negations(judge):
    window = words("none of them , nothing at all and nobody came , but it was not late")
    p = judge.probabilities("negation words", window)
    assert [t for t, value in zip(window, p, strict=True) if value >= 0.5] == ["none", "nothing", "nobody", "not"]
    # ... and they negate what follows them as "not" does.
    assert judge.probabilities("the word good unless negated", words("nothing good"))[1] < 0.1


def test_kinds_of_something_describe_a_class_whose_name_is_not_a_member(judge):
    # "units of time": "time" names the class, it is not a unit of time (it got 0.99 before).
    window = words("wait ten seconds , the time is short")
    p = judge.probabilities("units of time", window)
    assert p[window.index("time")] == 0.0 and p[window.index("seconds")] > p[window.index("wait")]
    assert read_explanation("parts of the body").thing.echoed("body")
    assert not read_explanation("lots of fun").thing.echoes  # only heads that name kinds (units, types, parts...)

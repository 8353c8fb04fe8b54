"""The plain-Markdown fast path gives exactly what the full converter gives, or declines."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml

from samverkan import plainmarkdown, rendering

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def converter():
    md = rendering.new_markdown()

    def convert(text: str) -> tuple[str, str]:
        md.reset()
        return str(md.convert(text)), md.plain_text

    return convert


def sample_texts() -> list[str]:
    texts = []
    for path in sorted((ROOT / "campaigns").glob("*.yaml")):
        for message in yaml.safe_load(path.read_text(encoding="utf-8")).get("messages", []):
            overrides = [o.get("body") for o in (message.get("overrides") or {}).values() if isinstance(o, dict)]
            texts += [t for t in [message.get("title"), message.get("body"), *overrides] if t]
    return texts


def test_every_sample_text_takes_the_fast_path_with_the_converters_output(converter):
    texts = sample_texts()
    assert len(texts) > 100
    for text in texts:
        assert plainmarkdown.convert(text) == converter(text), text


# Markdown of every kind a body may hold, most of it outside the fast path's subset.
CORPUS = [
    "Plain text, nothing to mark up.\n\n- one\n- two\n\n1. first\n2. second",
    "**Fet** och *kursiv*, __fet__ och _kursiv_, snake_case_ord och 2 * 3 * 4.",
    "Kod: `a_b *c*` och ``dubbel ` bakåt``, escapes: \\*inte kursiv\\* \\[inte länk\\] \\\\ snedstreck.",
    "[Länk](https://www.hultsfred.se/skolstart \"Titel\") och [referens][1] och [kort].\n\n"
    "[1]: https://polisen.se\n[kort]: https://example.se",
    "![Bild](bild.png) och ![referensbild][b] och ![kort]\n\n[b]: b.png",
    "<https://www.hultsfred.se> och <trygghet@hultsfred.se> och <b>inte html</b> & &amp; &copy;",
    "Rad ett  \nrad två med hårt radbrott  \nrad tre",
    "> Citat med **fet [länk](https://x.se)** inuti\n\n    kodblock med *stjärnor*\n\n# Rubrik *kursiv*",
    "Nästlat: ***fet och kursiv***, **fet _kursiv_ fet**, [**fet länk**](https://x.se), `[ingen länk](x)`",
    "Oavslutat: *stjärna, [hakparentes, <vinkel, `backtick, _understreck",
    "Bara _kursiv_ och __fet__ här.",
    "Bara en \\* stjärna som inte är kursiv, och ett radbrott  \nsen.",
    "Bara ![bild](b.png) här.",
    "Bara <https://x.se> här.",
    "Bara `kod` här.",
    "Bara [länk](https://x.se) här.",
    "Blandat: text_med_understreck och *en* [a](b) <c@d.se>  \nslut",
    "- punkt med [länk](https://a.se)\n- punkt med `kod`\n  - nästlad *kursiv*\n\nStycke efter.",
    "Javascript: [klicka](javascript:alert(1)) och [data](data:text/html,x)",
]



def test_markdown_of_every_kind_gives_the_converters_output_or_declines(converter):
    accepted = 0
    for text in CORPUS:
        fast = plainmarkdown.convert(text)
        if fast is not None:
            accepted += 1
            assert fast == converter(text), text
    assert 0 < accepted < len(CORPUS)


# Tokens near every edge of the subset: block starts, rules and setext lines, stray and
# adjacent stars, brackets, entities, escapes, raw HTML, odd whitespace.
TOKENS = ["ord", "Polisen", "går", "hem", " ", " ", " ", "\n", "\n", "\n\n", "*", "**", "***", "* * *", "[", "]",
          "(", ")", "https://x.se/a?b=1&c=2", "](https://www.hultsfred.se/s)", "- ", "* ", "+ ", "1. ", "3. ",
          "2024. ", "1.5", "#", ">", "&", "&amp;", "&#38;", '"', "'", "_", "__", "12", ".", ",", "!", "![", "?", ":",
          "\xa0", "=", "===", "---", "- - -", "  ", "\t", "`", "\\", "<b>", "<https://a.se>", "å", "é", "–", "%",
          "/", "[länk](https://a.se)", "[länk](mailto:a@b.se)", "[https://a.se](https://a.se)", "**fet**",
          "*kursiv*", "\n- ", "\n1. ", "\n\n- ", "\n\n3. ", "\n**", "\n*", "\n+", "\n=", "\n#", "\n>", "\n    ", "\r\n"]
WORDS = ["Polisen", "och", "kommunen", "går", "1.", "2024.", "12", "&", "R&D", '"citat"', "'x'", "–", "(parentes)",
         ")", "(", "!", "?", ".", ",", ":", "%", "/", "#tag", "ord.", "km/h", "\xa0", "é", "=", "-", "+", "1)",
         "www.x.se", "https://x.se/a?b=1&c=2"]
LINKS = ["https://a.se", "http://b.se/x?y=1&z=2", "https://c.se/(x)", "mailto:a@b.se", "javascript:alert(1)"]


def random_text(rnd: random.Random) -> str:
    return "".join(rnd.choice(TOKENS) for _ in range(rnd.randint(1, 30)))


def structured_text(rnd: random.Random) -> str:
    """Paragraphs and lists of the subset, with now and then something just outside it."""
    def inline() -> str:
        out = []
        for _ in range(rnd.randint(1, 12)):
            word, r = rnd.choice(WORDS), rnd.random()
            if r < 0.1:
                word = f"**{word}**"
            elif r < 0.2:
                word = f"*{word}*"
            elif r < 0.27:
                word = f"[{word}]({rnd.choice(LINKS)})"
            elif r < 0.3:
                word = f"**{word} {rnd.choice(WORDS)}**"
            out += [word, rnd.choice([" ", " ", " ", " ", " ", "\n", "", "  "])]
        return "".join(out).strip(" ")

    def block() -> str:
        if rnd.random() < 0.5:
            return inline()
        marker = rnd.choice(["- ", "* ", "+ ", "1. ", "3. ", "10. "])
        return "\n".join((marker if rnd.random() < 0.9 else rnd.choice(["- ", "2. ", "", "  "])) + inline()
                         for _ in range(rnd.randint(1, 4)))

    return (rnd.choice(["\n\n", "\n\n", "\n", "\n\n\n"]).join(block() for _ in range(rnd.randint(1, 4)))
            + rnd.choice(["", "\n", "\n\n"]))


@pytest.mark.parametrize("generate", [random_text, structured_text])
def test_generated_texts_give_the_converters_output_or_decline(converter, generate):
    rnd = random.Random(20261127)
    accepted = 0
    for _ in range(40000):
        text = generate(rnd)
        fast = plainmarkdown.convert(text)
        if fast is not None:
            accepted += 1
            assert fast == converter(text), repr(text)
    assert accepted > 500  # the comparison ran on enough texts the fast path took


@pytest.mark.parametrize("text", [
    "`kod`", "a \\* b", "<b>fet</b>", "<https://a.se>", "snake_case", "![bild](https://a.se/b.png)",
    "rad  \nbryts", "# Rubrik", "> citat", "text\n===", "text\n---", "***", "- a\n  - b", "- a\nlat rad",
    "- a\n\n- b", "[ref]: https://a.se", "[a](https://a.se \"titel\")", "[a](mailto:a@b.se)", "&amp;",
    "**a *b* c**", "*a**b*", "    kod", "\n\n\ntext", "a\n\n\nb",
])
def test_texts_outside_the_subset_go_to_the_converter(text):
    assert plainmarkdown.convert(text) is None


def test_conversion_takes_the_fast_path_and_still_falls_back(converter, monkeypatch):
    rendering._convert.cache_clear()
    monkeypatch.setattr(plainmarkdown, "convert", lambda text: ("<p>snabb</p>", "snabb") if text == "x" else None)
    assert (rendering.markdown_html("x"), rendering.markdown_text("x")) == ("<p>snabb</p>", "snabb")
    monkeypatch.undo()
    rendering._convert.cache_clear()
    plain = "Sänk **farten** vid [skolorna](https://a.se/skola?x=1&y=2).\n\n- Stanna.\n- Titta.\n"
    assert rendering.markdown_html(plain) == converter(plain)[0]
    assert rendering.markdown_text(plain) == "Sänk farten vid skolorna (https://a.se/skola?x=1&y=2).\n\n• Stanna.\n• Titta."
    heading = "# Rubrik\n\nText med `kod`."
    assert plainmarkdown.convert(heading) is None
    assert rendering.markdown_html(heading) == "<h1>Rubrik</h1>\n<p>Text med <code>kod</code>.</p>"

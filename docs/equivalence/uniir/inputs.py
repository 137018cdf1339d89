"""Inputs of the UniIR CLIP_SF equivalence check (run_reference.py; export_fixture.py copies them
into the fixture's metadata, which tests/retrievers/test_uniir_equivalence.py reads).

QUERIES: (question, index of tiny.images(3) or None). DOCS: (title, text).
"""

INSTRUCTION = "Retrieve a Wikipedia paragraph that provides an answer to the given query about the image."

QUERIES = [
    ("what is the name of the bird sitting on the branch", 0),
    ("Who made this car? &amp; “which” year", 1),
    ("where is this café", None),  # no image: UniIR's black image with mask 0
    ("which colour " * 40 + "?", 2),  # longer than 77 tokens: clip.tokenize's truncation
    ('"the capital of france"', 0),  # M-BEIR's format_string strips the quotes
]

DOCS = [
    ("Robin", "The European robin is a small bird; it eats insects"),
    ("", "Paris is the capital of France (2.1 million residents)!"),
    ("Toyota", "Toyota Motor Corporation is a Japanese car maker. " * 12),
    ("", "bus"),
]

TOKENIZER_STRINGS = [
    "What is the name of the bird sitting on the branch?",
    "Café, naïve façade — “curly quotes” and ‘single’ ones…",
    "Tom&amp;Jerry &lt;b&gt; html &#39;entities&#39;",
    "numbers 3.5 1,234 2024-01-02 and UPPER lower MiXeD",
    "emoji 😀 and CJK 東京 and Ελληνικά and العربية",
    "it's they're we've I'm you'll he'd",
    "tabs\tand\nnew  lines   collapse",
    "mojibake: cafÃ© and Ã©tÃ©",
    "fullwidth ＡＢＣ and ligatures ﬁ ﬂ",
    "a " * 120,
    "Toyota Motor Corporation is a Japanese car maker. " * 12,
]

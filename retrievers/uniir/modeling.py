"""UniIR CLIP_SF (score-level fusion CLIP; Wei et al., "UniIR", ECCV 2024, arXiv 2311.17136),
the whole forward pass, written from ``src/models/uniir_clip/clip_scorefusion/clip_sf.py`` and
``src/data/mbeir_dataset.py`` of github.com/TIGER-AI-Lab/UniIR (98dc570).

One CLIP (ViT-L/14 at 224 px in the released checkpoint, embedding dimension 768) encodes every
item, query or candidate, the same way:

    text  = format_string(f"{instruction} {question}")  (query; configuration.query_text)
          | format_string(f"{title}. {text}")           (passage; configuration.passage_text)
    ids   = clip.tokenize(text, 77, truncate=True)      [B, L<=77]  (processing.ClipTokenizer)
    t     = text_projection(ln_final(h_text)[eot])      [B, D]      (CLIP.encode_text)
    x     = clip preprocess(image)                      [B, 3, R, R] (processing.pixels)
    v     = visual.proj(ln_post(h_vision)[cls])         [B, D]      (CLIP.encode_image)
    e     = t * m_t + v * m_v                           [B, D]      (fuse_embeddings; raw, unnormalised)
    score = cos(e_q, e_p)                               faiss.normalize_L2 then inner product

``m_t`` / ``m_v`` are 1 where the item has text / an image, 0 where UniIR's collator padded it
(an empty string, a black image): the fusion is the *sum of the unnormalised* CLIP embeddings,
and only the sum is normalised (UniIR's retriever normalises the saved embeddings before the
inner-product index). Passages are text only (``m_v`` = 0), so a passage embedding is its text
embedding. A padded modality contributes exactly nothing, so mire-eval runs no tower on it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class UniIRClipSF(torch.nn.Module):
    """transformers' ``CLIPModel`` holding UniIR's weights (:mod:`retrievers.uniir.conversion`),
    with UniIR's text/image encoders and score-level fusion."""

    def __init__(self, clip):
        super().__init__()
        self.clip = clip  # transformers CLIPModel, fp32, eval mode

    @property
    def image_size(self) -> int:
        return self.clip.config.vision_config.image_size

    def encode_text(self, input_ids: torch.Tensor) -> torch.Tensor:
        """[B, L] ids (``<|startoftext|>`` ... ``<|endoftext|>`` then 0s) -> [B, D] raw text
        embedding: the causal text transformer, final LayerNorm, the ``<|endoftext|>`` state
        (the first one; OpenAI takes ``argmax(ids)``, the same position), ``text_projection``."""
        out = self.clip.text_model(input_ids=input_ids)  # no padding mask: causal, as OpenAI's
        return self.clip.text_projection(out.pooler_output)  # [B, W_t] -> [B, D]

    def encode_image(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """[B, 3, R, R] normalised pixels -> [B, D] raw image embedding: patch embedding + class
        token + positions, ``ln_pre``, the ViT, ``ln_post`` of the class token, ``visual.proj``."""
        out = self.clip.vision_model(pixel_values=pixel_values)
        return self.clip.visual_projection(out.pooler_output)  # [B, W_v] -> [B, D]

    def parts(self, input_ids: torch.Tensor | None, text_rows: torch.Tensor | None,
              pixel_values: torch.Tensor | None, image_rows: torch.Tensor | None,
              batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The raw text and image embeddings of ``batch`` items, each [batch, D], 0 where the
        item's modality is padded (mask 0). ``input_ids`` are the texts of the rows
        ``text_rows``, ``pixel_values`` the images of the rows ``image_rows``."""
        device = self.clip.logit_scale.device
        text = torch.zeros(batch, self.clip.config.projection_dim, device=device)
        image = torch.zeros_like(text)
        if input_ids is not None and len(text_rows):
            text[text_rows.to(device)] = self.encode_text(input_ids.to(device))
        if pixel_values is not None and len(image_rows):
            image[image_rows.to(device)] = self.encode_image(pixel_values.to(device))
        return text, image

    def embed(self, input_ids: torch.Tensor | None, text_rows: torch.Tensor | None,
              pixel_values: torch.Tensor | None, image_rows: torch.Tensor | None, batch: int) -> torch.Tensor:
        """``batch`` items -> [batch, D]: ``text + image`` (score-level fusion of the raw
        embeddings), L2-normalised. A row with neither is the zero vector, as UniIR leaves it."""
        text, image = self.parts(input_ids, text_rows, pixel_values, image_rows, batch)
        return F.normalize(text + image, dim=-1)

"""FLMR / PreFLMR (Lin et al., NeurIPS 2023 / ACL 2024): the forward pass, query and passage.

Written from the authors' ``FLMRModelForRetrieval`` (github.com/LinWeizheDragon/FLMR,
``flmr/models/flmr/modeling_flmr.py``: ``query``, ``doc``, ``query_mask``, ``mask``) and the
PreFLMR paper. A multimodal query becomes late-interaction vectors; the fusion MIRe removes
is the mapping network's cross-attention from image patches to the question's encoding:

    ids, mask (ColBERT [Q] tokens, [PAD] -> [MASK])        [B, Lq]            (tokenization.py)
    question ──BERT (query text encoder)────────────> H_t  [B, Lq, Ht]
    H_t ──linear (Ht -> 128, no bias)──x query_mask──> E_t  [B, Lq, 128]      (instruction rows 0)
    image ──CLIP ViT─────────> CLS (last layer)             [B, Dv]
                               patches (penultimate layer)  [B, P, Dv]
    CLS ──MLP (Dv -> 128*N/2, tanh, -> 128*N)────────> E_v  [B, N, 128]       (N = prefix length, 32)
    patches ──linear (Dv -> Ht)──BERT layers: self-attention over patches,
              cross-attention to H_t[:, :32]──linear (Ht -> 128)──> E_m [B, P, 128]   (PreFLMR only)
    query = L2norm([E_t; E_v; E_m])                         [B, Lq + N + P, 128]
    passage: ids ([D] marker) ──BERT (context encoder)──linear──x keep──L2norm   [B, Ld, 128]
             keep = not [PAD], not punctuation (mask_punctuation)

The score is MaxSim (sum over query rows of the best passage row). ``query_mask`` keeps
[CLS], [Q], every token after the first instruction token and every [MASK] augmentation
token (their attention mask is 0, their vectors are kept: only id 0, [PAD], is dropped), and
zeroes the instruction (positions 2 .. first mask_instruction_token, inclusive); a zero row
adds 0 to every MaxSim score, and the authors' search drops them (``remove_zero_tensors``).

The mapping network's self-attention is bidirectional over the patches: the authors pass no
self-attention mask to a BERT built with ``is_decoder=True``, which transformers < 4.41 (the
versions PreFLMR was trained with) left unmasked, while its SDPA attention since 4.41 makes
causal. ``mapping_attention="causal"`` reproduces the latter (docs/reproducibility.md).

State-dict names are the released file's after :mod:`retrievers.preflmr.loading`'s renaming:
``context_text_encoder.bert_model.*``, ``context_text_encoder_linear.weight``,
``query_text_encoder*`` (separate text encoders only), ``context_vision_encoder.*`` (CLIP
vision model), ``context_vision_projection.model.{0,2}.*``, ``query_vision_*`` (separate
vision encoders only), ``transformer_mapping_{input_linear,network,output_linear}.*``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from retrievers.preflmr.configuration import FLMRConfig

# Which component produced a query row (query_token_sources).
SOURCE_TEXT, SOURCE_MAPPED_CLS, SOURCE_MAPPING_NETWORK = 0, 1, 2
SOURCE_NAMES = ("text tokens", "mapped CLS", "mapping network")


class TextEncoder(nn.Module):
    """The authors' ``FLMRTextModel``: a BERT with pooler (``bert_model.*``; the pooler and
    the optional ``encode_proj`` are loaded but never read by late interaction)."""

    def __init__(self, bert_config, projection_dim: int = 0):
        super().__init__()
        from transformers import BertModel

        self.bert_model = BertModel(bert_config, add_pooling_layer=True)
        if projection_dim > 0:
            self.encode_proj = nn.Linear(bert_config.hidden_size, projection_dim)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.bert_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


class MappingMLP(nn.Module):
    """``FLMRMultiLayerPerceptron((Dv, 128 N / 2, 128 N))``: linear, tanh, linear (``model.0``, ``model.2``)."""

    def __init__(self, sizes: tuple[int, ...]):
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers.append(nn.Tanh())
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class FLMRModel(nn.Module):
    """Text encoder(s) + CLIP vision encoder + mapping MLP (+ PreFLMR's transformer mapping network)."""

    def __init__(self, config: FLMRConfig, mapping_config=None, mapping_attention: str = "bidirectional"):
        super().__init__()
        from transformers import CLIPVisionModel

        self.config = config
        self.dim = config.dim
        self.prefix_length = config.mapping_network_prefix_length
        self.mapping_attention = mapping_attention
        text_hidden, vision_hidden = config.text_config.hidden_size, config.vision_config.hidden_size
        projection = config.text_extra.get("projection_dim", 0)
        self.context_text_encoder = TextEncoder(config.text_config, projection)
        self.context_text_encoder_linear = nn.Linear(text_hidden, self.dim, bias=False)
        if config.separate_query_and_context_text_encoder:
            self.query_text_encoder = TextEncoder(config.text_config, projection)
            self.query_text_encoder_linear = nn.Linear(text_hidden, self.dim, bias=False)
        sizes = (vision_hidden, self.dim * self.prefix_length // 2, self.dim * self.prefix_length)
        vision_config = config.vision_config
        vision_config._attn_implementation = "eager"  # CLIP's default attention in the authors' transformers 4.x
        self.context_vision_encoder = CLIPVisionModel(vision_config)
        self.context_vision_projection = MappingMLP(sizes)
        if config.separate_query_and_context_vision_encoder:
            self.query_vision_encoder = CLIPVisionModel(vision_config)
            self.query_vision_projection = MappingMLP(sizes)
        if config.use_transformer_mapping_network:
            from transformers.models.bert.modeling_bert import BertEncoder

            mapping_config._attn_implementation = "eager"
            self.transformer_mapping_input_linear = nn.Linear(vision_hidden, mapping_config.hidden_size)
            self.transformer_mapping_network = BertEncoder(mapping_config)
            self.transformer_mapping_output_linear = nn.Linear(mapping_config.hidden_size, self.dim)

    # Tied modules when the config does not separate them (the authors alias one module).
    def query_text(self) -> tuple[nn.Module, nn.Module]:
        if self.config.separate_query_and_context_text_encoder:
            return self.query_text_encoder, self.query_text_encoder_linear
        return self.context_text_encoder, self.context_text_encoder_linear

    def query_vision(self) -> tuple[nn.Module, nn.Module]:
        if self.config.separate_query_and_context_vision_encoder:
            return self.query_vision_encoder, self.query_vision_projection
        return self.context_vision_encoder, self.context_vision_projection

    # ---------------------------------------------------------------------------------------
    def text_side(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                  keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(H_t [B, Lq, Ht], E_t [B, Lq, 128])``: E_t = linear(H_t) with rows not kept zeroed."""
        encoder, linear = self.query_text()
        hidden = encoder(input_ids, attention_mask)                        # [B, Lq, Ht]
        return hidden, linear(hidden) * keep.unsqueeze(-1).to(hidden.dtype)  # [B, Lq, 128]

    def vision_features(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(CLS [B, Dv], patches [B, P, Dv])``: the last layer's CLS before post_layernorm
        (``last_hidden_state[:, 0]``) and the penultimate layer's patch states."""
        encoder, _ = self.query_vision()
        out = encoder(pixel_values=pixel_values, output_hidden_states=True)
        return out.last_hidden_state[:, 0], out.hidden_states[-2][:, 1:]

    def mapped_cls(self, cls: torch.Tensor) -> torch.Tensor:
        """E_v: [B, Dv] -> [B, 128 N] -> [B, N, 128]."""
        _, projection = self.query_vision()
        return projection(cls).view(cls.size(0), -1, self.dim)

    def mapping_network(self, patches: torch.Tensor, text_hidden: torch.Tensor,
                        cross_mask: torch.Tensor) -> torch.Tensor:
        """E_m: patches [B, P, Dv] attend to each other and cross-attend to the text encoder's
        hidden states (the first ``transformer_mapping_cross_attention_length`` rows, with
        ``cross_mask`` [B, Lq]: 1 everywhere but the skip-list ids): [B, P, 128]."""
        length = self.config.transformer_mapping_cross_attention_length
        text_hidden, cross_mask = text_hidden[:, :length], cross_mask[:, :length]   # [B, Lc, Ht], [B, Lc]
        x = self.transformer_mapping_input_linear(patches)                 # [B, P, Ht]
        min_value = torch.finfo(x.dtype).min
        # additive masks: [B, 1, 1, Lc] for the cross-attention (the authors' invert_attention_mask)
        cross = (1.0 - cross_mask[:, None, None, :].to(x.dtype)) * min_value
        # [1, 1, P, P] for the self-attention: all zeros (bidirectional) or causal; given
        # explicitly so that no attention implementation turns it causal on its own.
        P = x.size(1)
        self_mask = torch.zeros(1, 1, P, P, dtype=x.dtype, device=x.device)
        if self.mapping_attention == "causal":
            self_mask = self_mask.masked_fill(
                torch.ones(P, P, dtype=torch.bool, device=x.device).triu(1), min_value)
        out = self.transformer_mapping_network(
            x, attention_mask=self_mask, encoder_hidden_states=text_hidden,
            encoder_attention_mask=cross).last_hidden_state                 # [B, P, Ht]
        return self.transformer_mapping_output_linear(out)                 # [B, P, 128]

    def query(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, keep: torch.Tensor,
              cross_mask: torch.Tensor, pixel_values: torch.Tensor | None,
              with_text: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """``(Q, sources)``: L2-normalised query vectors [B, R, 128] and each row's source [R]
        (SOURCE_*). ``pixel_values`` None: text rows only (the probe's text view);
        ``with_text=False``: the visual rows only (the image view; the text still feeds the
        mapping network's cross-attention)."""
        hidden, text = self.text_side(input_ids, attention_mask, keep)   # [B, Lq, Ht], [B, Lq, 128]
        parts, sources = [], []
        if with_text and self.config.query_concat_output_from_text_encoder:
            parts.append(text)
            sources += [SOURCE_TEXT] * text.size(1)
        if pixel_values is not None and self.config.query_concat_output_from_vision_encoder:
            cls, patches = self.vision_features(pixel_values)              # [B, Dv], [B, P, Dv]
            mapped = self.mapped_cls(cls)                                   # [B, N, 128]
            parts.append(mapped)
            sources += [SOURCE_MAPPED_CLS] * mapped.size(1)
            if self.config.use_transformer_mapping_network:
                mapped_patches = self.mapping_network(patches, hidden, cross_mask)  # [B, P, 128]
                parts.append(mapped_patches)
                sources += [SOURCE_MAPPING_NETWORK] * mapped_patches.size(1)
        Q = torch.cat(parts, dim=1)                                         # [B, Lq + N + P, 128]
        return F.normalize(Q, p=2, dim=2), torch.tensor(sources, dtype=torch.long)

    def passage(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                keep: torch.Tensor) -> torch.Tensor:
        """L2-normalised passage vectors, rows not kept zeroed: [B, Ld, 128]."""
        hidden = self.context_text_encoder(input_ids, attention_mask)      # [B, Ld, Ht]
        D = self.context_text_encoder_linear(hidden) * keep.unsqueeze(-1).to(hidden.dtype)
        return F.normalize(D, p=2, dim=2)

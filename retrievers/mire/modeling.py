"""MIRe (Ju, Kim and Lee, ACL Findings 2025): the forward pass, query and passage.

ColBERTv2 + frozen CLIP, query-guided pooling. A multimodal query becomes token vectors
without fusing modalities inside an encoder:

    question ──ColBERTv2 BERT + linear──> E_t        [B, Lq, 128]   (text tokens)
    image ─────CLIP ViT (frozen)──────> CLS, patches [B, 1 + P, Dv]
    CLS ─────split_mlp──────────────────> E_g        [B, 16, 128]   (global visual tokens)
    patches, guided by E_t ──attention─> E_m        [B, 12, 128]   (one token per head)
    query = L2norm([E_g; E_m; E_t])                  [B, 28 + Lq, 128]
    passage = L2norm(ColBERTv2(passage) x keep)      [B, Ld, 128]   (keep: not [PAD]/punctuation)

The score is MaxSim. Pre-training (alignment) uses ``[E_g; E_m]`` alone with the text tower
frozen; fine-tuning and all evaluation use the full query. Everything here follows the
authors' code (github.com/yeongjoonJu/MIRe, HEAD c0f9966: retrievers/mire.py,
retrievers/indexing.py). The evaluation encoder (:mod:`retrievers.mire.encoding`) runs the
passage side through :func:`retrievers.colbert.modeling.encode_passage_tokens`, the same
computation length-bucketed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from retrievers.colbert.modeling import ColBERTModel
from retrievers.mire.configuration import MIReConfig


class QueryGuidedAttentivePooling(nn.Module):
    """Visual query tokens: 16 global tokens from the CLS, one token per head from patches
    attended by the question's text tokens (the authors' QueryGuidedAttentivePooling,
    retrievers/mire.py at c0f9966). No residuals, no query projection.

    State-dict names as the authors': proj.0/proj.1, k_state, v_state, o_proj.0/o_proj.1,
    split_mlp.0/split_mlp.2.
    """

    def __init__(self, v_dim: int, num_tokens: int = 16, num_heads: int = 12, out_dim: int = 128):
        super().__init__()
        self.num_tokens = num_tokens
        self.num_heads = num_heads
        self.out_dim = out_dim
        self.scale = math.sqrt(out_dim)
        proj_dim = num_heads * out_dim * 2
        self.proj = nn.Sequential(nn.LayerNorm(v_dim), nn.Linear(v_dim, proj_dim), nn.GELU())
        self.k_state = nn.Linear(proj_dim, num_heads * out_dim, bias=False)
        self.v_state = nn.Linear(proj_dim, num_heads * out_dim, bias=False)
        self.o_proj = nn.Sequential(nn.LayerNorm(out_dim), nn.Linear(out_dim, out_dim))
        self.split_mlp = nn.Sequential(
            nn.Linear(v_dim, num_tokens * out_dim // 2), nn.Tanh(),
            nn.Linear(num_tokens * out_dim // 2, num_tokens * out_dim),
        )
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def global_tokens(self, v: torch.Tensor) -> torch.Tensor:
        # v: [B, 1 + P, Dv] -> CLS [B, 1, Dv] -> [B, 1, T * D] -> E_g [B, T, D]
        return self.split_mlp(v[:, 0:1]).view(v.size(0), self.num_tokens, self.out_dim)

    def guided_tokens(self, t: torch.Tensor, v: torch.Tensor, t_mask: torch.Tensor,
                      return_attention: bool = False):
        B, P = v.size(0), v.size(1) - 1
        H, D = self.num_heads, self.out_dim
        patches = self.proj(v[:, 1:])                                    # [B, P, 2 * H * D]
        key = self.k_state(patches).view(B, P, H, D).transpose(1, 2)     # [B, H, P, D]
        value = self.v_state(patches).view(B, P, H, D).transpose(1, 2)   # [B, H, P, D]
        query = t.unsqueeze(1).expand(B, H, t.size(1), D)                # [B, H, L, D] same per head
        scores = query @ key.transpose(-2, -1) / self.scale              # [B, H, L, P]
        row_mask = t_mask.float()[:, None, :, None]                      # [B, 1, L, 1]
        # Masked text rows get -9999 everywhere: a uniform softmax, not zero (quirk Q1).
        scores = scores.masked_fill(row_mask == 0, -9999.0)
        attention = F.softmax(scores, dim=-1)                            # [B, H, L, P]
        pooled = (attention @ value).sum(dim=-2)                         # [B, H, D] over ALL rows
        pooled = pooled / (row_mask.sum(dim=-2) + 1e-15)                 # / n_valid  [B, 1, 1]
        tokens = self.o_proj(pooled)                                     # E_m [B, H, D]
        return (tokens, attention) if return_attention else tokens

    def forward(self, t: torch.Tensor, v: torch.Tensor, t_mask: torch.Tensor) -> torch.Tensor:
        # [E_g; E_m]: [B, T + H, D]
        return torch.cat([self.global_tokens(v), self.guided_tokens(t, v, t_mask)], dim=1)


class MIReModel(nn.Module):
    """ColBERTv2 text tower + frozen CLIP vision tower + query-guided pooling.

    State-dict names: ``colbert.{bert,linear}.*``, ``vision_tower.vision_model.*``,
    ``query_fusion.*`` (the authors': ``model.*``, ``vision_tower.vision_tower.*``, same).
    """

    def __init__(self, config: MIReConfig):
        super().__init__()
        from transformers import CLIPVisionModel

        self.config = config
        self.colbert = ColBERTModel(config.text_config, config.out_dim)
        self.vision_tower = CLIPVisionModel(config.vision_config)
        self.vision_tower.requires_grad_(False)
        self.query_fusion = QueryGuidedAttentivePooling(
            config.vision_config.hidden_size, config.num_tokens, config.num_heads, config.out_dim)

    @torch.no_grad()
    def image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Last-layer CLS and penultimate-layer patches (before post_layernorm): [B, 1 + P, Dv]."""
        out = self.vision_tower(pixel_values=pixel_values, output_hidden_states=True)
        cls = out.hidden_states[-1][:, 0:1]                               # [B, 1, Dv]
        patches = out.hidden_states[-2][:, 1:]                            # [B, P, Dv]
        return torch.cat([cls, patches], dim=1)

    def text_tokens(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """E_t before normalisation: linear(BERT) with masked rows zeroed: [B, L, D]."""
        return self.colbert(input_ids, attention_mask) * attention_mask.unsqueeze(-1).float()

    def query(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
              features: torch.Tensor, visual_only: bool = False) -> torch.Tensor:
        """L2-normalised query tokens: [E_g; E_m] (visual_only) or [E_g; E_m; E_t]."""
        text = self.text_tokens(input_ids, attention_mask)               # [B, L, D]
        visual = self.query_fusion(text, features.to(text.dtype), attention_mask)  # [B, 28, D]
        tokens = visual if visual_only else torch.cat([visual, text], dim=1)  # [B, 28 (+ L), D]
        return F.normalize(tokens, p=2, dim=2)

    def passage_tokens(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                       keep: torch.Tensor) -> torch.Tensor:
        """L2-normalised passage tokens, rows not kept zeroed: [B, Ld, D] (``keep`` [B, Ld])."""
        D = self.colbert(input_ids, attention_mask)                      # [B, Ld, D]
        return F.normalize(D * keep.unsqueeze(-1), p=2, dim=2)

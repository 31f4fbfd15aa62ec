r"""The PyTorch word-language-model example's transformer, and a chunked output layer + loss.

:class:`TransformerLM` is ``TransformerModel`` of ``pytorch/examples/word_language_model``
(used by Kunstner et al., 2022, and by Xie & Li, 2024, §5.1) without dropout:

.. math::

    h^{(0)} = \sqrt{d}\,E[w] + \mathrm{PE},\qquad h^{(\ell)} = \mathrm{EncoderLayer}_\ell(h^{(\ell-1)}),
    \qquad \mathrm{logits} = W h^{(L)} + b,

with sinusoidal positions PE, post-LayerNorm encoder layers (ReLU feed-forward), a causal mask,
and the example's initialisation: :math:`E, W \sim U(-0.1, 0.1)`, :math:`b = 0`, the encoder
layers' own PyTorch defaults (LayerNorm gains 1, so :math:`\|x_0\|_\infty \ge 1`).  As in the
example, ``nn.TransformerEncoder`` clones one initialised layer, so all layers start equal.

:func:`linear_cross_entropy` evaluates ``sum CE(W h + b, y)`` in row chunks and computes its
gradient in the same pass, so no ``(tokens x vocabulary)`` logits buffer is kept per micro-batch
(the paper-scale gradient is ~1.3x faster on CPU, see ``bench/bench_ptb.py``).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["TransformerLM", "linear_cross_entropy", "sinusoidal_positions", "training_flops"]


def sinusoidal_positions(max_len: int, d_model: int) -> torch.Tensor:
    r"""``PE[p, 2i] = sin(p / 10000^{2i/d})``, ``PE[p, 2i+1] = cos(p / 10000^{2i/d})``, shape (max_len, d)."""
    position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32)
                         * (-math.log(10000.0) / d_model))
    pe = torch.zeros(max_len, d_model)
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)[:, : d_model // 2]
    return pe


class TransformerLM(nn.Module):
    """Tutorial transformer language model (no dropout), batch-first.

    Args:
        vocab_size: number of words :math:`V`.
        d_model: embedding width (200 in the paper).
        n_heads: attention heads (2).
        d_ff: feed-forward width (200).
        n_layers: encoder layers (2).
        max_len: longest sequence (positions are precomputed).

    Example:
        >>> _ = torch.manual_seed(0)
        >>> model = TransformerLM(50, d_model=8, n_heads=2, d_ff=8, n_layers=2)
        >>> model(torch.zeros(3, 5, dtype=torch.long)).shape
        torch.Size([3, 5, 50])
    """

    def __init__(self, vocab_size: int, d_model: int = 200, n_heads: int = 2, d_ff: int = 200,
                 n_layers: int = 2, max_len: int = 512):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} must be a multiple of n_heads={n_heads}")
        self.d_model = d_model
        self.encoder = nn.Embedding(vocab_size, d_model)
        self.register_buffer("positions", sinusoidal_positions(max_len, d_model), persistent=False)
        layer = nn.TransformerEncoderLayer(d_model, n_heads, d_ff, dropout=0.0, batch_first=True)
        self.transformer_encoder = nn.TransformerEncoder(layer, n_layers,
                                                         enable_nested_tensor=False)
        self.decoder = nn.Linear(d_model, vocab_size)
        self.init_weights()

    def init_weights(self) -> None:
        """The example's ``init_weights``: U(-0.1, 0.1) embedding and decoder, zero decoder bias."""
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def hidden(self, tokens: torch.Tensor) -> torch.Tensor:
        """Last encoder layer's output, shape ``(batch, seq, d_model)``, with a causal mask."""
        seq = tokens.shape[1]
        mask = nn.Transformer.generate_square_subsequent_mask(seq, device=tokens.device)
        h = self.encoder(tokens) * math.sqrt(self.d_model) + self.positions[:seq]
        return self.transformer_encoder(h, mask=mask, is_causal=True)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits, shape ``(batch, seq, vocab)``."""
        return self.decoder(self.hidden(tokens))

    def loss_sum(self, tokens: torch.Tensor, targets: torch.Tensor,
                 chunk_rows: int = 4096) -> torch.Tensor:
        """Summed next-token cross-entropy, with the chunked output layer + loss."""
        h = self.hidden(tokens).reshape(-1, self.d_model)
        return linear_cross_entropy(h, self.decoder.weight, self.decoder.bias,
                                    targets.reshape(-1), chunk_rows)


class _LinearCrossEntropy(torch.autograd.Function):
    r"""``sum_r CE(W h_r + b, y_r)`` and its gradient in one chunked pass.

    For a chunk, with :math:`p = \mathrm{softmax}(Wh + b)` and one-hot :math:`e_y`, the gradient of
    the summed loss is :math:`G = p - e_y` for the logits, so
    :math:`\partial/\partial h = G W`, :math:`\partial/\partial W = G^\top h`,
    :math:`\partial/\partial b = \sum_r G_r`.  They are computed in the forward pass (the
    trainer always differentiates) and scaled by the incoming gradient in the backward pass.
    """

    @staticmethod
    def forward(ctx, h, weight, bias, targets, chunk_rows):
        need_grad = any(ctx.needs_input_grad[:3])
        total = h.new_zeros(())
        grad_h = torch.empty_like(h) if need_grad else None
        grad_w = torch.zeros_like(weight) if need_grad else None
        grad_b = torch.zeros_like(bias) if need_grad else None
        for start in range(0, h.shape[0], chunk_rows):
            hc = h[start: start + chunk_rows]
            yc = targets[start: start + chunk_rows]
            logits = torch.addmm(bias, hc, weight.t())
            target_logit = logits.gather(1, yc[:, None]).squeeze(1)
            # one exp per logit: logits <- exp(logits - max), in place (the chunk's only big
            # buffer); lse = max + log(sum); softmax = exp(logits - max) / sum
            row_max = logits.amax(dim=1, keepdim=True)
            logits.sub_(row_max).exp_()
            row_sum = logits.sum(dim=1, keepdim=True)
            lse = row_max.squeeze(1) + row_sum.squeeze(1).log()
            total += (lse - target_logit).sum()
            if need_grad:
                # logits <- softmax(logits) - onehot(y)
                logits.div_(row_sum)
                logits[torch.arange(yc.numel(), device=yc.device), yc] -= 1.0
                torch.mm(logits, weight, out=grad_h[start: start + chunk_rows])
                grad_w.addmm_(logits.t(), hc)
                grad_b += logits.sum(0)
        if need_grad:
            ctx.save_for_backward(grad_h, grad_w, grad_b)
        return total

    @staticmethod
    def backward(ctx, grad_out):
        grad_h, grad_w, grad_b = ctx.saved_tensors
        return grad_h * grad_out, grad_w * grad_out, grad_b * grad_out, None, None


def linear_cross_entropy(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                         targets: torch.Tensor, chunk_rows: int = 4096) -> torch.Tensor:
    r"""Summed cross-entropy of the logits :math:`h W^\top + b` against ``targets``, chunked.

    Equal to ``F.cross_entropy(F.linear(h, weight, bias), targets, reduction="sum")`` (value and
    gradients, to float round-off) without materialising all logits at once.

    >>> h, w, b = torch.randn(7, 4), torch.randn(5, 4), torch.randn(5)
    >>> y = torch.tensor([0, 1, 2, 3, 4, 0, 1])
    >>> ref = F.cross_entropy(F.linear(h, w, b), y, reduction="sum")
    >>> bool(torch.allclose(linear_cross_entropy(h, w, b, y, chunk_rows=3), ref))
    True
    """
    if not torch.is_grad_enabled():
        with torch.no_grad():
            return _LinearCrossEntropy.forward(_NoGradCtx(), h, weight, bias, targets, chunk_rows)
    return _LinearCrossEntropy.apply(h, weight, bias, targets, chunk_rows)


class _NoGradCtx:
    needs_input_grad = (False, False, False, False, False)


def training_flops(d_model: int, d_ff: int, n_layers: int, vocab_size: int, seq_len: int,
                   tokens: int) -> float:
    r"""Matrix-product FLOPs of one full-batch gradient (forward + backward = 3x forward).

    Forward per token: per layer :math:`2(3d^2 + d^2 + 2 d\,d_{ff})` (QKV, output projection,
    feed-forward) plus :math:`4Td` (scores and weighted values over the full :math:`T\times T`
    block, as the kernels compute them), and :math:`2dV` for the decoder.

    >>> round(training_flops(200, 200, 2, 10_000, 35, 929_565) / 1e12, 1)  # paper scale, TFLOP
    14.0
    """
    per_layer = 2 * (4 * d_model * d_model + 2 * d_model * d_ff) + 4 * seq_len * d_model
    forward = n_layers * per_layer + 2 * d_model * vocab_size
    return 3.0 * forward * tokens

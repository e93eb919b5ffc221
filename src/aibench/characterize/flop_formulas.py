"""FLOP formulas for the ops that torch's FlopCounterMode leaves at zero, passed to it as ``custom_mapping``.

FlopCounterMode counts matmuls, convolutions and some attention kernels, 2 FLOPs per multiply-add, and nothing
else (no bias adds, activations or normalisations). The formulas here keep that convention: they count the
multiply-adds of the matmuls (or interpolation taps) inside fused ops, so that a fused op counts what its
decomposed form counts. What they cover:

* recurrent layers: the whole-network ops ``aten.lstm`` / ``gru`` / ``rnn_tanh`` / ``rnn_relu`` (seen under
  ``torch.inference_mode``, where autograd does not decompose them first), the oneDNN layer that ``nn.LSTM`` runs
  on the CPU (``aten.mkldnn_rnn_layer`` and its backward), and the cuDNN / MIOpen forms (``aten._cudnn_rnn``,
  ``aten._cudnn_rnn_backward``, ``aten.miopen_rnn``). Each (time step, sequence) token costs one matmul with every
  2-D weight of every layer and direction: 2 * tokens * sum(weight.numel()). GRU and plain RNN on the CPU in grad
  mode decompose into ``addmm`` before FlopCounterMode sees them and were already counted the same way.
* the transformer fast path at inference: ``aten._transformer_encoder_layer_fwd`` and
  ``aten._native_multi_head_attention`` (QKV projection, the two attention matmuls, output projection and for
  the layer its feed-forward), padded or nested (variable-length) input alike.
* ``aten._scaled_dot_product_flash_attention_for_cpu`` and its backward, the CPU attention kernel, which torch's
  table misses (it lists the CUDA flash / efficient / cuDNN kernels only).
* ``aten.grid_sampler_2d`` / ``grid_sampler_3d`` (and ``cudnn_grid_sampler``) and their backwards: one
  multiply-add per interpolation tap per output element (bilinear 4 taps, trilinear 8, bicubic 16, nearest 0).

Backward ops: the oneDNN LSTM backward computes the data gradients (dgates @ W for the input and the recurrence)
and the weight gradients (dgates^T @ x, dgates^T @ h), two matmuls per forward one, so it counts 2x the forward;
cuDNN's counts the data half always and the weight half when ``output_mask`` asks for it. grid_sample's backward
counts one multiply-add per tap for the input gradient and two (x and y, or x, y and z per tap) for the grid's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

aten = torch.ops.aten


# ---------------------------------------------------------------- recurrent layers

def _tokens(input_shape: Sequence[int]) -> int:
    """(time step, sequence) pairs in an RNN input: (T, B, I), (B, T, I), unbatched (T, I) or packed (sum, I)."""
    return math.prod(input_shape[:-1])


def _matrix_numel(weights: Sequence[Any]) -> int:
    """Elements of the 2-D weights (input, hidden and projection matrices) of a flat RNN weight list; biases are 1-D."""
    return sum(math.prod(w) for w in weights if w is not None and len(w) == 2)


def rnn_flops(input_shape: Sequence[int], weights: Sequence[Any]) -> int:
    """Forward FLOPs of an RNN (any layers, directions, gate count): each token meets every weight matrix once."""
    return 2 * _tokens(input_shape) * _matrix_numel(weights)


def rnn_network_flop(input_shape, second, *args, out_shape=None, **kwargs) -> int:
    """aten.lstm / gru / rnn_tanh / rnn_relu in both overloads: ``.input(input, hx, params, ...)`` and
    ``.data(data, batch_sizes, hx, params, ...)``; the packed one is told by its 1-D ``batch_sizes``."""
    packed = isinstance(second, torch.Size) and len(second) == 1
    params = args[1] if packed else args[0]
    return rnn_flops(input_shape, params)


def mkldnn_rnn_layer_flop(input_shape, w_ih, w_hh, *args, out_shape=None, **kwargs) -> int:
    """One layer and direction of nn.LSTM on the CPU (oneDNN): ``weight0`` is W_ih, ``weight1`` W_hh."""
    return rnn_flops(input_shape, [w_ih, w_hh])


def mkldnn_rnn_layer_backward_flop(input_shape, w_ih, w_hh, *args, out_shape=None, **kwargs) -> int:
    """Data gradients plus weight gradients: two matmuls of the forward's size per forward matmul."""
    return 2 * rnn_flops(input_shape, [w_ih, w_hh])


def cudnn_rnn_flop(input_shape, weights, *args, out_shape=None, **kwargs) -> int:
    """aten._cudnn_rnn and aten.miopen_rnn: ``weight`` is the flat list of every layer's and direction's tensors."""
    return rnn_flops(input_shape, weights)


def cudnn_rnn_backward_flop(input_shape, weights, *args, out_shape=None, **kwargs) -> int:
    """aten._cudnn_rnn_backward: the data gradients always (they carry the recurrence), the weights' when asked."""
    output_mask = args[-1]
    weight_grad = bool(output_mask[3]) if isinstance(output_mask, (list, tuple)) and len(output_mask) == 4 else True
    return (1 + int(weight_grad)) * rnn_flops(input_shape, weights)


# ---------------------------------------------------------------- attention and the encoder fast path

def _sequence_lengths(x: Any) -> list[int]:
    """Length of each sequence of a (B, L, E) or (L, E) tensor, or of a nested tensor's variable-length rows."""
    if isinstance(x, torch.Tensor) and x.is_nested:
        return [int(row[0]) for row in x._nested_tensor_size().tolist()]
    shape = x.shape
    return [int(shape[-2])] * (int(shape[0]) if len(shape) == 3 else 1)


def _attention_flops(q_lengths: list[int], k_lengths: list[int], embed_dim: int) -> int:
    """Q K^T and (softmax) V over all heads: 2 * Lq * Lk * E FLOPs each, per sequence."""
    return sum(4 * lq * lk * embed_dim for lq, lk in zip(q_lengths, k_lengths))


def _native_multi_head_attention_flop(query, key, value, embed_dim, num_head, qkv_weight, qkv_bias, proj_weight,
                                      *args, out_val=None, **kwargs) -> int:
    q_len, k_len = _sequence_lengths(query), _sequence_lengths(key)
    e = int(embed_dim)
    q_tokens, k_tokens = sum(q_len), sum(k_len)
    projections = 2 * e * e * (q_tokens + 2 * k_tokens) + 2 * q_tokens * proj_weight.numel()
    return projections + _attention_flops(q_len, k_len, e)


def _transformer_encoder_layer_fwd_flop(src, embed_dim, num_heads, qkv_weight, qkv_bias, proj_weight, proj_bias,
                                        use_gelu, norm_first, eps, norm_weight_1, norm_bias_1, norm_weight_2,
                                        norm_bias_2, ffn_weight_1, ffn_bias_1, ffn_weight_2, *args, out_val=None,
                                        **kwargs) -> int:
    lengths = _sequence_lengths(src)
    tokens = sum(lengths)
    matrices = qkv_weight.numel() + proj_weight.numel() + ffn_weight_1.numel() + ffn_weight_2.numel()
    return 2 * tokens * matrices + _attention_flops(lengths, lengths, int(embed_dim))


# raw formulas receive the tensors themselves (nested tensors have no plain shape to pass)
_native_multi_head_attention_flop._get_raw = True  # type: ignore[attr-defined]
_transformer_encoder_layer_fwd_flop._get_raw = True  # type: ignore[attr-defined]


def _sdpa_shapes(q, k, v) -> tuple[int, int, int, int, int]:
    """(batch*heads, Lq, Lk, d_qk, d_v) of (..., L, d) query, key and value shapes."""
    batch = math.prod(q[:-2])
    return batch, q[-2], k[-2], q[-1], v[-1]


def sdpa_cpu_flop(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    b, lq, lk, d, dv = _sdpa_shapes(query_shape, key_shape, value_shape)
    return 2 * b * lq * lk * d + 2 * b * lq * lk * dv


def sdpa_cpu_backward_flop(grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None,
                           **kwargs) -> int:
    """The scores again, then the gradients of scores, V, Q and K: five matmuls as in torch's CUDA formula."""
    b, lq, lk, d, dv = _sdpa_shapes(query_shape, key_shape, value_shape)
    return 2 * b * lq * lk * (d + dv + dv + d + d)


# ---------------------------------------------------------------- grid_sample

_TAPS = {2: {0: 4, 1: 0, 2: 16}, 3: {0: 8, 1: 0}}  # interpolation_mode: 0 bilinear, 1 nearest, 2 bicubic


def _grid_outputs(input_shape, grid_shape) -> int:
    """Output elements: N * C * (the grid's spatial size)."""
    return input_shape[0] * input_shape[1] * math.prod(grid_shape[1:-1])


def grid_sampler_flop(input_shape, grid_shape, interpolation_mode=0, *args, out_shape=None, **kwargs) -> int:
    taps = _TAPS[len(grid_shape) - 2].get(int(interpolation_mode), 0)
    return 2 * taps * _grid_outputs(input_shape, grid_shape)


def grid_sampler_backward_flop(grad_output_shape, input_shape, grid_shape, interpolation_mode=0, padding_mode=0,
                               align_corners=False, output_mask=(True, True), *args, out_shape=None,
                               **kwargs) -> int:
    """Input gradient: one multiply-add per tap; grid gradient: one per tap and coordinate."""
    spatial_dims = len(grid_shape) - 2
    taps = _TAPS[spatial_dims].get(int(interpolation_mode), 0)
    per_tap = int(bool(output_mask[0])) + spatial_dims * int(bool(output_mask[1]))
    return 2 * taps * per_tap * _grid_outputs(input_shape, grid_shape)


def cudnn_grid_sampler_flop(input_shape, grid_shape, *args, out_shape=None, **kwargs) -> int:
    return grid_sampler_flop(input_shape, grid_shape, 0)


def cudnn_grid_sampler_backward_flop(input_shape, grid_shape, grad_output_shape, *args, out_shape=None,
                                     **kwargs) -> int:
    return grid_sampler_backward_flop(grad_output_shape, input_shape, grid_shape, 0, 0, False, (True, True))


# ---------------------------------------------------------------- the mapping

def _ops(*names: str) -> list[Any]:
    """The op packets of this torch build among ``names`` (a build without CUDA or MIOpen may lack some)."""
    return [getattr(aten, n) for n in names if hasattr(aten, n)]


def extra_flop_formulas() -> dict[Any, Any]:
    """``custom_mapping`` for FlopCounterMode: op packet -> formula."""
    table: dict[tuple[str, ...], Any] = {
        ("lstm", "gru", "rnn_tanh", "rnn_relu"): rnn_network_flop,
        ("mkldnn_rnn_layer",): mkldnn_rnn_layer_flop,
        ("mkldnn_rnn_layer_backward",): mkldnn_rnn_layer_backward_flop,
        ("_cudnn_rnn", "miopen_rnn"): cudnn_rnn_flop,
        ("_cudnn_rnn_backward",): cudnn_rnn_backward_flop,
        ("_transformer_encoder_layer_fwd",): _transformer_encoder_layer_fwd_flop,
        ("_native_multi_head_attention",): _native_multi_head_attention_flop,
        ("_scaled_dot_product_flash_attention_for_cpu",): sdpa_cpu_flop,
        ("_scaled_dot_product_flash_attention_for_cpu_backward",): sdpa_cpu_backward_flop,
        ("grid_sampler_2d", "grid_sampler_3d"): grid_sampler_flop,
        ("grid_sampler_2d_backward", "grid_sampler_3d_backward"): grid_sampler_backward_flop,
        ("cudnn_grid_sampler",): cudnn_grid_sampler_flop,
        ("cudnn_grid_sampler_backward",): cudnn_grid_sampler_backward_flop,
    }
    return {op: formula for names, formula in table.items() for op in _ops(*names)}

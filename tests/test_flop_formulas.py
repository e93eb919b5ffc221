"""FLOP formulas for the ops FlopCounterMode alone counts as zero: RNNs, the encoder fast path, CPU attention,
grid_sample. Expected numbers are worked out by hand: 2 FLOPs per multiply-add, matmuls / taps only."""

import pytest
import torch
import torch.nn.functional as F
from toy import make_toy
from torch import nn

from aibench.characterize.flop_formulas import cudnn_rnn_backward_flop, cudnn_rnn_flop
from aibench.characterize.flops import characterize_compute, count_flops

torch.set_num_threads(1)

# LSTM of input 8, hidden 16 over 5 steps of 3 sequences: per token, the 4 gates' W_ih x (4*16 x 8) and W_hh h
# (4*16 x 16) matmuls
I, H, T, B = 8, 16, 5, 3
LSTM_FORWARD = 2 * T * B * (4 * H * I + 4 * H * H)


def lstm_and_input():
    torch.manual_seed(0)
    return nn.LSTM(I, H, batch_first=True), torch.randn(B, T, I)


def test_lstm_inference_counts_its_gate_matmuls():
    lstm, x = lstm_and_input()
    with torch.no_grad():  # on the CPU this runs oneDNN's aten.mkldnn_rnn_layer
        assert count_flops(lambda: lstm(x)) == LSTM_FORWARD


def test_lstm_under_inference_mode_counts_the_whole_network_op():
    lstm, x = lstm_and_input()
    with torch.inference_mode():  # here FlopCounterMode sees aten.lstm itself
        assert count_flops(lambda: lstm(x)) == LSTM_FORWARD


def test_packed_lstm_counts_only_the_real_tokens():
    lstm, x = lstm_and_input()
    packed = nn.utils.rnn.pack_padded_sequence(x, [5, 3, 2], batch_first=True)
    expected = 2 * (5 + 3 + 2) * (4 * H * I + 4 * H * H)
    with torch.inference_mode():  # aten.lstm.data
        assert count_flops(lambda: lstm(packed)) == expected
    with torch.no_grad():
        assert count_flops(lambda: lstm(packed)) == expected


def test_lstm_training_step_counts_at_least_twice_the_forward():
    lstm, x = lstm_and_input()
    head = nn.Linear(H, 2)
    y = torch.randint(0, 2, (B,))

    def step():
        out, _ = lstm(x)
        F.cross_entropy(head(out[:, -1]), y).backward()

    head_forward = 2 * B * H * 2
    with torch.no_grad():
        forward = count_flops(lambda: head(lstm(x)[0][:, -1]))
    assert forward == LSTM_FORWARD + head_forward
    train = count_flops(step)
    assert train >= 2 * forward
    # oneDNN's LSTM backward is counted as data plus weight gradients: 2x the LSTM's forward; the head's backward
    # is two matmuls (its input, the LSTM's output, needs a gradient)
    if torch.backends.mkldnn.is_available():
        assert train == 3 * LSTM_FORWARD + 3 * head_forward


def test_gru_and_rnn_whole_network_ops_match_their_decomposition():
    torch.manual_seed(0)
    x = torch.randn(T, B, I)
    gru = nn.GRU(I, H, num_layers=2, bidirectional=True)
    # layer 0: 2 directions of 3 gates over input 8 and hidden 16; layer 1 reads both directions (32)
    expected = 2 * T * B * 2 * (3 * H * I + 3 * H * H + 3 * H * 2 * H + 3 * H * H)
    with torch.inference_mode():
        assert count_flops(lambda: gru(x)) == expected
    with torch.no_grad():  # decomposed into addmm, which torch already counts: the same number
        assert count_flops(lambda: gru(x)) == expected
    rnn = nn.RNN(I, H, nonlinearity="relu")
    with torch.inference_mode():
        assert count_flops(lambda: rnn(x)) == 2 * T * B * (H * I + H * H)


def test_cudnn_rnn_formulas_from_the_flat_weight_list():
    # a 1-layer LSTM with projection 4: W_ih (64x8), W_hh (64x4), b_ih, b_hh, W_hr (4x16); packed as (10 tokens, 8)
    weights = [torch.Size([64, 8]), torch.Size([64, 4]), torch.Size([64]), torch.Size([64]), torch.Size([4, 16])]
    forward = 2 * 10 * (64 * 8 + 64 * 4 + 4 * 16)
    assert cudnn_rnn_flop(torch.Size([10, 8]), weights, 5) == forward
    assert cudnn_rnn_flop(torch.Size([5, 2, 8]), weights, 5) == forward
    assert cudnn_rnn_backward_flop(torch.Size([10, 8]), weights, 5, [True, True, True, True]) == 2 * forward
    assert cudnn_rnn_backward_flop(torch.Size([10, 8]), weights, 5, [True, True, True, False]) == forward


E, HEADS, FF, L = 32, 4, 64, 7


def encoder_layer_flops(lengths):
    tokens = sum(lengths)
    matmuls = 2 * tokens * (3 * E * E + E * E + 2 * E * FF)  # QKV, output projection, feed-forward
    return matmuls + sum(4 * n * n * E for n in lengths)  # Q K^T and P V


def test_transformer_encoder_fast_path_counts_like_the_slow_path():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(E, HEADS, FF, batch_first=True)
    encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).eval()
    x = torch.randn(2, L, E)
    with torch.no_grad():  # aten._transformer_encoder_layer_fwd
        fast = count_flops(lambda: encoder(x))
    assert fast == 2 * encoder_layer_flops([L, L])
    slow = count_flops(lambda: encoder(x))  # grad mode: linear layers and the CPU attention kernel
    assert slow == fast


def test_transformer_encoder_fast_path_with_padding_counts_the_real_tokens():
    torch.manual_seed(0)
    encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(E, HEADS, FF, batch_first=True), 2).eval()
    x = torch.randn(2, L, E)
    padding = torch.tensor([[False] * L, [False] * 4 + [True] * 3])
    with torch.no_grad():  # nested tensors of lengths 7 and 4
        assert count_flops(lambda: encoder(x, src_key_padding_mask=padding)) == 2 * encoder_layer_flops([L, 4])


def test_multi_head_attention_fast_path():
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(E, HEADS, batch_first=True).eval()
    x = torch.randn(2, L, E)
    expected = 2 * 2 * L * (3 * E * E + E * E) + 2 * 4 * L * L * E
    with torch.no_grad():  # aten._native_multi_head_attention
        assert count_flops(lambda: mha(x, x, x)) == expected


def test_cpu_scaled_dot_product_attention_forward_and_backward():
    q = torch.randn(2, HEADS, L, 8, requires_grad=True)
    forward = 2 * (2 * 2 * HEADS * L * L * 8)
    assert count_flops(lambda: F.scaled_dot_product_attention(q, q, q)) == forward
    total = count_flops(lambda: F.scaled_dot_product_attention(q, q, q).sum().backward())
    assert total == forward + 5 * forward // 2  # backward: scores again plus four gradient matmuls


def test_grid_sample_2d_and_3d():
    img = torch.randn(2, 3, 10, 12)
    grid = torch.rand(2, 6, 5, 2) * 2 - 1
    outputs = 2 * 3 * 6 * 5
    assert count_flops(lambda: F.grid_sample(img, grid, align_corners=False)) == 2 * 4 * outputs  # bilinear
    assert count_flops(lambda: F.grid_sample(img, grid, mode="bicubic", align_corners=False)) == 2 * 16 * outputs
    assert count_flops(lambda: F.grid_sample(img, grid, mode="nearest", align_corners=False)) == 0  # a gather
    vol, grid3 = torch.randn(2, 3, 4, 10, 12), torch.rand(2, 3, 6, 5, 3) * 2 - 1
    assert count_flops(lambda: F.grid_sample(vol, grid3, align_corners=False)) == 2 * 8 * (2 * 3 * 3 * 6 * 5)


def test_grid_sample_backward():
    img = torch.randn(2, 3, 10, 12, requires_grad=True)
    grid = (torch.rand(2, 6, 5, 2) * 2 - 1).requires_grad_()
    forward = 2 * 4 * (2 * 3 * 6 * 5)
    # input gradient: one multiply-add per tap; grid gradient: one per tap and coordinate
    total = count_flops(lambda: F.grid_sample(img, grid, align_corners=False).sum().backward())
    assert total == forward + 3 * forward
    grid.requires_grad_(False)
    assert count_flops(lambda: F.grid_sample(img, grid, align_corners=False).sum().backward()) == 2 * forward


def test_characterize_compute_reports_macs_as_half_the_flops(tmp_path):
    bench = make_toy(tmp_path)
    bench.setup()
    info = characterize_compute(bench)
    assert info["flops_inference_per_sample"] > 0 and info["flops_train_per_sample"] > 0
    assert info["macs_inference_per_sample"] == pytest.approx(info["flops_inference_per_sample"] / 2)
    assert info["macs_train_per_sample"] == pytest.approx(info["flops_train_per_sample"] / 2)

"""Which kernel category an ATen operator or a device kernel belongs to (the paper's Fig. 5 categories).

Two explicit tables: `ATEN_OPS`, keyed by the ATen operator (what torch.profiler records on a CPU, and the op a
CUDA kernel is linked to by the profiler's correlation id), and `KERNEL_RULES`, rules on a device kernel's own
function name for kernels that no operator launched (cuDNN/cuBLAS internals, memcpys, NCCL) or whose operator is
a composite (recurrent, attention). Nothing else is guessed: a name in neither table is *unmapped* and reported as
such. `recurrent`, `attention` and `communication` are not among the paper's eight; an op of that kind whose
kernels the profiler shows is split into its kernels' categories, else reported under its own name.
"""

from __future__ import annotations

import re

PAPER_CATEGORIES = ("data_arrangement", "convolution", "gemm", "batch_norm", "elementwise", "relu", "pooling",
                    "memory_copy")
EXTRA_CATEGORIES = ("recurrent", "attention", "communication")
COMPOSITE = frozenset(EXTRA_CATEGORIES)


def _ops(category: str, names: str) -> dict[str, str]:
    return dict.fromkeys(names.split(), category)


# ATen operator (no "aten::" prefix, no in-place "_" suffix, no "_backward" suffix where the forward is listed).
ATEN_OPS: dict[str, str] = {
    **_ops("convolution", """conv1d conv2d conv3d conv_transpose1d conv_transpose2d conv_transpose3d convolution
        _convolution convolution_overrideable mkldnn_convolution cudnn_convolution cudnn_convolution_transpose
        cudnn_convolution_relu cudnn_convolution_add_relu miopen_convolution thnn_conv2d _slow_conv2d_forward
        _slow_conv2d slow_conv3d slow_conv3d_forward slow_conv_transpose2d slow_conv_transpose3d
        slow_conv_dilated2d slow_conv_dilated3d _conv_depthwise2d conv_depthwise3d _nnpack_spatial_convolution
        mkldnn_convolution_transpose _convolution_mode conv_tbc im2col col2im"""),
    **_ops("gemm", """mm addmm bmm baddbmm addbmm addmv mv dot vdot matmul linear _mkl_linear mkldnn_linear
        _addmm_activation einsum bilinear _trilinear tensordot outer ger inner chain_matmul linalg_matmul
        _int_mm _scaled_mm mkldnn_matmul"""),
    **_ops("batch_norm", """batch_norm native_batch_norm _batch_norm_impl_index _native_batch_norm_legit
        _native_batch_norm_legit_no_training _batch_norm_with_update batch_norm_backward cudnn_batch_norm
        miopen_batch_norm batch_norm_stats batch_norm_elemt batch_norm_gather_stats
        batch_norm_gather_stats_with_counts batch_norm_backward_reduce batch_norm_backward_elemt
        layer_norm native_layer_norm group_norm native_group_norm instance_norm rms_norm _fused_rms_norm
        local_response_norm"""),
    **_ops("relu", """relu relu6 threshold clamp_min hardtanh leaky_relu rrelu prelu _prelu_kernel
        rrelu_with_noise"""),
    **_ops("pooling", """max_pool1d max_pool2d max_pool3d max_pool2d_with_indices max_pool3d_with_indices
        avg_pool1d avg_pool2d avg_pool3d adaptive_avg_pool1d adaptive_avg_pool2d adaptive_avg_pool3d
        _adaptive_avg_pool2d _adaptive_avg_pool3d adaptive_max_pool1d adaptive_max_pool2d adaptive_max_pool3d
        mkldnn_max_pool2d mkldnn_adaptive_avg_pool2d max_unpool2d max_unpool3d fractional_max_pool2d lp_pool2d
        max_pool1d_with_indices cudnn_pooling"""),
    **_ops("memory_copy", """copy to _to_copy _copy_from _copy_from_and_resize pin_memory _pin_memory cpu cuda
        _to_cpu"""),
    **_ops("data_arrangement", """view reshape _reshape_alias _unsafe_view view_as flatten unflatten squeeze
        unsqueeze transpose t permute expand expand_as as_strided slice select narrow split split_with_sizes
        unsafe_split unsafe_split_with_sizes chunk unsafe_chunk unbind alias detach contiguous clone cat
        _cat concat stack hstack vstack index index_select index_put _index_put_impl index_add index_copy
        index_fill gather scatter scatter_add scatter_reduce take put masked_select masked_scatter
        embedding embedding_dense embedding_bag _embedding_bag _embedding_bag_forward_only
        _embedding_bag_dense embedding_renorm pad constant_pad_nd reflection_pad1d reflection_pad2d
        replicate_pad1d replicate_pad2d replication_pad1d replication_pad2d replication_pad3d flip roll rot90
        repeat repeat_interleave tile unfold fold pixel_shuffle pixel_unshuffle channel_shuffle sort argsort
        topk kthvalue nonzero where tril triu diag diagonal movedim moveaxis swapaxes broadcast_to
        broadcast_tensors upsample_nearest1d upsample_nearest2d upsample_nearest3d upsample_bilinear2d
        _upsample_bilinear2d_aa upsample_bicubic2d _upsample_bicubic2d_aa upsample_linear1d
        upsample_trilinear3d _upsample_nearest_exact2d interpolate grid_sampler grid_sampler_2d
        _grid_sampler_2d_cpu_fallback cudnn_grid_sampler grid_sampler_3d affine_grid_generator
        _pack_padded_sequence _pad_packed_sequence pack_padded_sequence pad_sequence _unique _unique2
        unique_dim unique_consecutive searchsorted bucketize one_hot _nested_tensor_from_mask
        narrow_copy select_scatter slice_scatter as_strided_scatter diagonal_scatter view_as_real
        view_as_complex _unsafe_index _unsafe_index_put lift_fresh _neg_view _conj resolve_conj resolve_neg
        value_selecting_reduction"""),
    **_ops("elementwise", """add sub rsub mul div true_divide floor_divide remainder fmod neg abs sign sgn
        reciprocal sqrt rsqrt pow square exp exp2 expm1 log log2 log10 log1p sigmoid log_sigmoid
        log_sigmoid_forward tanh sin cos tan atan atan2 asin acos sinh cosh erf erfc erfinv gelu silu mish
        elu selu celu softplus softshrink hardshrink hardsigmoid hardswish tanhshrink glu logit clamp clamp_max
        clip minimum maximum fmin fmax lerp addcmul addcdiv floor ceil round trunc frac bitwise_not bitwise_and
        bitwise_or bitwise_xor logical_not logical_and logical_or logical_xor eq ne lt le gt ge equal isnan
        isinf isneginf isposinf isfinite nan_to_num masked_fill fill zero zeros zeros_like ones ones_like full
        full_like new_zeros new_ones new_full arange linspace logspace scalar_tensor softmax _softmax
        log_softmax _log_softmax _safe_softmax _masked_softmax softmin dropout feature_dropout alpha_dropout
        native_dropout bernoulli uniform normal random randn rand randint randperm rand_like randn_like
        exponential geometric cauchy log_normal multinomial sum mean prod max min amax amin argmax argmin var
        std var_mean std_mean norm linalg_vector_norm frobenius_norm renorm cumsum cumprod logsumexp all any
        count_nonzero _foreach_norm cross_entropy_loss nll_loss nll_loss_forward nll_loss2d
        nll_loss2d_forward nll_loss_nd mse_loss l1_loss smooth_l1_loss huber_loss binary_cross_entropy
        binary_cross_entropy_with_logits soft_margin_loss margin_ranking_loss kl_div cosine_similarity
        cosine_embedding_loss pairwise_distance cdist _cdist_forward dist triplet_margin_loss
        hinge_embedding_loss poisson_nll_loss ctc_loss _ctc_loss _fused_adam _fused_adamw _fused_sgd
        _fused_dropout _amp_foreach_non_finite_check_and_unscale _amp_update_scale where_self xlogy
        heaviside logaddexp copysign hypot _standard_gamma"""),
    **_ops("recurrent", """lstm gru rnn_tanh rnn_relu lstm_cell gru_cell rnn_tanh_cell rnn_relu_cell
        _thnn_fused_lstm_cell _thnn_fused_gru_cell _thnn_differentiable_lstm_cell_backward
        _thnn_differentiable_gru_cell_backward mkldnn_rnn mkldnn_rnn_layer _cudnn_rnn _cudnn_rnn_flatten_weight
        miopen_rnn quantized_lstm quantized_gru _use_cudnn_rnn_flatten_weight"""),
    **_ops("attention", """scaled_dot_product_attention _scaled_dot_product_attention_math
        _scaled_dot_product_flash_attention _scaled_dot_product_flash_attention_for_cpu
        _scaled_dot_product_efficient_attention _scaled_dot_product_cudnn_attention
        _scaled_dot_product_fused_attention_overrideable _flash_attention_forward _efficient_attention_forward
        _native_multi_head_attention multi_head_attention_forward _transformer_encoder_layer_fwd
        _scaled_dot_product_attention_math_for_mps _fused_sdp_choice"""),
    **_ops("communication", """_allgather_base allgather allreduce broadcast reduce_scatter _reduce_scatter_base
        alltoall send recv barrier all_reduce all_gather_into_tensor reduce_scatter_tensor wait_tensor"""),
    # Allocation, host<->device synchronisation and dispatch bookkeeping: known, outside the eight.
    **_ops("other", """empty empty_like empty_strided new_empty new_empty_strided resize resize_as set
        item _local_scalar_dense is_nonzero is_same_size _nnpack_available cudnn_is_acceptable
        _has_compatible_shallow_copy_type record_stream result_type _assert_async _assert_tensor_metadata
        sym_size sym_stride sym_numel _shape_as_tensor size stride numel dim is_floating_point
        _version _fw_primal _make_dual _unpack_dual requires_grad retain_grad output_nr _propagate_xla_data
        align_tensors _assert_scalar"""),
}

_SUFFIXES = ("_backward_data", "_backward_input", "_backward_weight", "_backward_elemt", "_backward_reduce",
             "_backward", "_forward", "_out", "_with_indices")


def aten_category(name: str) -> str | None:
    """The category of an ATen operator (`aten::addmm`, `aten::relu_`, `aten::_foreach_mul_`, ...) or None."""
    base = name.removeprefix("aten::").split(".", 1)[0]  # overload names: aten::add.Tensor
    candidates = [base]
    if base.startswith("_foreach_"):
        candidates.append(base.removeprefix("_foreach_"))
    for cand in list(candidates):
        stem = cand.rstrip("_") if cand.endswith("_") and not cand.endswith("__") else cand
        candidates.append(stem)
        for suffix in _SUFFIXES:
            if stem.endswith(suffix):
                candidates.append(stem.removesuffix(suffix))
    for cand in candidates:
        for key in (cand, cand.lstrip("_")):
            if key in ATEN_OPS:
                return ATEN_OPS[key]
    return None


# Device kernels, by the kernel's own function name (its qualified name before any template or argument list).
# Ordered; the first match wins. Words are matched at identifier boundaries, so `unrolled_elementwise_kernel` is
# not "roll" and a `scudnn_..._relu_...` convolution is a convolution, not a relu.
KERNEL_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple((cat, re.compile(p, re.IGNORECASE)) for cat, p in (
    ("memory_copy", r"^\[?(cuda )?mem(cpy|set)\b"),
    ("communication", r"^nccl"),
    ("attention", r"fmha|flash_(fwd|bwd)|flash_attn|attention_?kernel|attentionbackward|_sdpa_|fort_native_sdpa"),
    ("recurrent", r"rnn_blockpersist|^rnn_(fp|bp)_"),
    ("elementwise", r"elemwisernncell|^(lstm|gru)_elementwise|(^|::)(lstm|gru)_cell_(forward|backward)"),
    ("data_arrangement", r"nchwtonhwc|nhwctonchw|(^|::|_)(cat|concat)arr|catarraybatchedcopy|index_?(select|put|"
                         r"add|copy|fill|elementwise)|indexselect|indexing_backward|(^|::)index_kernel|"
                         r"scatter|gather|embedding|(^|::|_)(reflection|replication|constant)_?pad|"
                         r"(^|::)roll_|flip_|upsample|grid_sampler|affine_grid|radixsort|(^|::)sort|bitonic|"
                         r"topk|gatherTopK|(^|::)unfold|im2row|transpose|permute|tril|triu"),
    ("convolution", r"scudnn|hcudnn|cudnn::cnn|winograd|implicit_?gemm|implicit_convolve|explicit_convolve|"
                    r"(^|_|::)(fprop|dgrad|wgrad)|conv_?depthwise|conv2d|conv3d|convolve|fft2d|fft_r2c|"
                    r"flip_filter|(^|::)(im2col|col2im|vol2col|col2vol)|cudnn::detail::(wgrad|dgrad)"),
    ("batch_norm", r"(^|::|_)bn_(fw|bw)|batch_?norm|layer_?norm|group_?norm|instance_?norm|rms_?norm|"
                   r"rowwisemoments|computefusedparams|gammabetabackward|welford|cuapplylayernorm|"
                   r"cucomputegradinput|cucomputepartgradgammabeta"),
    ("pooling", r"pooling|pool_?(forward|backward)|poolforward|poolbackward|(max|avg|ave)_?pool|adaptive_(avg|max)"
                r"|maxpool|avgpool|avepool|adaptive_average_pool|adaptive_max_pool"),
    ("gemm", r"gemm|gemv|cublas|cutlass.*tensorop|(^|::)dot_kernel|splitkreduce|nvjet|(^|::|_)matmul"),
    ("relu", r"(^|::|_)(relu|threshold)"),
    ("elementwise", r"elementwise|element-wise|reduce_kernel|softmax|multi_tensor_apply|fused_adam|fused_sgd|"
                    r"dropout|nll_loss|loss|(^|::)(distribution|philox)|fill_kernel|(^|::)reduce_|"
                    r"cunn_|(^|::)kernel_pointwise|pointwise|vectorized|unrolled|apply_kernel|"
                    r"(^|::)(mul|add|sub|div|sigmoid|tanh|exp|log|pow)_kernel"),
))

# Functors inside a generic ATen elementwise/reduce kernel's template arguments that make it another category.
_FUNCTOR_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple((cat, re.compile(p, re.IGNORECASE)) for cat, p in (
    ("relu", r"threshold_kernel|launch_clamp_scalar|clamp_min|relu|hardtanh"),
    ("memory_copy", r"direct_copy_kernel|copy_kernel"),
))


def kernel_function_name(kernel: str) -> str:
    """A kernel's qualified function name, before template arguments and parameters.

    `void at::native::(anonymous namespace)::cunn_SoftMaxForward<4, float>(float*)` -> `at::native::cunn_SoftMaxForward`
    """
    name = kernel.strip().removeprefix("void ").replace("(anonymous namespace)::", "")
    if name.startswith(("Memcpy", "Memset", "[CUDA", "CUDA mem")):
        return name
    cut = min((i for i in (name.find("<"), name.find("(")) if i >= 0), default=len(name))
    return name[:cut].strip()


def kernel_category(kernel: str) -> str | None:
    """The category of a device kernel by its own name, or None when no rule knows it.

    The rules see the kernel's function name first; a generic wrapper (`cutlass::Kernel2<cutlass_80_..._gemm>`) is
    decided by its template arguments. A generic ATen elementwise kernel is refined by its functor (relu, copy).
    """
    func = kernel_function_name(kernel)
    for text in (func, kernel):
        for category, pattern in KERNEL_RULES:
            if pattern.search(text):
                if category == "elementwise":
                    for cat2, functor in _FUNCTOR_RULES:
                        if functor.search(kernel):
                            return cat2
                return category
    return None

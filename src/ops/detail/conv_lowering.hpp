// Internal to src/ops: the im2col lowering shared by conv and conv_transpose. Both become, per
// sample and tile of output positions, one batched NT product (batch = groups):
//   C[g, co, p] = sum_{ci, t} A[g, co, (ci, t)] * B[g, p, (ci, t)]  (+ bias[g*cout_g + co])
// where B gathers x through per-dim index maps (-1 = a zero). See docs/ops.md §2 ("Algorithm").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "detail/contraction.hpp"
#include "roundoff/ops/op.hpp"

namespace roundoff::ops::detail {

/// For one spatial dim: src[o * k + t] = the input index that output o, tap t reads, or -1.
struct dim_map {
  std::int64_t in = 0, out = 0, k = 0;
  std::vector<std::int64_t> src;
};

struct conv_lowering {
  std::int64_t batch = 0;  ///< N (1 for unbatched input)
  std::int64_t cin = 0, cout = 0, groups = 1, cin_g = 0, cout_g = 0;
  std::vector<dim_map> dims;
  /// Weights as A[g][co][ci * KK + t], KK = prod of kernel sizes.
  std::vector<double> a;
};

/// Conv params with every per-dim vector expanded to `nd` entries and range-checked like
/// PyTorch; `op` names the op in messages.
struct expanded_params {
  std::vector<std::int64_t> stride, padding, dilation, output_padding;
};
expanded_params expand_params(int nd, const conv_params& p, const std::string& op, bool transposed);

/// Byte budget for one im2col tile (each of B and |B|); tiles never exceed it unless a single
/// row (one output position of one group) is larger.
inline constexpr std::int64_t im2col_tile_bytes = std::int64_t{64} << 20;

/// Runs the lowering: result tensor of shape [N?, cout, out...] (layout [N][cout][P]). x is
/// [N, C, in...] or [C, in...] with any storage and strides: the im2col gather reads it in place.
void run_conv_lowering(contraction_runner& run, const conv_lowering& L, const tensor_view& x,
                       const double* bias, std::int64_t tile_bytes = im2col_tile_bytes);

/// Per output element: terms = cin_g * KK, data_terms = cin_g * prod_d #{t : src >= 0}.
/// Stored by their period (one value; one per output position), not per element.
void conv_term_counts(const conv_lowering& L, term_counts& terms, term_counts& data_terms);

/// "(2 x 2)" as PyTorch prints per-channel sizes.
std::string sizes_paren(const std::vector<std::int64_t>& v);

}  // namespace roundoff::ops::detail

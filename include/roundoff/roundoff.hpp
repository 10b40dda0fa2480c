// roundoff's front door: one include for the whole public C++ API.
//
//   #include <roundoff/roundoff.hpp>
//   roundoff::ops::problem p{roundoff::ops::op_kind::linear, x, w, &b};  // views, no copies
//   roundoff::verdicts::verdict v = roundoff::verdicts::check(p, y, "f32");
//
// Link roundoff::roundoff (find_package(roundoff) or add_subdirectory). Not included here:
// <roundoff/testing.hpp>, the GoogleTest matchers, because it includes <gmock/gmock.h>; include
// it yourself in test code and link roundoff::testing.
#pragma once

#include "roundoff/version.hpp"  // generated from cmake/roundoff_version.hpp.in

// Tensors, formats and errors.
#include "roundoff/error.hpp"
#include "roundoff/formats/format.hpp"
#include "roundoff/formats/rounding.hpp"
#include "roundoff/tensor.hpp"
#include "roundoff/tensor_view.hpp"

// Reading and writing tensor files.
#include "roundoff/io/npy.hpp"
#include "roundoff/io/npz.hpp"
#include "roundoff/io/read_tensor.hpp"
#include "roundoff/io/safetensors.hpp"
#include "roundoff/io/torch_pickle.hpp"

// The exact engine.
#include "roundoff/exact/abs_product.hpp"
#include "roundoff/exact/accumulator.hpp"
#include "roundoff/exact/exact_tensor.hpp"
#include "roundoff/exact/gemm.hpp"
#include "roundoff/exact/mpfr_oracle.hpp"

// PyTorch's ops, computed exactly.
#include "roundoff/ops/addmm.hpp"
#include "roundoff/ops/bmm.hpp"
#include "roundoff/ops/conv.hpp"
#include "roundoff/ops/conv_transpose.hpp"
#include "roundoff/ops/linear.hpp"
#include "roundoff/ops/matmul.hpp"
#include "roundoff/ops/op.hpp"
#include "roundoff/ops/op_result.hpp"

// Arithmetic models and their error bounds (formulas).
#include "roundoff/bounds/bounds.hpp"
#include "roundoff/bounds/models.hpp"
#include "roundoff/formats/convert.hpp"

// Verdicts: outputs judged against the exact result and the bounds, the sweep.
#include "roundoff/verdicts/check.hpp"
#include "roundoff/verdicts/inputs.hpp"
#include "roundoff/verdicts/judge.hpp"
#include "roundoff/verdicts/require.hpp"
#include "roundoff/verdicts/sweep.hpp"
#include "roundoff/verdicts/verdict.hpp"

// Implementations to judge, and reports.
#include "roundoff/backends/backend.hpp"
#include "roundoff/report/report.hpp"
#include "roundoff/report/results.hpp"
#include "roundoff/report/sweep.hpp"
#include "roundoff/report/table.hpp"

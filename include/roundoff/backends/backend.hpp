// Backends: adapters that run a real implementation (LibTorch, cuBLAS, Eigen, OpenBLAS, naive
// loops) of an op on given inputs and return what it computed. Contract: docs/backends.md.
//
// As in Boost.Multiprecision's skeleton back end, the contract is small: a backend names itself,
// names the arithmetic model it claims (a preset name such as "f32", "tf32"), lists the ops it
// supports, says whether it can run here (and why not), and runs. The shared front end
// (backend::run) validates, converts the inputs to the backend's storage format, times the run and
// checks the output shape, so each adapter stays thin. One conformance suite (tests/backends)
// is instantiated for every registered backend.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "roundoff/formats/format.hpp"
#include "roundoff/ops/op.hpp"
#include "roundoff/tensor.hpp"

namespace roundoff::backends {

/// The four parts of a backend name `library.device.formulation.format`,
/// e.g. {"torch", "cpu", "matmul_add", "f32"}.
struct backend_name {
  std::string library, device, formulation, format;
  std::string str() const { return library + "." + device + "." + formulation + "." + format; }
};

/// Splits "torch.cpu.linear.f32" into its parts; throws input_error unless there are exactly four
/// non-empty dot-separated parts.
backend_name parse_backend_name(std::string_view name);

/// Whether a backend can run in this process, and if not, why ("no CUDA device",
/// "built without LibTorch", ...).
struct availability {
  bool available = false;
  std::string reason;  ///< empty when available
};

struct run_options {
  /// Threads for the library the backend runs (LibTorch intra-op threads via at::set_num_threads,
  /// OpenBLAS threads via openblas_set_num_threads). Each library is set separately and
  /// explicitly before each run; the value the library reports back is recorded.
  int threads = 1;
};

/// What a run records besides the output values.
struct run_info {
  std::string backend;         ///< full name
  std::string device;          ///< "cpu", "cuda:0 (NVIDIA H200)", ...
  std::string thread_library;  ///< "libtorch", "openblas", "eigen", "none"
  int threads = 1;             ///< threads the library reported using
  double seconds = 0;          ///< wall time of the compute (conversion excluded)
  /// Input elements (x, w and b together) that were not representable in the backend's storage
  /// format and were rounded (nearest-even) before the run. Nonzero means the backend computed
  /// on different inputs than the caller's: judge against the rounded inputs.
  std::int64_t inputs_rounded = 0;
  std::string notes;  ///< e.g. "cuBLAS compute type CUBLAS_COMPUTE_32F_FAST_TF32"
};

struct run_result {
  tensor output;  ///< values as double (exact images of the backend's output format values)
  run_info info;
};

/// The backend interface. Adapters implement the `do_*` hooks; callers use the non-virtual
/// front end.
class backend {
 public:
  virtual ~backend() = default;

  /// `library.device.formulation.format`.
  const backend_name& name() const noexcept { return name_; }
  std::string full_name() const { return name_.str(); }
  /// The arithmetic model preset it claims: "f64", "f32", "tf32", "bf16", "f16", "f16-acc16".
  const std::string& model() const noexcept { return model_; }
  /// Format inputs are stored in and outputs come back in (tf32 backends store f32).
  format_id storage_format() const noexcept { return storage_; }
  /// Ops it can run (some adapters take several ops: matmul_add runs linear and matmul).
  const std::vector<ops::op_kind>& supported_ops() const noexcept { return ops_; }
  bool supports(ops::op_kind k) const noexcept;

  virtual availability available() const = 0;

  /// Runs op on (x, w, b). b may be null. Throws input_error for an unsupported op, invalid
  /// shapes/arguments (checked as PyTorch does) or an unavailable backend.
  run_result run(const ops::op_spec& op, const tensor& x, const tensor& w, const tensor* b,
                 const run_options& opt = {}) const;

 protected:
  backend(backend_name name, std::string model, format_id storage, std::vector<ops::op_kind> ops);

  /// The adapter hook. Inputs are already representable in storage_format(), shapes validated;
  /// out_shape is the op's output shape. Fill result.output.data (row-major, out_shape) and the
  /// info fields device, thread_library, threads, seconds, notes.
  virtual void do_run(const ops::op_spec& op, const tensor& x, const tensor& w, const tensor* b,
                      const std::vector<std::int64_t>& out_shape, const run_options& opt,
                      run_result& result) const = 0;

 private:
  backend_name name_;
  std::string model_;
  format_id storage_;
  std::vector<ops::op_kind> ops_;
};

/// An ordered collection of backends, looked up by name or glob.
class registry {
 public:
  /// Takes ownership; throws internal_error on a duplicate name.
  const backend& add(std::unique_ptr<backend> b);
  /// Null when no backend has that exact name.
  const backend* find(std::string_view name) const noexcept;
  /// Every backend, in registration order.
  std::vector<const backend*> all() const;
  /// Backends matching any of the globs (`*`, `?`, `[abc]`), in registration order, each once.
  /// An empty list selects all but the emulations (library "model", e.g. model.sm90.tc.tf32),
  /// which run when a glob names them. A glob that matches nothing throws argument_error
  /// ("impl", the glob, "matches no backend").
  std::vector<const backend*> select(const std::vector<std::string>& globs) const;

 private:
  std::vector<std::unique_ptr<backend>> items_;
};

/// The registry of every built-in backend, built on first use. Backends whose library was not
/// compiled in are still listed, as unavailable with the reason.
const registry& builtin_registry();

/// The LibTorch and cuBLAS backends are in a plugin, roundoff_backends_torch.so, loaded on first
/// use (when one of them is asked `available()` or runs). Its path as found now, without loading
/// it: ROUNDOFF_BACKENDS_PLUGIN, beside the executable, <prefix>/<libdir>/roundoff, or the build
/// tree. Empty when this build has no such backends or the file is not found.
std::string backends_plugin_path();

/// Shell-style glob match on whole strings: `*` any run, `?` one char, `[...]` a set.
bool glob_match(std::string_view pattern, std::string_view text) noexcept;

/// Plain description of one backend, for `roundoff backends [--format json]`.
struct backend_info {
  std::string name, library, device, formulation, format;
  std::string model;
  std::vector<std::string> ops;  ///< op names, as ops::op_name gives them
  bool available = false;
  std::string reason;
};

/// Describes every backend of reg (default: the built-in registry), in registration order.
std::vector<backend_info> list_backends(const registry& reg = builtin_registry());

/// Runs every backend selected by globs on the same inputs. Unavailable or non-supporting
/// backends are reported, not run; a backend whose library fails (a CUDA error, an exception from
/// LibTorch) is reported as "failed: ..." and the others still run. Invalid input (input_error)
/// propagates.
struct selected_run {
  std::string backend;
  bool ran = false;
  std::string skipped_reason;  ///< why it did not run
  run_result result;           ///< valid when ran
};
std::vector<selected_run> run_selected(const ops::op_spec& op, const tensor& x, const tensor& w,
                                       const tensor* b, const std::vector<std::string>& globs,
                                       const run_options& opt = {},
                                       const registry& reg = builtin_registry());

}  // namespace roundoff::backends

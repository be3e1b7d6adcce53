// compat.h lets gotch v0.7.0, generated against libtorch 1.11, compile
// against Debian's libtorch 1.13.1 (libtorch-dev), unmodified.
//
// env.sh force-includes this file into every C++ compile of a `-tags torch`
// build (-include in CGO_CXXFLAGS), and puts its SHA-256 into the flags
// (-DKAIROS_TORCH_COMPAT=...) so that Go's build cache notices an edit.
// It acts only inside gotch's libtch compile, recognised by its torch_api.h
// being on the include path; anywhere else it is empty.
//
// Between 1.11 and 1.13 libtorch removed or changed about thirty free
// functions that gotch's generated bindings (torch_api_generated.cpp.h)
// call as torch::name. Each is declared here in namespace torch: mapped to
// its 1.13 equivalent where one exists, otherwise a function that throws a
// c10::Error naming the replacement (gotch's PROTECT turns it into a Go
// error at call time; nothing in Kairos calls these). Where a name still
// exists in at:: and we only add an overload, `using at::name;` keeps the
// 1.13 overloads visible: qualified lookup of torch::name stops at the
// first declaration in namespace torch and never reaches the using-directive
// `namespace torch { using namespace at; }`.
//
// The list is what `g++ -fsyntax-only` of libtch/torch_api.cpp with only
// -I/usr/include/torch/csrc/api/include reports (models/torch/README.md).
#pragma once
#if defined(__cplusplus) && __has_include("torch_api.h") && __has_include(<torch/torch.h>)

#include <torch/torch.h>

#include <array>
#include <string>
#include <tuple>
#include <vector>

namespace torch {

[[noreturn]] inline void kairos_removed(const char* name, const char* replacement) {
  TORCH_CHECK(false, "torch::", name, " was removed in libtorch 1.13 (Kairos builds gotch v0.7.0 against 1.13.1); use ", replacement);
  throw std::logic_error(name);  // not reached: TORCH_CHECK(false) throws
}

// cat: _cat was the internal kernel of cat.
inline at::Tensor _cat(at::TensorList tensors, int64_t dim) { return at::cat(tensors, dim); }
inline at::Tensor& _cat_out(at::Tensor& out, at::TensorList tensors, int64_t dim) { return at::cat_out(out, tensors, dim); }

// det: the LU-based helper became _linalg_det, returning (det, LU, pivots).
inline std::tuple<at::Tensor, at::Tensor, at::Tensor> _det_lu_based_helper(const at::Tensor& self) { return at::_linalg_det(self); }
inline at::Tensor _det_lu_based_helper_backward_helper(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&) {
  kairos_removed("_det_lu_based_helper_backward_helper", "autograd of at::linalg_det");
}

inline at::Tensor& _linalg_inv_out_helper_(at::Tensor&, at::Tensor&, at::Tensor&) {
  kairos_removed("_linalg_inv_out_helper_", "at::linalg_inv_ex");
}
inline std::tuple<at::Tensor, at::Tensor> _linalg_qr_helper(const at::Tensor& self, const std::string& mode) { return at::linalg_qr(self, mode); }

inline at::Tensor _s_where(const at::Tensor& condition, const at::Tensor& self, const at::Tensor& other) { return at::where(condition, self, other); }

// solve(B, A) solved A X = B and returned (X, LU of A).
inline std::tuple<at::Tensor, at::Tensor> solve(const at::Tensor& self, const at::Tensor& A) {
  return std::make_tuple(at::linalg_solve(A, self), std::get<0>(at::linalg_lu_factor(A)));
}
inline std::tuple<at::Tensor, at::Tensor> _solve_helper(const at::Tensor& self, const at::Tensor& A) { return solve(self, A); }
inline std::tuple<at::Tensor&, at::Tensor&> solve_out(at::Tensor& solution, at::Tensor& lu, const at::Tensor& self, const at::Tensor& A) {
  auto r = solve(self, A);
  solution.resize_(std::get<0>(r).sizes()).copy_(std::get<0>(r));
  lu.resize_(std::get<1>(r).sizes()).copy_(std::get<1>(r));
  return std::forward_as_tuple(solution, lu);
}

// weight norm: the CUDA-named interface became device-neutral.
inline std::tuple<at::Tensor, at::Tensor> _weight_norm_cuda_interface(const at::Tensor& v, const at::Tensor& g, int64_t dim) {
  return at::_weight_norm_interface(v, g, dim);
}
inline std::tuple<at::Tensor, at::Tensor> _weight_norm_cuda_interface_backward(const at::Tensor& grad_w, const at::Tensor& saved_v, const at::Tensor& saved_g, const at::Tensor& saved_norms, int64_t dim) {
  return at::_weight_norm_interface_backward(grad_w, saved_v, saved_g, saved_norms, dim);
}

// arange_out lost its defaulted step.
using at::arange_out;
inline at::Tensor& arange_out(at::Tensor& out, const at::Scalar& start, const at::Scalar& end) { return at::arange_out(out, start, end, 1); }

// bernoulli_out(out, self) and normal_out(out, mean, std) became ambiguous
// between two 1.13 overloads. These win overload resolution because they
// bind the (non-const) tensor arguments gotch passes without adding const.
using at::bernoulli_out;
inline at::Tensor& bernoulli_out(at::Tensor& out, at::Tensor& self) {
  return at::bernoulli_out(out, self, c10::optional<at::Generator>(c10::nullopt));
}
using at::normal_out;
inline at::Tensor& normal_out(at::Tensor& out, at::Tensor& mean, double std) {
  return at::normal_out(out, static_cast<const at::Tensor&>(mean), std, c10::optional<at::Generator>(c10::nullopt));
}

inline at::Tensor binary_cross_entropy_with_logits_backward(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t) {
  kairos_removed("binary_cross_entropy_with_logits_backward", "autograd of at::binary_cross_entropy_with_logits");
}

// col2im and im2col are each other's backward.
inline at::Tensor col2im_backward(const at::Tensor& grad_output, at::IntArrayRef kernel_size, at::IntArrayRef dilation, at::IntArrayRef padding, at::IntArrayRef stride) {
  return at::im2col(grad_output, kernel_size, dilation, padding, stride);
}
inline at::Tensor& col2im_backward_out(at::Tensor& grad_input, const at::Tensor& grad_output, at::IntArrayRef kernel_size, at::IntArrayRef dilation, at::IntArrayRef padding, at::IntArrayRef stride) {
  return at::im2col_out(grad_input, grad_output, kernel_size, dilation, padding, stride);
}
inline at::Tensor im2col_backward(const at::Tensor& grad_output, at::IntArrayRef input_size, at::IntArrayRef kernel_size, at::IntArrayRef dilation, at::IntArrayRef padding, at::IntArrayRef stride) {
  return at::col2im(grad_output, input_size, kernel_size, dilation, padding, stride);
}
inline at::Tensor& im2col_backward_out(at::Tensor& grad_input, const at::Tensor& grad_output, at::IntArrayRef input_size, at::IntArrayRef kernel_size, at::IntArrayRef dilation, at::IntArrayRef padding, at::IntArrayRef stride) {
  return at::col2im_out(grad_input, grad_output, input_size, kernel_size, dilation, padding, stride);
}

inline std::tuple<at::Tensor, at::Tensor> eig(const at::Tensor&, bool) { kairos_removed("eig", "at::linalg_eig"); }
inline std::tuple<at::Tensor&, at::Tensor&> eig_out(at::Tensor&, at::Tensor&, const at::Tensor&, bool) { kairos_removed("eig_out", "at::linalg_eig_out"); }

// grid_sampler_3d_backward gained an output mask; 1.11 computed both.
using at::grid_sampler_3d_backward;
inline std::tuple<at::Tensor, at::Tensor> grid_sampler_3d_backward(const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& grid, int64_t interpolation_mode, int64_t padding_mode, bool align_corners) {
  return at::grid_sampler_3d_backward(grad_output, input, grid, interpolation_mode, padding_mode, align_corners, std::array<bool, 2>{true, true});
}

inline at::Tensor kl_div_backward(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t, bool) {
  kairos_removed("kl_div_backward", "autograd of at::kl_div");
}

// l1 loss: 1.13 computes it from composite ops; these are the 1.11 kernels'
// definitions.
inline at::Tensor l1_loss_backward(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& target, int64_t reduction) {
  auto g = at::sign(self - target) * grad_output;
  return reduction == at::Reduction::Mean ? g / self.numel() : g;
}
inline at::Tensor& l1_loss_backward_out(at::Tensor& grad_input, const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& target, int64_t reduction) {
  auto g = l1_loss_backward(grad_output, self, target, reduction);
  return grad_input.resize_(g.sizes()).copy_(g);
}
inline at::Tensor& l1_loss_out(at::Tensor& out, const at::Tensor& self, const at::Tensor& target, int64_t reduction) {
  auto l = at::l1_loss(self, target, reduction);
  return out.resize_(l.sizes()).copy_(l);
}

inline std::tuple<at::Tensor, at::Tensor> lstsq(const at::Tensor&, const at::Tensor&) { kairos_removed("lstsq", "at::linalg_lstsq"); }
inline std::tuple<at::Tensor&, at::Tensor&> lstsq_out(at::Tensor&, at::Tensor&, const at::Tensor&, const at::Tensor&) { kairos_removed("lstsq_out", "at::linalg_lstsq"); }

inline at::Tensor matrix_rank(const at::Tensor& self, bool symmetric) {
  return at::linalg_matrix_rank(self, c10::optional<double>(c10::nullopt), c10::optional<double>(c10::nullopt), symmetric);
}
inline at::Tensor matrix_rank(const at::Tensor& self, double tol, bool symmetric) { return at::linalg_matrix_rank(self, tol, symmetric); }

inline at::Tensor max_unpool2d_backward(const at::Tensor&, const at::Tensor&, const at::Tensor&, at::IntArrayRef) {
  kairos_removed("max_unpool2d_backward", "autograd of at::max_unpool2d");
}
inline at::Tensor& max_unpool2d_backward_out(at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, at::IntArrayRef) {
  kairos_removed("max_unpool2d_backward_out", "autograd of at::max_unpool2d");
}
inline at::Tensor max_unpool3d_backward(const at::Tensor&, const at::Tensor&, const at::Tensor&, at::IntArrayRef, at::IntArrayRef, at::IntArrayRef) {
  kairos_removed("max_unpool3d_backward", "autograd of at::max_unpool3d");
}
inline at::Tensor& max_unpool3d_backward_out(at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, at::IntArrayRef, at::IntArrayRef, at::IntArrayRef) {
  kairos_removed("max_unpool3d_backward_out", "autograd of at::max_unpool3d");
}

// nansum(self, dtype) lost its own overload to the dim/keepdim form.
using at::nansum;
inline at::Tensor nansum(const at::Tensor& self, at::ScalarType dtype) { return at::nansum(self, c10::nullopt, false, dtype); }

// segment_reduce gained offsets before axis.
using at::segment_reduce;
inline at::Tensor segment_reduce(const at::Tensor& data, const std::string& reduce, const at::Tensor& lengths, const at::Tensor& indices, int64_t axis, bool unsafe, const at::Scalar& initial) {
  return at::segment_reduce(data, reduce, lengths, indices, c10::nullopt, axis, unsafe, initial);
}
using at::_segment_reduce_backward;
inline at::Tensor _segment_reduce_backward(const at::Tensor& grad, const at::Tensor& output, const at::Tensor& data, const std::string& reduce, const at::Tensor& lengths, int64_t axis) {
  return at::_segment_reduce_backward(grad, output, data, reduce, lengths, c10::nullopt, axis);
}

}  // namespace torch

#endif

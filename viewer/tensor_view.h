// Trace tensors as heatmaps: what each axis of a trace name is, and the 2-D view (a slider over
// the first axis of 3-D tensors, then the slice's heatmap) that the Forward, MLA and Compare
// panels share.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "draw.h"

namespace seek::viewer {

// One name per axis, in words: the glossary's (core/glossary.h) when it knows the name and the
// rank matches ("head", "query token", "key token" for attn.probs), else generic ones.
std::vector<std::string> tensor_axes(const std::string& name, size_t rank);

// The tensor itself when it has one or two axes; for more, slice `first` of the first axis with
// the remaining axes folded into rows x last axis. Axes that are tokens are labelled with
// `tokens`' text when their lengths match (pass {} for indices).
Grid tensor_grid(const std::string& name, const Shape& shape, const std::vector<float>& values, int64_t first,
                 const std::vector<int32_t>& tokens);

// For tensors of three or more axes, a slider over the first ("head 2 of 4") that keeps `first`
// in range; then the heatmap of the slice. `scale` is the whole tensor's (color_scale_for, made
// once per tensor), so that slices compare. `outline`/`note` as for heatmap(). Returns the
// hovered flat index, or -1.
int64_t tensor_heatmap(const char* id, const std::string& name, const Shape& shape, const std::vector<float>& values,
                       const ColorScale& scale, const std::vector<int32_t>& tokens, int64_t& first, ImVec2 size,
                       int64_t outline = -1, std::function<std::string(int64_t)> note = nullptr);

// |a - b| element by element, as compare_traces counts it: equal values (masked -inf on both
// sides) differ by 0, a NaN on either side stays NaN. a and b have the same length.
std::vector<float> abs_difference(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace seek::viewer

// One sentence per trace name: what the tensor is and why it matters, and the names of its axes.
// `seek step`, the viewer and the lessons show the same words; trace files carry the axes in their
// metadata ("axes"), so that readers (the viewer, notebooks) do not re-derive them.
#pragma once

#include <string>
#include <vector>

namespace seek {

// Matches the name's last components ("layers.3.attn.c_kv" -> the c_kv entry); "" when unknown.
std::string describe_tensor(const std::string& trace_name);
// The same lookup: ["token", "head", "latent"] for "layers.0.attn.q_absorbed"; empty when unknown.
std::vector<std::string> tensor_axes(const std::string& trace_name);

}  // namespace seek

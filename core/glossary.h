// One sentence per trace name: what the tensor is and why it matters. `seek step`, the viewer
// and the lessons show the same words.
#pragma once

#include <string>

namespace seek {

// Matches the name's last components ("layers.3.attn.c_kv" -> the c_kv entry); "" when unknown.
std::string describe_tensor(const std::string& trace_name);

}  // namespace seek

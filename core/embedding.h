// The token embedding: out[t] = table[tokens[t]], and its backward. A token seen twice gathers
// twice, so its row of dtable receives the sum: dtable[tokens[t]] += dout[t].
#pragma once

#include <cstdint>
#include <vector>

#include "config.h"
#include "tensor.h"

namespace seek {

// The tokens a model may run, checked once where they enter: at least one, at most
// max_position_embeddings, each inside the vocabulary; throws naming the position otherwise.
void check_tokens(const ModelConfig& config, const std::vector<int32_t>& tokens);

// Throws naming the token and its position when it is outside the table.
template <typename S>
MatOf<S> embedding_forward(const MatOf<S>& table, const std::vector<int32_t>& tokens);
template <typename S>
void embedding_backward(MatOf<S>& dtable, const MatOf<S>& dout, const std::vector<int32_t>& tokens);

// Rows of a generated model.embed_tokens.weight (N(0, 1), a pure function of seed, name and index)
// for these tokens, one row at a time: a full-scale table is 129,280 x 7168.
Mat generated_embedding(const ModelConfig& config, const std::vector<int32_t>& tokens, uint64_t seed);

}  // namespace seek

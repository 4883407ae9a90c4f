#include "embedding.h"

#include <stdexcept>
#include <string>

#include "random.h"

namespace seek {

static void check_token(int32_t token, size_t position, Eigen::Index vocab) {
    if (token < 0 || token >= vocab)
        throw std::runtime_error("token " + std::to_string(token) + " at position " + std::to_string(position) +
                                 " is outside the vocabulary of " + std::to_string(vocab));
}

void check_tokens(const ModelConfig& config, const std::vector<int32_t>& tokens) {
    if (tokens.empty()) throw std::runtime_error("no tokens to run");
    if (static_cast<int64_t>(tokens.size()) > config.max_position_embeddings)
        throw std::runtime_error(std::to_string(tokens.size()) + " tokens, more than max_position_embeddings (" +
                                 std::to_string(config.max_position_embeddings) + ") of " + config.name);
    for (size_t t = 0; t < tokens.size(); ++t) check_token(tokens[t], t, config.vocab_size);
}

template <typename S>
MatOf<S> embedding_forward(const MatOf<S>& table, const std::vector<int32_t>& tokens) {
    MatOf<S> out(static_cast<Eigen::Index>(tokens.size()), table.cols());
    for (size_t t = 0; t < tokens.size(); ++t) {
        check_token(tokens[t], t, table.rows());
        out.row(t) = table.row(tokens[t]);
    }
    return out;
}

template <typename S>
void embedding_backward(MatOf<S>& dtable, const MatOf<S>& dout, const std::vector<int32_t>& tokens) {
    for (size_t t = 0; t < tokens.size(); ++t) dtable.row(tokens[t]) += dout.row(t);
}

Mat generated_embedding(const ModelConfig& config, const std::vector<int32_t>& tokens, uint64_t seed) {
    const uint64_t name_hash = hash_name("model.embed_tokens.weight");
    Mat embed(static_cast<int64_t>(tokens.size()), config.hidden_size);
    for (size_t t = 0; t < tokens.size(); ++t) {
        check_token(tokens[t], t, config.vocab_size);
        for (int64_t j = 0; j < config.hidden_size; ++j)
            embed(t, j) = normal_at(seed, name_hash, static_cast<uint64_t>(tokens[t]) * config.hidden_size + j);
    }
    return embed;
}

template MatOf<float> embedding_forward(const MatOf<float>&, const std::vector<int32_t>&);
template MatOf<double> embedding_forward(const MatOf<double>&, const std::vector<int32_t>&);
template void embedding_backward(MatOf<float>&, const MatOf<float>&, const std::vector<int32_t>&);
template void embedding_backward(MatOf<double>&, const MatOf<double>&, const std::vector<int32_t>&);

}  // namespace seek

// seek fp8: FP8 codes of numbers (encode), what fine-grained scaling saves (quant), and what the
// tensor core's limited accumulator costs an FP8 GEMM as K grows (gemm).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/fp8.h"
#include "../core/fp8_gemm.h"
#include "../core/quantize.h"
#include "../core/random.h"
#include "../core/trace.h"  // format_shape
#include "commands.h"

namespace seek::cli {

namespace {

const CommandSpec fp8_command = {
    "fp8",
    "FP8 formats, fine-grained scaling and FP8 GEMM accumulation error",
    "DeepSeek-V3 trains and serves its linear layers in FP8 E4M3 (3 mantissa bits, max 448) with\n"
    "one scale per 1x128 activation tile and per 128x128 weight block, and promotes the tensor\n"
    "core's partial sums to FP32 every 128 products. Three subcommands show why, each with --help:\n"
    "  seek fp8 encode VALUE...   E4M3 / E5M2 / BF16 codes, decoded values and rounding errors\n"
    "  seek fp8 quant             quantization error of per-tensor, 1x128 and 128x128 scaling\n"
    "  seek fp8 gemm              FP8 GEMM error vs FP64 for each accumulation mode as K grows",
    {},
    "encode|quant|gemm [options]",
    1,
    1,
};

const CommandSpec encode_command = {
    "fp8 encode",
    "FP8 (E4M3, E5M2) and BF16 codes of numbers, their decoded values and rounding errors",
    "Each VALUE is read as a float32 and rounded to nearest, ties to even, into\n"
    "  E4M3  sign.eeee.mmm, bias 7: normal 1.mmm x 2^(e-7), subnormal 0.mmm x 2^-6; max 448,\n"
    "        no infinity, NaN = S.1111.111\n"
    "  E5M2  sign.eeeee.mm, bias 15: max 57344, infinities and NaNs as in IEEE\n"
    "  BF16  sign.eeeeeeee.mmmmmmm: the top half of a float32\n"
    "A value beyond the largest finite one becomes +-max (satfinite, the default, what DeepSeek's\n"
    "casts use) or, with --nosat, NaN in E4M3 and +-inf in E5M2. The bits are bit-exact with\n"
    "cuda_fp8.h's __nv_cvt_float_to_fp8 (checked by the fp8 oracle test). The error is\n"
    "decoded - value; ulp is the spacing of the format's values around the value: rounding to\n"
    "nearest errs by at most half of it.",
    {
        {"nosat", "", "non-saturating conversion (__NV_NOSAT) instead of satfinite", ""},
        {"json", "", "print the results as JSON", ""},
    },
    "VALUE...",
    1,
    100000,
};

const CommandSpec quant_command = {
    "fp8 quant",
    "quantization error of per-tensor, 1x128 and 128x128 FP8 scaling",
    "Quantizes two synthetic tensors to E4M3 with one scale per tile and measures what is lost:\n"
    "  activations [--tokens, --channels]: Student-t with 3 degrees of freedom (heavy tails) plus\n"
    "    --outlier-channels channels scaled by --outlier-scale (an LLM's \"massive activations\");\n"
    "  weights [--weight-rows, --channels]: N(0, 0.006^2), DeepSeek-V3's init std.\n"
    "Per tile: s = max(amax, 1e-4) / 448 (--ue8m0: 2^ceil(log2 s)), code = E4M3(x / s), x' = code * s.\n"
    "The tile's largest value lands on 448 exactly, and every other value keeps E4M3's 3 mantissa\n"
    "bits while x / s stays above 2^-6 (E4M3's smallest normal); below that it falls into the\n"
    "subnormals (spacing 2^-9) and, under 2^-10, to zero. One outlier therefore sets the scale of\n"
    "its whole tile: per tensor it squeezes every token toward the subnormals and makes only one\n"
    "element exact; 1x128 tiles confine it to one token's 128 channels and give every token's own\n"
    "outliers an exact code. 128x128 blocks, right for weights, share one scale among 128 tokens\n"
    "of an activation, so an outlier channel still sets it for all of them (and the paper's App.\n"
    "B.2 saw them diverge for activation gradients): activations use 1x128.\n"
    "Columns: max / mean rel = the worst / mean relative error |x - x'| / |x| (2-norms) of a group\n"
    "of 128 consecutive elements of a row; SNR = 10 log10(sum x^2 / sum (x - x')^2); flushed =\n"
    "nonzero values that became 0.",
    {
        {"tokens", "T", "activation rows", "256"},
        {"channels", "K", "activation and weight columns (V3 hidden size: 7168)", "7168"},
        {"weight-rows", "N", "weight rows (V3 q_a_proj: 1536)", "1536"},
        {"outlier-channels", "N", "activation channels scaled up", "4"},
        {"outlier-scale", "X", "their scale factor", "1000"},
        {"ue8m0", "", "power-of-two scales (UE8M0, V3.1's scale_fmt)", ""},
        {"seed", "N", "seed of the synthetic tensors", "0"},
        {"json", "", "print the results as JSON", ""},
    },
    "",
    0,
    0,
};

const CommandSpec gemm_command = {
    "fp8 gemm",
    "FP8 GEMM error vs FP64 for each accumulation mode, as K grows",
    "C = A B^T with A [--m, K] quantized to E4M3 with 1x128 scales and B [--n, K] with 128x128\n"
    "scales (DeepGEMM's layouts), for each K in --k, with three accumulations:\n"
    "  exact      each 128-wide K block summed in FP32, scaled, added into FP32 (CUDA cores)\n"
    "  no promo   the tensor-core model below over all of K\n"
    "  promote    the same model, its partial sum added into FP32 every --promote products (N_C)\n"
    "Tensor-core model (the V3 report: \"after aligning 32 mantissa products by right-shifting\n"
    "based on the maximum exponent, only the highest 14 bits are used\"; the accumulator is aligned\n"
    "with the products, as Fasi et al. measured for V100/A100 tensor cores): products are added\n"
    "--group at a time; the largest of the accumulator and the group's products, in [2^E, 2^(E+1)),\n"
    "sets the cut 2^(E - accum_bits + 1); every term is truncated toward zero to a multiple of it,\n"
    "then they are added exactly. The accumulator's low bits are lost at every step, so the error\n"
    "grows with K; promotion restarts the partial sum every N_C products.\n"
    "Error vs the FP64 product of the same quantized inputs (so only the accumulation is measured):\n"
    "max rel = max |C - C64| / max |C64|, mean rel = mean |C - C64| / mean |C64| (as seek compare).\n"
    "--data normal draws N(0, 1) inputs: products of random sign, whose cuts partly cancel (the\n"
    "error grows like sqrt(K)); --data uniform draws U[0, 1): every product positive, the cuts add\n"
    "up (the error grows like K). The V3 report's ~2% at K = 4096 lies between the two.",
    {
        {"m", "M", "rows of A (tokens)", "64"},
        {"n", "N", "rows of B (output channels)", "64"},
        {"k", "K,K,...", "inner dimensions, comma-separated", "256,512,1024,2048,4096,8192,16384"},
        {"accum-bits", "B", "significant bits the tensor core keeps (H800: ~14)", "14"},
        {"promote", "N_C", "promotion interval in products; 0 = never", "128"},
        {"group", "G", "products aligned together (one FP8 WGMMA's K)", "32"},
        {"data", "KIND", "normal or uniform", "normal"},
        {"seed", "N", "seed of the inputs", "0"},
        {"json", "", "print the results as JSON", ""},
    },
    "",
    0,
    0,
};

// ---- encode ------------------------------------------------------------------------------

// "0.1111.010": the sign, exponent and mantissa fields of a code.
std::string bit_fields(uint32_t code, int exponent_bits, int mantissa_bits) {
    std::string text;
    for (int bit = exponent_bits + mantissa_bits; bit >= 0; --bit) {
        text += (code >> bit) & 1 ? '1' : '0';
        if (bit == exponent_bits + mantissa_bits || bit == mantissa_bits) text += '.';
    }
    return text;
}

struct Encoding {
    std::string format;
    uint32_t code = 0;
    int code_digits = 2;  // hex digits
    std::string bits;
    float decoded = 0;
    double ulp = 0;
};

std::vector<Encoding> encodings_of(float value, Saturation saturation) {
    std::vector<Encoding> result;
    for (Fp8Format format : {Fp8Format::E4M3, Fp8Format::E5M2}) {
        const Fp8Spec& spec = fp8_spec(format);
        const uint8_t code = fp8_encode(value, format, saturation);
        result.push_back({spec.name, code, 2, bit_fields(code, spec.exponent_bits, spec.mantissa_bits),
                          fp8_decode(code, format), fp8_ulp(value, format)});
    }
    const uint16_t bits = bf16_encode(value);
    // BF16 keeps float32's exponent range: its ulp at |value| in [2^e, 2^(e+1)) is 2^(e-7).
    const double magnitude = std::fabs(double(value));
    const int exponent = magnitude >= std::numeric_limits<float>::min() ? std::ilogb(magnitude) : -126;
    result.push_back({"BF16", bits, 4, bit_fields(bits, 8, 7), bf16_decode(bits), std::ldexp(1.0, exponent - 7)});
    return result;
}

float parse_value(const std::string& text) {
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0') throw UsageError("VALUE: expected a number, got '" + text + "'");
    return static_cast<float>(value);
}

int run_encode(int argc, char** argv) {
    if (wants_help(encode_command, argc, argv)) return 0;
    const ParsedArgs args = parse_args(encode_command, argc, argv);
    const Saturation saturation = args.flag("nosat") ? Saturation::None : Saturation::Finite;
    std::vector<float> values;
    for (const std::string& text : args.positional) values.push_back(parse_value(text));

    if (args.flag("json")) {
        nlohmann::json rows = nlohmann::json::array();
        for (size_t i = 0; i < values.size(); ++i) {
            nlohmann::json formats = nlohmann::json::array();
            for (const Encoding& e : encodings_of(values[i], saturation)) {
                formats.push_back({{"format", e.format}, {"code", e.code}, {"bits", e.bits}, {"decoded", e.decoded},
                                   {"error", double(e.decoded) - values[i]}, {"ulp", e.ulp}});
            }
            rows.push_back({{"input", args.positional[i]}, {"value", values[i]}, {"encodings", formats}});
        }
        const nlohmann::json out = {{"saturation", saturation == Saturation::Finite ? "satfinite" : "nosat"},
                                    {"values", rows}};
        std::printf("%s\n", out.dump(2).c_str());
        return 0;
    }

    std::printf("round to nearest even, %s\n\n", saturation == Saturation::Finite ? "satfinite" : "non-saturating");
    std::printf("%-15s %-6s %-7s %-20s %15s %15s %11s %12s\n", "value", "format", "code", "sign.exp.mantissa", "decoded",
                "error", "error/ulp", "ulp");
    for (float value : values) {
        char value_text[32];
        std::snprintf(value_text, sizeof value_text, "%.9g", value);
        for (const Encoding& e : encodings_of(value, saturation)) {
            const double error = double(e.decoded) - value;
            char code[16];
            std::snprintf(code, sizeof code, "0x%0*x", e.code_digits, e.code);
            char error_in_ulps[32] = "-";  // none for NaN and infinite inputs
            if (std::isfinite(error)) std::snprintf(error_in_ulps, sizeof error_in_ulps, "%.4f", error / e.ulp);
            std::printf("%-15s %-6s %-7s %-20s %15.9g %15.6g %11s %12.6g\n", value_text, e.format.c_str(), code,
                        e.bits.c_str(), e.decoded, error, error_in_ulps, e.ulp);
            value_text[0] = '\0';  // the value once per block of rows
        }
    }
    return 0;
}

// ---- quant -------------------------------------------------------------------------------

struct QuantRow {
    std::string scaling;
    Shape scale_shape;
    ErrorStats stats;
};

std::vector<QuantRow> quantization_rows(const Mat& x, ScaleFormat format) {
    std::vector<QuantRow> rows;
    for (const auto& [scaling, tile] : {std::pair<std::string, Tile>{"per-tensor", whole_matrix_tile(x)},
                                        {"1x128", kActivationTile},
                                        {"128x128", kWeightTile}}) {
        const QuantizedMatrix q = quantize(x, tile, format);
        rows.push_back({scaling, {q.scales.rows(), q.scales.cols()}, error_stats(x, dequantize(q))});
    }
    return rows;
}

nlohmann::json quant_json(const std::string& description, const Mat& x, const std::vector<QuantRow>& rows) {
    nlohmann::json out = {{"tensor", description}, {"shape", {x.rows(), x.cols()}}, {"amax", x.cwiseAbs().maxCoeff()}};
    for (const QuantRow& row : rows) {
        out["scalings"].push_back({{"scaling", row.scaling},
                                   {"scale_shape", row.scale_shape},
                                   {"max_rel", row.stats.max_rel},
                                   {"mean_rel", row.stats.mean_rel},
                                   {"max_abs", row.stats.max_abs},
                                   {"snr_db", row.stats.snr_db},
                                   {"flushed", row.stats.flushed}});
    }
    return out;
}

void print_quant_table(const std::string& description, const Mat& x, const std::vector<QuantRow>& rows) {
    std::printf("%s [%lld, %lld], amax %.6g\n", description.c_str(), static_cast<long long>(x.rows()),
                static_cast<long long>(x.cols()), x.cwiseAbs().maxCoeff());
    std::printf("  %-11s %-12s %10s %10s %8s %10s\n", "scaling", "scales", "max rel", "mean rel", "SNR dB", "flushed");
    for (const QuantRow& row : rows) {
        std::printf("  %-11s %-12s %10.3e %10.3e %8.2f %10lld\n", row.scaling.c_str(),
                    format_shape(row.scale_shape).c_str(), row.stats.max_rel,
                    row.stats.mean_rel, row.stats.snr_db, static_cast<long long>(row.stats.flushed));
    }
}

int64_t positive_count(const ParsedArgs& args, const std::string& name, int64_t max) {
    const int64_t value = args.integer(name);
    if (value < 1 || value > max) {
        throw UsageError("--" + name + " must be between 1 and " + std::to_string(max) + ", got " + args.str(name));
    }
    return value;
}

int run_quant(int argc, char** argv) {
    if (wants_help(quant_command, argc, argv)) return 0;
    const ParsedArgs args = parse_args(quant_command, argc, argv);
    const int64_t tokens = positive_count(args, "tokens", 1 << 16);
    const int64_t channels = positive_count(args, "channels", 1 << 16);
    const int64_t weight_rows = positive_count(args, "weight-rows", 1 << 16);
    if (tokens * channels > (int64_t{1} << 28) || weight_rows * channels > (int64_t{1} << 28))
        throw UsageError("tensors are limited to 2^28 elements");
    const int64_t outlier_channels = args.integer("outlier-channels");
    if (outlier_channels < 0 || outlier_channels > channels)
        throw UsageError("--outlier-channels must be between 0 and --channels (" + std::to_string(channels) + ")");
    const double outlier_scale = args.number("outlier-scale");
    if (!(outlier_scale > 0 && outlier_scale <= 1e6)) throw UsageError("--outlier-scale must be in (0, 1e6]");
    const uint64_t seed = static_cast<uint64_t>(args.integer("seed"));
    const ScaleFormat format = args.flag("ue8m0") ? ScaleFormat::PowerOfTwo : ScaleFormat::Float32;

    const Mat activations = outlier_activations(tokens, channels, outlier_channels, float(outlier_scale), seed);
    const Mat weights = generated_matrix(seed, "fp8.quant.weight", weight_rows, channels, 0.006f);
    std::ostringstream activation_text;
    activation_text << "activations: Student-t(3), " << outlier_channels << " outlier channels x" << outlier_scale;
    const std::string weight_text = "weights: N(0, 0.006^2)";
    const std::vector<QuantRow> activation_rows = quantization_rows(activations, format);
    const std::vector<QuantRow> weight_rows_stats = quantization_rows(weights, format);

    if (args.flag("json")) {
        const nlohmann::json out = {{"scale_format", format == ScaleFormat::PowerOfTwo ? "ue8m0" : "float32"},
                                    {"tensors",
                                     {quant_json(activation_text.str(), activations, activation_rows),
                                      quant_json(weight_text, weights, weight_rows_stats)}}};
        std::printf("%s\n", out.dump(2).c_str());
        return 0;
    }
    std::printf("E4M3 quantization error, %s scales (s = amax / 448%s)\n", format == ScaleFormat::PowerOfTwo ? "UE8M0" : "FP32",
                format == ScaleFormat::PowerOfTwo ? " rounded up to a power of two" : "");
    std::printf("relative errors per group of 128 consecutive elements of a row\n\n");
    print_quant_table(activation_text.str(), activations, activation_rows);
    std::printf("\n");
    print_quant_table(weight_text, weights, weight_rows_stats);
    return 0;
}

// ---- gemm --------------------------------------------------------------------------------

std::vector<int64_t> parse_k_list(const std::string& text) {
    std::vector<int64_t> ks;
    std::stringstream stream(text);
    std::string item;
    while (std::getline(stream, item, ',')) {
        const int64_t k = parse_count(item, "--k");
        if (k < 1 || k > (1 << 20)) throw UsageError("--k: each K must be between 1 and 1048576, got " + item);
        ks.push_back(k);
    }
    if (ks.empty()) throw UsageError("--k: expected at least one K");
    return ks;
}

Mat gemm_input(const std::string& data, uint64_t seed, const std::string& name, int64_t rows, int64_t cols) {
    if (data == "normal") return generated_matrix(seed, name, rows, cols, 1.0f);
    Rng rng(seed ^ hash_name(name));
    Mat x(rows, cols);
    for (int64_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(rng.uniform());
    return x;
}

int run_gemm(int argc, char** argv) {
    if (wants_help(gemm_command, argc, argv)) return 0;
    const ParsedArgs args = parse_args(gemm_command, argc, argv);
    const int64_t m = positive_count(args, "m", 4096);
    const int64_t n = positive_count(args, "n", 4096);
    const std::vector<int64_t> ks = parse_k_list(args.str("k"));
    const std::string data = args.str("data");
    if (data != "normal" && data != "uniform") throw UsageError("--data must be 'normal' or 'uniform', got '" + data + "'");
    const uint64_t seed = static_cast<uint64_t>(args.integer("seed"));

    const int64_t accum_bits = args.integer("accum-bits");
    if (accum_bits < 2 || accum_bits > 40) throw UsageError("--accum-bits must be between 2 and 40, got " + args.str("accum-bits"));
    const int64_t group = positive_count(args, "group", 4096);
    const int64_t promote = args.integer("promote");
    if (promote < 0 || promote % group != 0)
        throw UsageError("--promote must be 0 or a positive multiple of --group (" + std::to_string(group) + "), got " +
                         args.str("promote"));

    AccumulationModel exact;
    AccumulationModel no_promotion;
    no_promotion.mode = AccumulationMode::TensorCore;
    no_promotion.accum_bits = static_cast<int>(accum_bits);
    no_promotion.group = group;
    no_promotion.promote_every = 0;
    AccumulationModel promoted = no_promotion;
    promoted.promote_every = promote;

    nlohmann::json rows = nlohmann::json::array();
    if (!args.flag("json")) {
        std::printf("C = A B^T, A [%lld, K] with 1x128 scales, B [%lld, K] with 128x128 scales, %s inputs\n",
                    static_cast<long long>(m), static_cast<long long>(n), data == "normal" ? "N(0, 1)" : "U[0, 1)");
        std::printf("tensor core: %d-bit accumulator, %lld products per step; promotion every %lld products\n",
                    no_promotion.accum_bits, static_cast<long long>(no_promotion.group),
                    static_cast<long long>(promoted.promote_every));
        std::printf("error vs FP64 of the same FP8 inputs: max = max|C - C64| / max|C64|, mean = mean|C - C64| / mean|C64|\n\n");
        std::printf("%7s  %10s %10s  %10s %10s  %10s %10s  %8s\n", "", "exact", "", "no promo", "", "promote", "",
                    "no promo/");
        std::printf("%7s  %10s %10s  %10s %10s  %10s %10s  %8s\n", "K", "max rel", "mean rel", "max rel", "mean rel",
                    "max rel", "mean rel", "promote");
    }
    for (int64_t k : ks) {
        const QuantizedMatrix a = quantize(gemm_input(data, seed, "fp8.gemm.a", m, k), kActivationTile);
        const QuantizedMatrix b = quantize(gemm_input(data, seed, "fp8.gemm.b", n, k), kWeightTile);
        const MatD reference = reference_gemm(a, b);
        GemmError errors[3];
        const AccumulationModel* models[3] = {&exact, &no_promotion, &promoted};
        for (int i = 0; i < 3; ++i) errors[i] = gemm_error(fp8_gemm(a, b, *models[i]), reference);
        const double ratio = errors[2].max_rel > 0 ? errors[1].max_rel / errors[2].max_rel : INFINITY;
        if (args.flag("json")) {
            rows.push_back({{"k", k},
                            {"exact", {{"max_rel", errors[0].max_rel}, {"mean_rel", errors[0].mean_rel}}},
                            {"no_promotion", {{"max_rel", errors[1].max_rel}, {"mean_rel", errors[1].mean_rel}}},
                            {"promotion", {{"max_rel", errors[2].max_rel}, {"mean_rel", errors[2].mean_rel}}},
                            {"ratio", ratio}});
        } else {
            std::printf("%7lld  %10.2e %10.2e  %10.2e %10.2e  %10.2e %10.2e  %8.1f\n", static_cast<long long>(k),
                        errors[0].max_rel, errors[0].mean_rel, errors[1].max_rel, errors[1].mean_rel, errors[2].max_rel,
                        errors[2].mean_rel, ratio);
            std::fflush(stdout);
        }
    }
    if (args.flag("json")) {
        const nlohmann::json out = {{"m", m},
                                    {"n", n},
                                    {"data", data},
                                    {"accum_bits", no_promotion.accum_bits},
                                    {"group", no_promotion.group},
                                    {"promote", promoted.promote_every},
                                    {"rows", rows}};
        std::printf("%s\n", out.dump(2).c_str());
    }
    return 0;
}

}  // namespace

int run_fp8(int argc, char** argv) {
    if (argc == 0) throw UsageError("expected a subcommand: encode, quant or gemm (see seek fp8 --help)");
    const std::string sub = argv[0];
    if (sub == "--help" || sub == "-h") {
        std::fputs(help_text(fp8_command).c_str(), stdout);
        return 0;
    }
    if (sub == "encode") return run_encode(argc - 1, argv + 1);
    if (sub == "quant") return run_quant(argc - 1, argv + 1);
    if (sub == "gemm") return run_gemm(argc - 1, argv + 1);
    throw UsageError("unknown subcommand '" + sub + "' (expected encode, quant or gemm)");
}

}  // namespace seek::cli

// Run folders: transactional checkpoints, their checks on resume, and the log that goes with them.
#include "run_folder.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace seek {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const char* const kManifestFormat = "seekscope checkpoint 1";
const char* const kManifestName = "checkpoint.json";
const char* const kLinkName = "checkpoint";
const uint64_t kMaxLogBytes = uint64_t{1} << 32;        // 4 GB of JSON lines
const uint64_t kMaxPartBytes = uint64_t{1} << 40;       // the largest part a manifest may record: 1 TB
constexpr int64_t kMaxStep = int64_t{1} << 53;          // steps are exact in a double (the viewer's plots)

std::string step_name(int64_t step) {
    char name[32];
    std::snprintf(name, sizeof name, "step-%08lld", static_cast<long long>(step));
    return name;
}

// "step-00000200" -> 200; -1 when `name` is not a step folder's name.
int64_t step_of_name(const std::string& name) {
    const std::string prefix = "step-";
    if (name.compare(0, prefix.size(), prefix) != 0) return -1;
    const std::string digits = name.substr(prefix.size());
    if (digits.size() < 8 || digits.size() > 16 || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
    const int64_t step = std::stoll(digits);
    return step <= kMaxStep && name == step_name(step) ? step : -1;
}

// The step folder the checkpoint link names, "" when there is no link; throws for a link that
// names something else.
std::string committed_name(const std::string& directory) {
    const std::string link = directory + "/" + kLinkName;
    struct stat info {};
    if (::lstat(link.c_str(), &info) != 0) return "";
    if (!S_ISLNK(info.st_mode)) throw std::runtime_error(link + ": is not a link to a step folder");
    char target[256];
    const ssize_t length = ::readlink(link.c_str(), target, sizeof target - 1);
    if (length < 0) {
        const int error_number = errno;
        throw std::runtime_error(link + ": cannot read the link: " + std::strerror(error_number));
    }
    const std::string name(target, static_cast<size_t>(length));
    if (step_of_name(name) < 0) throw std::runtime_error(link + ": points to '" + name + "', not to a step folder");
    return name;
}

// The names of the top-level links of a run folder: each part that sits at the top of a checkpoint.
std::vector<std::string> top_level_parts(RunKind kind) {
    std::vector<std::string> names = {"config.json", "model.safetensors", "optimizer.safetensors"};
    if (kind == RunKind::Grpo) names.push_back("reference");
    return names;
}

bool is_link_to(const std::string& path, const std::string& target) {
    char buffer[512];
    const ssize_t length = ::readlink(path.c_str(), buffer, sizeof buffer - 1);
    return length >= 0 && std::string(buffer, static_cast<size_t>(length)) == target;
}

// Makes DIR/<part> a link to checkpoint/<part> for each top-level part (a kill may have come
// between the commit and the links).
void link_parts(const std::string& directory, RunKind kind) {
    for (const std::string& part : top_level_parts(kind))
        if (!is_link_to(directory + "/" + part, std::string(kLinkName) + "/" + part))
            replace_symlink(directory + "/" + part, std::string(kLinkName) + "/" + part);
}

uint64_t unsigned_field(const json& object, const char* key, uint64_t max, const std::string& source) {
    const auto it = object.find(key);
    if (it == object.end()) throw std::runtime_error(source + ": no '" + key + "'");
    if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<int64_t>() >= 0))
        throw std::runtime_error(source + ": '" + key + "' is " + it->dump() + ", not a whole number >= 0");
    const uint64_t value = it->get<uint64_t>();
    if (value > max) throw std::runtime_error(source + ": '" + key + "' is " + it->dump() + ", more than " + std::to_string(max));
    return value;
}

std::string string_field(const json& object, const char* key, const std::string& source) {
    const auto it = object.find(key);
    if (it == object.end() || !it->is_string()) throw std::runtime_error(source + ": '" + key + "' must be a string");
    return it->get<std::string>();
}

bool is_checksum(const std::string& text) {
    return text.size() == 16 && text.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// A path inside a step folder as the manifest may name it: relative, plain components.
bool is_plain_relative_path(const std::string& path) {
    if (path.empty() || path.size() > 200 || path[0] == '/') return false;
    size_t start = 0;
    while (start <= path.size()) {
        const size_t end = std::min(path.find('/', start), path.size());
        const std::string part = path.substr(start, end - start);
        if (part.empty() || part == "." || part == ".." ||
            part.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != std::string::npos)
            return false;
        start = end + 1;
    }
    return true;
}

}  // namespace

const char* run_kind_name(RunKind kind) { return kind == RunKind::Train ? "train" : "grpo"; }
std::string run_log_name(RunKind kind) { return std::string(run_kind_name(kind)) + ".jsonl"; }

std::vector<std::string> checkpoint_parts(RunKind kind) {
    std::vector<std::string> parts = {"config.json", "model.safetensors", "optimizer.safetensors"};
    if (kind == RunKind::Grpo) {
        parts.push_back("reference/config.json");
        parts.push_back("reference/model.safetensors");
    }
    return parts;
}

std::string run_id(RunKind kind, const json& options, const ModelConfig& config) {
    return checksum_hex(std::string(run_kind_name(kind)) + "\n" + options.dump() + "\n" + config_to_json(config).dump());
}

// ---- manifest ----------------------------------------------------------------------------------

json manifest_to_json(const CheckpointManifest& m) {
    json files = json::object();
    for (const auto& [path, file] : m.files) files[path] = {{"bytes", file.bytes}, {"checksum", file.checksum}};
    return {{"format", kManifestFormat}, {"kind", run_kind_name(m.kind)}, {"run", m.run},
            {"step", m.step},           {"log_bytes", m.log_bytes},      {"files", files}};
}

CheckpointManifest manifest_from_json(const std::string& text, const std::string& source) {
    json object;
    try {
        object = json::parse(text);
    } catch (const json::exception& error) {
        throw std::runtime_error(source + ": not valid JSON: " + error.what());
    }
    if (!object.is_object()) throw std::runtime_error(source + ": not a JSON object");
    if (string_field(object, "format", source) != kManifestFormat)
        throw std::runtime_error(source + ": 'format' is not \"" + kManifestFormat + "\"");
    CheckpointManifest m;
    const std::string kind = string_field(object, "kind", source);
    if (kind != "train" && kind != "grpo") throw std::runtime_error(source + ": 'kind' must be \"train\" or \"grpo\"");
    m.kind = kind == "train" ? RunKind::Train : RunKind::Grpo;
    m.run = string_field(object, "run", source);
    if (!is_checksum(m.run)) throw std::runtime_error(source + ": 'run' is not 16 hex digits");
    m.step = static_cast<int64_t>(unsigned_field(object, "step", kMaxStep, source));
    m.log_bytes = unsigned_field(object, "log_bytes", kMaxLogBytes, source);
    const auto files = object.find("files");
    if (files == object.end() || !files->is_object()) throw std::runtime_error(source + ": 'files' must be an object");
    for (const auto& [path, entry] : files->items()) {
        const std::string where = source + ": files['" + path.substr(0, 60) + "']";
        if (!is_plain_relative_path(path)) throw std::runtime_error(where + ": not a plain path inside the step folder");
        if (!entry.is_object()) throw std::runtime_error(where + ": not an object");
        ManifestFile file;
        file.bytes = unsigned_field(entry, "bytes", kMaxPartBytes, where);
        file.checksum = string_field(entry, "checksum", where);
        if (!is_checksum(file.checksum)) throw std::runtime_error(where + ": 'checksum' is not 16 hex digits");
        m.files[path] = file;
    }
    return m;
}

int64_t last_logged_step(const std::string& text, const std::string& path) {
    int64_t last = -1;
    size_t start = 0;
    for (int64_t line_number = 1; start < text.size(); ++line_number) {
        const size_t end = std::min(text.find('\n', start), text.size());
        const std::string where = path + ":" + std::to_string(line_number) + ": ";
        json line;
        try {
            line = json::parse(text.begin() + static_cast<std::ptrdiff_t>(start), text.begin() + static_cast<std::ptrdiff_t>(end));
        } catch (const json::exception&) {
            throw std::runtime_error(where + "not a JSON line");
        }
        start = end + 1;
        if (!line.is_object()) throw std::runtime_error(where + "not a JSON object");
        const auto step = line.find("step");
        if (step == line.end()) throw std::runtime_error(where + "no \"step\"");
        // A whole number, read as an integer: a float step (1e300) would overflow the cast.
        if (!step->is_number_integer() || (step->is_number_unsigned() ? step->get<uint64_t>() > uint64_t(kMaxStep)
                                                                         : step->get<int64_t>() < 0))
            throw std::runtime_error(where + "\"step\" is " + step->dump().substr(0, 40) + ", not a whole number in [0, 2^53]");
        last = step->get<int64_t>();
    }
    return last;
}

// ---- stored options ----------------------------------------------------------------------------

static const json& stored_field(const json& object, const char* key) {
    if (!object.is_object()) throw std::invalid_argument("expected an object holding '" + std::string(key) + "'");
    const auto it = object.find(key);
    if (it == object.end()) throw std::invalid_argument("no '" + std::string(key) + "'");
    return *it;
}

int64_t stored_integer(const json& object, const char* key) {
    const json& value = stored_field(object, key);
    if (!value.is_number_integer() || (value.is_number_unsigned() && value.get<uint64_t>() > uint64_t(INT64_MAX)))
        throw std::invalid_argument("'" + std::string(key) + "' is " + value.dump().substr(0, 40) + ", not a whole number");
    return value.get<int64_t>();
}

uint64_t stored_unsigned(const json& object, const char* key) {
    const json& value = stored_field(object, key);
    if (!value.is_number_unsigned())
        throw std::invalid_argument("'" + std::string(key) + "' is " + value.dump().substr(0, 40) + ", not a whole number >= 0");
    return value.get<uint64_t>();
}

double stored_number(const json& object, const char* key) {
    const json& value = stored_field(object, key);
    if (!value.is_number()) throw std::invalid_argument("'" + std::string(key) + "' is " + value.dump().substr(0, 40) + ", not a number");
    return value.get<double>();
}

float stored_float(const json& object, const char* key) {
    const double value = stored_number(object, key);
    if (std::fabs(value) > std::numeric_limits<float>::max())
        throw std::invalid_argument("'" + std::string(key) + "' is " + object.at(key).dump() + ", beyond a float's range");
    return static_cast<float>(value);
}

// ---- folders -----------------------------------------------------------------------------------

FolderContents inspect_run_folder(const std::string& directory) {
    FolderContents contents;
    std::error_code error;
    const fs::file_status status = fs::status(directory, error);
    if (!fs::exists(status)) return contents;
    if (!fs::is_directory(status)) throw std::runtime_error(directory + ": exists and is not a directory");
    contents.committed = !committed_name(directory).empty();
    for (const fs::directory_entry& entry : fs::directory_iterator(directory)) {
        const std::string name = entry.path().filename().string();
        const bool model_like = name == "config.json" || name == "model.safetensors.index.json" || name == "reference" ||
                                entry.path().extension() == ".safetensors";
        if (!model_like) continue;
        if (contents.committed && is_link_to(entry.path().string(), std::string(kLinkName) + "/" + name)) continue;
        contents.model_files.push_back(name);
    }
    std::sort(contents.model_files.begin(), contents.model_files.end());
    return contents;
}

void require_fresh_run_folder(const std::string& directory) {
    const FolderContents contents = inspect_run_folder(directory);
    if (contents.committed)
        throw std::runtime_error(directory + " already holds a run (" + directory + "/" + kLinkName + " -> " +
                                 committed_name(directory) + "): resume it, or choose another folder");
    if (!contents.model_files.empty()) {
        std::string list;
        for (const std::string& name : contents.model_files) list += (list.empty() ? "" : ", ") + name;
        throw std::runtime_error(directory + " already holds a model (" + list +
                                 "): a run never overwrites one; choose another folder");
    }
}

CommittedCheckpoint open_committed_checkpoint(const std::string& directory, RunKind kind) {
    const std::string name = committed_name(directory);
    if (name.empty()) {
        struct stat info {};
        if (::lstat((directory + "/optimizer.safetensors").c_str(), &info) == 0 && S_ISREG(info.st_mode))
            throw std::runtime_error(directory + " holds a run written before checkpoints were transactional (no " +
                                     directory + "/" + kLinkName + " link): its parts cannot be checked to agree; "
                                     "start a new run");
        throw std::runtime_error(directory + " holds no saved run (no " + directory + "/" + kLinkName +
                                 ": not a run folder, or a run stopped before its first checkpoint)");
    }
    CommittedCheckpoint checkpoint;
    checkpoint.directory = directory + "/" + name;
    const std::string manifest_path = checkpoint.directory + "/" + kManifestName;
    checkpoint.manifest = manifest_from_json(read_regular_file(manifest_path, 1u << 20), manifest_path);
    const CheckpointManifest& m = checkpoint.manifest;
    if (m.kind != kind)
        throw std::runtime_error(directory + " holds a `seek " + run_kind_name(m.kind) + "` run (" + manifest_path +
                                 "), not a `seek " + run_kind_name(kind) + "` one");
    if (m.step != step_of_name(name))
        throw std::runtime_error(manifest_path + " says step " + std::to_string(m.step) + " but its folder is " + name);
    for (const std::string& part : checkpoint_parts(kind))
        if (!m.files.count(part)) throw std::runtime_error(manifest_path + " lists no '" + part + "': the checkpoint is incomplete");

    // Every file as the manifest recorded it, or the checkpoint is torn: name every file that is not.
    std::string torn;
    for (const auto& [part, recorded] : m.files) {
        const std::string path = checkpoint.directory + "/" + part;
        std::string problem;
        try {
            const FileChecksum found = checksum_file(path);
            if (found.bytes != recorded.bytes)
                problem = std::to_string(found.bytes) + " bytes, the manifest says " + std::to_string(recorded.bytes);
            else if (found.checksum != recorded.checksum)
                problem = "checksum " + found.checksum + ", the manifest says " + recorded.checksum;
        } catch (const std::runtime_error& error) {
            problem = error.what();
        }
        if (!problem.empty()) torn += "\n  " + path + ": " + problem;
    }
    if (!torn.empty())
        throw std::runtime_error(directory + ": the checkpoint at step " + std::to_string(m.step) +
                                 " is torn, its files disagree with " + manifest_path + ":" + torn);
    return checkpoint;
}

void check_part_agrees(const CommittedCheckpoint& checkpoint, const std::string& part, const std::string& part_run,
                       int64_t part_step, int64_t expected_step) {
    const std::string path = checkpoint.directory + "/" + part;
    const std::string manifest_path = checkpoint.directory + "/" + kManifestName;
    if (part_run != checkpoint.manifest.run)
        throw std::runtime_error(path + " belongs to run '" + part_run + "' but " + manifest_path + " to run '" +
                                 checkpoint.manifest.run + "': the parts come from different runs");
    if (part_step != expected_step)
        throw std::runtime_error(path + " is at step " + std::to_string(part_step) + " but " + manifest_path +
                                 " says step " + std::to_string(checkpoint.manifest.step) + " (" +
                                 std::to_string(expected_step) + " in this file): the parts disagree");
}

// ---- the writer --------------------------------------------------------------------------------

RunFolder::RunFolder(const std::string& directory, RunKind kind, const std::string& run, const CommittedCheckpoint* resumed)
    : directory_(directory), kind_(kind), run_(run) {
    make_directories(directory);
    const std::string lock_path = directory + "/.lock";
    lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd_ < 0) {
        const int error_number = errno;
        throw std::runtime_error(lock_path + ": cannot open: " + std::strerror(error_number));
    }
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
        ::close(lock_fd_);
        throw std::runtime_error(directory + ": in use by another seek process (" + lock_path + " is locked)");
    }
    try {
        if (resumed) {
            if (committed_name(directory) != step_name(resumed->manifest.step))
                throw std::runtime_error(directory + ": the committed checkpoint changed while it was being read");
            committed_step_ = resumed->manifest.step;
        } else {
            require_fresh_run_folder(directory);
        }

        // What killed saves left: step folders no link names, temp files of writers that are gone.
        const std::string current = committed_name(directory);
        for (const fs::directory_entry& entry : fs::directory_iterator(directory)) {
            const std::string name = entry.path().filename().string();
            if ((step_of_name(name) >= 0 && name != current) || is_stale_temp_name(name)) remove_tree(entry.path().string());
        }
        if (!current.empty()) link_parts(directory, kind);

        // The log, cut back to what the checkpoint recorded (the steps after it are redone).
        const std::string log_path = directory + "/" + run_log_name(kind);
        const bool log_exists = fs::exists(fs::symlink_status(log_path));
        if (resumed) {
            const std::string text = log_exists ? read_regular_file(log_path, kMaxLogBytes) : "";
            const CheckpointManifest& m = resumed->manifest;
            if (text.size() < m.log_bytes)
                throw std::runtime_error(log_path + " has " + std::to_string(text.size()) + " bytes but the checkpoint at step " +
                                         std::to_string(m.step) + " recorded " + std::to_string(m.log_bytes) +
                                         ": the log was cut or replaced");
            const std::string kept = text.substr(0, m.log_bytes);
            const int64_t last = last_logged_step(kept, log_path);
            if (last != (kept.empty() ? -1 : m.step) || (kept.empty() && m.step != 0))
                throw std::runtime_error(log_path + ": its line at byte " + std::to_string(m.log_bytes) + " is step " +
                                         std::to_string(last) + " but the checkpoint is at step " + std::to_string(m.step) +
                                         ": the log and the checkpoint disagree");
            if (text.size() > kept.size()) write_file_atomic(log_path, kept);
        } else if (log_exists && check_regular_file(log_path) > 0) {
            write_file_atomic(log_path, "");  // the log of a run stopped before its first checkpoint
        }
        log_ = std::make_unique<AppendFile>(log_path);
    } catch (...) {
        ::close(lock_fd_);
        throw;
    }
}

RunFolder::~RunFolder() {
    if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

void RunFolder::append_log(const std::string& line) { log_->append(line + "\n"); }

void RunFolder::commit(int64_t step, const std::function<void(const std::string&)>& write_parts) {
    if (step < 0 || step > kMaxStep) throw std::invalid_argument("checkpoint step " + std::to_string(step) + " out of range");
    if (step == committed_step_)
        throw std::logic_error(directory_ + ": a checkpoint at step " + std::to_string(step) + " is already committed");
    const std::string name = step_name(step);
    const std::string step_directory = directory_ + "/" + name;
    const std::string intact = committed_step_ < 0 ? "no checkpoint of this run was committed yet"
                                                   : "the checkpoint at step " + std::to_string(committed_step_) + " in " +
                                                         directory_ + " is intact";
    try {
        remove_tree(step_directory);  // what a killed save at this step left
        make_directories(step_directory);
        write_parts(step_directory);

        CheckpointManifest manifest;
        manifest.kind = kind_;
        manifest.run = run_;
        manifest.step = step;
        log_->sync();
        manifest.log_bytes = log_->size();
        std::vector<std::string> files;
        for (const fs::directory_entry& entry : fs::recursive_directory_iterator(step_directory))
            if (entry.is_regular_file()) files.push_back(fs::relative(entry.path(), step_directory).string());
        for (const std::string& file : files) {
            const FileChecksum found = checksum_file(step_directory + "/" + file);
            manifest.files[file] = {found.bytes, found.checksum};
        }
        write_file_atomic(step_directory + "/" + kManifestName, manifest_to_json(manifest).dump(2) + "\n");
        sync_directory(directory_);
        replace_symlink(directory_ + "/" + kLinkName, name);  // the commit
    } catch (const std::exception& error) {
        // replace_symlink throws only when its rename failed: the link still names the old folder.
        std::error_code ignored;
        fs::remove_all(step_directory, ignored);
        throw std::runtime_error(std::string(error.what()) + "; " + intact);
    }
    const int64_t previous = committed_step_;
    committed_step_ = step;
    try {
        sync_directory(directory_);
        link_parts(directory_, kind_);
        if (previous >= 0) remove_tree(directory_ + "/" + step_name(previous));
    } catch (const std::exception& error) {
        throw std::runtime_error(std::string(error.what()) + "; the checkpoint at step " + std::to_string(step) +
                                 " in " + directory_ + " is committed");
    }
}

}  // namespace seek

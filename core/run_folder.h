// A run folder: what `seek train --out DIR` and `seek grpo --out DIR` write. Each checkpoint is one
// transaction, so that a kill, a full disk or an I/O error at any moment leaves the last complete
// checkpoint in place, and a resumed run continues it bit for bit or is refused with the files named:
//
//   DIR/step-00000200/        a complete checkpoint: config.json, model.safetensors,
//                             optimizer.safetensors (AdamW moments, options, step, run), reference/
//                             (GRPO: the frozen starting model), and checkpoint.json, the manifest,
//                             written last: kind, run, step, the log's length at the save, and every
//                             file's size and checksum
//   DIR/checkpoint            a symlink to step-00000200: the committed checkpoint. A save writes a
//                             new step folder beside it, fsyncs every file and folder, then renames a
//                             new symlink over this one (the one atomic step), then removes the old
//                             folder.
//   DIR/config.json, DIR/model.safetensors, DIR/optimizer.safetensors, DIR/reference
//                             symlinks through checkpoint/: DIR reads as an HF model folder
//                             (seek eval --model DIR, seekscope --model DIR)
//   DIR/train.jsonl or DIR/grpo.jsonl
//                             the log, a line per step, appended as the run goes; a resumed run cuts
//                             it back to the length its checkpoint recorded
//   DIR/.lock                 flock()ed by the process working on the run: one at a time
//
// What a killed save leaves (a step folder no link points to, "*.tmp.<pid>" files) is removed by
// the next run on the folder. A fresh run refuses a folder that holds a run or a model.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "config.h"
#include "fileio.h"

namespace seek {

enum class RunKind { Train, Grpo };
const char* run_kind_name(RunKind kind);  // "train", "grpo": the seek command that writes it
std::string run_log_name(RunKind kind);   // "train.jsonl", "grpo.jsonl"
// The files a checkpoint of `kind` must hold (GRPO adds reference/config.json, reference/model.safetensors).
std::vector<std::string> checkpoint_parts(RunKind kind);

// A run's identity: a checksum of its kind, options and model config. Two runs with the same id
// compute the same bytes; a file of another run carries another id.
std::string run_id(RunKind kind, const nlohmann::json& options, const ModelConfig& config);

struct ManifestFile {
    uint64_t bytes = 0;
    std::string checksum;  // checksum_hex (fileio.h)
};
struct CheckpointManifest {
    RunKind kind = RunKind::Train;
    std::string run;         // run_id; the optimizer's metadata carries it too
    int64_t step = 0;        // the run's step (GRPO: steps, not inner updates), as in the log
    uint64_t log_bytes = 0;  // the log's length when the checkpoint was written
    std::map<std::string, ManifestFile> files;  // path inside the step folder -> size, checksum
};
nlohmann::json manifest_to_json(const CheckpointManifest& manifest);
// Throws naming `source` and the field; every number is range-checked, every path relative and plain.
CheckpointManifest manifest_from_json(const std::string& text, const std::string& source);

// The step of the last line of a run log (each line a JSON object with a whole "step" >= 0), -1
// when it has no line. Throws "<path>:<line>: ..." for a line that is not one. The --resume check
// that a log and a checkpoint belong together.
int64_t last_logged_step(const std::string& text, const std::string& path);

// Strict readers for the options a run stores (optimizer.safetensors' metadata), for
// train_options_from_json and grpo_options_from_json: an integer field must hold a whole number in
// int64 (1e300 or 2.5 is refused, never cast), a real one a number (a float one within float's
// range). They throw std::invalid_argument naming the key.
int64_t stored_integer(const nlohmann::json& object, const char* key);
uint64_t stored_unsigned(const nlohmann::json& object, const char* key);
double stored_number(const nlohmann::json& object, const char* key);
float stored_float(const nlohmann::json& object, const char* key);

// What an output folder holds, for the rule "never overwrite a run or a model".
struct FolderContents {
    bool committed = false;                // a checkpoint link: a run to --resume
    std::vector<std::string> model_files;  // config.json, *.safetensors, reference/, ... not of a run
};
FolderContents inspect_run_folder(const std::string& directory);
// Throws unless `directory` is absent, empty, or holds only what a run killed before its first
// checkpoint leaves: "DIR already holds a run ..." or "DIR already holds a model (FILES) ...".
void require_fresh_run_folder(const std::string& directory);

struct CommittedCheckpoint {
    std::string directory;  // DIR/step-N, where the parts are read from
    CheckpointManifest manifest;
};
// The committed checkpoint of the `kind` run in `directory`, checked before anything is loaded:
// the link names a step folder whose manifest says the same kind and step, every part is listed,
// and every listed file has its recorded size and checksum. Throws naming the files that disagree
// ("... is torn"), or "holds no saved run" when there is no link.
CommittedCheckpoint open_committed_checkpoint(const std::string& directory, RunKind kind);

// For a part that records the run and the step itself (optimizer.safetensors: its metadata):
// throws naming both files when its run is not the manifest's or its step is not `expected_step`
// (what the manifest's step means in that file, e.g. GRPO's steps x inner updates).
void check_part_agrees(const CommittedCheckpoint& checkpoint, const std::string& part, const std::string& part_run,
                       int64_t part_step, int64_t expected_step);

// The writer's side: one per train()/grpo_train() call.
class RunFolder {
public:
    // Locks the folder, removes what killed saves left, restores the top-level links. A fresh run
    // (resumed == nullptr) requires require_fresh_run_folder and starts an empty log; a resumed one
    // cuts the log back to resumed->manifest.log_bytes after checking that its last line is the
    // checkpoint's step.
    RunFolder(const std::string& directory, RunKind kind, const std::string& run, const CommittedCheckpoint* resumed);
    ~RunFolder();
    RunFolder(const RunFolder&) = delete;
    RunFolder& operator=(const RunFolder&) = delete;

    void append_log(const std::string& line);  // one line, without its newline
    // Commits a checkpoint at `step`: write_parts(step folder) writes the parts into a new step
    // folder, then the manifest, the fsyncs and the switch of the link follow. When anything fails
    // (ENOSPC, EIO, ...) the new folder is removed, the previous checkpoint stays committed, and the
    // error says so.
    void commit(int64_t step, const std::function<void(const std::string& step_directory)>& write_parts);
    int64_t committed_step() const { return committed_step_; }  // -1 before the first commit

private:
    std::string directory_;
    RunKind kind_;
    std::string run_;
    int lock_fd_ = -1;
    int64_t committed_step_ = -1;
    std::unique_ptr<AppendFile> log_;
};

}  // namespace seek

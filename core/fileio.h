// Reading and writing files, in one place, so that every reader refuses the same bad inputs and
// every writer leaves either the old file or the new one, never a torn one.
//
// Reading: only regular files. stat() comes before open(): opening a FIFO for reading blocks until
// a writer appears, and a device or a directory reads as garbage. The file is then opened with
// O_NONBLOCK and checked again with fstat (it may have been swapped in between), and read up to a
// cap the caller states, so a 10 GB "config.json" is an error, not an allocation.
//
// Writing: atomic and durable. The bytes go to "<path>.tmp.<pid>" in the same directory, are
// fsynced, renamed over <path>, and the directory is fsynced, so after a kill or a power cut a
// reader sees the old file or the new one. A temp file left by a killed writer (its pid no longer
// runs) is removed by the next write to the same path.
//
// Test hooks, environment variables read only by the tests (tests/crash_consistency.sh):
//   SEEK_TEST_ABORT_AFTER_WRITES=N        SIGKILL the process right after its Nth file operation
//   SEEK_TEST_FAIL_WRITE=N[:ENOSPC|:EIO]  the Nth file operation fails with that errno (ENOSPC by default)
//   SEEK_TEST_TRACE_WRITES=1              print every file operation, numbered, to stderr
// A file operation is one step that changes what is on disk: creating and writing a file, fsync,
// rename, mkdir, symlink, removal, a log line appended.
#pragma once

#include <cstdint>
#include <string>

namespace seek {

// Throws "<path>: cannot read: <reason>" when it does not exist, "<path>: is a directory, not a
// regular file" (a FIFO, a device, a socket, ...) otherwise; returns the size in bytes.
uint64_t check_regular_file(const std::string& path);
// The whole file, at most max_bytes (else "<path>: N bytes, more than the M ... accepts").
std::string read_regular_file(const std::string& path, uint64_t max_bytes);
// The same checks, then a read-only descriptor (O_NONBLOCK, O_CLOEXEC) the caller closes.
int open_regular_file(const std::string& path);

// Writes `contents` to `path` atomically and durably (see above).
void write_file_atomic(const std::string& path, const std::string& contents);
// Removes "<name>.tmp.<pid>" siblings of `path` whose writer no longer runs.
void remove_stale_temp_files(const std::string& path);
// True for a file name "<anything>.tmp.<pid>" whose pid no longer runs: a killed writer's leftover.
bool is_stale_temp_name(const std::string& name);

// Directory operations, each a counted file operation with errors naming the path and the reason.
void make_directories(const std::string& path);                 // mkdir -p, the new entries fsynced
void sync_directory(const std::string& path);                   // fsync of the directory itself
void replace_symlink(const std::string& link, const std::string& target);  // new symlink, renamed over `link`
void remove_tree(const std::string& path);                      // rm -rf; nothing if absent

// A log that grows a line at a time: each append() is one write(2) to an O_APPEND descriptor, so
// a kill leaves whole lines and at most one cut short at the end. sync() makes them durable.
class AppendFile {
public:
    explicit AppendFile(const std::string& path);
    ~AppendFile();
    AppendFile(const AppendFile&) = delete;
    AppendFile& operator=(const AppendFile&) = delete;
    void append(const std::string& text);
    void sync();
    uint64_t size() const;
    const std::string& path() const { return path_; }

private:
    std::string path_;
    int fd_ = -1;
};

// FNV-1a, 64 bit, as 16 hex digits: the checksum a checkpoint's manifest records per file (it
// catches torn and swapped files, not tampering).
std::string checksum_hex(const std::string& bytes);
// The size and checksum_hex of a regular file, read in 1 MB pieces (never held whole).
struct FileChecksum {
    uint64_t bytes = 0;
    std::string checksum;
};
FileChecksum checksum_file(const std::string& path);

// Counts one file operation for the test hooks: returns the errno to fail it with (0: go ahead).
// Call finish_file_operation() after the operation succeeded (it may end the process there).
int begin_file_operation(const std::string& what);
void finish_file_operation();

}  // namespace seek

// What the fuzz targets share: the input as a file, for the readers that take a path.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace seek::fuzz {

// An in-memory file (memfd) reached through /proc/self/fd/N, rewritten for each input: the
// readers see a regular file (they stat, open, mmap it) and fuzzing never touches the disk.
class InputFile {
public:
    InputFile() : fd_(::memfd_create("seek-fuzz-input", MFD_CLOEXEC)), path_("/proc/self/fd/" + std::to_string(fd_)) {}
    ~InputFile() { ::close(fd_); }
    const std::string& hold(const uint8_t* data, size_t size) {
        if (::ftruncate(fd_, 0) != 0 || (size && ::pwrite(fd_, data, size, 0) != static_cast<ssize_t>(size))) __builtin_trap();
        return path_;
    }

private:
    int fd_;
    std::string path_;
};

// A broken invariant: a finding, whatever the inputs.
inline void require(bool ok) {
    if (!ok) __builtin_trap();
}

}  // namespace seek::fuzz

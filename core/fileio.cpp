// Regular-file reading, atomic durable writing, directory operations and the test hooks.
#include "fileio.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <vector>

namespace seek {

namespace {

namespace fs = std::filesystem;

std::string reason(int error_number) { return std::strerror(error_number); }

// Up to `size` bytes of fd into `into` (0 at the end of the file), past EINTR; a read error closes
// fd and throws naming the file.
size_t read_some(int fd, const std::string& path, char* into, size_t size) {
    while (true) {
        const ssize_t n = ::read(fd, into, size);
        if (n >= 0) return static_cast<size_t>(n);
        if (errno == EINTR) continue;
        const int error_number = errno;
        ::close(fd);
        throw std::runtime_error(path + ": cannot read: " + reason(error_number));
    }
}

// What a non-regular file is, for the message.
const char* kind_of(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

std::string parent_of(const std::string& path) {
    const std::string parent = fs::path(path).parent_path().string();
    return parent.empty() ? "." : parent;
}

// ---- test hooks --------------------------------------------------------------------------------

struct Hooks {
    long abort_after = 0;  // 0: never
    long fail_at = 0;
    int fail_errno = ENOSPC;
    bool trace = false;
    long count = 0;
};

long positive_env(const char* name) {
    const char* text = std::getenv(name);
    if (!text || !*text) return 0;
    char* end = nullptr;
    const long value = std::strtol(text, &end, 10);
    return value > 0 ? value : 0;
}

Hooks& hooks() {
    static Hooks h = [] {
        Hooks init;
        init.abort_after = positive_env("SEEK_TEST_ABORT_AFTER_WRITES");
        init.fail_at = positive_env("SEEK_TEST_FAIL_WRITE");
        if (const char* fail = std::getenv("SEEK_TEST_FAIL_WRITE"); fail && std::strstr(fail, ":EIO")) init.fail_errno = EIO;
        const char* trace = std::getenv("SEEK_TEST_TRACE_WRITES");
        init.trace = trace && *trace && std::strcmp(trace, "0") != 0;
        return init;
    }();
    return h;
}

// Runs one counted operation: `operation` returns 0 or an errno; a hook may fail it first.
template <typename F>
int counted(const std::string& what, F operation) {
    if (const int injected = begin_file_operation(what)) return injected;
    const int result = operation();
    if (result == 0) finish_file_operation();
    return result;
}

int write_all(int fd, const char* bytes, size_t size) {
    size_t written = 0;
    while (written < size) {
        const ssize_t n = ::write(fd, bytes + written, size - written);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno;
        written += static_cast<size_t>(n);
    }
    return 0;
}

int fsync_path(const std::string& path, int flags) {
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
    if (fd < 0) return errno;
    const int result = ::fsync(fd) == 0 ? 0 : errno;
    ::close(fd);
    return result;
}

}  // namespace

int begin_file_operation(const std::string& what) {
    Hooks& h = hooks();
    ++h.count;
    if (h.trace) std::fprintf(stderr, "file operation %ld: %s\n", h.count, what.c_str());
    return h.count == h.fail_at ? h.fail_errno : 0;
}

void finish_file_operation() {
    const Hooks& h = hooks();
    if (h.count == h.abort_after) ::kill(::getpid(), SIGKILL);
}

// ---- reading -----------------------------------------------------------------------------------

uint64_t check_regular_file(const std::string& path) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) {
        const int error_number = errno;
        throw std::runtime_error(path + ": cannot open: " + reason(error_number));
    }
    if (!S_ISREG(info.st_mode)) throw std::runtime_error(path + ": is " + kind_of(info.st_mode) + ", not a regular file");
    return static_cast<uint64_t>(info.st_size);
}

int open_regular_file(const std::string& path) {
    check_regular_file(path);
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        const int error_number = errno;
        throw std::runtime_error(path + ": cannot open: " + reason(error_number));
    }
    struct stat info {};
    if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {  // replaced since the stat
        ::close(fd);
        throw std::runtime_error(path + ": not a regular file");
    }
    return fd;
}

std::string read_regular_file(const std::string& path, uint64_t max_bytes) {
    const int fd = open_regular_file(path);
    struct stat info {};
    ::fstat(fd, &info);
    if (static_cast<uint64_t>(info.st_size) > max_bytes) {
        ::close(fd);
        throw std::runtime_error(path + ": " + std::to_string(info.st_size) + " bytes, more than the " +
                                 std::to_string(max_bytes) + " this file may have");
    }
    std::string contents(static_cast<size_t>(info.st_size), '\0');
    size_t done = 0;
    while (true) {
        if (done == contents.size()) {
            if (contents.size() > max_bytes) break;
            contents.resize(contents.size() + 4096);  // the file grew since the fstat
        }
        const size_t n = read_some(fd, path, &contents[done], contents.size() - done);
        if (n == 0) break;
        done += n;
    }
    ::close(fd);
    contents.resize(done);
    if (done > max_bytes)
        throw std::runtime_error(path + ": more than the " + std::to_string(max_bytes) + " bytes this file may have");
    return contents;
}

// ---- writing -----------------------------------------------------------------------------------

void remove_stale_temp_files(const std::string& path) {
    const std::string directory = parent_of(path);
    const std::string prefix = fs::path(path).filename().string() + ".tmp.";
    DIR* listing = ::opendir(directory.c_str());
    if (!listing) return;  // the write that follows reports a missing directory
    std::vector<std::string> stale;
    while (const dirent* entry = ::readdir(listing)) {
        const std::string name = entry->d_name;
        if (name.compare(0, prefix.size(), prefix) == 0 && is_stale_temp_name(name)) stale.push_back(directory + "/" + name);
    }
    ::closedir(listing);
    for (const std::string& file : stale) remove_tree(file);
}

bool is_stale_temp_name(const std::string& name) {
    const size_t at = name.rfind(".tmp.");
    if (at == std::string::npos) return false;
    const std::string digits = name.substr(at + 5);
    if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) return false;
    const pid_t pid = static_cast<pid_t>(std::stol(digits));
    // kill(pid, 0) fails with ESRCH when no such process runs: its writer was killed.
    return pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH;
}

void write_file_atomic(const std::string& path, const std::string& contents) {
    remove_stale_temp_files(path);
    // Same directory as the target, so the rename stays on one file system and is atomic.
    const std::string temp_path = path + ".tmp." + std::to_string(::getpid());
    auto fail = [&](const char* what, int error_number) {
        ::unlink(temp_path.c_str());
        throw std::runtime_error(path + ": " + what + " " + temp_path + ": " + reason(error_number));
    };
    const char* failed = "cannot write";
    int error_number = counted("write " + temp_path, [&] {
        const int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            failed = "cannot create";
            return errno;
        }
        int result = write_all(fd, contents.data(), contents.size());
        if (result == 0 && ::fsync(fd) != 0) result = errno;
        if (::close(fd) != 0 && result == 0) result = errno;
        return result;
    });
    if (error_number) fail(failed, error_number);
    error_number = counted("rename " + temp_path + " -> " + path,
                           [&] { return std::rename(temp_path.c_str(), path.c_str()) == 0 ? 0 : errno; });
    if (error_number) fail("cannot rename", error_number);
    sync_directory(parent_of(path));
}

void make_directories(const std::string& path) {
    if (fs::is_directory(path)) return;
    const std::string parent = parent_of(path);
    if (parent != path && !fs::is_directory(parent)) make_directories(parent);
    const int error_number = counted("mkdir " + path, [&] {
        if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) return errno;
        return fs::is_directory(path) ? fsync_path(parent, O_RDONLY | O_DIRECTORY) : ENOTDIR;
    });
    if (error_number) throw std::runtime_error(path + ": cannot create the directory: " + reason(error_number));
}

void sync_directory(const std::string& path) {
    const int error_number = counted("fsync " + path + "/", [&] { return fsync_path(path, O_RDONLY | O_DIRECTORY); });
    if (error_number) throw std::runtime_error(path + ": cannot sync the directory: " + reason(error_number));
}

void replace_symlink(const std::string& link, const std::string& target) {
    const std::string temp_path = link + ".tmp." + std::to_string(::getpid());
    ::unlink(temp_path.c_str());
    int error_number = counted("symlink " + temp_path + " -> " + target,
                               [&] { return ::symlink(target.c_str(), temp_path.c_str()) == 0 ? 0 : errno; });
    if (error_number) throw std::runtime_error(link + ": cannot create the link " + temp_path + ": " + reason(error_number));
    error_number = counted("rename " + temp_path + " -> " + link,
                           [&] { return std::rename(temp_path.c_str(), link.c_str()) == 0 ? 0 : errno; });
    if (error_number) {
        ::unlink(temp_path.c_str());
        throw std::runtime_error(link + ": cannot rename " + temp_path + " over it: " + reason(error_number));
    }
}

void remove_tree(const std::string& path) {
    std::error_code error;
    if (!fs::exists(fs::symlink_status(path, error))) return;
    const int error_number = counted("remove " + path, [&] {
        fs::remove_all(path, error);
        return error ? error.value() : 0;
    });
    if (error_number) throw std::runtime_error(path + ": cannot remove: " + reason(error_number));
}

// ---- logs --------------------------------------------------------------------------------------

AppendFile::AppendFile(const std::string& path) : path_(path) {
    struct stat info {};
    if (::stat(path.c_str(), &info) == 0 && !S_ISREG(info.st_mode))
        throw std::runtime_error(path + ": is " + std::string(kind_of(info.st_mode)) + ", not a regular file");
    fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0644);
    if (fd_ < 0) {
        const int error_number = errno;
        throw std::runtime_error(path + ": cannot open for appending: " + reason(error_number));
    }
    if (::fstat(fd_, &info) != 0 || !S_ISREG(info.st_mode)) {
        ::close(fd_);
        throw std::runtime_error(path + ": not a regular file");
    }
}

AppendFile::~AppendFile() {
    if (fd_ >= 0) ::close(fd_);
}

void AppendFile::append(const std::string& text) {
    const int error_number = counted("append " + path_, [&] { return write_all(fd_, text.data(), text.size()); });
    if (error_number) throw std::runtime_error(path_ + ": cannot append: " + reason(error_number));
}

void AppendFile::sync() {
    const int error_number = counted("fsync " + path_, [&] { return ::fsync(fd_) == 0 ? 0 : errno; });
    if (error_number) throw std::runtime_error(path_ + ": cannot sync: " + reason(error_number));
}

uint64_t AppendFile::size() const {
    struct stat info {};
    if (::fstat(fd_, &info) != 0) {
        const int error_number = errno;
        throw std::runtime_error(path_ + ": cannot stat: " + reason(error_number));
    }
    return static_cast<uint64_t>(info.st_size);
}

namespace {

// FNV-1a continued over `size` more bytes (hash_name's, random.h, over a stream).
uint64_t fnv1a(uint64_t hash, const char* bytes, size_t size) {
    for (size_t i = 0; i < size; ++i) hash = (hash ^ static_cast<unsigned char>(bytes[i])) * 0x100000001B3ull;
    return hash;
}
const uint64_t kFnvOffset = 0xCBF29CE484222325ull;

std::string hex(uint64_t value) {
    char text[17];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
    return text;
}

}  // namespace

std::string checksum_hex(const std::string& bytes) { return hex(fnv1a(kFnvOffset, bytes.data(), bytes.size())); }

FileChecksum checksum_file(const std::string& path) {
    const int fd = open_regular_file(path);
    std::vector<char> buffer(1 << 20);
    FileChecksum result;
    uint64_t hash = kFnvOffset;
    while (true) {
        const size_t n = read_some(fd, path, buffer.data(), buffer.size());
        if (n == 0) break;
        hash = fnv1a(hash, buffer.data(), n);
        result.bytes += n;
    }
    ::close(fd);
    result.checksum = hex(hash);
    return result;
}

}  // namespace seek

#pragma once
// A fresh directory under $TMPDIR, removed with everything in it.

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace amq::test {

class temp_dir {
public:
  temp_dir() {
    auto tmpl = (std::filesystem::temp_directory_path() / "actormq-storage-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }

  const std::string& path() const noexcept {
    return path_;
  }

private:
  std::string path_;
};

} // namespace amq::test

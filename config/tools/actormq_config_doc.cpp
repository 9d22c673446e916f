/// actormq_config_doc: prints or writes the generated configuration docs.
///
///   actormq_config_doc --markdown       docs/configuration.md to stdout
///   actormq_config_doc --example        config/actormq.example.yaml to stdout
///   actormq_config_doc --write REPO     writes both files under REPO
///   actormq_config_doc --check REPO     exit 1 if either file is out of date

#include "amq/config/doc.hpp"

#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

namespace {

struct generated_file {
  const char* path;
  std::string (*render)();
};

constexpr generated_file files[] = {
  {"docs/configuration.md", amq::config::render_reference_markdown},
  {"config/actormq.example.yaml", amq::config::render_example_yaml},
};

int usage() {
  std::cerr << "usage: actormq_config_doc --markdown | --example | --write REPO | --check REPO\n";
  return 2;
}

std::string read(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2)
    return usage();
  std::string cmd = argv[1];
  if (cmd == "--markdown" && argc == 2) {
    std::cout << amq::config::render_reference_markdown();
    return 0;
  }
  if (cmd == "--example" && argc == 2) {
    std::cout << amq::config::render_example_yaml();
    return 0;
  }
  if ((cmd != "--write" && cmd != "--check") || argc != 3)
    return usage();
  std::string repo = argv[2];
  int rc = 0;
  for (const auto& f : files) {
    auto path = repo + "/" + f.path;
    auto text = f.render();
    if (cmd == "--check") {
      if (read(path) != text) {
        std::cerr << path << " is out of date; run actormq_config_doc --write " << repo << "\n";
        rc = 1;
      }
      continue;
    }
    std::ofstream out{path, std::ios::binary | std::ios::trunc};
    out << text;
    if (!out) {
      std::cerr << "cannot write " << path << "\n";
      rc = 1;
    } else {
      std::cout << "wrote " << path << "\n";
    }
  }
  return rc;
}

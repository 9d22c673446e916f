#pragma once
/// Generated documentation: docs/configuration.md and
/// config/actormq.example.yaml both come from the option table. The tool
/// `actormq_config_doc` writes them; a test checks they are up to date.

#include <string>

namespace amq::config {

/// The configuration reference (docs/configuration.md).
std::string render_reference_markdown();

/// The fully commented example config (config/actormq.example.yaml), every
/// key at its default.
std::string render_example_yaml();

} // namespace amq::config

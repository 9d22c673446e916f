// The single translation unit that instantiates CAF's unit test framework and
// its main(). Every suite links this library and defines CAF_SUITE itself.
#include <caf/test/unit_test_impl.hpp>

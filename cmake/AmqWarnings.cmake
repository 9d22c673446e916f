# Compiler warnings and sanitizers for every actormq target.
add_library(amq_options INTERFACE)
target_compile_options(amq_options INTERFACE -Wall -Wextra -Wpedantic -Wno-missing-field-initializers)
if(AMQ_WERROR)
  target_compile_options(amq_options INTERFACE -Werror)
endif()
if(AMQ_SANITIZE)
  target_compile_options(amq_options INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer
                                               -fno-sanitize-recover=undefined)
  target_link_options(amq_options INTERFACE -fsanitize=address,undefined)
endif()

# Compiler warnings and sanitizers for every actormq target.
add_library(amq_options INTERFACE)
target_compile_options(amq_options INTERFACE -Wall -Wextra -Wpedantic -Wno-missing-field-initializers)
if(AMQ_WERROR)
  target_compile_options(amq_options INTERFACE -Werror)
  # GCC 12 at -O3 (Release) reports -Wrestrict, -Warray-bounds, -Wstringop-overflow and
  # -Wmaybe-uninitialized inside libstdc++'s own string and vector code once it is inlined into
  # ours (GCC bugs 105329, 105651 and their kin, false positives fixed in GCC 13). In Release they
  # are still shown but not fatal; every other build type keeps them fatal.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12
     AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    set(amq_gcc12_o3_false_positives
        -Wno-error=restrict -Wno-error=array-bounds -Wno-error=stringop-overflow
        -Wno-error=maybe-uninitialized)
    target_compile_options(amq_options INTERFACE
                           "$<$<CONFIG:Release>:${amq_gcc12_o3_false_positives}>")
  endif()
endif()
if(AMQ_SANITIZE)
  target_compile_options(amq_options INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer
                                               -fno-sanitize-recover=undefined)
  target_link_options(amq_options INTERFACE -fsanitize=address,undefined)
endif()

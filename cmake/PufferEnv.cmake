# puffer_add_env(NAME [DIR folder] [BINDING file.c])
# Builds envs/<DIR>/<BINDING> into:
#   ocean_<NAME>           training library, no rendering (libocean_<NAME>.so)
#   ocean_<NAME>_headless  raylib headless (EGL, no display needed), when available
#   ocean_<NAME>_desktop   raylib desktop (X11 window), when available
#   <NAME>_demo            the standalone envs/<DIR>/<DIR>.c (not built by default)
#   fuzz_<NAME>            ASan+UBSan random-action fuzzer (PUFFER_SANITIZE), run by ctest
# -ffp-contract=off: no fused multiply-adds, as in the device build (bitwise host/device parity).
set(PUFFER_ENV_FLAGS -Wall -Wextra -fvisibility=hidden -ffp-contract=off)

function(_puffer_env_common target dir)
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/envs ${PROJECT_SOURCE_DIR}/envs/${dir})
  target_compile_options(${target} PRIVATE ${PUFFER_ENV_FLAGS})
  target_link_libraries(${target} PRIVATE OpenMP::OpenMP_C m)
  target_compile_definitions(${target} PRIVATE _DEFAULT_SOURCE)
endfunction()

function(puffer_add_env name)
  cmake_parse_arguments(ARG "" "DIR;BINDING" "" ${ARGN})
  if(NOT ARG_DIR)
    set(ARG_DIR ${name})
  endif()
  if(NOT ARG_BINDING)
    set(ARG_BINDING binding.c)
  endif()
  set(src ${PROJECT_SOURCE_DIR}/envs/${ARG_DIR}/${ARG_BINDING})
  if(NOT EXISTS ${src})
    message(WARNING "PufferLib: env ${name}: ${src} not found, skipped")
    return()
  endif()
  set(demo ${PROJECT_SOURCE_DIR}/envs/${ARG_DIR}/${ARG_DIR}.c)
  if(EMSCRIPTEN)
    if(name STREQUAL ARG_DIR AND EXISTS ${demo})
      add_executable(${name}_demo ${demo})
      target_include_directories(${name}_demo PRIVATE ${PROJECT_SOURCE_DIR}/envs)
      target_compile_definitions(${name}_demo PRIVATE PUFFER_RENDER=0)
      set_target_properties(${name}_demo PROPERTIES OUTPUT_NAME ${name} SUFFIX ".js")
      target_link_options(${name}_demo PRIVATE -sALLOW_MEMORY_GROWTH=1)
    endif()
    return()
  endif()

  add_library(ocean_${name} SHARED ${src})
  _puffer_env_common(ocean_${name} ${ARG_DIR})
  target_compile_definitions(ocean_${name} PRIVATE PUFFER_RENDER=0)
  install(TARGETS ocean_${name} LIBRARY DESTINATION ${PUFFER_PKG_DIR}/ocean)

  foreach(variant headless desktop)
    string(TOUPPER ${variant} V)
    if(PUFFER_RAYLIB_${V})
      add_library(ocean_${name}_${variant} SHARED ${src})
      _puffer_env_common(ocean_${name}_${variant} ${ARG_DIR})
      target_compile_definitions(ocean_${name}_${variant} PRIVATE PUFFER_RENDER=1)
      target_link_libraries(ocean_${name}_${variant} PRIVATE puffer_raylib_${variant})
      set_target_properties(ocean_${name}_${variant} PROPERTIES INSTALL_RPATH "$ORIGIN;$ORIGIN/_mesa")
      install(TARGETS ocean_${name}_${variant} LIBRARY DESTINATION ${PUFFER_PKG_DIR}/ocean)
    endif()
  endforeach()

  # CUDA variant (vec.device = cuda): the same binding compiled by nvcc with the device runtime
  # (envs/vecenv_cuda.h); the env code itself is unchanged (envs/ocean.h, the portable contract).
  if(PUFFER_CUDA_ENABLED)
    set(cu ${CMAKE_CURRENT_BINARY_DIR}/ocean_${name}_cuda.cu)
    file(WRITE ${cu}.in "#define PUFFER_VEC_CUDA 1\n#include \"${src}\"\n")
    configure_file(${cu}.in ${cu} COPYONLY)
    add_library(ocean_${name}_cuda SHARED ${cu})
    target_include_directories(ocean_${name}_cuda PRIVATE ${PROJECT_SOURCE_DIR}/envs
                               ${PROJECT_SOURCE_DIR}/envs/${ARG_DIR})
    target_compile_definitions(ocean_${name}_cuda PRIVATE PUFFER_RENDER=0 _DEFAULT_SOURCE)
    # --fmad=false: products and sums round as on the host, so host and device steps agree bitwise.
    target_compile_options(ocean_${name}_cuda PRIVATE -O3 --fmad=false -Xcompiler=-fvisibility=hidden
                           -diag-error 20011,20012,20013,20014,20015)
    target_link_libraries(ocean_${name}_cuda PRIVATE CUDA::cudart m)
    set_target_properties(ocean_${name}_cuda PROPERTIES CUDA_STANDARD 17 INSTALL_RPATH "$ORIGIN;${PUFFER_CUDA_RPATH}")
    install(TARGETS ocean_${name}_cuda LIBRARY DESTINATION ${PUFFER_PKG_DIR}/ocean)
  endif()

  set(cfg ${PROJECT_SOURCE_DIR}/envs/${ARG_DIR}/${ARG_DIR}.ini)
  if(EXISTS ${cfg})
    install(FILES ${cfg} DESTINATION ${PUFFER_PKG_DIR}/config)
  endif()

  if(name STREQUAL ARG_DIR AND EXISTS ${demo})
    add_executable(${name}_demo EXCLUDE_FROM_ALL ${demo})
    _puffer_env_common(${name}_demo ${ARG_DIR})
    set_target_properties(${name}_demo PROPERTIES OUTPUT_NAME ${name})
    if(PUFFER_RAYLIB_DESKTOP)
      target_compile_definitions(${name}_demo PRIVATE PUFFER_RENDER=1)
      target_link_libraries(${name}_demo PRIVATE puffer_raylib_desktop)
    endif()
  endif()

  if(PUFFER_SANITIZE)
    add_executable(fuzz_${name} ${PROJECT_SOURCE_DIR}/tests/c/env_fuzz.c ${src})
    _puffer_env_common(fuzz_${name} ${ARG_DIR})
    target_compile_definitions(fuzz_${name} PRIVATE PUFFER_RENDER=0)
    add_test(NAME fuzz_${name} COMMAND fuzz_${name} 100000)
    set_tests_properties(fuzz_${name} PROPERTIES ENVIRONMENT
      "ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1")
  endif()
endfunction()

# The bundled Mesa (only when the system has no EGL) travels beside the render variants.
if(PUFFER_MESA_DIR)
  install(DIRECTORY ${PUFFER_MESA_DIR}/ DESTINATION ${PUFFER_PKG_DIR}/ocean/_mesa
          FILES_MATCHING PATTERN "*.so*")
endif()

# Decides PUFFER_CUDA_ENABLED: nvcc via check_language, cuBLAS and NCCL from the system
# first, then from the nvidia-cublas / nvidia-nccl-cu13 wheels of the build's Python.
# Provides the imported targets puffer::cublas and puffer::nccl.
include(CheckLanguage)
set(PUFFER_CUDA_ENABLED OFF)
if(PUFFER_CUDA STREQUAL "OFF")
  message(STATUS "PufferLib: CUDA disabled (PUFFER_CUDA=OFF): CPU-only build")
  return()
endif()

check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  if(PUFFER_CUDA STREQUAL "ON")
    message(FATAL_ERROR "PUFFER_CUDA=ON but no CUDA compiler (nvcc) was found on PATH")
  endif()
  message(STATUS "PufferLib: no CUDA compiler found: CPU-only build")
  return()
endif()

# Wheel locations: site-packages/nvidia/{cu13,nccl}/{include,lib}
find_package(Python 3.10 COMPONENTS Interpreter QUIET)
set(_wheel_roots "")
if(Python_EXECUTABLE)
  execute_process(
    COMMAND "${Python_EXECUTABLE}" -c
      "import importlib.util as u; s=u.find_spec('nvidia'); print(';'.join(s.submodule_search_locations) if s else '')"
    OUTPUT_VARIABLE _wheel_roots OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
endif()
set(_hint_inc "")
set(_hint_lib "")
foreach(root IN LISTS _wheel_roots)
  list(APPEND _hint_inc ${root}/cu13/include ${root}/nccl/include)
  list(APPEND _hint_lib ${root}/cu13/lib ${root}/nccl/lib)
endforeach()

find_package(CUDAToolkit QUIET)
set(_sys_inc "")
set(_sys_lib "")
if(CUDAToolkit_FOUND)
  set(_sys_inc ${CUDAToolkit_INCLUDE_DIRS})
  set(_sys_lib ${CUDAToolkit_LIBRARY_DIR})
endif()

# System (toolkit, /usr) first, wheels last.
find_path(PUFFER_CUBLAS_INCLUDE cublas_v2.h HINTS ${_sys_inc} PATHS ${_hint_inc})
find_library(PUFFER_CUBLAS_LIB NAMES cublas libcublas.so.13 HINTS ${_sys_lib} PATHS ${_hint_lib})
find_library(PUFFER_CUBLASLT_LIB NAMES cublasLt libcublasLt.so.13 HINTS ${_sys_lib} PATHS ${_hint_lib})
find_path(PUFFER_NCCL_INCLUDE nccl.h HINTS ${_sys_inc} PATHS ${_hint_inc})
find_library(PUFFER_NCCL_LIB NAMES nccl libnccl.so.2 HINTS ${_sys_lib} PATHS ${_hint_lib})

if(NOT PUFFER_CUBLAS_INCLUDE OR NOT PUFFER_CUBLAS_LIB OR NOT PUFFER_NCCL_INCLUDE OR NOT PUFFER_NCCL_LIB)
  if(PUFFER_CUDA STREQUAL "ON")
    message(FATAL_ERROR "PUFFER_CUDA=ON but cuBLAS or NCCL is missing (install them, or `pip install .[cuda]`)")
  endif()
  message(STATUS "PufferLib: nvcc found but cuBLAS/NCCL not found (pip install .[cuda] brings them): CPU-only build")
  return()
endif()

set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES 80 90)
endif()
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)
set(PUFFER_CUDA_ENABLED ON)

# RPATH entries for libraries taken from the wheels (only those).
set(PUFFER_CUDA_RPATH "")
foreach(lib IN ITEMS ${PUFFER_CUBLAS_LIB} ${PUFFER_NCCL_LIB})
  foreach(root IN LISTS _wheel_roots)
    string(FIND "${lib}" "${root}" _pos)
    if(_pos EQUAL 0)
      get_filename_component(_dir "${lib}" DIRECTORY)
      file(RELATIVE_PATH _rel "${root}/.." "${_dir}")
      list(APPEND PUFFER_CUDA_RPATH "$ORIGIN/../${_rel}")
    endif()
  endforeach()
endforeach()
list(REMOVE_DUPLICATES PUFFER_CUDA_RPATH)

add_library(puffer_cublas INTERFACE)
target_include_directories(puffer_cublas INTERFACE ${PUFFER_CUBLAS_INCLUDE})
target_link_libraries(puffer_cublas INTERFACE ${PUFFER_CUBLAS_LIB} ${PUFFER_CUBLASLT_LIB} CUDA::cudart)
add_library(puffer::cublas ALIAS puffer_cublas)
add_library(puffer_nccl INTERFACE)
target_include_directories(puffer_nccl INTERFACE ${PUFFER_NCCL_INCLUDE})
target_link_libraries(puffer_nccl INTERFACE ${PUFFER_NCCL_LIB} CUDA::cudart)
add_library(puffer::nccl ALIAS puffer_nccl)
message(STATUS "PufferLib: CUDA build (archs ${CMAKE_CUDA_ARCHITECTURES}); cuBLAS ${PUFFER_CUBLAS_LIB}; NCCL ${PUFFER_NCCL_LIB}")

# Required dependencies (Debian packages; scripts/setup-deps installs them).
find_package(MPFR REQUIRED)
find_package(Boost 1.74 REQUIRED)          # header-only: Boost.Multiprecision
find_package(OpenBLAS REQUIRED)
find_package(Eigen3 3.4 REQUIRED NO_MODULE)
find_package(fmt REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(libzip 1.7 REQUIRED CONFIG)  # .npz and torch.save .pt archives (libzip-dev)
find_package(Threads REQUIRED)
if(ROUNDOFF_CLI)
  find_package(CLI11 REQUIRED)
endif()

# Optional: LibTorch from the pinned PyPI torch wheel (torch.utils.cmake_prefix_path), or
# Debian's libtorch-dev as a fallback. Detected, never required.
set(ROUNDOFF_HAVE_TORCH OFF)
if(ROUNDOFF_WITH_TORCH AND NOT ROUNDOFF_CORE_ONLY)
  if(NOT ROUNDOFF_TORCH_PREFIX)
    find_program(ROUNDOFF_PYTHON3_FOR_TORCH NAMES python3)
    if(ROUNDOFF_PYTHON3_FOR_TORCH)
      execute_process(COMMAND ${ROUNDOFF_PYTHON3_FOR_TORCH} -c
                              "import torch.utils; print(torch.utils.cmake_prefix_path)"
                      OUTPUT_VARIABLE _tp OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET
                      RESULT_VARIABLE _tr)
      if(_tr EQUAL 0)
        set(ROUNDOFF_TORCH_PREFIX "${_tp}" CACHE PATH "LibTorch cmake prefix")
      endif()
    endif()
  endif()
  if(ROUNDOFF_TORCH_PREFIX)
    list(APPEND CMAKE_PREFIX_PATH "${ROUNDOFF_TORCH_PREFIX}")
  endif()
  # Without an explicit arch list, LibTorch's CUDA config try_run()s a GPU probe that fails to
  # configure under CMake 3.25 ("CUDA20 dialect"). roundoff compiles no device code against
  # LibTorch, so the list only has to be valid.
  if(NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
    set(ENV{TORCH_CUDA_ARCH_LIST} "8.0;9.0")
  endif()
  find_package(Torch QUIET)
  if(Torch_FOUND)
    set(ROUNDOFF_HAVE_TORCH ON)
    # One target that carries LibTorch's libraries and flags. The wheel's CUDA libraries live in
    # site-packages/nvidia/*/lib; point the linker there first, or it resolves libtorch_cuda's
    # NEEDED entries against the (older) system CUDA copies and fails.
    add_library(roundoff_torch INTERFACE)
    add_library(roundoff::torch ALIAS roundoff_torch)
    target_link_libraries(roundoff_torch INTERFACE ${TORCH_LIBRARIES})
    file(GLOB _nv_libdirs LIST_DIRECTORIES true "${ROUNDOFF_TORCH_PREFIX}/../../../nvidia/*/lib")
    foreach(_d IN LISTS _nv_libdirs)
      get_filename_component(_d "${_d}" REALPATH)
      target_link_options(roundoff_torch INTERFACE "LINKER:-rpath-link,${_d}")
    endforeach()
    message(STATUS "roundoff: LibTorch ${Torch_VERSION} found (${ROUNDOFF_TORCH_PREFIX})")
  else()
    message(STATUS "roundoff: LibTorch not found; torch backends and fp64 cross-checks disabled")
  endif()
endif()

# Optional: CUDA (nvcc on the PATH). GPU code builds whenever nvcc is found.
set(ROUNDOFF_HAVE_CUDA OFF)
if(ROUNDOFF_WITH_CUDA AND NOT ROUNDOFF_CORE_ONLY)
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(ROUNDOFF_HAVE_CUDA ON)
    message(STATUS "roundoff: CUDA ${CUDAToolkit_VERSION} found; GPU backends built")
  else()
    message(STATUS "roundoff: nvcc not found; GPU backends disabled")
  endif()
endif()

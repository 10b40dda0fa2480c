# Dependencies point one way: every layer's sources (src/<layer>, include/roundoff/<layer>)
# include only roundoff headers of the layers it depends on (its CMake DEPS, transitively), so
# a lower layer never reaches a higher one. The order (README, "Layout"):
#   formats -> io;  formats -> exact -> ops;  formats -> bounds;  formats -> report;
#   ops + bounds + report -> verdicts;  ops -> backends;  verdicts -> testing;  all -> cli, python.
# In particular bounds (the formulas) includes only formats, bounds and error.hpp: a program that
# uses only the formulas links no exact engine, ops or BLAS (tests/packaging/core_only checks the
# link side). The top-level headers: error.hpp and version.hpp belong to every layer, tensor.hpp
# (formats only) to io and ops upward, tensor_view.hpp to ops upward, roundoff.hpp to none.
# Run: cmake -DROOT=<source dir> -P tests/lint/layers.cmake
if(NOT ROOT)
  message(FATAL_ERROR "layers.cmake: pass -DROOT=<source dir>")
endif()

# Per layer: the header folders (F) and top-level headers (H) it may include.
set(_files_all "error|version")
set(_folders_formats "formats")
set(_files_formats "")
set(_folders_io "formats|io")
set(_files_io "tensor")
set(_folders_exact "formats|exact")
set(_files_exact "")
set(_folders_ops "formats|exact|ops")
set(_files_ops "tensor|tensor_view")
set(_folders_bounds "formats|bounds")
set(_files_bounds "")
set(_folders_report "formats|report")
set(_files_report "")
set(_folders_verdicts "${_folders_ops}|bounds|report|verdicts")
set(_files_verdicts "${_files_ops}")
set(_folders_backends "${_folders_ops}|backends")
set(_files_backends "${_files_ops}")
set(_folders_testing "${_folders_verdicts}")
set(_files_testing "${_files_verdicts}|testing")
set(_layers formats io exact ops bounds report verdicts backends testing)

set(_found "")
set(_count 0)
foreach(_layer IN LISTS _layers)
  set(_files "${_files_all}")
  if(_files_${_layer})
    string(APPEND _files "|${_files_${_layer}}")
  endif()
  set(_pattern "[\"<]roundoff/((${_folders_${_layer}})/[a-z_/]+|${_files})\\.hpp[\">]")
  file(GLOB_RECURSE _sources LIST_DIRECTORIES false "${ROOT}/src/${_layer}/*.cpp"
       "${ROOT}/src/${_layer}/*.hpp" "${ROOT}/src/${_layer}/*.cu" "${ROOT}/src/${_layer}/*.cuh"
       "${ROOT}/include/roundoff/${_layer}/*.hpp")
  if(_layer STREQUAL "testing")
    list(APPEND _sources "${ROOT}/include/roundoff/testing.hpp")
  endif()
  foreach(_file IN LISTS _sources)
    math(EXPR _count "${_count} + 1")
    file(STRINGS "${_file}" _lines REGEX "^[ \t]*#[ \t]*include[ \t]*[\"<](roundoff/|\\.\\./)")
    foreach(_line IN LISTS _lines)
      if(NOT _line MATCHES "${_pattern}")
        file(RELATIVE_PATH _rel "${ROOT}" "${_file}")
        string(STRIP "${_line}" _line)
        string(APPEND _found "  ${_rel} (${_layer}): ${_line}\n")
      endif()
    endforeach()
  endforeach()
endforeach()
if(_found)
  message(FATAL_ERROR "a layer includes a header of a layer above it or beside it "
                      "(tests/lint/layers.cmake lists what each may include):\n${_found}")
endif()
message(STATUS "layers: ${_count} sources include only the layers they depend on")

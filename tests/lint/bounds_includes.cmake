# Fails when the bounds layer (src/bounds, include/roundoff/bounds) includes a roundoff header
# outside formats, bounds and error.hpp: bounds holds the formulas only, verdicts (the judging)
# depends on it and never the reverse, and a program that uses only the formulas links no exact
# engine, ops or BLAS (tests/packaging/core_only checks the link side).
# Run: cmake -DROOT=<source dir> -P tests/lint/bounds_includes.cmake
if(NOT ROOT)
  message(FATAL_ERROR "bounds_includes.cmake: pass -DROOT=<source dir>")
endif()
file(GLOB_RECURSE _sources LIST_DIRECTORIES false "${ROOT}/src/bounds/*.cpp"
     "${ROOT}/src/bounds/*.hpp" "${ROOT}/include/roundoff/bounds/*.hpp")
set(_found "")
foreach(_file IN LISTS _sources)
  file(STRINGS "${_file}" _lines REGEX "^[ \t]*#[ \t]*include[ \t]*[\"<](roundoff/|\\.\\./)")
  foreach(_line IN LISTS _lines)
    if(NOT _line MATCHES "[\"<]roundoff/(formats/[a-z_]+|bounds/[a-z_]+|error)\\.hpp[\">]")
      file(RELATIVE_PATH _rel "${ROOT}" "${_file}")
      string(STRIP "${_line}" _line)
      string(APPEND _found "  ${_rel}: ${_line}\n")
    endif()
  endforeach()
endforeach()
if(_found)
  message(FATAL_ERROR "bounds includes a header of another layer (allowed: roundoff/formats/, "
                      "roundoff/bounds/, roundoff/error.hpp):\n${_found}")
endif()
list(LENGTH _sources _count)
message(STATUS "bounds: ${_count} sources include only formats, bounds and error.hpp")

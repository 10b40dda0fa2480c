# Fails when a source under src/ throws a std:: exception: roundoff throws only its own error
# kinds (include/roundoff/error.hpp), which the CLI and Python map to exit codes and exception
# types in one place each. A throw that must be a std:: type (one that a third-party library's
# callback contract requires) carries "NOLINT(roundoff-std-throw)" on its line, with the reason.
# Run: cmake -DROOT=<source dir> -P tests/lint/no_std_throw.cmake
if(NOT ROOT)
  message(FATAL_ERROR "no_std_throw.cmake: pass -DROOT=<source dir>")
endif()
file(GLOB_RECURSE _sources LIST_DIRECTORIES false
     "${ROOT}/src/*.cpp" "${ROOT}/src/*.hpp" "${ROOT}/src/*.h" "${ROOT}/src/*.cu"
     "${ROOT}/include/*.hpp")
set(_found "")
foreach(_file IN LISTS _sources)
  file(STRINGS "${_file}" _lines REGEX "throw[ \t]+(::)?std::")
  foreach(_line IN LISTS _lines)
    if(NOT _line MATCHES "NOLINT\\(roundoff-std-throw\\)")
      file(RELATIVE_PATH _rel "${ROOT}" "${_file}")
      string(STRIP "${_line}" _line)
      string(APPEND _found "  ${_rel}: ${_line}\n")
    endif()
  endforeach()
endforeach()
if(_found)
  message(FATAL_ERROR "throw of a std:: exception (use roundoff's error kinds, "
                      "include/roundoff/error.hpp):\n${_found}")
endif()
list(LENGTH _sources _count)
message(STATUS "no std:: throws in ${_count} sources")
